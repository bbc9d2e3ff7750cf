//! reqwest users: the client of `reqwest::client_builder` against real servers on loopback.
//! Whatever a redirect names, the token goes to no second server; cloud recording against a
//! mock built in one call, with a rotation in each order.
#![cfg(feature = "reqwest")]

mod common;

use std::{
    convert::Infallible,
    future::ready,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
};

use bytes::Bytes;
use common::{bounded, serve, text, VENDOR_TOKEN};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use jocloud_auth::token_auth::TokenAuthLayer;
use reqwest_middleware::ClientWithMiddleware;
use tower::service_fn;

/// A server that answers with the token it got, or "no token"; records each token it got.
async fn echo_token() -> (common::Server, Arc<Mutex<Vec<Option<String>>>>) {
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let seen = tokens.clone();
    let server = serve(service_fn(move |request: Request<Incoming>| {
        let token = request.headers().get("token").map(|v| v.to_str().unwrap().to_owned());
        seen.lock().unwrap().push(token.clone());
        ready(text(token.unwrap_or_else(|| "no token".into())))
    }))
    .await;
    (server, tokens)
}

/// A server that answers every request with `status` and `location`.
async fn redirecting(status: StatusCode, location: String) -> common::Server {
    serve(service_fn(move |_: Request<Incoming>| {
        let mut redirect = Response::new(Full::<Bytes>::default());
        *redirect.status_mut() = status;
        redirect.headers_mut().insert(http::header::LOCATION, location.parse().unwrap());
        ready(Ok::<_, Infallible>(redirect))
    }))
    .await
}

fn client(token: &TokenAuthLayer) -> ClientWithMiddleware {
    jocloud_auth::reqwest::client_builder(reqwest::Client::builder(), token).unwrap().build()
}

/// A layer that sends the token to `server` only, over plain HTTP.
fn only_to(server: &common::Server) -> TokenAuthLayer {
    TokenAuthLayer::new(&common::vendor_credentials()).for_host(server.addr.try_into().unwrap()).allow_http()
}

#[tokio::test]
async fn the_vendor_vector_arrives() {
    bounded(async {
        let (server, _) = echo_token().await;
        let client = client(&only_to(&server));
        let body =
            client.post(server.url("/app/1/v1/image/sync")).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, VENDOR_TOKEN);
    })
    .await;
}

#[cfg(feature = "rotation")]
#[tokio::test]
async fn live_rotation_reaches_the_next_request() {
    use jocloud_auth::{Credentials, LiveCredentials};
    bounded(async {
        let (server, _) = echo_token().await;
        let live = LiveCredentials::new(&common::vendor_credentials());
        let client = client(&common::on_loopback(TokenAuthLayer::live(&live)));
        let send = || async { client.get(server.url("/")).send().await.unwrap().text().await.unwrap() };
        assert_eq!(send().await, VENDOR_TOKEN);
        let rotated = Credentials::new("qawsedrftg", "rotated").unwrap();
        live.rotate(&rotated);
        assert_eq!(send().await, common::token_of(&rotated).to_str().unwrap());
    })
    .await;
}

/// From the scoped server A, every redirect status to a second server B, named every way a
/// `Location` can name it (another port, userinfo, IP literals `url` reads as 127.0.0.1),
/// with and without a body: B is never reached, and the caller gets the `3xx`.
#[tokio::test]
async fn no_redirect_takes_the_token_to_a_second_server() {
    bounded(async {
        let (b, b_tokens) = echo_token().await;
        let port = b.addr.port();
        for location in [
            format!("http://127.0.0.1:{port}/landing"),
            format!("http://user:pass@127.0.0.1:{port}/landing"),
            format!("http://2130706433:{port}/landing"),
            format!("http://0x7f.0.0.1:{port}/landing"),
            format!("http://localhost:{port}/landing"),
            format!("//127.0.0.1:{port}/landing"),
        ] {
            for status in [301, 302, 303, 307, 308] {
                let status = StatusCode::from_u16(status).unwrap();
                let a = redirecting(status, location.clone()).await;
                let client = client(&only_to(&a));
                for method in [reqwest::Method::GET, reqwest::Method::POST, reqwest::Method::PUT] {
                    let response = client.request(method.clone(), a.url("/start")).body("{}").send().await;
                    let response = response.unwrap();
                    assert_eq!(response.status(), status, "{method} {status} to {location}");
                }
            }
        }
        assert!(b_tokens.lock().unwrap().is_empty(), "B was reached: {:?}", b_tokens.lock().unwrap());
    })
    .await;
}

/// With reqwest's own default policy, the same setup sends the token to B: what the one call
/// exists to prevent.
#[tokio::test]
async fn reqwests_default_policy_would_send_it_there() {
    bounded(async {
        let (b, b_tokens) = echo_token().await;
        let a = redirecting(StatusCode::TEMPORARY_REDIRECT, b.url("/landing")).await;
        let token = common::vendor_credentials().header_value(jocloud_auth::Scheme::Base);
        let plain = reqwest::Client::new();
        plain.get(a.url("/start")).header("token", token).send().await.unwrap();
        assert_eq!(*b_tokens.lock().unwrap(), [Some(VENDOR_TOKEN.to_owned())]);
    })
    .await;
}

/// Within the scope, redirects are followed as usual, the token sent again on each hop.
#[tokio::test]
async fn a_redirect_within_the_scope_is_followed() {
    bounded(async {
        let (b, _) = echo_token().await;
        let a = redirecting(StatusCode::TEMPORARY_REDIRECT, b.url("/landing")).await;
        let client = client(&common::on_loopback(TokenAuthLayer::new(&common::vendor_credentials())));
        let body = client.get(a.url("/start")).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, VENDOR_TOKEN);
    })
    .await;
}

/// A request outside the scope carries no token, and its redirects are followed as reqwest
/// follows any: one into the scope arrives without the token too.
#[tokio::test]
async fn a_redirect_into_the_scope_from_outside_carries_no_token() {
    bounded(async {
        let (b, b_tokens) = echo_token().await;
        let a = redirecting(StatusCode::TEMPORARY_REDIRECT, b.url("/landing")).await;
        // Only B is in the scope (plain HTTP allowed): A, on the same host, is not.
        let response = client(&only_to(&b)).get(a.url("/start")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(*b_tokens.lock().unwrap(), [None]);
    })
    .await;
}

/// A redirect loop inside the scope is followed ten times and then refused.
#[tokio::test]
async fn a_redirect_loop_ends_after_ten_hops() {
    bounded(async {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let server = serve(service_fn(move |_: Request<Incoming>| {
            counted.fetch_add(1, Ordering::SeqCst);
            let mut redirect = Response::new(Full::<Bytes>::default());
            *redirect.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            redirect.headers_mut().insert(http::header::LOCATION, "/again".parse().unwrap());
            ready(Ok::<_, Infallible>(redirect))
        }))
        .await;
        let error = client(&only_to(&server)).get(server.url("/start")).send().await.unwrap_err();
        assert!(error.is_redirect(), "{error}");
        assert_eq!(hits.load(Ordering::SeqCst), 11, "the first request and ten redirects");
    })
    .await;
}

/// Cloud recording on both sides, each set up in one call: the client's `Basic` and `AppID`
/// against a live mock that accepts `Basic`, with a rotation in each order, and not one
/// request refused.
#[cfg(feature = "rotation")]
#[tokio::test]
async fn cloud_recording_against_its_mock_through_rotations_in_each_order() {
    use axum::{routing::post, Router};
    use jocloud_auth::{validate::ValidateTokenLayer, Credentials, LiveCredentialSet, LiveCredentials};

    bounded(async {
        let key = |secret: &str| Credentials::new("recorder", secret).unwrap();
        let accepted = LiveCredentialSet::new([&key("a")]);
        let app = Router::new()
            .route(
                "/v1/recording/start",
                post(|headers: http::HeaderMap| async move { headers["appid"].to_str().unwrap().to_owned() }),
            )
            .route_layer(ValidateTokenLayer::live(&accepted).cloud_recording());
        let server = common::serve_axum(app).await;
        let live = LiveCredentials::new(&key("a"));
        let client = client(&common::on_loopback(TokenAuthLayer::live(&live).cloud_recording(10034)));
        let url = server.url("/v1/recording/start");
        let statuses = Arc::new(Mutex::new(Vec::new()));
        let send = || async {
            for _ in 0..20 {
                let response = client.post(&url).body("{}").send().await.unwrap();
                let status = response.status();
                assert_eq!(response.text().await.unwrap(), "10034");
                statuses.lock().unwrap().push(status);
            }
        };
        send().await;
        // The server first: it learns "b", the client moves, the server forgets "a".
        accepted.insert(key("b"));
        send().await;
        live.rotate(&key("b"));
        send().await;
        accepted.remove(key("a"));
        send().await;
        // The client first: it sends "c", refused, and retries with "b" until the server learns "c".
        live.rotate(&key("c"));
        send().await;
        accepted.insert(key("c"));
        send().await;
        accepted.remove(key("b"));
        send().await;
        let statuses = statuses.lock().unwrap();
        assert_eq!(statuses.len(), 140);
        assert!(statuses.iter().all(|status| *status == StatusCode::OK), "{statuses:?}");
    })
    .await;
}

/// A middleware of the user's that points the request elsewhere: a failover to another host.
struct Failover(String);

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Failover {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        *request.url_mut() = self.0.parse().unwrap();
        next.run(request, extensions).await
    }
}

/// Middleware added with `.with(..)` runs before the scope decides: a failover that points a
/// request for A (in the scope) at B (outside it) sends B no token; one that points it into
/// the scope gets it signed there.
#[tokio::test]
async fn a_middleware_that_rewrites_the_url_runs_before_the_scope_decides() {
    bounded(async {
        let (a, a_tokens) = echo_token().await;
        let (b, b_tokens) = echo_token().await;
        let away = jocloud_auth::reqwest::client_builder(reqwest::Client::builder(), &only_to(&a))
            .unwrap()
            .with(Failover(b.url("/landing")))
            .build();
        assert_eq!(away.get(a.url("/start")).send().await.unwrap().text().await.unwrap(), "no token");
        assert_eq!(*b_tokens.lock().unwrap(), [None], "B got no token");
        assert!(a_tokens.lock().unwrap().is_empty());

        let into = jocloud_auth::reqwest::client_builder(reqwest::Client::builder(), &only_to(&a))
            .unwrap()
            .with(Failover(a.url("/landing")))
            .build();
        assert_eq!(into.get(b.url("/start")).send().await.unwrap().text().await.unwrap(), VENDOR_TOKEN);
    })
    .await;
}
