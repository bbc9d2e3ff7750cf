//! Tower middleware for jocloud (Aivacom) token authentication.
//!
//! jocloud's REST API authenticates every request with one header,
//! `token: Base <base64("<certificate ID>:<certificate secret key>")>`. This crate provides:
//!
//! - [`TokenAuthLayer`]: adds that header to outgoing requests, for hyper-util clients and any
//!   other `Service<http::Request<B>>`. The value is encoded once, when the layer is built.
//! - [`ValidateTokenLayer`]: checks it on incoming requests in constant time and hands the
//!   caller's [`AuthenticatedId`] to the inner service (an axum router, say).
//! - [`LiveCredentials`] and [`LiveCredentialSet`] (feature `rotation`, on by default): rotate
//!   keys in a running service without rebuilding it and without a lock on the request path.
//! - [`TraceIdLayer`] (feature `trace-id`, on by default): the `traceId=<uuid>` query parameter
//!   jocloud asks for.
//! - [`ServiceBuilderExt`] (feature `tower`): all of the above as `tower::ServiceBuilder` methods.
//!
//! The public API uses only `http`, `tower-layer`, `tower-service` and `std` types (and `tower`'s
//! `ServiceBuilder` behind its feature), so it works under tower-http 0.6 and 0.7 alike.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use jocloud_auth::{AuthenticatedId, Credentials, TokenAuthLayer, ValidateTokenLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
//!
//! // A server that greets the authenticated caller...
//! let server = ServiceBuilder::new()
//!     .layer(ValidateTokenLayer::new(&credentials))
//!     .service(service_fn(|request: Request<String>| async move {
//!         let caller = request.extensions().get::<AuthenticatedId>().map(AuthenticatedId::to_string);
//!         Ok::<_, Infallible>(Response::new(caller.unwrap_or_default()))
//!     }));
//!
//! // ...called through a client stack that signs every request.
//! let client = ServiceBuilder::new().layer(TokenAuthLayer::new(&credentials)).service(server);
//! let response = client.oneshot(Request::new(String::new())).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.body(), "qawsedrftg");
//! # Ok(())
//! # }
//! ```
//!
//! # Security
//!
//! The token is the secret in reversible form and is sent on every request: use HTTPS, and
//! [scope](TokenAuthLayer::for_host) the client layer to jocloud's hosts when redirects may lead
//! elsewhere. Secrets never appear in `Debug` output or errors, header values are marked
//! sensitive, and the buffers this crate owns are zeroized on drop; copies inside `http`'s
//! `HeaderValue` cannot be.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// `get_ref`, `get_mut` and `into_inner` for a middleware whose wrapped service is `inner`.
macro_rules! inner_service_accessors {
    () => {
        /// The wrapped service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The wrapped service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

mod accepted;
pub mod credentials;
pub mod token_auth;
pub mod validate;

#[cfg(feature = "rotation")]
pub mod rotation;

#[cfg(feature = "trace-id")]
pub mod trace_id;

#[cfg(feature = "tower")]
pub mod builder;

pub use credentials::{Credentials, CredentialsError, Scheme, TOKEN_HEADER};
pub use token_auth::{InsertPolicy, StaticToken, TokenAuth, TokenAuthLayer, TokenSource};
pub use validate::{
    AcceptedSource, AcceptedTokens, AuthenticatedId, ResponseFuture, ValidateToken, ValidateTokenLayer,
};

#[cfg(feature = "rotation")]
pub use rotation::{LiveAcceptedTokens, LiveCredentialSet, LiveCredentials, LiveToken};

#[cfg(feature = "trace-id")]
pub use trace_id::{SetTraceId, TraceId, TraceIdLayer};

#[cfg(feature = "tower")]
pub use builder::ServiceBuilderExt;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
