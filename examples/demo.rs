//! A signed jocloud request, end to end.
//!
//! ```text
//! cargo run --example demo
//! ```
//! starts an embedded mock of jocloud's image-moderation endpoint on loopback, guarded by
//! `ValidateTokenLayer`, and sends it `POST /app/{appid}/v1/image/sync?traceId=…` with a JSON body
//! through a realistic client stack. Fully offline.
//!
//! ```text
//! JOCLOUD_SECRET_ID=… JOCLOUD_SECRET_KEY=… cargo run --example demo -- --url https://ai.jocloud.com/app/<appid>/v1/image/sync
//! ```
//! sends the same request to a real endpoint instead, with the token scoped to that host.

use std::{
    error::Error,
    future::{ready, IntoFuture, Ready},
    process::ExitCode,
    time::Duration,
};

use axum::{
    extract::{Path, Query},
    routing::post,
    Extension, Json, Router,
};
use bytes::Bytes;
use http::{uri::Authority, HeaderMap, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use jocloud_auth::{AuthenticatedId, Credentials, TokenAuthLayer, TraceIdLayer, ValidateTokenLayer};
use serde_json::{json, Value};
use tower::{retry::Policy, ServiceBuilder, ServiceExt};

const USAGE: &str = "usage: demo [--url https://ai.jocloud.com/app/<appid>/v1/image/sync]
  without --url: offline, against an embedded mock endpoint on loopback
  with --url:    a real request; credentials from JOCLOUD_SECRET_ID and JOCLOUD_SECRET_KEY";

type BoxError = Box<dyn Error + Send + Sync>;
type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => offline().await,
        ["--url", url] => real(url).await,
        ["--help" | "-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The vendor's example request against an embedded mock endpoint.
async fn offline() -> Result<(), BoxError> {
    // The vendor's example credentials, from its Java and Python samples.
    let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mock = tokio::spawn(axum::serve(listener, mock_jocloud(&credentials)).into_future());

    println!("jocloud-auth demo: embedded mock jocloud endpoint on http://{addr} (offline)");
    println!("client credentials: {credentials:?}\n");
    let url: Uri = format!("http://{addr}/app/123456/v1/image/sync").parse()?;
    let accepted = send(&credentials, &url).await?;

    println!("\nThe same request with a wrong secret:\n");
    let rejected = send(&Credentials::new("qawsedrftg", "not-the-secret")?, &url).await?;
    mock.abort();
    // The demo doubles as a smoke test in CI: anything else is a failure.
    if (accepted, rejected) != (StatusCode::OK, StatusCode::UNAUTHORIZED) {
        return Err(format!("expected 200 then 401, got {accepted} then {rejected}").into());
    }
    Ok(())
}

/// The same request, to a real endpoint.
async fn real(url: &str) -> Result<(), BoxError> {
    let credentials = Credentials::from_env()?;
    let url: Uri = url.parse().map_err(|error| format!("--url {url}: {error}"))?;
    println!("jocloud-auth demo: {url}\nclient credentials: {credentials:?}\n");
    send(&credentials, &url).await.map(drop)
}

/// A mock of jocloud's image moderation: the token checked by `ValidateTokenLayer`, the
/// caller's ID, appid and traceId echoed back.
fn mock_jocloud(credentials: &Credentials) -> Router {
    async fn image_sync(
        Extension(caller): Extension<AuthenticatedId>,
        Path(appid): Path<String>,
        Query(query): Query<std::collections::HashMap<String, String>>,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        Json(json!({
            "code": 0,
            "message": "success",
            "appid": appid,
            "caller": caller.as_str(),
            "traceId": query.get("traceId"),
            "result": { "url": body["data"]["url"], "suggestion": "pass" },
        }))
    }
    Router::new()
        .route("/app/{appid}/v1/image/sync", post(image_sync))
        .layer(ValidateTokenLayer::new(credentials))
}

/// Sends the example request through the recommended client stack and prints the exchange.
async fn send(credentials: &Credentials, url: &Uri) -> Result<StatusCode, BoxError> {
    let host: Authority = url.authority().ok_or("the URL has no host")?.clone();
    let mut token = TokenAuthLayer::new(credentials).for_host(host);
    if url.scheme() == Some(&http::uri::Scheme::HTTPS) {
        token = token.https_only();
    }

    let client = ServiceBuilder::new()
        .layer(TraceIdLayer::new()) // one traceId per logical request, shared by its retries
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
        .layer(tower::retry::RetryLayer::new(RetryTransient { remaining: 2 }))
        .layer(token)
        .map_request(print_request) // innermost: shows exactly what goes on the wire
        .service(https_client()?);

    let body = json!({ "data": { "url": "https://example.com/cat.png" } });
    let request = Request::post(url.clone())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let response = client.oneshot(request).await?;

    let (parts, body) = response.into_parts();
    println!("<- {:?} {}", parts.version, parts.status);
    print_headers(&parts.headers, &["content-type", "www-authenticate"]);
    let body = body.collect().await?.to_bytes();
    if !body.is_empty() {
        println!("   {}", String::from_utf8_lossy(&body));
    }
    Ok(parts.status)
}

fn https_client() -> Result<HttpsClient, BoxError> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http() // the mock endpoint is plain HTTP on loopback
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

fn print_request(request: Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    println!("-> {} {} {:?}", request.method(), request.uri(), request.version());
    print_headers(request.headers(), &[]);
    request
}

/// Prints headers, sensitive ones (the token) by their scheme word and length only.
fn print_headers(headers: &HeaderMap, only: &[&str]) {
    for (name, value) in headers {
        if !only.is_empty() && !only.contains(&name.as_str()) {
            continue;
        }
        if value.is_sensitive() {
            let scheme = value.as_bytes().split(|&b| b == b' ').next().unwrap_or_default();
            let scheme = String::from_utf8_lossy(scheme);
            println!("   {name}: {scheme} <redacted: sensitive, {} bytes>", value.len());
        } else {
            println!("   {name}: {}", value.to_str().unwrap_or("<not UTF-8>"));
        }
    }
}

/// Retries server errors and failed connections, up to `remaining` more attempts.
#[derive(Clone)]
struct RetryTransient {
    remaining: usize,
}

impl<E> Policy<Request<Full<Bytes>>, Response<Incoming>, E> for RetryTransient {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        _: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<Incoming>, E>,
    ) -> Option<Ready<()>> {
        let transient = match result {
            Ok(response) => response.status().is_server_error(),
            Err(_) => true,
        };
        (transient && self.remaining > 0).then(|| {
            self.remaining -= 1;
            ready(())
        })
    }

    fn clone_request(&mut self, request: &Request<Full<Bytes>>) -> Option<Request<Full<Bytes>>> {
        let mut clone = Request::new(request.body().clone());
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.version_mut() = request.version();
        *clone.headers_mut() = request.headers().clone();
        clone.extensions_mut().clone_from(request.extensions());
        Some(clone)
    }
}
