//! Prints the line a gateway holds for a customer's credential by digest, `<id>:{SHA256}<hex>`,
//! for a file of lines (a file per ID holds what follows the colon).
//!
//! ```text
//! JOCLOUD_SECRET_ID=cust000001 JOCLOUD_SECRET_KEY=... cargo run -q --example digest
//! cargo run -q --example digest -- cust000001 < secret-file     # the secret on standard input
//! ```
//!
//! The secret is read from the environment or standard input, never from an argument, where
//! the shell history and the process table would keep it. The line holds no secret.

use std::{error::Error, io::Read, process::ExitCode};

use jocloud_auth::{AcceptedCredential, Credentials};
use zeroize::Zeroizing;

const USAGE: &str = "usage: digest [<id>]
  without <id>: read JOCLOUD_SECRET_ID and JOCLOUD_SECRET_KEY
  with <id>: read the secret from standard input (one trailing line ending dropped)";

fn main() -> ExitCode {
    match run() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("digest: {error}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<String, Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let credentials = match &args[..] {
        [] => Credentials::from_env()?,
        [id] if !id.starts_with('-') => {
            let mut secret = Zeroizing::new(String::new());
            std::io::stdin().read_to_string(&mut secret)?;
            let line = secret.strip_suffix('\n').map_or(&secret[..], |s| s.strip_suffix('\r').unwrap_or(s));
            Credentials::new(id.as_str(), line)?
        }
        _ => return Err("expected at most one argument, the certificate ID".into()),
    };
    Ok(AcceptedCredential::digest_of(&credentials)?.digest_line().expect("a digest has a line"))
}
