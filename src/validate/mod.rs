//! Accept only requests whose `token` header carries an accepted credential.
//!
//! ```
//! use axum::{body::Body, routing::post, Extension, Router};
//! use http::{Request, StatusCode};
//! use jocloud_auth::{validate::{AuthenticatedId, Rejection, ValidateTokenLayer}, Credentials};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
//!
//! let app = Router::new()
//!     // With the `axum` feature, `caller: AuthenticatedId` is an extractor too.
//!     .route("/app/{appid}/v1/image/sync", post(|Extension(caller): Extension<AuthenticatedId>| async move {
//!         format!("hello, {caller}")
//!     }))
//!     // `route_layer`: only existing routes ask for a token, so unknown paths stay `404`.
//!     .route_layer(ValidateTokenLayer::new(&credentials));
//!
//! let request = Request::post("/app/123456/v1/image/sync")
//!     .header("token", "Base cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==")
//!     .body(Body::empty())?;
//! assert_eq!(app.clone().oneshot(request).await?.status(), StatusCode::OK);
//!
//! let request = Request::post("/app/123456/v1/image/sync").body(Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], r#"Base error="missing_token""#);
//! assert_eq!(response.extensions().get(), Some(&Rejection::Missing));
//! # Ok(())
//! # }
//! ```
//!
//! A request is accepted with exactly one `token` header (or the [configured
//! name](ValidateTokenLayer::header_name)): an accepted scheme word, one space, and an accepted
//! credential's payload, byte for byte. Several are refused: which one counted would be the
//! sender's choice. It reaches the inner service with its [`AuthenticatedId`] in the extensions
//! and without the header (unless [`keep_token_header`](ValidateTokenLayer::keep_token_header));
//! any other request gets `401` and never reaches it.
//!
//! # Rejections
//!
//! A `401` carries its [`Rejection`] in the response extensions, for a metrics layer outside,
//! and by default nothing but `www-authenticate: <scheme> error="missing_token"` (or
//! `"invalid_token"`); [`on_rejection`](ValidateTokenLayer::on_rejection) makes your own. It is
//! built in the inner service's body type, which must be `From<Bytes>` (axum's `Body`,
//! `Full<Bytes>`); wrap any other, such as hyper's `Incoming` in a proxy, in [`ResponseBody`].
//!
//! With `tracing`, a rejection is a `DEBUG` event (anyone can cause them) with its reason and,
//! for a known ID with a wrong secret, the ID, how it is held, and the words "wrong secret for
//! a known certificate ID" (every request of a customer refused so is a stale secret, or a
//! digest made with `echo`, whose newline changes it); never any part of the token. An
//! accepted request records its caller in the current span's `jocloud.caller_id`, where an
//! outer span (tower-http's `TraceLayer`'s, say) declares it `tracing::field::Empty`.
//!
//! # Credentials held by digest
//!
//! With the `digest` feature, a set may hold an ID with the SHA-256 of `"<id>:<secret>"` instead
//! of the secret ([`AcceptedCredential`](crate::AcceptedCredential)), compared in constant
//! time: whoever reads the gateway's configuration cannot then call as its customers. Secrets
//! and digests mix in one set and follow, retire and revoke alike. SHA-256 is fast, so it
//! protects a generated secret (128 random bits, as jocloud's consoles make), not one a person
//! chose: digests are for generated secrets only, by contract. A slow derivation with a cache
//! of verdicts (Caddy's bcrypt) would cost far more per request, for passwords this protocol
//! does not have. A token that matches no secret is decoded on the stack, `"<id>:<secret>"` of
//! at most 255 bytes (`digest_of` refuses a longer one), once for the digest look-up and the
//! rejection's event, and hashed whether or not its ID is known; one held by its secret is
//! never decoded.
//!
//! # Security
//!
//! - A payload is compared in constant time with the accepted one filed under its keyed SipHash
//!   (a random key per set), or in a set of up to four with each. Timing tells neither how close
//!   a guess came nor which credential matched; it tells a set of up to four from a larger one
//!   and, as `constant_time_eq` returns early on a length mismatch, whether a guess has the
//!   compared payload's length, which reveals little.
//! - A token longer than any the set accepts is refused ([`Rejection::TooLong`]) before it is
//!   hashed or decoded: a token of any length costs no more to refuse than a short one. That
//!   tells the longest accepted payload's length, which reveals as little.
//! - In a set that holds digests, a token for an unknown ID is hashed too, so that a known
//!   digest-held ID is not told from an unknown one by the time of a SHA-256; the look-up of the
//!   ID by hash differs by a few dozen instructions at most.
//! - Accepted payloads are zeroized when the last layer, service or check holding them ends.
//! - With the rejection's `DEBUG` event enabled, a rejection of a known ID costs a decode and a
//!   look-up more than one of an unknown ID, so timing tells a known ID; without it (no
//!   subscriber, or none at `DEBUG` for this crate) the look-up is not made and both cost the
//!   same.
//! - Layers *outside* this one see the token header in clear. Put tower-http's
//!   `SetSensitiveRequestHeadersLayer::new([TOKEN_HEADER])` outermost, so that a `TraceLayer`
//!   that logs headers shows it as `Sensitive` (README's server does). Inside, the header is
//!   gone or marked [sensitive](http::HeaderValue::is_sensitive).
//! - The token is a bearer secret with no nonce or expiry: serve over TLS only.

mod accepted;
mod body;
mod caller;
mod check;
#[cfg(feature = "digest")]
mod digest;
#[cfg(feature = "tracing")]
mod events;
#[cfg(feature = "rotation")]
mod feed;
mod filed;
mod layer;
#[cfg(feature = "rotation")]
pub(crate) mod live;
mod presented;
mod rejection;
mod service;

pub use body::ResponseBody;
#[cfg(feature = "axum")]
pub use caller::MissingAuthenticatedId;
pub use caller::{AuthenticatedId, RetiringKey};
pub use layer::ValidateTokenLayer;
pub use rejection::Rejection;
pub use service::{ResponseFuture, ValidateToken};
