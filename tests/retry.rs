//! The previous-key retry, the same scenario on every client path: a hyper-util client under
//! `RetryWithPreviousKey`, and the reqwest-middleware client of `reqwest::client_builder`;
//! each against a real loopback server that records every attempt.
#![cfg(all(feature = "rotation", feature = "tower", feature = "reqwest"))]

mod common;

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU16, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bytes::Bytes;
use common::{bounded, serve, token_of};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use jocloud_auth::{retry::RetryWithPreviousKey, token_auth::TokenAuthLayer, Credentials, LiveCredentials};
use tower::{service_fn, ServiceBuilder, ServiceExt};

const BODY: &str = r#"{"data":"https://example.com/a.jpg"}"#;
/// Long enough that no check comes after the grace period, however loaded the machine.
const LONG_GRACE: Duration = Duration::from_secs(600);

fn key(secret: &str) -> Credentials {
    Credentials::new("retrying-id", secret).unwrap()
}

/// Every attempt the server saw: its token header and its body.
type Attempts = Vec<(Option<HeaderValue>, Bytes)>;

/// A loopback server answering `status` to everything, recording each attempt.
struct Recorder {
    server: common::Server,
    seen: Arc<Mutex<Attempts>>,
    status: Arc<AtomicU16>,
}

async fn recorder() -> Recorder {
    let seen: Arc<Mutex<Attempts>> = Arc::default();
    let status = Arc::new(AtomicU16::new(401));
    let (record, answer) = (seen.clone(), status.clone());
    let server = serve(service_fn(move |request: Request<Incoming>| {
        let (record, answer) = (record.clone(), answer.clone());
        async move {
            let token = request.headers().get("token").cloned();
            let body = request.into_body().collect().await.unwrap().to_bytes();
            record.lock().unwrap().push((token, body));
            let status = answer.load(Ordering::SeqCst);
            Ok::<_, Infallible>(Response::builder().status(status).body(Full::<Bytes>::default()).unwrap())
        }
    }))
    .await;
    Recorder { server, seen, status }
}

/// Whether a request's body can be sent twice (bytes) or not (a stream).
#[derive(Clone, Copy, PartialEq)]
enum Body {
    Bytes,
    Stream,
}

/// One request on a client path; the status it ended with.
type Send = Box<dyn Fn(Body) -> Pin<Box<dyn Future<Output = StatusCode>>>>;

fn hyper_util(live: &LiveCredentials, url: String) -> Send {
    let token = common::on_loopback(TokenAuthLayer::live(live));
    let client = ServiceBuilder::new()
        .layer(token.clone())
        .layer(RetryWithPreviousKey::layer(&token))
        .service(common::http_client());
    Box::new(move |body| {
        // A tower `Retry` needs a body it can clone: a stream does not compile here.
        assert!(body == Body::Bytes);
        let request = Request::post(&url).body(Full::new(Bytes::from(BODY))).unwrap();
        let client = client.clone();
        Box::pin(async move { client.oneshot(request).await.unwrap().status() })
    })
}

fn reqwest_body(body: Body) -> reqwest::Body {
    match body {
        Body::Bytes => BODY.into(),
        Body::Stream => reqwest::Body::wrap(Full::new(Bytes::from(BODY))),
    }
}

fn reqwest_middleware(live: &LiveCredentials, url: String) -> Send {
    let token = common::on_loopback(TokenAuthLayer::live(live));
    let client = jocloud_auth::reqwest::client_builder(reqwest::Client::builder(), &token).unwrap().build();
    Box::new(move |body| {
        let request = client.post(&url).body(reqwest_body(body));
        Box::pin(async move { request.send().await.unwrap().status() })
    })
}

/// The same promise on every path: a `401` is sent once more with the previous key while its
/// grace period runs, with the same body; never without a previous key, after a success, once
/// the key is forgotten or its grace is over, nor for a body that cannot be sent twice.
async fn the_previous_key_retry(path: &str, client: fn(&LiveCredentials, String) -> Send, streams: bool) {
    let server = recorder().await;
    let url = server.server.url("/app/1/v1/image/sync");
    let (a, b) = (token_of(&key("key-a")), token_of(&key("key-b")));
    let body = Bytes::from(BODY);
    let attempts = |send: &Send, kind: Body| {
        server.seen.lock().unwrap().clear();
        let status = send(kind);
        let seen = server.seen.clone();
        async move { (status.await, seen.lock().unwrap().clone()) }
    };
    let once = |token: &HeaderValue| vec![(Some(token.clone()), body.clone())];
    let unauthorized = StatusCode::UNAUTHORIZED;

    let live = LiveCredentials::with_grace(&key("key-a"), LONG_GRACE);
    let send = client(&live, url.clone());
    assert_eq!(
        attempts(&send, Body::Bytes).await,
        (unauthorized, once(&a)),
        "{path}: no previous key, no retry"
    );

    live.rotate(&key("key-b"));
    let retried = [once(&b), once(&a)].concat();
    assert_eq!(
        attempts(&send, Body::Bytes).await,
        (unauthorized, retried),
        "{path}: B, then A with the same body"
    );
    if streams {
        assert_eq!(
            attempts(&send, Body::Stream).await,
            (unauthorized, once(&b)),
            "{path}: a stream is sent once"
        );
    }
    server.status.store(200, Ordering::SeqCst);
    assert_eq!(
        attempts(&send, Body::Bytes).await,
        (StatusCode::OK, once(&b)),
        "{path}: a success is not retried"
    );
    server.status.store(401, Ordering::SeqCst);
    live.forget_previous();
    assert_eq!(
        attempts(&send, Body::Bytes).await,
        (unauthorized, once(&b)),
        "{path}: a forgotten key is not retried"
    );

    // A short grace period ends by itself; wait for it, however slow the machine.
    let live = LiveCredentials::with_grace(&key("key-a"), Duration::from_millis(200));
    let send = client(&live, url);
    live.rotate(&key("key-b"));
    let grace_over = async {
        while attempts(&send, Body::Bytes).await.1.len() > 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(common::LIMIT, grace_over)
        .await
        .unwrap_or_else(|_| panic!("{path}: the grace period never ended"));
    assert_eq!(
        attempts(&send, Body::Bytes).await,
        (unauthorized, once(&b)),
        "{path}: after the grace, no retry"
    );
}

#[tokio::test]
async fn a_hyper_util_client_retries_with_the_previous_key() {
    bounded(the_previous_key_retry("hyper-util", hyper_util, false)).await;
}

#[tokio::test]
async fn a_reqwest_middleware_client_retries_with_the_previous_key() {
    bounded(the_previous_key_retry("reqwest-middleware", reqwest_middleware, true)).await;
}

/// A request is copied for a retry only while a previous key could be used: never for a static
/// key, nor for a live one before its first rotation or after its previous key is forgotten.
#[test]
fn a_request_is_copied_only_when_it_could_be_retried() {
    use tower::{retry::Policy, Layer};

    // The request as the token layer sends it, then whether the retry policy copies it.
    let copied = |token: &TokenAuthLayer| {
        let request = Request::get("https://ai.jocloud.com/").body(Full::<Bytes>::default()).unwrap();
        let sent = common::now(token.layer(common::echo()).oneshot(request)).unwrap().into_body();
        let mut policy = RetryWithPreviousKey::new(token);
        <RetryWithPreviousKey as Policy<_, Response<()>, ()>>::clone_request(&mut policy, &sent).is_some()
    };
    let live = LiveCredentials::with_grace(&key("key-a"), LONG_GRACE);
    let token = TokenAuthLayer::live(&live);
    assert!(!copied(&token), "no previous key yet");
    live.rotate(&key("key-b"));
    assert!(copied(&token), "within the grace period");
    live.forget_previous();
    assert!(!copied(&token), "the previous key forgotten");
    assert!(!copied(&TokenAuthLayer::new(&key("key-a"))), "a static key");
}

/// One `traceId` per logical request on both paths, the retry with the previous key included:
/// the server refuses the new key and sees each request twice, under one ID.
#[cfg(feature = "trace-id")]
#[tokio::test]
async fn a_retried_request_keeps_its_trace_id_on_every_path() {
    use jocloud_auth::trace_id::SetTraceIdLayer;

    bounded(async {
        let ids: Arc<Mutex<Vec<String>>> = Arc::default();
        let record = ids.clone();
        let old = common::token_of(&key("old"));
        let server = serve(service_fn(move |request: Request<Incoming>| {
            let query = request.uri().query().unwrap_or_default().to_owned();
            record.lock().unwrap().push(query);
            let status = if request.headers().get("token") == Some(&old) { 200 } else { 401 };
            std::future::ready(Ok::<_, Infallible>(
                Response::builder().status(status).body(Full::<Bytes>::default()).unwrap(),
            ))
        }))
        .await;
        let live = LiveCredentials::with_grace(&key("old"), LONG_GRACE);
        live.rotate(&key("new"));
        let token = common::on_loopback(TokenAuthLayer::live(&live));
        let url = server.url("/p");

        let reqwest_client = jocloud_auth::reqwest::client_builder(reqwest::Client::builder(), &token)
            .unwrap()
            .trace_id()
            .build();
        let hyper_client = ServiceBuilder::new()
            .layer(SetTraceIdLayer::new())
            .layer(token.clone())
            .layer(RetryWithPreviousKey::layer(&token))
            .service(common::http_client());
        for path in ["reqwest", "hyper-util"] {
            ids.lock().unwrap().clear();
            for _ in 0..20 {
                let status = match path {
                    "reqwest" => reqwest_client.get(&url).send().await.unwrap().status(),
                    _ => {
                        let request = Request::get(&url).body(Full::<Bytes>::default()).unwrap();
                        hyper_client.clone().oneshot(request).await.unwrap().status()
                    }
                };
                assert_eq!(status, StatusCode::OK, "{path}");
            }
            let seen = ids.lock().unwrap().clone();
            assert_eq!(seen.len(), 40, "{path}: each request refused once, then retried");
            for pair in seen.chunks(2) {
                assert!(pair[0].starts_with("traceId="), "{path}: {pair:?}");
                assert_eq!(pair[0], pair[1], "{path}: one traceId for a request and its retry");
            }
            let distinct: std::collections::HashSet<&String> = seen.iter().collect();
            assert_eq!(distinct.len(), 20, "{path}: a fresh ID per logical request");
        }
    })
    .await;
}
