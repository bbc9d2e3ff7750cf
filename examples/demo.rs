//! A signed jocloud request, end to end, offline.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! Starts a mock of jocloud's image-moderation endpoint on loopback, guarded by
//! `ValidateTokenLayer`, and sends it `POST /app/{appid}/v1/image/sync` with a JSON body
//! through the recommended client stack: a `traceId`, an overall timeout, safe retries, and the
//! token scoped to the endpoint's host. Then the same with a wrong secret. Exits non-zero
//! unless the first is accepted (200) and the second refused (401), so CI runs it as a check.

use std::{error::Error, future::IntoFuture, process::ExitCode, time::Duration};

use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use jocloud_auth::{
    token_auth::{HostPattern, TokenAuthLayer},
    trace_id::SetTraceIdLayer,
    validate::ValidateTokenLayer,
    Credentials,
};
use jocloud_auth_examples::{exit, mock_jocloud, print_headers, RetrySafe};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    exit("demo", run().await)
}

async fn run() -> Result<(), BoxError> {
    // The vendor's example credentials, from its Java and Python samples.
    let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mock = mock_jocloud(ValidateTokenLayer::new(&credentials));
    let server = tokio::spawn(axum::serve(listener, mock).into_future());

    println!("jocloud-auth demo: mock jocloud endpoint on http://{addr} (offline)");
    println!("client credentials: {credentials:?}\n");
    let url: Uri = format!("http://{addr}/app/123456/v1/image/sync").parse()?;
    let accepted = send(&credentials, &url).await?;

    println!("\nThe same request with a wrong secret:\n");
    let rejected = send(&Credentials::new("qawsedrftg", "not-the-secret")?, &url).await?;
    server.abort();
    if (accepted, rejected) != (StatusCode::OK, StatusCode::UNAUTHORIZED) {
        return Err(format!("expected 200 then 401, got {accepted} then {rejected}").into());
    }
    println!("\nok: accepted with the right key, refused with a wrong one");
    Ok(())
}

/// Sends the example request through the recommended client stack and prints the exchange.
async fn send(credentials: &Credentials, url: &Uri) -> Result<StatusCode, BoxError> {
    // The mock is plain HTTP on loopback, so it is named and plain HTTP allowed. Against jocloud
    // itself the default scope is right (HTTPS to jocloud's hosts): use an HTTPS connector
    // (hyper-rustls or hyper-tls) and neither option.
    let mock: HostPattern = url.authority().ok_or("the URL has no host")?.as_str().parse()?;
    let client = ServiceBuilder::new()
        .layer(SetTraceIdLayer::new()) // one traceId per logical request, shared by its retries
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
        .layer(tower::retry::RetryLayer::new(RetrySafe { remaining: 2 }))
        .layer(TokenAuthLayer::new(credentials).for_host(mock).allow_http())
        .map_request(|request: Request<Full<Bytes>>| {
            // Innermost: shows exactly what goes on the wire.
            println!("-> {} {} {:?}", request.method(), request.uri(), request.version());
            print_headers(request.headers());
            request
        })
        .service(Client::builder(TokioExecutor::new()).build_http());

    let body = json!({ "data": { "url": "https://example.com/cat.png" } });
    let request = Request::post(url.clone())
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let response = client.oneshot(request).await?;

    let (parts, body) = response.into_parts();
    println!("<- {:?} {}", parts.version, parts.status);
    print_headers(&parts.headers);
    let body = body.collect().await?.to_bytes();
    if !body.is_empty() {
        println!("   {}", String::from_utf8_lossy(&body));
    }
    Ok(parts.status)
}
