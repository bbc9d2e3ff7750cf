//! `ValidateTokenLayer` in front of a real axum 0.8 router on loopback.

mod common;

use axum::{routing::post, Extension, Router};
use bytes::Bytes;
use common::{bounded, http_client, serve_axum, VENDOR_PAYLOAD, VENDOR_TOKEN};
use http::{header::WWW_AUTHENTICATE, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use jocloud_auth::{
    validate::{AuthenticatedId, Rejection, ResponseBody, ValidateToken, ValidateTokenLayer},
    Credentials, Scheme,
};
use std::convert::Infallible;
use tower::{service_fn, Layer, ServiceExt};

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
            ("scheme not accepted", vec![format!("Basic {VENDOR_PAYLOAD}").into_bytes()]),
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

/// A token longer than any accepted payload (300 KB, which hyper lets through) is refused as
/// `TooLong`, before it is hashed or decoded, over loopback and by the layer directly; one as
/// long as an accepted payload is refused as unknown.
#[tokio::test]
async fn a_token_longer_than_any_accepted_is_refused_as_too_long() {
    bounded(async {
        let vendor = common::vendor_credentials();
        let server = serve_axum(app(ValidateTokenLayer::new(&vendor))).await;
        let long = format!("Base {}", "QUJD".repeat(75_000));
        let outcome = send(&server, &[long.as_bytes()]).await;
        assert_eq!(outcome.status, StatusCode::UNAUTHORIZED);
        assert_eq!(outcome.challenge.unwrap(), "Base error=\"invalid_token\"");

        let reason = |token: &str| {
            let request =
                Request::post("/app/1/v1/image/sync").header("token", token).body(axum::body::Body::empty());
            let response =
                common::now(app(ValidateTokenLayer::new(&vendor)).oneshot(request.unwrap())).unwrap();
            response.extensions().get::<Rejection>().copied()
        };
        assert_eq!(reason(&long), Some(Rejection::TooLong));
        let one_longer = format!("Base {VENDOR_PAYLOAD}A");
        assert_eq!(reason(&one_longer), Some(Rejection::TooLong));
        let as_long = format!("Base {}", "A".repeat(VENDOR_PAYLOAD.len()));
        assert_eq!(reason(&as_long), Some(Rejection::UnknownCredential));
        assert_eq!(Rejection::TooLong.as_str(), "too_long");
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
    assert_eq!(status(only_basic.clone(), basic.clone()).await.0, StatusCode::OK);
    let (code, challenge) = status(only_basic, VENDOR_TOKEN.into()).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.unwrap(), "Basic error=\"invalid_token\"");

    // The builder's result does not depend on the order of its calls.
    let layers = [
        ValidateTokenLayer::new(&vendor).also_accept_scheme(Scheme::Basic).scheme(Scheme::Base),
        ValidateTokenLayer::new(&vendor).scheme(Scheme::Base).also_accept_scheme(Scheme::Basic),
        ValidateTokenLayer::new(&vendor).also_accept_scheme(Scheme::Basic).also_accept_scheme(Scheme::Base),
    ];
    for layer in layers {
        assert_eq!(status(layer.clone(), VENDOR_TOKEN.into()).await.0, StatusCode::OK);
        assert_eq!(status(layer.clone(), basic.clone()).await.0, StatusCode::OK, "Basic stays accepted");
        let (_, challenge) = status(layer, "Bearer x".into()).await;
        assert_eq!(challenge.unwrap(), "Base error=\"invalid_token\"");
    }
}

/// Cloud recording's server side is one call, as its client side is: the client's `Basic`
/// and `AppID` are accepted, `Base` is refused for its scheme (not as malformed), and
/// `scheme` still wins in either order.
#[tokio::test]
async fn cloud_recording_accepts_what_its_client_sends() {
    use jocloud_auth::{token_auth::TokenAuthLayer, validate::Rejection};

    let vendor = common::vendor_credentials();
    let client = TokenAuthLayer::new(&vendor).cloud_recording(10034);
    let server = |layer: ValidateTokenLayer| {
        let app = Router::new()
            .route(
                "/v1/recording/start",
                post(|headers: http::HeaderMap| async move { headers["appid"].to_str().unwrap().to_owned() }),
            )
            .route_layer(layer);
        client.clone().layer(app)
    };
    // Through the client layer: its `Basic` token and its `AppID` reach the handler.
    let mock = ValidateTokenLayer::new(&vendor).cloud_recording();
    let request = Request::post("https://api.jocloud.com/v1/recording/start").body(axum::body::Body::empty());
    let response = server(mock.clone()).oneshot(request.unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "10034");

    let direct = |layer: ValidateTokenLayer, token: &'static str| async move {
        let app = Router::new().route("/r", post(|| async { "ok" })).route_layer(layer);
        let request = Request::post("/r").header("token", token).body(axum::body::Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        (response.extensions().get::<Rejection>().copied(), response.headers().get(WWW_AUTHENTICATE).cloned())
    };
    let (rejection, challenge) = direct(mock.clone(), VENDOR_TOKEN).await;
    assert_eq!(rejection, Some(Rejection::UnacceptedScheme), "Base where only Basic is accepted");
    assert_eq!(challenge.unwrap(), "Basic error=\"invalid_token\"");
    let basic: &'static str = "Basic cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==";
    assert_eq!(direct(mock, basic).await.0, None);
    assert_eq!(direct(ValidateTokenLayer::new(&vendor), basic).await.0, Some(Rejection::UnacceptedScheme));
    assert_eq!(direct(ValidateTokenLayer::new(&vendor), "Bearer x").await.0, Some(Rejection::Malformed));

    // `scheme` wins over the product's word, called before or after.
    for layer in [
        ValidateTokenLayer::new(&vendor).cloud_recording().scheme(Scheme::Base),
        ValidateTokenLayer::new(&vendor).scheme(Scheme::Base).cloud_recording(),
    ] {
        assert_eq!(direct(layer.clone(), VENDOR_TOKEN).await.0, None);
        assert_eq!(direct(layer, basic).await.0, Some(Rejection::UnacceptedScheme));
    }
}

#[tokio::test]
async fn an_empty_accepted_set_rejects_everything() {
    let layer = ValidateTokenLayer::any_of(Vec::<Credentials>::new());
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
        async { Ok::<_, Infallible>(http::Response::new(Bytes::new())) }
    });
    let service = ValidateToken::new(inner, &common::vendor_credentials());
    let response = service.clone().oneshot(Request::new(())).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);

    let accepted = Request::builder().header("token", VENDOR_TOKEN).body(()).unwrap();
    assert_eq!(service.oneshot(accepted).await.unwrap().status(), StatusCode::OK);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// The ID joins the request's extensions: what was there stays, and an
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
        async { Ok::<_, Infallible>(http::Response::new(Bytes::new())) }
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
        assert_send_sync_clone::<jocloud_auth::trace_id::SetTraceIdLayer>();
        assert_send_sync_clone::<jocloud_auth::trace_id::SetTraceId<common::HttpClient>>();
        assert_send_sync_clone::<jocloud_auth::trace_id::TraceId>();
    }
}

/// `n` credentials with distinct IDs, as a gateway holding one per customer application has.
fn customers(n: usize) -> Vec<Credentials> {
    (0..n).map(|i| Credentials::new(format!("app-{i:06}"), format!("secret-{i:06}-x")).unwrap()).collect()
}

#[tokio::test]
async fn a_hundred_thousand_credentials_over_axum() {
    bounded(async {
        let accepted = customers(100_000);
        let server = serve_axum(app(ValidateTokenLayer::any_of(&accepted))).await;
        for (credentials, expected) in [
            (&accepted[0], "hello app-000000"),
            (&accepted[99_999], "hello app-099999"),
            (&accepted[54_321], "hello app-054321"),
        ] {
            let outcome = send(&server, &[common::token_of(credentials).as_bytes()]).await;
            assert_eq!((outcome.status, outcome.body), (StatusCode::OK, Bytes::from(expected)));
        }
        let unknown = Credentials::new("app-000000", "secret-100000-x").unwrap();
        let outcome = send(&server, &[common::token_of(&unknown).as_bytes()]).await;
        assert_eq!(outcome.status, StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[cfg(feature = "rotation")]
#[tokio::test]
async fn a_live_set_of_a_hundred_thousand_changes_under_load() {
    use jocloud_auth::LiveCredentialSet;
    bounded(async {
        let accepted = customers(100_000);
        let set = LiveCredentialSet::new(&accepted);
        let server = serve_axum(app(ValidateTokenLayer::live(&set))).await;
        let newcomer = Credentials::new("app-new", "secret-new-x").unwrap();
        assert_eq!(
            send(&server, &[common::token_of(&newcomer).as_bytes()]).await.status,
            StatusCode::UNAUTHORIZED
        );

        // Requests keep flowing while the set changes; none waits for a change or fails.
        let client = {
            let token = common::token_of(&accepted[7]);
            let url = server.url("/app/1/v1/image/sync");
            tokio::spawn(async move {
                let client = http_client();
                for _ in 0..200 {
                    let request =
                        Request::post(&url).header("token", token.clone()).body(Full::default()).unwrap();
                    assert_eq!(client.request(request).await.unwrap().status(), StatusCode::OK);
                }
            })
        };
        assert!(set.insert(&newcomer));
        assert!(set.remove(&accepted[0]));
        assert_eq!(set.remove_id("app-000001"), 1);
        client.await.unwrap();

        assert_eq!(send(&server, &[common::token_of(&newcomer).as_bytes()]).await.status, StatusCode::OK);
        for gone in &accepted[..2] {
            assert_eq!(
                send(&server, &[common::token_of(gone).as_bytes()]).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(set.ids().len(), 99_999);
    })
    .await;
}

/// Every rejection names its reason in the response extensions: an outer layer counts them.
#[tokio::test]
async fn an_outer_metrics_layer_counts_rejections_by_reason() {
    use jocloud_auth::validate::Rejection;
    use std::{collections::BTreeMap, sync::Mutex};

    bounded(async {
        let counts: std::sync::Arc<Mutex<BTreeMap<&'static str, usize>>> = Default::default();
        let counting = counts.clone();
        let router = app(ValidateTokenLayer::new(&common::vendor_credentials())).layer(
            axum::middleware::map_response(move |response: axum::response::Response| {
                let reason = response.extensions().get::<Rejection>().map_or("accepted", |r| r.as_str());
                *counting.lock().unwrap().entry(reason).or_default() += 1;
                async move { response }
            }),
        );
        let server = serve_axum(router).await;
        let unknown = common::token_of(&Credentials::new("qawsedrftg", "wrong").unwrap());
        for tokens in [
            vec![VENDOR_TOKEN.as_bytes()],
            vec![],
            vec![VENDOR_TOKEN.as_bytes(), VENDOR_TOKEN.as_bytes()],
            vec![b"Bearer abc".as_slice()],
            vec![VENDOR_PAYLOAD.as_bytes()],
            vec![unknown.as_bytes()],
            vec![b"Basic cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==".as_slice()],
            vec![VENDOR_TOKEN.as_bytes()],
        ] {
            send(&server, &tokens).await;
        }
        let counts = counts.lock().unwrap().clone();
        let expected: BTreeMap<&str, usize> = [
            ("accepted", 2),
            ("missing", 1),
            ("several_headers", 1),
            ("malformed", 2),
            ("unaccepted_scheme", 1),
            ("unknown_credential", 1),
        ]
        .into();
        assert_eq!(counts, expected);
    })
    .await;
}

#[tokio::test]
async fn a_custom_json_rejection() {
    use jocloud_auth::validate::Rejection;

    bounded(async {
        let layer =
            ValidateTokenLayer::new(&common::vendor_credentials()).on_rejection(|reason: Rejection| {
                let body = format!(r#"{{"code":401,"message":"{reason}"}}"#);
                http::Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header("content-type", "application/json")
                    .body(body)
                    .unwrap()
            });
        let server = serve_axum(app(layer)).await;
        let outcome = send(&server, &[b"Base bm9wZQ=="]).await;
        assert_eq!(outcome.status, StatusCode::UNAUTHORIZED);
        assert_eq!(outcome.body, r#"{"code":401,"message":"unknown_credential"}"#);
        assert_eq!(outcome.challenge, None);
        assert_eq!(send(&server, &[VENDOR_TOKEN.as_bytes()]).await.status, StatusCode::OK);
    })
    .await;
}

/// A gateway: the validator in front of a proxy whose inner service is a hyper-util client,
/// returning hyper's `Incoming` body (which no one can construct), wrapped in `ResponseBody` as
/// the module docs say. The upstream gets the request without the caller's token; with
/// `keep_token_header`, with it, marked sensitive.
#[tokio::test]
async fn a_proxy_passing_incoming_bodies_through() {
    use hyper::body::Incoming;

    bounded(async {
        let upstream = common::serve(service_fn(|request: Request<Incoming>| {
            let token = request.headers().get("token").map(|v| v.to_str().unwrap().to_owned());
            std::future::ready(common::text(token.unwrap_or_else(|| "no token".into())))
        }))
        .await;
        let proxy = |layer: ValidateTokenLayer| {
            let upstream = upstream.url("");
            let client = common::http_client_for::<Incoming>();
            let forward = service_fn(move |mut request: Request<Incoming>| {
                let uri = format!("{upstream}{}", request.uri().path());
                *request.uri_mut() = uri.parse().unwrap();
                client.request(request)
            });
            layer.layer(forward.map_response(|response| response.map(ResponseBody::new)))
        };
        let credentials = common::vendor_credentials();
        for (layer, expected) in [
            (ValidateTokenLayer::new(&credentials), "no token"),
            (ValidateTokenLayer::new(&credentials).keep_token_header(), VENDOR_TOKEN),
        ] {
            let gateway = common::serve(proxy(layer)).await;
            let outcome = send(&gateway, &[VENDOR_TOKEN.as_bytes()]).await;
            assert_eq!((outcome.status, outcome.body), (StatusCode::OK, Bytes::from(expected)));
            assert_eq!(send(&gateway, &[]).await.status, StatusCode::UNAUTHORIZED);
        }
    })
    .await;
}

#[tokio::test]
async fn route_layer_keeps_unknown_paths_404() {
    let router = Router::new()
        .route("/app/{appid}/v1/image/sync", post(|| async { "ok" }))
        .route_layer(ValidateTokenLayer::new(&common::vendor_credentials()));
    let request = |path: &str| Request::post(path).body(axum::body::Body::empty()).unwrap();
    let unknown = router.clone().oneshot(request("/elsewhere")).await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let guarded = router.oneshot(request("/app/1/v1/image/sync")).await.unwrap();
    assert_eq!(guarded.status(), StatusCode::UNAUTHORIZED);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn the_extractor_with_and_without_the_layer() {
    let router = Router::new()
        .route("/guarded", post(|caller: AuthenticatedId| async move { format!("hello {caller}") }))
        .route_layer(ValidateTokenLayer::new(&common::vendor_credentials()))
        // Added after the layer, so not covered by it: a programming error the extractor names.
        .route("/forgotten", post(|caller: AuthenticatedId| async move { format!("hello {caller}") }));
    let request = |path: &str| {
        Request::post(path).header("token", VENDOR_TOKEN).body(axum::body::Body::empty()).unwrap()
    };
    let guarded = router.clone().oneshot(request("/guarded")).await.unwrap();
    assert_eq!(guarded.status(), StatusCode::OK);
    assert_eq!(common::body_text(guarded).await, "hello qawsedrftg");

    let forgotten = router.oneshot(request("/forgotten")).await.unwrap();
    assert_eq!(forgotten.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let message = common::body_text(forgotten).await;
    assert!(message.contains("is ValidateTokenLayer applied to this route?"), "{message}");
}

/// Behind a report-only layer, a handler that takes `AuthenticatedId` is told, for a request
/// the layer let through, to take `Option<AuthenticatedId>`; which gets `None` for it, and the
/// caller for an accepted one.
#[cfg(feature = "axum")]
#[tokio::test]
async fn report_only_tells_a_handler_to_take_an_optional_id() {
    let report_only = || ValidateTokenLayer::new(&common::vendor_credentials()).report_only();
    let router = Router::new()
        .route("/required", post(|caller: AuthenticatedId| async move { format!("hello {caller}") }))
        .route(
            "/optional",
            post(|caller: Option<AuthenticatedId>| async move { format!("hello {caller:?}") }),
        )
        .route_layer(report_only());
    let request = |path: &str, token: &str| {
        Request::post(path).header("token", token).body(axum::body::Body::empty()).unwrap()
    };
    let refused = router.clone().oneshot(request("/required", "Base wrong")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let message = common::body_text(refused).await;
    assert!(message.contains("report-only") && message.contains("Option<AuthenticatedId>"), "{message}");
    assert!(message.contains("unknown_credential"), "{message}");

    let none = router.clone().oneshot(request("/optional", "Base wrong")).await.unwrap();
    assert_eq!(common::body_text(none).await, "hello None");
    let some = router.oneshot(request("/optional", VENDOR_TOKEN)).await.unwrap();
    assert_eq!(common::body_text(some).await, r#"hello Some(AuthenticatedId("qawsedrftg"))"#);
}

#[test]
fn authenticated_id_can_be_built_for_handler_tests() {
    let id = AuthenticatedId::new("qawsedrftg");
    assert_eq!((id.as_str(), id.as_ref(), id.to_string()), ("qawsedrftg", "qawsedrftg", "qawsedrftg".into()));
    assert_eq!(format!("{id:?}"), r#"AuthenticatedId("qawsedrftg")"#);
}

/// Another header appearing twice does not make a valid token look repeated.
#[tokio::test]
async fn a_repeated_unrelated_header_leaves_a_valid_token_accepted() {
    let service = ValidateToken::new(
        service_fn(|_: Request<()>| async { Ok::<_, Infallible>(http::Response::new(Bytes::new())) }),
        &common::vendor_credentials(),
    );
    let request = Request::builder()
        .header("accept", "application/json")
        .header("accept", "text/plain")
        .header("token", VENDOR_TOKEN)
        .body(())
        .unwrap();
    assert_eq!(service.oneshot(request).await.unwrap().status(), StatusCode::OK);
}

/// `Debug` of a layer or set names the accepted IDs, and only a few of a large set with its
/// size, so that a gateway's 100,000 customers do not fill a log line; `Rejection` displays as
/// the reason a metrics label needs.
#[test]
fn debug_shows_a_few_ids_and_rejections_display_their_reason() {
    use jocloud_auth::validate::Rejection;
    let many: Vec<Credentials> =
        (0..100_000).map(|i| Credentials::new(format!("customer-{i:06}"), "s").unwrap()).collect();
    let shown = format!("{:?}", ValidateTokenLayer::any_of(&many));
    assert!(shown.contains(r#""customer-000000", "customer-000001""#), "{shown}");
    assert!(shown.contains("99995 more"), "{shown}");
    assert!(shown.len() < 400, "{} bytes", shown.len());
    assert!(
        format!("{:?}", ValidateTokenLayer::new(&common::vendor_credentials())).contains(r#"["qawsedrftg"]"#)
    );
    #[cfg(feature = "rotation")]
    {
        let set = jocloud_auth::LiveCredentialSet::new(&many);
        let shown = format!("{set:?}");
        assert!(shown.contains("customer-000004") && shown.contains("99995 more"), "{shown}");
        assert_eq!(set.ids().len(), 100_000, "ids() still lists them all");
    }
    let rejections =
        [Rejection::Missing, Rejection::SeveralHeaders, Rejection::Malformed, Rejection::UnknownCredential];
    let shown: Vec<String> = rejections.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["missing", "several_headers", "malformed", "unknown_credential"]);
}

/// A rejection comes back in the inner service's own body type; wrapped in `ResponseBody`, a
/// body tells its size and its end, the inner one's and a rejection's, so that hyper can send a
/// `content-length` and stop reading.
#[test]
fn response_bodies_report_size_and_end() {
    use http_body::Body;
    use jocloud_auth::validate::ResponseBody;

    let inner = service_fn(|_: Request<()>| {
        let body = ResponseBody::new(Full::new(Bytes::from_static(b"hello")));
        std::future::ready(Ok::<_, Infallible>(http::Response::new(body)))
    });
    let json = |_| http::Response::new(r#"{"code":401}"#);
    let default = ValidateTokenLayer::new(&common::vendor_credentials()).layer(inner);
    let custom = ValidateTokenLayer::new(&common::vendor_credentials()).on_rejection(json).layer(inner);
    let send = |service: &ValidateToken<_>, token: Option<&str>| {
        let mut request = Request::new(());
        if let Some(token) = token {
            request.headers_mut().insert("token", HeaderValue::from_str(token).unwrap());
        }
        let future = service.clone().oneshot(request);
        common::now(future).unwrap().into_body()
    };

    let accepted = send(&default, Some(VENDOR_TOKEN));
    assert_eq!((accepted.size_hint().exact(), accepted.is_end_stream()), (Some(5), false));
    assert!(format!("{accepted:?}").starts_with("ResponseBody"));
    let empty = send(&default, None);
    assert_eq!((empty.size_hint().exact(), empty.is_end_stream()), (Some(0), true));

    let mut rejected = send(&custom, None);
    assert_eq!((rejected.size_hint().exact(), rejected.is_end_stream()), (Some(12), false));
    let frame = common::now(rejected.frame()).unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), r#"{"code":401}"#);
    assert_eq!((rejected.size_hint().exact(), rejected.is_end_stream()), (Some(0), true));

    let future = tower::Service::call(&mut default.clone(), Request::new(()));
    assert!(format!("{future:?}").starts_with("ResponseFuture"));

    // A body that can hold a rejection is the response body as it is, rejection or not.
    let plain = ValidateTokenLayer::new(&common::vendor_credentials()).on_rejection(json).layer(service_fn(
        |_: Request<()>| std::future::ready(Ok::<_, Infallible>(http::Response::new(Full::from("hello")))),
    ));
    let mut rejected: Full<Bytes> = common::now(plain.oneshot(Request::new(()))).unwrap().into_body();
    let frame = common::now(rejected.frame()).unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), r#"{"code":401}"#);
}

/// Report-only lets through exactly what enforcing refuses, each with the reason enforcing would
/// give, and the token header reaches the handler in neither mode.
#[tokio::test]
async fn report_only_lets_through_exactly_what_enforcing_refuses() {
    use jocloud_auth::validate::Rejection;
    bounded(async {
        let vendor = common::vendor_credentials();
        // The handler says who called, or why enforcing would have refused, and whether a token
        // header reached it.
        let handler = |request: Request<axum::body::Body>| async move {
            let extensions = request.extensions();
            let caller = extensions.get::<AuthenticatedId>().map(|id| format!("caller {id}"));
            let reason = extensions.get::<Rejection>().map(|r| format!("would reject {r}"));
            let token = if request.headers().contains_key("token") { " with token" } else { "" };
            format!("{}{token}", caller.or(reason).unwrap_or_default())
        };
        let router = |layer: ValidateTokenLayer| {
            Router::new().route("/app/{appid}/v1/image/sync", post(handler)).layer(layer)
        };
        let enforcing = serve_axum(router(ValidateTokenLayer::new(&vendor))).await;
        let reporting = serve_axum(router(ValidateTokenLayer::new(&vendor).report_only())).await;
        let wrong = common::token_of(&Credentials::new("qawsedrftg", "wrong").unwrap());
        let cases: [(&[&[u8]], &str); 5] = [
            (&[VENDOR_TOKEN.as_bytes()], "caller qawsedrftg"),
            (&[], "would reject missing"),
            (&[VENDOR_TOKEN.as_bytes(), VENDOR_TOKEN.as_bytes()], "would reject several_headers"),
            (&[b"Bearer abc"], "would reject malformed"),
            (&[wrong.as_bytes()], "would reject unknown_credential"),
        ];
        for (tokens, expected) in cases {
            let enforced = send(&enforcing, tokens).await;
            let reported = send(&reporting, tokens).await;
            assert_eq!(reported.status, StatusCode::OK, "{expected}");
            assert_eq!(reported.body, expected, "report-only, {expected}");
            let accepted = expected.starts_with("caller");
            assert_eq!(enforced.status == StatusCode::OK, accepted, "enforcing, {expected}");
            if accepted {
                assert_eq!(enforced.body, expected);
            }
        }
    })
    .await;
}
