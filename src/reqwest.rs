//! The jocloud token for reqwest users, as reqwest-middleware middleware.
//!
//! ```no_run
//! use http::uri::Authority;
//! use jocloud_auth::{reqwest::TokenAuthMiddleware, token_auth::TokenAuthLayer, Credentials};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::from_env()?;
//! let token = TokenAuthMiddleware::new(
//!     TokenAuthLayer::new(&credentials).https_only().for_host(Authority::from_static("ai.jocloud.com")),
//! );
//! // The redirect policy is what keeps reqwest's own redirect-following inside the scope.
//! let client = reqwest::Client::builder().redirect(token.redirect_policy()).build()?;
//! let client = reqwest_middleware::ClientBuilder::new(client).with(token).build();
//!
//! let response = client.post("https://ai.jocloud.com/app/123456/v1/image/sync").body("{}").send().await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
//!
//! [`TokenAuthMiddleware`] adds the token exactly as [`TokenAuthLayer`] does (it is built from
//! one: static or live keys, scheme, header name, insert policy, and the scope outside which
//! the header is removed), with a [sensitive](http::HeaderValue::is_sensitive) value.
//!
//! A `tower` stack works as well: [`TokenAuth`](crate::token_auth::TokenAuth) serves
//! `reqwest::Request`, so `ServiceBuilder::new().layer(layer).service(client)` signs requests
//! to a `reqwest::Client`.
//!
//! # Redirects
//!
//! reqwest follows redirects inside `execute`, where neither middleware nor tower layers see
//! the hops, and on a redirect to another host removes only `Authorization`, `Cookie`,
//! `Proxy-Authorization` and `WWW-Authenticate`. A `token` header added before `execute` goes
//! wherever a `307` names, unless the client is built with
//! [`redirect_policy`](TokenAuthLayer::redirect_policy), which follows a redirect only where the
//! token may go and otherwise returns the `3xx` response to the caller. Either way, build the
//! `reqwest::Client` with it: this is the documented setup, and the tests show the token leaking
//! to another port without it.
//!
//! Requires the `reqwest` feature.

use std::fmt;

use crate::token_auth::TokenAuthLayer;

/// Adds the jocloud `token` header to requests of a `reqwest_middleware::ClientWithMiddleware`.
/// See the [module docs](self).
#[derive(Clone)]
pub struct TokenAuthMiddleware {
    layer: TokenAuthLayer,
}

impl TokenAuthMiddleware {
    /// Middleware that adds the token as `layer` would, with all its options.
    pub fn new(layer: TokenAuthLayer) -> Self {
        Self { layer }
    }

    /// The redirect policy to build the `reqwest::Client` with: see
    /// [`TokenAuthLayer::redirect_policy`].
    pub fn redirect_policy(&self) -> ::reqwest::redirect::Policy {
        self.layer.redirect_policy()
    }
}

impl From<TokenAuthLayer> for TokenAuthMiddleware {
    fn from(layer: TokenAuthLayer) -> Self {
        Self::new(layer)
    }
}

impl fmt::Debug for TokenAuthMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenAuthMiddleware").field(&self.layer).finish()
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for TokenAuthMiddleware {
    async fn handle(
        &self,
        mut request: ::reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<::reqwest::Response> {
        self.layer.apply_reqwest(&mut request);
        next.run(request, extensions).await
    }
}
