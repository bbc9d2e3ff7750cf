//! The jocloud token from a reqwest client, offline.
//!
//! ```text
//! cargo run --example reqwest
//! ```
//!
//! Starts the mock jocloud endpoint on loopback, then sends it a moderation request through the
//! reqwest-middleware client `jocloud_auth::reqwest::client_builder` builds, scoped to the
//! endpoint. Then asks a URL that redirects to another port: the client stops there and the
//! token never leaves. Exits non-zero unless both turn out so.

use std::{error::Error, future::IntoFuture, process::ExitCode};

use axum::{response::Redirect, routing::get, Router};
use jocloud_auth::{token_auth::TokenAuthLayer, validate::ValidateTokenLayer, Credentials};
use jocloud_auth_examples::{exit, mock_jocloud};

type BoxError = Box<dyn Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    exit("reqwest example", run().await)
}

async fn run() -> Result<(), BoxError> {
    let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;

    // Elsewhere: a server on another port that should never see the token.
    let elsewhere = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let elsewhere_addr = elsewhere.local_addr()?;
    let saw_token = |headers: http::HeaderMap| async move {
        if headers.contains_key("token") {
            "elsewhere got the token"
        } else {
            "elsewhere got no token"
        }
    };
    tokio::spawn(axum::serve(elsewhere, Router::new().route("/", get(saw_token))).into_future());

    // The mock endpoint, plus one path that redirects to elsewhere.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let away = format!("http://{elsewhere_addr}/");
    let mock = mock_jocloud(ValidateTokenLayer::new(&credentials))
        .route("/away", get(move || async move { Redirect::temporary(&away) }));
    tokio::spawn(axum::serve(listener, mock).into_future());
    println!("mock jocloud endpoint on http://{addr}, another server on http://{elsewhere_addr}\n");

    // The documented setup, scoped to the endpoint: the mock is named and plain HTTP allowed.
    // Against jocloud itself the default scope is right: use neither option, and a TLS
    // feature of reqwest.
    let token = TokenAuthLayer::new(&credentials).for_host(addr.try_into()?).allow_http();
    let client = jocloud_auth::reqwest::client_builder(reqwest::Client::builder(), &token)?.build();

    let url = format!("http://{addr}/app/123456/v1/image/sync?traceId=8d3c0d52-reqwest-example");
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"data":{"url":"https://example.com/cat.png"}}"#)
        .send()
        .await?;
    let status = response.status();
    println!("POST {url}\n<- {status}\n   {}\n", response.text().await?);

    let away = client.get(format!("http://{addr}/away")).send().await?;
    let redirect = away.status();
    println!(
        "GET http://{addr}/away\n<- {redirect} to {:?}: not followed out of scope",
        away.headers().get("location")
    );

    if status != 200 || redirect != 307 {
        return Err(format!("expected 200 then an unfollowed 307, got {status} then {redirect}").into());
    }
    println!("\nok: signed request accepted; the token stayed inside its scope");
    Ok(())
}
