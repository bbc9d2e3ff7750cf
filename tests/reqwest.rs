//! reqwest users: `TokenAuthMiddleware` in a reqwest-middleware client and `TokenAuth` over a
//! `reqwest::Client`, against real servers on loopback; redirects with reqwest's default policy
//! (the token leaks to another port) and with `redirect_policy` (it does not).
#![cfg(feature = "reqwest")]

mod common;

use std::{
    convert::Infallible,
    future::ready,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use bytes::Bytes;
use common::{bounded, serve, text, VENDOR_TOKEN};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use jocloud_auth::{
    reqwest::TokenAuthMiddleware,
    token_auth::{HostPattern, TokenAuthLayer},
};
use reqwest::redirect::Policy;
use reqwest_middleware::ClientWithMiddleware;
use tower::{service_fn, Layer, ServiceExt};

/// A server that answers with the token it got, or "no token"; counts its requests.
async fn echo_token() -> (common::Server, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let server = serve(service_fn(move |request: Request<Incoming>| {
        counted.fetch_add(1, Ordering::SeqCst);
        let token = request.headers().get("token").map(|v| v.to_str().unwrap().to_owned());
        ready(text(token.unwrap_or_else(|| "no token".into())))
    }))
    .await;
    (server, hits)
}

/// A server that answers every request with a `307` to `location`.
async fn redirecting_to(location: String) -> common::Server {
    serve(service_fn(move |_: Request<Incoming>| {
        let mut redirect = Response::new(Full::<Bytes>::default());
        *redirect.status_mut() = StatusCode::TEMPORARY_REDIRECT;
        redirect.headers_mut().insert(http::header::LOCATION, location.parse().unwrap());
        ready(Ok::<_, Infallible>(redirect))
    }))
    .await
}

fn with_middleware(token: TokenAuthMiddleware, redirect: Policy) -> ClientWithMiddleware {
    let client = reqwest::Client::builder().redirect(redirect).build().unwrap();
    reqwest_middleware::ClientBuilder::new(client).with(token).build()
}

/// A layer that sends the token to `server` only, over plain HTTP.
fn only_to(server: &common::Server) -> TokenAuthLayer {
    let host: HostPattern = server.addr.to_string().parse().unwrap();
    TokenAuthLayer::new(&common::vendor_credentials()).for_host(host).allow_http()
}

#[tokio::test]
async fn the_vendor_vector_arrives_both_ways() {
    bounded(async {
        let (server, _) = echo_token().await;
        let layer = only_to(&server);

        let middleware = TokenAuthMiddleware::new(layer.clone());
        let client = with_middleware(middleware.clone(), middleware.redirect_policy());
        let body =
            client.post(server.url("/app/1/v1/image/sync")).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, VENDOR_TOKEN);

        let client = reqwest::Client::builder().redirect(layer.redirect_policy()).build().unwrap();
        let tower_client = layer.layer(client.clone());
        let request = client.post(server.url("/app/1/v1/image/sync")).build().unwrap();
        let response = tower_client.oneshot(request).await.unwrap();
        assert_eq!(response.text().await.unwrap(), VENDOR_TOKEN);
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
        let token = TokenAuthMiddleware::new(common::on_loopback(TokenAuthLayer::live(&live)));
        let client = with_middleware(token.clone(), token.redirect_policy());
        let send = || async { client.get(server.url("/")).send().await.unwrap().text().await.unwrap() };
        assert_eq!(send().await, VENDOR_TOKEN);
        let rotated = Credentials::new("qawsedrftg", "rotated").unwrap();
        live.rotate(&rotated);
        assert_eq!(send().await, common::token_of(&rotated).to_str().unwrap());
    })
    .await;
}

/// A `307` from the scoped host A to B on another port. With reqwest's default policy the token
/// follows it to B; with `redirect_policy` B never sees it: the caller gets the `307`.
#[tokio::test]
async fn a_redirect_out_of_scope_does_not_carry_the_token() {
    bounded(async {
        let (b, b_hits) = echo_token().await;
        let a = redirecting_to(b.url("/landing")).await;
        let scoped = only_to(&a);

        // reqwest's defaults: the leak this crate's policy exists for.
        let client = with_middleware(TokenAuthMiddleware::new(scoped.clone()), Policy::default());
        let body = client.get(a.url("/start")).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, VENDOR_TOKEN, "with reqwest's default policy the token reaches B");
        assert_eq!(b_hits.swap(0, Ordering::SeqCst), 1);

        // The documented setup, through the middleware and through a tower stack.
        let token = TokenAuthMiddleware::new(scoped.clone());
        let client = with_middleware(token.clone(), token.redirect_policy());
        let response = client.get(a.url("/start")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);

        let client = reqwest::Client::builder().redirect(scoped.redirect_policy()).build().unwrap();
        let request = client.get(a.url("/start")).build().unwrap();
        let response = scoped.layer(client).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(b_hits.load(Ordering::SeqCst), 0, "B was never reached with the token");
    })
    .await;
}

/// Within the scope, redirects are followed as usual, the token sent again on each hop.
#[tokio::test]
async fn a_redirect_within_the_scope_is_followed() {
    bounded(async {
        let (b, _) = echo_token().await;
        let a = redirecting_to(b.url("/landing")).await;
        let token =
            TokenAuthMiddleware::new(common::on_loopback(TokenAuthLayer::new(&common::vendor_credentials())));
        let client = with_middleware(token.clone(), token.redirect_policy());
        let body = client.get(a.url("/start")).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, VENDOR_TOKEN);

        // A relative redirect on the same host.
        let same = serve(service_fn(|request: Request<Incoming>| {
            if request.uri().path() == "/start" {
                let mut redirect = Response::new(Full::<Bytes>::default());
                *redirect.status_mut() = StatusCode::TEMPORARY_REDIRECT;
                redirect.headers_mut().insert(http::header::LOCATION, "/landing".parse().unwrap());
                return ready(Ok::<_, Infallible>(redirect));
            }
            let token = request.headers().get("token").map(|v| v.to_str().unwrap().to_owned());
            ready(text(format!("{} {}", request.uri().path(), token.unwrap_or_default())))
        }))
        .await;
        let token = TokenAuthMiddleware::new(only_to(&same));
        let client = with_middleware(token.clone(), token.redirect_policy());
        let body = client.get(same.url("/start")).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, format!("/landing {VENDOR_TOKEN}"));
    })
    .await;
}

#[tokio::test]
async fn the_header_is_sensitive_and_out_of_scope_removed() {
    let layer = TokenAuthLayer::new(&common::vendor_credentials());
    let inspect = service_fn(|request: reqwest::Request| {
        let token = request.headers().get("token").cloned();
        ready(Ok::<_, Infallible>(token))
    });
    let request = |url: &str| {
        let mut request = reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap());
        request.headers_mut().insert("token", "Base carried".parse().unwrap());
        request
    };
    let sent = layer.layer(inspect).oneshot(request("https://ai.jocloud.com/")).await.unwrap().unwrap();
    assert_eq!(sent, VENDOR_TOKEN);
    assert!(sent.is_sensitive());
    let sent = layer.layer(inspect).oneshot(request("http://ai.jocloud.com/")).await.unwrap();
    assert_eq!(sent, None, "out of scope, the caller's header is removed too");
}

#[test]
fn debug_holds_no_secret() {
    let middleware = TokenAuthMiddleware::new(
        TokenAuthLayer::new(&common::vendor_credentials()).for_host("ai.jocloud.com".parse().unwrap()),
    );
    let shown = format!("{middleware:?}");
    assert!(shown.starts_with("TokenAuthMiddleware(TokenAuthLayer { id: \"qawsedrftg\""), "{shown}");
    assert!(shown.contains("ai.jocloud.com"), "{shown}");
    for secret in ["abcdefghijk", common::VENDOR_PAYLOAD, "YWJjZGVmZ2hpams"] {
        assert!(!shown.contains(secret), "{shown}");
    }
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
        let token = TokenAuthMiddleware::new(only_to(&server));
        let client = with_middleware(token.clone(), token.redirect_policy());
        let error = client.get(server.url("/start")).send().await.unwrap_err();
        assert!(error.is_redirect(), "{error}");
        assert_eq!(hits.load(Ordering::SeqCst), 11, "the first request and ten redirects");
    })
    .await;
}
