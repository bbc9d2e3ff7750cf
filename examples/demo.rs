//! A signed jocloud request, end to end, offline, with the client layer README shows.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! Starts a mock of jocloud's image moderation, guarded by `ValidateTokenLayer`, as an HTTPS
//! endpoint named `ai.jocloud.com` (a certificate made at start, the name resolved to
//! loopback). Sends `POST /app/{appid}/v1/image/sync` through the recommended client stack, the
//! token layer with its default scope (no `for_host`, no `allow_http`): over HTTPS, signed and
//! accepted; with a wrong secret, refused; to an `http://` URL, sent over HTTPS instead, before
//! anything leaves in clear, and accepted. Exits non-zero unless all three turn out so, so CI
//! runs it as a check.

use std::{error::Error, process::ExitCode, time::Duration};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use jocloud_auth::{
    token_auth::TokenAuthLayer, trace_id::SetTraceIdLayer, validate::ValidateTokenLayer, Credentials,
};
use jocloud_auth_examples::{demo_client, exit, mock_jocloud, print_headers, DemoClient, RetrySafe};
use jocloud_auth_fixtures::Pki;
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::follow_redirect::FollowRedirectLayer;

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    exit("demo", run().await)
}

async fn run() -> Result<(), BoxError> {
    // The vendor's example credentials, from its Java and Python samples.
    let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
    let tls = Pki::new(&["ai.jocloud.com"])?;
    let mock = mock_jocloud(ValidateTokenLayer::new(&credentials));
    let https = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let https_port = https.local_addr()?.port();
    let server = tokio::spawn(tls.serve(https, mock));
    let client = demo_client(&tls);

    println!("jocloud-auth demo, offline: a mock of jocloud as https://ai.jocloud.com:{https_port}");
    println!("(a certificate made at start, the name resolved to loopback); client credentials:");
    println!("{credentials:?}\n");
    let path = "/app/123456/v1/image/sync";
    let url = format!("https://ai.jocloud.com:{https_port}{path}");
    let accepted = send(&client, &credentials, &url).await?;

    println!("\nThe same request with a wrong secret:\n");
    let rejected = send(&client, &Credentials::new("qawsedrftg", "not-the-secret")?, &url).await?;

    let plain = format!("http://ai.jocloud.com:{https_port}{path}");
    println!("\nThe right key, to {plain}: the layer sends it over HTTPS instead.\n");
    let upgraded = send(&client, &credentials, &plain).await?;
    server.abort();
    let outcomes = [accepted, rejected, upgraded];
    let expected = [
        (StatusCode::OK, None),
        (StatusCode::UNAUTHORIZED, Some(r#"Base error="invalid_token""#.to_owned())),
        (StatusCode::OK, None),
    ];
    if outcomes != expected {
        return Err(format!("expected {expected:?}, got {outcomes:?}").into());
    }
    println!("\nok: signed and accepted over HTTPS, refused with a wrong key, plain HTTP sent as HTTPS");
    Ok(())
}

/// Sends the example request through the recommended client stack and prints the exchange;
/// the status, and the challenge of a refusal.
async fn send(
    client: &DemoClient,
    credentials: &Credentials,
    url: &str,
) -> Result<(StatusCode, Option<String>), BoxError> {
    let client = ServiceBuilder::new()
        // Outside the token layer: every hop is signed, or not, by the scope.
        .layer(FollowRedirectLayer::new())
        .layer(SetTraceIdLayer::new()) // one traceId per logical request, shared by its retries
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
        .layer(tower::retry::RetryLayer::new(RetrySafe { remaining: 2 }))
        // The default scope: HTTPS to jocloud's hosts only.
        .layer(TokenAuthLayer::new(credentials))
        .map_request(|request: Request<Full<Bytes>>| {
            // Innermost: shows exactly what goes on the wire.
            println!("-> {} {} {:?}", request.method(), request.uri(), request.version());
            print_headers(request.headers());
            request
        })
        .service(client.clone());

    let body = json!({ "data": { "url": "https://example.com/cat.png" } });
    let request = Request::post(url)
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
    let challenge = parts.headers.get("www-authenticate").and_then(|value| value.to_str().ok());
    Ok((parts.status, challenge.map(str::to_owned)))
}
