//! A client that follows its key from a Secret volume through the recommended stack.
//!
//! ```text
//! cargo run --example client -- --credentials-dir DIR --url URL --requests N --interval-ms M
//! ```
//!
//! Sends N `POST`s of a moderation request to URL, M milliseconds apart, signed with the key in
//! `DIR/id` and `DIR/secret` as it is at each request, and prints one line per request: the
//! status code, then the body. When the key changes, a request the server refuses with `401`
//! (it has not read the new key yet) is sent once more with the previous key. Exits 0 when
//! done.

use std::{error::Error, process::ExitCode, time::Duration};

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use jocloud_auth::{
    retry::RetryWithPreviousKey,
    token_auth::{HostPattern, TokenAuthLayer},
    trace_id::SetTraceIdLayer,
    CredentialsSource, FollowOptions, LiveCredentials,
};
use jocloud_auth_examples::{exit, Args, RetrySafe};
use tower::{ServiceBuilder, ServiceExt};

const USAGE: &str = "usage: client --credentials-dir DIR --url URL --requests N --interval-ms M";

#[tokio::main]
async fn main() -> ExitCode {
    exit("client", run().await)
}

async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut args = Args::parse(USAGE)?;
    let dir = args.required("--credentials-dir")?;
    let url: Uri = args.required("--url")?.parse()?;
    let requests: u64 = args.optional("--requests", 1)?;
    let interval = Duration::from_millis(args.optional("--interval-ms", 1000)?);
    args.done()?;

    let options =
        FollowOptions::default().on_error(|error| eprintln!("client: {error}; keeping the last good key"));
    // Followed for as long as `credentials` or a service built from it is alive.
    let credentials = LiveCredentials::follow(CredentialsSource::dir(&dir), options)?;
    // The token goes to the host of `--url` only, and over plain HTTP only if that URL says so.
    let host: HostPattern = url.authority().ok_or("the URL has no host")?.as_str().parse()?;
    let mut token = TokenAuthLayer::live(&credentials).for_host(host);
    if url.scheme_str() == Some("http") {
        token = token.allow_http();
    }
    // From the outside in: a traceId per logical request, an overall timeout, retries that are
    // safe to repeat, the token, then (inside it, where it sees the key sent) one retry with
    // the previous key after a rotation.
    let client = ServiceBuilder::new()
        .layer(SetTraceIdLayer::new())
        .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
        .layer(tower::retry::RetryLayer::new(RetrySafe { remaining: 2 }))
        .layer(token.clone())
        .layer(RetryWithPreviousKey::layer(&token))
        .service(Client::builder(TokioExecutor::new()).build_http());

    for sent in 0..requests {
        if sent > 0 {
            tokio::time::sleep(interval).await;
        }
        let request = Request::post(url.clone())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"data":{"url":"https://example.com/cat.png"}}"#)))?;
        let response = client.clone().oneshot(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        println!("{status} {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}
