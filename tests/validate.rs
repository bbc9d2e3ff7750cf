//! `ValidateTokenLayer` in front of a real axum 0.8 router on loopback.

mod common;

use axum::{routing::post, Extension, Router};
use bytes::Bytes;
use common::{bounded, http_client, serve_axum, VENDOR_PAYLOAD, VENDOR_TOKEN};
use http::{header::WWW_AUTHENTICATE, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use jocloud_auth::{
    validate::{AuthenticatedId, ValidateToken, ValidateTokenLayer},
    Credentials, Scheme,
};
use std::convert::Infallible;
use tower::{service_fn, ServiceExt};

fn app(layer: ValidateTokenLayer) -> Router {
    Router::new()
        .route(
            "/app/{appid}/v1/image/sync",
            post(|Extension(caller): Extension<AuthenticatedId>| async move { format!("hello {caller}") }),
        )
        .layer(layer)
}

struct Outcome {
    status: StatusCode,
    challenge: Option<HeaderValue>,
    body: Bytes,
}

async fn send(server: &common::Server, tokens: &[&[u8]]) -> Outcome {
    let mut request =
        Request::post(server.url("/app/123456/v1/image/sync")).body(Full::<Bytes>::default()).unwrap();
    for token in tokens {
        request.headers_mut().append("token", HeaderValue::from_bytes(token).unwrap());
    }
    let response = http_client().request(request).await.unwrap();
    let status = response.status();
    let challenge = response.headers().get(WWW_AUTHENTICATE).cloned();
    Outcome { status, challenge, body: response.into_body().collect().await.unwrap().to_bytes() }
}

#[tokio::test]
async fn accepts_and_rejects_over_loopback() {
    bounded(async {
        let vendor = common::vendor_credentials();
        let second = Credentials::new("second-id", "second-secret").unwrap();
        let server = serve_axum(app(ValidateTokenLayer::any_of([&vendor, &second]))).await;

        let accepted = send(&server, &[VENDOR_TOKEN.as_bytes()]).await;
        assert_eq!(accepted.status, StatusCode::OK);
        assert_eq!(accepted.body, "hello qawsedrftg");

        // printf 'second-id:second-secret' | base64
        let accepted = send(&server, &[b"Base c2Vjb25kLWlkOnNlY29uZC1zZWNyZXQ="]).await;
        assert_eq!((accepted.status, accepted.body), (StatusCode::OK, Bytes::from("hello second-id")));

        let missing = send(&server, &[]).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        assert_eq!(missing.challenge.unwrap(), "Base error=\"missing_token\"");
        assert!(missing.body.is_empty());

        let wrong_secret = Credentials::new("qawsedrftg", "wrong").unwrap();
        let wrong_token = common::token_of(&wrong_secret).as_bytes().to_vec();
        let huge = vec![b'A'; 8 * 1024];
        let invalid: [(&str, Vec<Vec<u8>>); 12] = [
            ("empty", vec![b"".to_vec()]),
            ("scheme only", vec![b"Base".to_vec()]),
            ("scheme and space", vec![b"Base ".to_vec()]),
            ("wrong scheme", vec![format!("Basic {VENDOR_PAYLOAD}").into_bytes()]),
            ("lowercase scheme", vec![format!("base {VENDOR_PAYLOAD}").into_bytes()]),
            ("two spaces", vec![format!("Base  {VENDOR_PAYLOAD}").into_bytes()]),
            ("payload only", vec![VENDOR_PAYLOAD.as_bytes().to_vec()]),
            ("trailing byte", vec![format!("{VENDOR_TOKEN}=").into_bytes()]),
            ("wrong secret, right id", vec![wrong_token]),
            ("non-UTF-8", vec![b"Base \xff\xfe\x80".to_vec()]),
            ("huge", vec![huge]),
            ("several, both valid", vec![VENDOR_TOKEN.as_bytes().to_vec(), VENDOR_TOKEN.as_bytes().to_vec()]),
        ];
        for (what, tokens) in invalid {
            let tokens: Vec<&[u8]> = tokens.iter().map(Vec::as_slice).collect();
            let outcome = send(&server, &tokens).await;
            assert_eq!(outcome.status, StatusCode::UNAUTHORIZED, "{what}");
            assert_eq!(outcome.challenge.unwrap(), "Base error=\"invalid_token\"", "{what}");
            assert!(outcome.body.is_empty(), "{what}");
        }
    })
    .await;
}

#[tokio::test]
async fn schemes_are_configurable() {
    let vendor = common::vendor_credentials();
    let basic = format!("Basic {VENDOR_PAYLOAD}");
    let status = |layer: ValidateTokenLayer, token: String| async move {
        let request =
            Request::post("/app/1/v1/image/sync").header("token", token).body(axum::body::Body::empty());
        let response = app(layer).oneshot(request.unwrap()).await.unwrap();
        (response.status(), response.headers().get(WWW_AUTHENTICATE).cloned())
    };
    let both = ValidateTokenLayer::new(&vendor).also_accept_scheme(Scheme::Basic);
    assert_eq!(status(both.clone(), VENDOR_TOKEN.into()).await.0, StatusCode::OK);
    assert_eq!(status(both, basic.clone()).await.0, StatusCode::OK);

    let only_basic = ValidateTokenLayer::new(&vendor).scheme(Scheme::Basic);
    assert_eq!(status(only_basic.clone(), basic).await.0, StatusCode::OK);
    let (code, challenge) = status(only_basic, VENDOR_TOKEN.into()).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.unwrap(), "Basic error=\"invalid_token\"");
}

#[tokio::test]
async fn an_empty_accepted_set_rejects_everything() {
    let layer = ValidateTokenLayer::any_of([]);
    let request =
        Request::post("/app/1/v1/image/sync").header("token", VENDOR_TOKEN).body(axum::body::Body::empty());
    assert_eq!(app(layer).oneshot(request.unwrap()).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_inner_service_is_not_called_on_rejection() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    let inner = service_fn(move |_: Request<()>| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Ok::<_, Infallible>(http::Response::new(String::new())) }
    });
    let service = ValidateToken::new(inner, &common::vendor_credentials());
    let response = service.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);

    let accepted = Request::builder().header("token", VENDOR_TOKEN).body(()).unwrap();
    assert_eq!(service.oneshot(accepted).await.unwrap().status(), StatusCode::OK);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// The ID arrives in a ready-made map merged into the request's: what was there stays, and an
/// `AuthenticatedId` carried over from another request is replaced.
#[tokio::test]
async fn the_id_joins_the_request_extensions() {
    #[derive(Clone, Debug, PartialEq)]
    struct Other(u32);
    type Seen = (AuthenticatedId, Option<Other>, usize);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Seen>::new()));
    let record = seen.clone();
    let inner = service_fn(move |request: Request<()>| {
        let extensions = request.extensions();
        let id = extensions.get::<AuthenticatedId>().cloned().expect("an ID");
        record.lock().unwrap().push((id, extensions.get::<Other>().cloned(), extensions.len()));
        async { Ok::<_, Infallible>(http::Response::new(String::new())) }
    });
    let other = Credentials::new("other-id", "other-secret").unwrap();
    let service = ValidateToken::any_of(inner, [&common::vendor_credentials(), &other]);
    let request = |token: &[u8]| Request::builder().header("token", token).body(()).unwrap();

    let mut with_other = request(VENDOR_TOKEN.as_bytes());
    with_other.extensions_mut().insert(Other(7));
    service.clone().oneshot(with_other).await.unwrap();
    service.clone().oneshot(request(common::token_of(&other).as_bytes())).await.unwrap();
    let other_id = seen.lock().unwrap()[1].0.clone();
    assert_eq!(other_id.as_str(), "other-id");

    let mut carrying = request(VENDOR_TOKEN.as_bytes());
    carrying.extensions_mut().insert(other_id);
    service.oneshot(carrying).await.unwrap();

    let seen: Vec<_> =
        seen.lock().unwrap().iter().map(|(id, other, len)| (id.to_string(), other.clone(), *len)).collect();
    assert_eq!(
        seen,
        [
            ("qawsedrftg".to_owned(), Some(Other(7)), 2),
            ("other-id".to_owned(), None, 1),
            ("qawsedrftg".to_owned(), None, 1),
        ]
    );
}

#[test]
fn public_types_are_send_sync_clone() {
    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<ValidateTokenLayer>();
    assert_send_sync_clone::<ValidateToken<common::HttpClient>>();
    assert_send_sync_clone::<AuthenticatedId>();
    #[cfg(feature = "rotation")]
    {
        assert_send_sync_clone::<jocloud_auth::LiveCredentials>();
        assert_send_sync_clone::<jocloud_auth::LiveCredentialSet>();
    }
    #[cfg(feature = "trace-id")]
    {
        assert_send_sync_clone::<jocloud_auth::trace_id::TraceIdLayer>();
        assert_send_sync_clone::<jocloud_auth::trace_id::SetTraceId<common::HttpClient>>();
        assert_send_sync_clone::<jocloud_auth::trace_id::TraceId>();
    }
}
