//! What the examples share: a mock of jocloud's image-moderation endpoint, the retry policy
//! they recommend, and a header printer that keeps the token redacted.

use std::{collections::HashMap, error::Error, future::Ready, process::ExitCode, str::FromStr};

use axum::{
    extract::{Path, Query},
    routing::post,
    Extension, Json, Router,
};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use jocloud_auth::validate::{AuthenticatedId, ValidateTokenLayer};
use jocloud_auth_fixtures::{Loopback, Pki};
use serde_json::{json, Value};

/// The path of jocloud's synchronous image moderation.
pub const IMAGE_SYNC: &str = "/app/{appid}/v1/image/sync";

/// A mock of jocloud's image moderation behind `validate`: echoes the caller's ID, the appid
/// and the `traceId` back as JSON.
pub fn mock_jocloud(validate: ValidateTokenLayer) -> Router {
    async fn image_sync(
        Extension(caller): Extension<AuthenticatedId>,
        Path(appid): Path<String>,
        Query(query): Query<HashMap<String, String>>,
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
    // `route_layer`: only existing routes ask for a token, so an unknown path stays a 404.
    Router::new().route(IMAGE_SYNC, post(image_sync)).route_layer(validate)
}

/// Retries only what is safe to repeat, at most `remaining` more times.
///
/// A request whose connection failed never reached the server, so it may be sent again
/// whatever its method. Otherwise only idempotent methods (GET, PUT, DELETE, …) are retried,
/// on `502`, `503`, `504` or a lost response: a `POST` that may have reached jocloud is never
/// repeated, because a paid moderation call would run, and be billed, twice.
#[derive(Clone, Debug)]
pub struct RetrySafe {
    pub remaining: usize,
}

type ClientError = hyper_util::client::legacy::Error;

impl tower::retry::Policy<Request<Full<Bytes>>, Response<Incoming>, ClientError> for RetrySafe {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        request: &mut Request<Full<Bytes>>,
        result: &mut Result<Response<Incoming>, ClientError>,
    ) -> Option<Self::Future> {
        let repeatable = match result {
            Err(error) => error.is_connect() || request.method().is_idempotent(),
            Ok(response) => {
                let status = response.status();
                let transient =
                    [StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT]
                        .contains(&status);
                transient && request.method().is_idempotent()
            }
        };
        if !repeatable || self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        Some(std::future::ready(()))
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

/// Prints headers; a sensitive one (the token) only by its scheme word and length.
pub fn print_headers(headers: &HeaderMap) {
    for (name, value) in headers {
        if value.is_sensitive() {
            let scheme = value.as_bytes().split(|&b| b == b' ').next().unwrap_or_default();
            let scheme = String::from_utf8_lossy(scheme);
            println!("   {name}: {scheme} <redacted: sensitive, {} bytes>", value.len());
        } else {
            println!("   {name}: {}", value.to_str().unwrap_or("<not UTF-8>"));
        }
    }
}

/// The exit code for a run's result, the error on standard error first.
pub fn exit(name: &str, result: Result<(), Box<dyn Error + Send + Sync>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `--name value` command-line arguments, checked against a usage line.
pub struct Args {
    pairs: HashMap<String, String>,
    usage: &'static str,
}

impl Args {
    pub fn parse(usage: &'static str) -> Result<Self, String> {
        let mut pairs = HashMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(name) = args.next() {
            let value = args.next().filter(|_| name.starts_with("--")).ok_or_else(|| usage.to_owned())?;
            pairs.insert(name, value);
        }
        Ok(Self { pairs, usage })
    }

    pub fn required(&mut self, name: &str) -> Result<String, String> {
        self.pairs.remove(name).ok_or_else(|| format!("{name} is required\n{}", self.usage))
    }

    /// The one of `names` that was given, and its value.
    pub fn one_of(&mut self, names: &[&'static str]) -> Result<(&'static str, String), String> {
        let given: Vec<&'static str> =
            names.iter().copied().filter(|name| self.pairs.contains_key(*name)).collect();
        match given[..] {
            [name] => Ok((name, self.pairs.remove(name).unwrap_or_default())),
            _ => Err(format!("exactly one of {} is required\n{}", names.join(", "), self.usage)),
        }
    }

    pub fn optional<T: FromStr>(&mut self, name: &str, default: T) -> Result<T, String> {
        match self.pairs.remove(name) {
            None => Ok(default),
            Some(value) => {
                value.parse().map_err(|_| format!("{name} {value}: not a valid value\n{}", self.usage))
            }
        }
    }

    /// Fails on any argument not asked for.
    pub fn done(self) -> Result<(), String> {
        match self.pairs.keys().next() {
            None => Ok(()),
            Some(name) => Err(format!("unknown argument {name}\n{}", self.usage)),
        }
    }
}

/// The HTTPS client the demo sends with: the fixtures' connector, which trusts the demo's own
/// authority only and resolves every name to loopback. It speaks plain HTTP too, so that what
/// the layer does with an `http://` URI can be shown.
pub type DemoClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector<Loopback>>,
    Full<Bytes>,
>;

/// A [`DemoClient`] trusting `pki`'s authority.
pub fn demo_client(pki: &Pki) -> DemoClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(pki.mixed_connector())
}
