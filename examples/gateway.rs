//! A jocloud-compatible gateway that follows its accepted keys from a Secret volume or a file.
//!
//! ```text
//! cargo run --example gateway -- --credentials-dir DIR --listen 127.0.0.1:0 [--grace-secs N]
//! cargo run --example gateway -- --customers-dir DIR --listen 127.0.0.1:0
//! cargo run --example gateway -- --customers-file FILE --listen 127.0.0.1:0
//! ```
//!
//! Serves `POST /app/{appid}/v1/image/sync` behind `ValidateTokenLayer`, accepting the key in
//! `DIR/id` and `DIR/secret` (a Kubernetes Secret volume with one credential), one key per
//! customer from `--customers-dir` (a file per certificate ID holding its secret, as a Secret
//! with a key per customer is mounted) or from `--customers-file` (a line `id:secret` per
//! customer). After a key changes, the one it replaced is accepted too for N seconds (default
//! 120); a customer removed from the source is refused at once. Prints `listening on
//! http://ADDR` as its first line, answers an accepted token with `200` and JSON holding the
//! caller's ID, anything else with `401`, and runs until killed.

use std::{error::Error, io::Write, process::ExitCode, time::Duration};

use jocloud_auth::{
    validate::ValidateTokenLayer, CredentialSetSource, CredentialsSource, FollowOptions, LiveCredentialSet,
};
use jocloud_auth_examples::{exit, mock_jocloud, Args};

const USAGE: &str =
    "usage: gateway (--credentials-dir DIR | --customers-dir DIR | --customers-file FILE) --listen ADDR [--grace-secs N]";

#[tokio::main]
async fn main() -> ExitCode {
    exit("gateway", run().await)
}

async fn run() -> Result<(), Box<dyn Error + Send + Sync>> {
    let mut args = Args::parse(USAGE)?;
    let (kind, path) = args.one_of(&["--credentials-dir", "--customers-dir", "--customers-file"])?;
    let listen = args.required("--listen")?;
    let grace = args.optional("--grace-secs", 120)?;
    args.done()?;

    let options = FollowOptions::default()
        .grace(Duration::from_secs(grace))
        .on_error(|error| eprintln!("gateway: {error}; keeping the last good key"));
    let source = match kind {
        "--credentials-dir" => CredentialsSource::dir(&path).into(),
        "--customers-dir" => CredentialSetSource::dir(&path),
        _ => CredentialSetSource::lines(&path),
    };
    let accepted = LiveCredentialSet::follow(source, options)?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    axum::serve(listener, mock_jocloud(ValidateTokenLayer::live(&accepted))).await?;
    Ok(())
}
