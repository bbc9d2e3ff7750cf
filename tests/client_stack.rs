//! `TokenAuthLayer` in real client stacks: a hyper-util client behind tower-http and tower
//! layers talking to a real hyper server, an axum router as the inner service, and redirects.

mod common;

use std::{
    convert::Infallible,
    future::{ready, Ready},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{routing::post, Extension, Router};
use bytes::Bytes;
use common::{bounded, http_client, serve, text, VENDOR_TOKEN};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use jocloud_auth::{
    token_auth::{InsertPolicy, TokenAuth, TokenAuthLayer},
    validate::{AuthenticatedId, ValidateTokenLayer},
    Credentials, TOKEN_HEADER,
};
use tower::{retry::Policy, service_fn, ServiceBuilder, ServiceExt};

/// Retries 5xx responses, up to `remaining` times.
#[derive(Clone)]
struct RetryServerErrors {
    remaining: usize,
}

impl<E> Policy<Request<Full<Bytes>>, Response<Incoming>, E> for RetryServerErrors {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _request: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<Incoming>, E>,
    ) -> Option<Self::Future> {
        match result {
            Ok(response) if response.status().is_server_error() && self.remaining > 0 => {
                self.remaining -= 1;
                Some(ready(()))
            }
            _ => None,
        }
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        let mut clone = Request::new(request.body().clone());
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.headers_mut() = request.headers().clone();
        Some(clone)
    }
}

#[tokio::test]
async fn every_retry_attempt_carries_the_token() {
    bounded(async {
        let credentials = common::vendor_credentials();
        let attempts = Arc::new(AtomicUsize::new(0));
        let seen_tokens = Arc::new(Mutex::new(Vec::new()));

        // The server validates the token, then fails the first attempt that gets through.
        let handler = {
            let (attempts, seen_tokens) = (attempts.clone(), seen_tokens.clone());
            service_fn(move |request: Request<Incoming>| {
                let token = request.headers()[TOKEN_HEADER].to_str().unwrap().to_owned();
                seen_tokens.lock().unwrap().push(token);
                if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
                    let mut failure = Response::new(Full::default());
                    *failure.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    return ready(Ok::<_, Infallible>(failure));
                }
                ready(text("accepted"))
            })
        };
        // The handler looks at the token itself, so the validator passes it on.
        let validate = ValidateTokenLayer::new(&credentials).keep_token_header();
        let server = serve(ServiceBuilder::new().layer(validate).service(handler)).await;

        let client = ServiceBuilder::new()
            .layer(tower_http::trace::TraceLayer::new_for_http())
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                Duration::from_secs(10),
            ))
            // tower-http's timeout answers with an empty body, so the body type needs a Default.
            .map_response(|response: Response<Incoming>| response.map(BodyExt::boxed))
            .layer(tower::retry::RetryLayer::new(RetryServerErrors { remaining: 2 }))
            .layer(common::on_loopback(TokenAuthLayer::new(&credentials)))
            .service(http_client());

        let request = Request::post(server.url("/app/123456/v1/image/sync?traceId=x"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let response = client.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "accepted");
        assert_eq!(attempts.load(Ordering::SeqCst), 2, "one failure, one retry");
        assert_eq!(*seen_tokens.lock().unwrap(), [VENDOR_TOKEN, VENDOR_TOKEN]);
    })
    .await;
}

#[tokio::test]
async fn an_axum_router_as_the_inner_service() {
    let credentials = common::vendor_credentials();
    let router = Router::new()
        .route(
            "/app/{appid}/v1/image/sync",
            post(|Extension(caller): Extension<AuthenticatedId>| async move { caller.to_string() }),
        )
        .layer(ValidateTokenLayer::new(&credentials));

    let app = TokenAuth::new(router.clone(), &credentials);
    let request = Request::post("https://ai.jocloud.com/app/123456/v1/image/sync")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "qawsedrftg");

    // Proof that the layer is what made it pass: the bare router turns the same request away.
    let request = Request::post("/app/123456/v1/image/sync").body(axum::body::Body::empty()).unwrap();
    assert_eq!(router.oneshot(request).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

/// Origin A (validating the token) redirects to origin B, another loopback port, which reports
/// whether a `token` header reached it.
struct RedirectPair {
    a: common::Server,
    _b: common::Server,
}

async fn redirect_pair(credentials: &Credentials) -> RedirectPair {
    let b = serve(service_fn(|request: Request<Incoming>| {
        ready(text(match request.headers().get(TOKEN_HEADER) {
            Some(_) => "b got the token",
            None => "b got no token",
        }))
    }))
    .await;
    let location = b.url("/landing");
    let a_handler = service_fn(move |_: Request<Incoming>| {
        let mut redirect = Response::new(Full::<Bytes>::default());
        *redirect.status_mut() = StatusCode::FOUND;
        redirect.headers_mut().insert(http::header::LOCATION, location.parse().unwrap());
        ready(Ok::<_, Infallible>(redirect))
    });
    // A answers 401 unless the token arrives: a redirect from A proves A got it.
    let a = serve(ServiceBuilder::new().layer(ValidateTokenLayer::new(credentials)).service(a_handler)).await;
    RedirectPair { a, _b: b }
}

#[tokio::test]
async fn a_scoped_token_does_not_follow_a_cross_origin_redirect() {
    bounded(async {
        let credentials = common::vendor_credentials();
        let pair = redirect_pair(&credentials).await;
        let a_only =
            || TokenAuthLayer::new(&credentials).for_host(pair.a.addr.try_into().unwrap()).allow_http();
        let get = || Request::get(pair.a.url("/start")).body(Full::<Bytes>::default()).unwrap();

        // Recommended order: FollowRedirect outside, a scoped TokenAuth inside it.
        let scoped = ServiceBuilder::new()
            .layer(tower_http_07::follow_redirect::FollowRedirectLayer::new())
            .layer(a_only())
            .service(http_client());
        let response = scoped.oneshot(get()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(common::body_text(response).await, "b got no token");

        // Why the scope matters: scoped to all of loopback, B is in scope and gets the token.
        let unscoped = ServiceBuilder::new()
            .layer(tower_http_07::follow_redirect::FollowRedirectLayer::new())
            .layer(common::on_loopback(TokenAuthLayer::new(&credentials)))
            .service(http_client());
        assert_eq!(common::body_text(unscoped.oneshot(get()).await.unwrap()).await, "b got the token");
        // The other orders, over TLS: tests/redirects.rs.
    })
    .await;
}

/// A caller's own header under `IfMissing`, replayed by `FollowRedirect` on the next hop, is
/// removed there once the hop leaves the scope: no token header reaches B, whoever set it.
#[tokio::test]
async fn a_callers_own_token_header_does_not_follow_a_redirect_out_of_scope() {
    bounded(async {
        let credentials = common::vendor_credentials();
        let pair = redirect_pair(&credentials).await;
        let a_only = TokenAuthLayer::new(&credentials).for_host(pair.a.addr.try_into().unwrap());
        let client = ServiceBuilder::new()
            .layer(tower_http::follow_redirect::FollowRedirectLayer::new())
            .layer(a_only.allow_http().policy(InsertPolicy::IfMissing))
            .service(http_client());
        // The caller's header is the right token, so A accepts it and redirects.
        let request = Request::get(pair.a.url("/start"))
            .header(TOKEN_HEADER, common::VENDOR_TOKEN)
            .body(Full::<Bytes>::default())
            .unwrap();
        let response = client.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(common::body_text(response).await, "b got no token");
    })
    .await;
}
