//! Prints the jocloud `token` header line, for curl or any other client.
//!
//! ```text
//! cargo run -q --example token -- <id> <secret>      # or "<id>:<secret>"
//! cargo run -q --example token                        # from JOCLOUD_SECRET_ID / JOCLOUD_SECRET_KEY
//! curl -H "$(cargo run -q --example token)" -H 'content-type: application/json' -d '{}' \
//!     "https://ai.jocloud.com/app/<appid>/v1/image/sync?traceId=$(cat /proc/sys/kernel/random/uuid)"
//! ```
//!
//! This prints the secret in reversible form: keep the output out of shell history and logs.

use std::process::ExitCode;

use jocloud_auth::{Credentials, Scheme, TOKEN_HEADER};

const USAGE: &str = "usage: token [--basic] [<id> <secret> | <id>:<secret>]
  without credentials: read JOCLOUD_SECRET_ID and JOCLOUD_SECRET_KEY
  --basic: use the scheme word `Basic` instead of `Base`";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let basic = args.iter().position(|arg| arg == "--basic").map(|at| args.remove(at)).is_some();
    let credentials: Result<Credentials, Box<dyn std::error::Error>> = match &args[..] {
        [] => Credentials::from_env().map_err(Into::into),
        [pair] => pair.parse().map_err(Into::into),
        [id, secret] => Credentials::new(id.as_str(), secret.as_str()).map_err(Into::into),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    match credentials {
        Ok(credentials) => {
            let scheme = if basic { Scheme::Basic } else { Scheme::Base };
            let value = credentials.header_value(scheme);
            // Base64 and a scheme word: always visible ASCII.
            println!("{TOKEN_HEADER}: {}", value.to_str().unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("token: {error}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}
