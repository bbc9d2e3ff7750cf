//! What the examples share: a mock of jocloud's image-moderation endpoint, the retry policy
//! they recommend, and a header printer that keeps the token redacted.

use std::{collections::HashMap, future::Ready};

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
