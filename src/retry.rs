//! Send a request refused with `401` once more with the previous key, while its grace period
//! runs: the client half of rotation with no `401` window.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use jocloud_auth::{retry::RetryWithPreviousKey, token_auth::TokenAuthLayer, Credentials, LiveCredentials};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let old = Credentials::new("qawsedrftg", "old-secret")?;
//! let new = Credentials::new("qawsedrftg", "new-secret")?;
//! let old_token = old.header_value(jocloud_auth::Scheme::Base);
//! // Stands in for a server that has not learnt the new key yet.
//! let server = service_fn(move |request: Request<()>| {
//!     let known = request.headers()["token"] == old_token;
//!     let status = if known { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
//!     async move { Ok::<_, Infallible>(Response::builder().status(status).body(()).unwrap()) }
//! });
//!
//! let credentials = LiveCredentials::new(&old);
//! let token = TokenAuthLayer::live(&credentials);
//! let client = ServiceBuilder::new()
//!     .layer(token.clone())
//!     // Inside the token layer: it sees the token the request was sent with.
//!     .layer(RetryWithPreviousKey::layer(&token))
//!     .service(server);
//!
//! credentials.rotate(&new); // the client reads the new key first...
//! let response = client.oneshot(Request::get("https://ai.jocloud.com/").body(())?).await?;
//! assert_eq!(response.status(), StatusCode::OK); // ...and the old one still gets through.
//! # Ok(())
//! # }
//! ```
//!
//! A `401` means the request was not processed, so sending it again is safe. It is sent again
//! only if it carried the current key of a [live](crate::token_auth::TokenAuthLayer::live) layer
//! (so it was in scope and is no retry) and that key replaced another less than the grace period
//! ago: at most one extra request per refusal, none outside a rotation. The body must be
//! `Clone` (`Full<Bytes>`, say), and is copied only while a previous key is usable. The client of
//! `reqwest::client_builder` does the same. Requires the `rotation` and `tower` features.

use std::future::{ready, Ready};

use http::{Request, Response};
use tower::retry::{Policy, RetryLayer};

use std::sync::Arc;

use crate::token_auth::{Token, TokenAuthLayer};

/// A `tower::retry` policy: a request refused with `401` once more with the previous key. See
/// the [module docs](self).
#[derive(Clone, Debug)]
pub struct RetryWithPreviousKey {
    token: Arc<Token>,
}

impl RetryWithPreviousKey {
    /// Retries requests signed by `token` (its key, scheme and header name): put the policy's
    /// `RetryLayer` inside that layer.
    pub fn new(token: &TokenAuthLayer) -> Self {
        Self { token: token.token().clone() }
    }

    /// `RetryLayer::new(RetryWithPreviousKey::new(token))`.
    pub fn layer(token: &TokenAuthLayer) -> RetryLayer<Self> {
        RetryLayer::new(Self::new(token))
    }
}

impl<B: Clone, ResBody, E> Policy<Request<B>, Response<ResBody>, E> for RetryWithPreviousKey {
    type Future = Ready<()>;

    fn retry(
        &mut self,
        request: &mut Request<B>,
        result: &mut Result<Response<ResBody>, E>,
    ) -> Option<Ready<()>> {
        let status = result.as_ref().ok()?.status();
        self.token.use_previous_key(status, request.headers_mut()).then(|| ready(()))
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        self.token.may_retry(request.headers()).then(|| request.clone())
    }
}
