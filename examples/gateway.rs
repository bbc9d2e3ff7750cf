//! A jocloud-compatible gateway that follows its accepted key from a Secret volume.
//!
//! ```text
//! cargo run --example gateway -- --credentials-dir DIR --listen 127.0.0.1:0 [--grace-secs N]
//! ```
//!
//! Serves `POST /app/{appid}/v1/image/sync` behind `ValidateTokenLayer`, accepting the key in
//! `DIR/id` and `DIR/secret` (the layout of a Kubernetes Secret volume) and, after the files
//! change, the previous key too for N seconds (default 120). Prints `listening on
//! http://ADDR` as its first line, answers an accepted token with `200` and JSON holding the
//! caller's ID, anything else with `401`, and runs until killed.

use std::{error::Error, io::Write, process::ExitCode, time::Duration};

use jocloud_auth::{validate::ValidateTokenLayer, CredentialsSource, FollowOptions, LiveCredentialSet};
use jocloud_auth_examples::{exit, mock_jocloud, Args};

const USAGE: &str = "usage: gateway --credentials-dir DIR --listen ADDR [--grace-secs N]";

#[tokio::main]
async fn main() -> ExitCode {
    exit("gateway", run().await)
}

async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut args = Args::parse(USAGE)?;
    let dir = args.required("--credentials-dir")?;
    let listen = args.required("--listen")?;
    let grace = args.optional("--grace-secs", 120)?;
    args.done()?;

    let options = FollowOptions::default()
        .grace(Duration::from_secs(grace))
        .on_error(|error| eprintln!("gateway: {error}; keeping the last good key"));
    let accepted = LiveCredentialSet::follow(CredentialsSource::dir(&dir), options)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, mock_jocloud(ValidateTokenLayer::live(&accepted))).await?;
    Ok(())
}
