//! Tower middleware for jocloud (Aivacom) token authentication.
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::{BodyExt, Full};
//! use jocloud_auth::{
//!     token_auth::TokenAuthLayer,
//!     validate::{AuthenticatedId, ValidateTokenLayer},
//!     Credentials,
//! };
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
//!         Ok::<_, Infallible>(Response::new(Full::<Bytes>::from(caller.unwrap_or_default())))
//!     }));
//!
//! // ...called through a client stack that signs every request.
//! let client = ServiceBuilder::new().layer(TokenAuthLayer::new(&credentials)).service(server);
//! let request = Request::post("https://ai.jocloud.com/app/123456/v1/image/sync").body(String::new())?;
//! let response = client.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "qawsedrftg");
//! # Ok(())
//! # }
//! ```
//!
//! jocloud's REST API authenticates every request with one header,
//! `token: Base <base64("<certificate ID>:<certificate secret key>")>`; this crate does the work
//! around it:
//!
//! - [`Credentials`]: a checked certificate ID and secret; [`AcceptedCredential`]: what a server
//!   accepts, a secret or (feature `digest`) the SHA-256 of `id:secret`.
//! - [`token_auth`] adds the header to requests of any `Service<http::Request<B>>`;
//!   [`validate`] checks it and hands the caller's ID on.
//! - [`CredentialsSource`]: credentials from a Kubernetes Secret volume or a file;
//!   `LiveCredentials` and `LiveCredentialSet` (feature `rotation`): keys that rotate while
//!   services run, with no lock per request and no 401 window.
//! - Features `trace-id` (jocloud's `traceId` parameter), `tower` (`ServiceBuilder` methods),
//!   `reqwest` (a reqwest-middleware client, in one call).
//!
//! Without features, the public API names the types of `http`, `http-body`, `bytes` (a
//! rejection's body), `tower-layer`, `tower-service` and `std` only, so the layers sit beside
//! tower-http 0.6 (axum 0.8's) and 0.7 alike; a feature adds the types of the crate it adapts
//! (`tower`, `axum-core`, `reqwest`, `reqwest-middleware`, tower-http 0.6 or 0.7). No feature is on
//! by default.
//!
//! # Security
//!
//! Secrets never appear in `Debug` output or errors, header values are marked sensitive, and
//! the buffers this crate owns are zeroized on drop. What is left to you is in
//! [`token_auth`'s](token_auth#security) and [`validate`'s](validate#security) Security sections.
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

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

// The values: credentials, where they are kept, what a layer holds of them.
mod credentials;
mod current;
mod error;
mod source;

// The client, its retry, its `traceId`, and its reqwest client.
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
#[cfg(all(feature = "rotation", feature = "tower"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "rotation", feature = "tower"))))]
pub mod retry;
pub mod token_auth;
#[cfg(feature = "trace-id")]
#[cfg_attr(docsrs, doc(cfg(feature = "trace-id")))]
pub mod trace_id;

// The server.
pub mod validate;

// Keys that rotate: the followers below both sides' live handles.
#[cfg(feature = "rotation")]
mod follow;

#[cfg(feature = "tower")]
mod builder;

pub use credentials::{AcceptedCredential, Credentials, Scheme, TOKEN_HEADER};
pub use error::{InvalidCredentials, LoadError, LoadProblem, ParseSchemeError, Part};
pub use source::{CredentialSetSource, CredentialsSource};

#[cfg(feature = "rotation")]
pub use follow::{FollowError, FollowOptions, FollowProblem};
#[cfg(feature = "rotation")]
pub use token_auth::live::LiveCredentials;
#[cfg(feature = "rotation")]
pub use validate::live::LiveCredentialSet;

#[cfg(feature = "tower")]
pub use builder::ServiceBuilderExt;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(all(
    doctest,
    feature = "rotation",
    feature = "trace-id",
    feature = "axum",
    feature = "reqwest",
    feature = "tower",
    feature = "digest"
))]
pub struct ReadmeDoctests;
