//! Attach the jocloud `token` header to outgoing requests.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use jocloud_auth::{token_auth::TokenAuthLayer, Credentials, TOKEN_HEADER};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
//!
//! // Stands in for a hyper-util client: echoes the header it was given.
//! let client = service_fn(|request: Request<()>| async move {
//!     Ok::<_, Infallible>(Response::new(request.headers().get(TOKEN_HEADER).cloned()))
//! });
//! // jocloud's hosts, over HTTPS: the default scope.
//! let client = TokenAuthLayer::new(&credentials).layer(client);
//!
//! let request = Request::post("https://ai.jocloud.com/app/123456/v1/image/sync").body(())?;
//! let token = client.clone().oneshot(request).await?.into_body();
//! assert_eq!(token.unwrap(), "Base cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==");
//!
//! // Outside the scope, no token header leaves, whoever put it there.
//! let request = Request::get("https://example.com/").header(TOKEN_HEADER, "Base c2VjcmV0").body(())?;
//! assert_eq!(client.oneshot(request).await?.into_body(), None);
//! # Ok(())
//! # }
//! ```
//!
//! The token is encoded once, when the layer is built, into a
//! [sensitive](http::HeaderValue::is_sensitive) header value: a request costs one header insert, with
//! no allocation, base64 or lock.
//!
//! # Scope
//!
//! By default the token goes over HTTPS to `jocloud.com` and the names under it
//! ([`cloud_recording`](TokenAuthLayer::cloud_recording): `api.jocloud.com` and
//! `api-oversea.jocloud.com` only). A request over plain HTTP to one of those hosts is sent over
//! HTTPS instead, before anything leaves, as a browser does for an HSTS host: jocloud answers
//! plain HTTP only with a redirect, which would have sent the body in clear and, after a `301`,
//! turned a `POST` into a bodiless `GET`. An explicit port 80 becomes 443; another port is
//! kept. Any other request leaves with **no** token header, not even one the caller set (under
//! [`InsertPolicy::IfMissing`]) or a redirect layer carried from an earlier hop. With
//! `tracing`, a request sent without the token or over HTTPS instead is a `DEBUG` event naming
//! its host.
//!
//! Two opt-outs: [`for_host`](TokenAuthLayer::for_host) sends the token to your hosts (a
//! [`HostPattern`]: a mock, a proxy) *instead of* jocloud's,
//! [`allow_http`](TokenAuthLayer::allow_http) over plain HTTP too, as it is.
//!
//! # Redirects
//!
//! Put `TokenAuthLayer` *inside* tower-http's `FollowRedirectLayer` (after it in a
//! `ServiceBuilder`), as README shows: then every hop passes through the layer, which signs it
//! or takes the token off by the scope. Inside, `FollowRedirect` replays the first request's
//! headers on every hop and strips only `Authorization`, `Cookie` and `Proxy-Authorization`
//! across origins: a redirect elsewhere would take the token along. There, give it the layer's
//! `redirect_policy()` (features `tower-http-06`, `tower-http-07`), which follows no redirect
//! out of the scope. With either feature the layer also checks the `RequestUri` tower-http
//! leaves on the response and **panics** if a redirect followed inside it ended outside the
//! scope, with the token: the message names both fixes. (A chain that leaves the scope and
//! comes back is not seen by that check; the order or the policy is what keeps the token in.)
//!
//! Retry and timeout layers go outside it too, so that each attempt gets the current key;
//! `retry::RetryWithPreviousKey` is the one retry that goes inside. Layers outside never see
//! the token; layers inside see it marked sensitive.
//!
//! # Security
//!
//! The token is the secret in reversible form: keep the default scope, or one as narrow, and
//! HTTPS. It lives in a [`HeaderValue`](http::HeaderValue), which this crate cannot zeroize, as long as the layer,
//! its services and the requests carrying it.

mod layer;
#[cfg(feature = "rotation")]
pub(crate) mod live;
#[cfg(any(feature = "tower-http-06", feature = "tower-http-07"))]
mod redirect;
mod scope;
mod service;
mod token;

pub use layer::TokenAuthLayer;
#[cfg(any(feature = "tower-http-06", feature = "tower-http-07"))]
pub use redirect::RedirectPolicy;
#[cfg(feature = "reqwest")]
pub(crate) use scope::{Decision, Target};
pub use scope::{HostPattern, InvalidHost};
pub use service::{ResponseFuture, TokenAuth};
pub use token::InsertPolicy;
#[cfg(any(feature = "reqwest", all(feature = "rotation", feature = "tower")))]
pub(crate) use token::Token;
#[cfg(feature = "reqwest")]
pub(crate) use token::MAX_REDIRECTS;
