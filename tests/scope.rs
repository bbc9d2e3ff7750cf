//! The default scope through real clients: a hyper-util client and a reqwest-middleware client
//! whose resolvers map every name to loopback, so `ai.jocloud.com` is a server of this test.
//! And jocloud's answer to plain HTTP, a redirect to HTTPS: the HTTP hop carries no token, the
//! HTTPS one does, through tower-http's `FollowRedirect` and through reqwest.
//!
//! No TLS on loopback: the hyper-util connector sends an `https` URI over plain TCP (what the
//! layer decides depends on the URI alone), and reqwest, built without TLS, has its HTTPS hops
//! answered by a stand-in middleware after the token middleware, which records what it was sent.
#![cfg(feature = "reqwest")]

mod common;

use std::{
    convert::Infallible,
    future::ready,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use common::{bounded, serve, text, Server, VENDOR_TOKEN};
use http::{header::LOCATION, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use jocloud_auth::token_auth::TokenAuthLayer;
use reqwest_middleware::{ClientWithMiddleware, Middleware, Next};
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};

/// The hosts the tests name; each resolves to loopback.
const HOSTS: &[&str] = &[
    "127.0.0.1",
    "example.com",
    "ai.jocloud.com",
    "api-oversea.jocloud.com",
    "ai.jocloud.com.evil.example",
    "evil.example",
];

/// URLs (with `{port}` for the server's) and whether the default layer sends the token there.
const CASES: &[(&str, bool)] = &[
    ("http://127.0.0.1:{port}/", false),
    ("https://example.com:{port}/", false),
    ("https://ai.jocloud.com:{port}/app/1/v1/image/sync", true),
    ("https://api-oversea.jocloud.com:{port}/app/1/v1/recordoss/applyrecord", true),
    ("http://ai.jocloud.com:{port}/", false),
    ("https://ai.jocloud.com.evil.example:{port}/", false),
    ("https://evil.example:{port}/?u=ai.jocloud.com", false),
    ("https://ai.jocloud.com@evil.example:{port}/", false),
];

/// A server answering with the token it got, or "no token".
async fn echo_token() -> Server {
    serve(service_fn(|request: Request<Incoming>| {
        let token = request.headers().get("token").map(|v| v.to_str().unwrap().to_owned());
        ready(text(token.unwrap_or_else(|| "no token".into())))
    }))
    .await
}

/// A hyper-util client that connects every name to loopback, over plain TCP whatever the scheme.
fn loopback_client() -> Client<HttpConnector<common::Loopback>, Full<Bytes>> {
    let mut connector = HttpConnector::new_with_resolver(common::Loopback);
    connector.enforce_http(false);
    Client::builder(TokioExecutor::new()).build(connector)
}

#[tokio::test]
async fn the_default_scope_through_a_hyper_util_client() {
    bounded(async {
        let server = echo_token().await;
        let client = TokenAuthLayer::new(&common::vendor_credentials()).layer(loopback_client());
        for (url, expected) in CASES {
            let url = url.replace("{port}", &server.addr.port().to_string());
            let request = Request::get(&url).header("token", "Base carried").body(Full::default()).unwrap();
            let got = common::body_text(client.clone().oneshot(request).await.unwrap()).await;
            assert_eq!(got, if *expected { VENDOR_TOKEN } else { "no token" }, "{url}");
        }
    })
    .await;
}

/// Stands in for jocloud's HTTPS endpoint, which reqwest without TLS cannot reach: answers
/// every `https` request with the token it carries, and passes the rest on.
#[derive(Clone, Default)]
struct HttpsStandIn(Arc<Mutex<Vec<Hop>>>, Arc<Mutex<Vec<http::HeaderMap>>>);

/// An HTTPS request the stand-in answered: its URL, method, body, and whether a cookie came.
type Hop = (String, reqwest::Method, Option<String>, bool);

#[async_trait::async_trait]
impl Middleware for HttpsStandIn {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        if request.url().scheme() != "https" {
            return next.run(request, extensions).await;
        }
        let token = request.headers().get("token").map(|v| v.to_str().unwrap().to_owned());
        let body =
            request.body().and_then(|body| body.as_bytes()).map(|b| String::from_utf8(b.to_vec()).unwrap());
        let cookie = request.headers().contains_key("cookie");
        // Without the query, which holds a `traceId` when that feature is on.
        let mut url = request.url().clone();
        url.set_query(None);
        self.0.lock().unwrap().push((url.to_string(), request.method().clone(), body, cookie));
        self.1.lock().unwrap().push(request.headers().clone());
        let answer = http::Response::new(token.unwrap_or_else(|| "no token".into()));
        Ok(reqwest::Response::from(answer))
    }
}

fn reqwest_client(server: &Server, stand_in: &HttpsStandIn) -> ClientWithMiddleware {
    let token = TokenAuthLayer::new(&common::vendor_credentials());
    let mut client = reqwest::Client::builder();
    for host in HOSTS {
        client = client.resolve(host, server.addr);
    }
    jocloud_auth::reqwest::client_builder(client, &token).unwrap().with(stand_in.clone()).build()
}

#[tokio::test]
async fn the_default_scope_through_a_reqwest_middleware_client() {
    bounded(async {
        let server = echo_token().await;
        let client = reqwest_client(&server, &HttpsStandIn::default());
        for (url, expected) in CASES {
            let url = url.replace("{port}", &server.addr.port().to_string());
            let got =
                client.get(&url).header("token", "Base carried").send().await.unwrap().text().await.unwrap();
            assert_eq!(got, if *expected { VENDOR_TOKEN } else { "no token" }, "{url}");
        }
    })
    .await;
}

/// A plain-HTTP "jocloud" that redirects every request to the same path over HTTPS on
/// `https_port`, with `status`, and records whether a token reached it.
async fn http_jocloud(status: StatusCode, https_port: u16) -> (Server, Arc<Mutex<Vec<bool>>>) {
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let seen = tokens.clone();
    let server = serve(service_fn(move |request: Request<Incoming>| {
        seen.lock().unwrap().push(request.headers().contains_key("token"));
        let location = format!("https://ai.jocloud.com:{https_port}{}", request.uri().path());
        let mut redirect = Response::new(Full::<Bytes>::default());
        *redirect.status_mut() = status;
        redirect.headers_mut().insert(LOCATION, location.parse().unwrap());
        ready(Ok::<_, Infallible>(redirect))
    }))
    .await;
    (server, tokens)
}

#[tokio::test]
async fn the_http_to_https_redirect_through_tower_http_follow_redirect() {
    bounded(async {
        let https = echo_token().await;
        let (http, tokens) = http_jocloud(StatusCode::MOVED_PERMANENTLY, https.addr.port()).await;
        let client = ServiceBuilder::new()
            .layer(tower_http::follow_redirect::FollowRedirectLayer::new())
            .layer(TokenAuthLayer::new(&common::vendor_credentials()))
            .service(loopback_client());
        let url = format!("http://ai.jocloud.com:{}/app/1/v1/image/sync", http.addr.port());
        let response = client.oneshot(Request::get(&url).body(Full::default()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(common::body_text(response).await, VENDOR_TOKEN, "the HTTPS hop carries the token");
        assert_eq!(*tokens.lock().unwrap(), [false], "the HTTP hop carries none");
    })
    .await;
}

/// reqwest cannot add a header to a hop it follows, so its redirect policy hands a redirect
/// into the scope back to the middleware, which sends the next hop itself with the token:
/// after a `301` as a `GET` without the body, after a `307` with the same method and body.
#[tokio::test]
async fn the_http_to_https_redirect_through_reqwest() {
    bounded(async {
        for (status, method, body) in [
            (StatusCode::MOVED_PERMANENTLY, reqwest::Method::GET, None),
            (StatusCode::TEMPORARY_REDIRECT, reqwest::Method::POST, Some("{}".to_owned())),
        ] {
            let (http, tokens) = http_jocloud(status, 8443).await;
            let stand_in = HttpsStandIn::default();
            let client = reqwest_client(&http, &stand_in);
            let url = format!("http://ai.jocloud.com:{}/app/1/v1/image/sync", http.addr.port());
            let response = client.post(&url).header("cookie", "session=1").body("{}").send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{status}");
            assert_eq!(
                response.text().await.unwrap(),
                VENDOR_TOKEN,
                "{status}: the HTTPS hop carries the token"
            );
            assert_eq!(*tokens.lock().unwrap(), [false], "{status}: the HTTP hop carries none");
            let hops = stand_in.0.lock().unwrap().clone();
            let hop = ("https://ai.jocloud.com:8443/app/1/v1/image/sync".to_owned(), method, body, false);
            assert_eq!(hops, [hop], "{status}: and no cookie to another port");
        }
    })
    .await;
}

/// To the same host and port, the scheme changes all the same: the followed hop drops the
/// caller's cookie, as reqwest does across origins.
#[tokio::test]
async fn a_redirect_to_the_same_host_and_port_drops_the_callers_cookie() {
    bounded(async {
        let same_place = serve(service_fn(|request: Request<Incoming>| {
            let host = request.headers()["host"].to_str().unwrap().to_owned();
            let mut redirect = Response::new(Full::<Bytes>::default());
            *redirect.status_mut() = StatusCode::TEMPORARY_REDIRECT;
            redirect.headers_mut().insert(LOCATION, format!("https://{host}/p").parse().unwrap());
            ready(Ok::<_, Infallible>(redirect))
        }))
        .await;
        let stand_in = HttpsStandIn::default();
        let client = reqwest_client(&same_place, &stand_in);
        let url = format!("http://ai.jocloud.com:{}/p", same_place.addr.port());
        let response = client.get(&url).header("cookie", "session=1").send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), VENDOR_TOKEN);
        let hops = stand_in.0.lock().unwrap().clone();
        let hop = (
            format!("https://ai.jocloud.com:{}/p", same_place.addr.port()),
            reqwest::Method::GET,
            None,
            false,
        );
        assert_eq!(hops, [hop]);
    })
    .await;
}

/// A redirect from outside the scope to outside it is handed to the caller, never followed
/// with a token.
#[tokio::test]
async fn a_redirect_that_stays_outside_the_scope_is_returned() {
    bounded(async {
        let server = serve(service_fn(move |_: Request<Incoming>| {
            let mut redirect = Response::new(Full::<Bytes>::default());
            *redirect.status_mut() = StatusCode::FOUND;
            redirect.headers_mut().insert(LOCATION, "https://evil.example/".parse().unwrap());
            ready(Ok::<_, Infallible>(redirect))
        }))
        .await;
        let stand_in = HttpsStandIn::default();
        let client = reqwest_client(&server, &stand_in);
        let response = client.get(server.url("/")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND);
        assert!(stand_in.0.lock().unwrap().is_empty());
    })
    .await;
}

/// What arrived after a redirect: method, body, and which of the headers the sender set are
/// still there.
type Arrived = (http::Method, Option<String>, Vec<&'static str>);

/// The headers each request below is sent with, besides the body `{}`.
const SENT_HEADERS: [&str; 4] = ["content-type", "content-encoding", "cookie", "authorization"];

fn kept(headers: &http::HeaderMap) -> Vec<&'static str> {
    SENT_HEADERS.into_iter().filter(|name| headers.contains_key(*name)).collect()
}

fn sent(builder: reqwest_middleware::RequestBuilder) -> reqwest_middleware::RequestBuilder {
    builder
        .header("content-type", "application/json")
        .header("content-encoding", "identity")
        .header("cookie", "session=1")
        .header("authorization", "Bearer other")
        .body("{}")
}

/// What reqwest itself does with `method` answered by `status` to another origin: the
/// reference for the middleware's own hop.
async fn what_reqwest_does(status: StatusCode, method: &http::Method) -> Arrived {
    let arrived = Arc::new(Mutex::new(None));
    let record = arrived.clone();
    let target = serve(service_fn(move |request: Request<Incoming>| {
        let record = record.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let body = (!body.is_empty()).then(|| String::from_utf8(body.to_vec()).unwrap());
            *record.lock().unwrap() = Some((parts.method, body, kept(&parts.headers)));
            text("ok")
        }
    }))
    .await;
    let location = target.url("/target");
    let origin = serve(service_fn(move |_: Request<Incoming>| {
        let mut redirect = Response::new(Full::<Bytes>::default());
        *redirect.status_mut() = status;
        redirect.headers_mut().insert(LOCATION, location.parse().unwrap());
        ready(Ok::<_, Infallible>(redirect))
    }))
    .await;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
    sent(client.request(method.clone(), origin.url("/start"))).send().await.unwrap();
    let arrived = arrived.lock().unwrap().take();
    arrived.expect("reqwest followed the redirect")
}

/// The middleware's own hop, `http://ai.jocloud.com` to `https://ai.jocloud.com`, changes a
/// request exactly as reqwest changes one it follows, for every redirect status and method:
/// the method, the body, the payload headers, and the headers dropped across origins.
#[tokio::test]
async fn the_middlewares_hop_follows_reqwests_rules() {
    bounded(async {
        for status in [301, 302, 303, 307, 308].map(|code| StatusCode::from_u16(code).unwrap()) {
            for method in [http::Method::GET, http::Method::POST, http::Method::PUT, http::Method::DELETE] {
                let expected = what_reqwest_does(status, &method).await;
                let (http, tokens) = http_jocloud(status, 8443).await;
                let stand_in = HttpsStandIn::default();
                let client = reqwest_client(&http, &stand_in);
                let url = format!("http://ai.jocloud.com:{}/app/1/v1/image/sync", http.addr.port());
                let response = sent(client.request(method.clone(), &url)).send().await.unwrap();
                assert_eq!(response.text().await.unwrap(), VENDOR_TOKEN, "{method} {status}");
                assert_eq!(*tokens.lock().unwrap(), [false], "{method} {status}: the HTTP hop has no token");
                let hop = stand_in.0.lock().unwrap()[0].clone();
                let headers = stand_in.1.lock().unwrap()[0].clone();
                assert_eq!((hop.1, hop.2, kept(&headers)), expected, "{method} {status}");
            }
        }
    })
    .await;
}
