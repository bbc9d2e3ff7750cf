//! Secrets never reach `Debug`, `Display`, errors or tracing output.

mod common;

use std::{convert::Infallible, future::ready};

use bytes::Bytes;
use common::{bounded, http_client, serve, text};
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use jocloud_auth::{
    token_auth::{TokenAuth, TokenAuthLayer},
    validate::{ResponseBody, ValidateToken, ValidateTokenLayer},
    Credentials,
};
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

const ID: &str = "visible-id";
const SECRET: &str = "Sup3r-S3cret-Value";

fn credentials() -> Credentials {
    Credentials::new(ID, SECRET).unwrap()
}

/// Every form in which the secret could leak: itself, its base64 token, and the token's
/// base64 with the scheme.
fn forbidden() -> Vec<String> {
    let payload = "dmlzaWJsZS1pZDpTdXAzci1TM2NyZXQtVmFsdWU="; // printf 'visible-id:Sup3r-S3cret-Value' | base64
    vec![SECRET.to_owned(), payload.to_owned(), format!("Base {payload}")]
}

fn assert_clean(what: &str, text: &str) {
    for secret in forbidden() {
        assert!(!text.contains(&secret), "{what} leaks {secret:?}: {text}");
    }
}

#[test]
fn the_forbidden_payload_is_the_real_one() {
    // Guards the other tests: if this constant were wrong they could not fail.
    let sent = TokenAuthLayer::new(&credentials())
        .layer(service_fn(|request: Request<()>| async move {
            Ok::<_, Infallible>(http::Response::new(request.headers()["token"].to_str().unwrap().to_owned()))
        }))
        .oneshot(Request::get("https://ai.jocloud.com/").body(()).unwrap());
    let sent = common::block_on(sent).unwrap().into_body();
    assert_eq!(sent, forbidden()[2]);
}

#[test]
fn debug_of_every_public_type() {
    let credentials = credentials();
    let inner = "inner-service";
    #[cfg_attr(not(feature = "rotation"), allow(unused_mut))]
    let mut shown = vec![
        format!("{credentials:?}"),
        format!("{:?}", TokenAuthLayer::new(&credentials)),
        format!("{:?}", TokenAuth::new(inner, &credentials)),
        format!("{:?}", ValidateTokenLayer::new(&credentials)),
        format!("{:?}", ValidateToken::new(inner, &credentials)),
        format!("{:#?}", ValidateTokenLayer::any_of([&credentials, &common::vendor_credentials()])),
    ];
    #[cfg(feature = "rotation")]
    {
        use jocloud_auth::{LiveCredentialSet, LiveCredentials};
        let live = LiveCredentials::new(&credentials);
        let set = LiveCredentialSet::new([&credentials]);
        shown.extend([
            format!("{live:?}"),
            format!("{:?}", TokenAuthLayer::live(&live)),
            format!("{:?}", TokenAuth::live(inner, &live)),
            format!("{set:?}"),
            format!("{:?}", ValidateTokenLayer::live(&set)),
            format!("{:?}", ValidateToken::live(inner, &set)),
        ]);
    }
    for text in &shown {
        assert_clean("Debug", text);
        assert!(text.contains(ID), "Debug should still name the ID: {text}");
    }
}

#[test]
fn errors_never_contain_the_secret() {
    let cases = [
        Credentials::new("", SECRET),
        Credentials::new("a:b", SECRET),
        Credentials::new(" id", SECRET),
        Credentials::new("id", format!("{SECRET} ")),
        format!("{ID}{SECRET}").parse(),
    ];
    for error in cases.into_iter().map(Result::unwrap_err) {
        assert_clean("Display", &error.to_string());
        assert_clean("Debug", &format!("{error:?}"));
    }
}

fn trace_everything(
) -> TraceLayer<tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>> {
    TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(Level::TRACE).include_headers(true))
        .on_request(DefaultOnRequest::new().level(Level::TRACE))
        .on_response(DefaultOnResponse::new().level(Level::TRACE).include_headers(true))
}

#[tokio::test]
async fn trace_level_logs_of_a_full_exchange() {
    let (captured, _guard) = common::capture_traces();

    bounded(async {
        let credentials = credentials();
        // Server: the validator outside the header-logging trace layer, as its docs advise.
        let handler = service_fn(|request: Request<Incoming>| {
            tracing::trace!(headers = ?request.headers(), "handler sees");
            ready(text("ok"))
        });
        let server = serve(
            ServiceBuilder::new()
                .layer(ValidateTokenLayer::new(&credentials))
                // ValidateToken answers 401 in the body type inside, and TraceLayer's cannot hold it.
                .map_response(|response: http::Response<_>| response.map(ResponseBody::new))
                .layer(trace_everything())
                .service(handler),
        )
        .await;

        // Client: traced both before and after the token is added.
        let client = ServiceBuilder::new()
            .layer(trace_everything())
            .layer(common::on_loopback(TokenAuthLayer::new(&credentials)))
            .layer(trace_everything())
            .service(http_client());
        let request =
            Request::post(server.url("/app/1/v1/image/sync")).body(Full::<Bytes>::default()).unwrap();
        let response = client.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    })
    .await;

    let logs = captured.text();
    // The headers were logged (so this test can fail), with the token redacted.
    assert!(logs.contains("\"token\": Sensitive"), "{logs}");
    assert!(logs.contains("handler sees"), "{logs}");
    assert_clean("tracing output", &logs);
}

/// A server's `TraceLayer` that logs request headers, *outside* the validator, logs the token
/// marked `Sensitive` once tower-http's `SetSensitiveRequestHeadersLayer` for `token` is put
/// outermost, as the validator's docs and README's server show; without it, in clear.
#[tokio::test]
async fn a_header_logging_trace_layer_outside_the_validator_logs_no_token() {
    use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

    for sensitive in [true, false] {
        let (captured, guard) = common::capture_traces();
        bounded(async {
            let credentials = credentials();
            let router = axum::Router::new()
                .route("/app/{appid}/v1/image/sync", axum::routing::post(|| async { "ok" }))
                .route_layer(ValidateTokenLayer::new(&credentials))
                .layer(trace_everything());
            let router = if sensitive {
                router.layer(SetSensitiveRequestHeadersLayer::new([jocloud_auth::TOKEN_HEADER]))
            } else {
                router
            };
            let server = common::serve_axum(router).await;
            let request = Request::post(server.url("/app/1/v1/image/sync"))
                .header("token", common::token_of(&credentials))
                .body(Full::<Bytes>::default())
                .unwrap();
            assert_eq!(http_client().request(request).await.unwrap().status(), StatusCode::OK);
        })
        .await;
        drop(guard);
        let logs = captured.text();
        if sensitive {
            assert!(logs.contains("\"token\": Sensitive"), "{logs}");
            assert_clean("a TraceLayer outside the validator", &logs);
        } else {
            assert!(logs.contains(&forbidden()[2]), "without it the token is logged: {logs}");
        }
    }
}

/// With the `tracing` feature: each rejection is an event with its reason and no part of the
/// token; an accepted request's span, declared with `jocloud.caller_id`, records the caller.
#[cfg(feature = "tracing")]
#[tokio::test]
async fn rejection_events_and_the_callers_span() {
    let (captured, _guard) = common::capture_traces();

    bounded(async {
        let credentials = credentials();
        let span = |request: &Request<Incoming>| {
            tracing::info_span!("request", uri = %request.uri(), jocloud.caller_id = tracing::field::Empty)
        };
        let handler = service_fn(|_: Request<Incoming>| {
            tracing::info!("handled");
            ready(text("ok"))
        });
        let server = serve(
            ServiceBuilder::new()
                .layer(TraceLayer::new_for_http().make_span_with(span))
                .layer(ValidateTokenLayer::new(&credentials))
                .service(handler),
        )
        .await;
        // As long as the accepted one, and longer.
        let wrong = Credentials::new(ID, "a-wrong-secret-xyz").unwrap();
        let stranger = Credentials::new("stranger-1", "a-wrong-secret-xyz").unwrap();
        let longer = Credentials::new(ID, "a-wrong-secret-that-is-longer").unwrap();
        let client = http_client();
        let send = |tokens: Vec<http::HeaderValue>| {
            let mut request = Request::post(server.url("/app/1/v1/image/sync")).body(Full::<Bytes>::default()).unwrap();
            for token in tokens {
                request.headers_mut().append("token", token);
            }
            client.request(request)
        };
        let token = common::token_of(&credentials);
        assert_eq!(send(vec![token.clone()]).await.unwrap().status(), StatusCode::OK);
        for tokens in [
            vec![],
            vec![token.clone(), token.clone()],
            vec![http::HeaderValue::from_str(&format!("Bearer {}", token.to_str().unwrap())).unwrap()],
            vec![common::token_of(&wrong)],
            vec![common::token_of(&stranger)],
            vec![common::token_of(&longer)],
            vec![wrong.header_value(jocloud_auth::Scheme::Basic)],
        ] {
            assert_eq!(send(tokens).await.unwrap().status(), StatusCode::UNAUTHORIZED);
        }
    })
    .await;

    let logs = captured.text();
    for reason in ["missing", "several_headers", "malformed", "unaccepted_scheme"] {
        let line = format!("jocloud token rejected reason=\"{reason}\"");
        assert!(
            logs.contains(&line) || logs.contains(&format!("jocloud token rejected reason={reason}")),
            "{reason}: {logs}"
        );
    }
    assert!(
        logs.contains(&format!("jocloud.caller_id=\"{ID}\""))
            || logs.contains(&format!("jocloud.caller_id={ID}")),
        "{logs}"
    );
    assert!(logs.contains("handled"), "{logs}");
    assert_clean("tracing output", &logs);
    assert!(!logs.contains("a-wrong-secret"), "{logs}");
    // A wrong secret for a known ID names the ID; an unknown ID is never echoed.
    let unknown: Vec<&str> = logs.lines().filter(|line| line.contains("unknown_credential")).collect();
    assert_eq!(unknown.len(), 2, "{logs}");
    assert!(unknown[0].contains(&format!("jocloud.caller_id=\"{ID}\"")), "{logs}");
    assert!(unknown[0].contains("wrong secret for a known certificate ID"), "{logs}");
    assert!(unknown[0].contains("held=\"secret\""), "{logs}");
    assert!(!unknown[1].contains("caller_id") && !unknown[1].contains("known certificate"), "{logs}");
    assert!(!logs.contains("stranger-1"), "{logs}");
    // A token longer than any accepted is refused as such, its known ID named all the same.
    let long: Vec<&str> = logs.lines().filter(|line| line.contains("too_long")).collect();
    assert_eq!(long.len(), 1, "{logs}");
    assert!(long[0].contains("wrong secret for a known certificate ID"), "{logs}");
}

/// A request sent without the token for being out of scope says so at `DEBUG`, naming its
/// scheme and host, never the token; one in scope says nothing.
#[cfg(feature = "tracing")]
#[test]
fn a_token_not_sent_is_a_debug_event_without_the_token() {
    let (captured, _guard) = common::capture_traces();
    let client = TokenAuthLayer::new(&credentials()).layer(common::echo::<()>());
    let to = |uri: &str| Request::get(uri).header("token", "Base carried").body(()).unwrap();
    common::now(client.clone().oneshot(to("https://ai.jocloud.com/app/1/v1/image/sync"))).unwrap();
    assert!(captured.0.lock().unwrap().is_empty(), "in scope, no event");

    let sent = common::now(client.clone().oneshot(to("http://127.0.0.1:8080/app/1/v1/image/sync"))).unwrap();
    assert!(sent.into_body().headers().get("token").is_none());
    let output = captured.text();
    assert!(output.contains("DEBUG"), "{output}");
    assert!(output.contains("jocloud token not sent: the request is outside the layer's scope"), "{output}");
    assert!(output.contains("scheme=\"http\"") || output.contains("scheme=http"), "{output}");
    assert!(output.contains("127.0.0.1"), "{output}");
    assert_clean("the out-of-scope event", &output);

    // Plain HTTP to jocloud, sent over HTTPS instead, says so too.
    captured.0.lock().unwrap().clear();
    let sent = common::now(client.oneshot(to("http://ai.jocloud.com/app/1/v1/image/sync"))).unwrap();
    assert_eq!(sent.into_body().uri().scheme_str(), Some("https"));
    let output = captured.text();
    assert!(output.contains("DEBUG") && output.contains("sent over HTTPS instead"), "{output}");
    assert!(output.contains("ai.jocloud.com"), "{output}");
    assert_clean("the upgrade event", &output);
}
