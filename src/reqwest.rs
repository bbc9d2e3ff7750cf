//! The jocloud token for reqwest: a reqwest-middleware client that carries it, built in one call.
//!
//! ```no_run
//! use jocloud_auth::{token_auth::TokenAuthLayer, Credentials};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let token = TokenAuthLayer::new(&Credentials::from_env()?);
//! // Your TLS, timeouts and proxies on the reqwest builder; the token and its redirect policy
//! // come with the call.
//! let builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10));
//! let client = jocloud_auth::reqwest::client_builder(builder, &token)?.build();
//!
//! let response = client.post("https://ai.jocloud.com/app/123456/v1/image/sync").body("{}").send().await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
//!
//! [`client_builder`] builds the `reqwest::Client` with the redirect policy below (replacing the
//! builder's), and its [`ClientBuilder`] builds a `reqwest_middleware::ClientWithMiddleware`
//! that runs, outermost first: `trace_id()`'s `traceId` (feature `trace-id`), once per request
//! and kept across every retry; the middleware you add with [`with`](ClientBuilder::with), in
//! the order added; the token, as the [`TokenAuthLayer`]
//! adds it, [scope](crate::token_auth#scope) and upgrade to HTTPS included; and, for a live
//! layer (feature `rotation`), `retry`'s previous-key retry (a streamed body is sent once).
//! Nothing runs between the token and reqwest: a middleware of yours that changes the URL
//! (a failover to another region, a rewrite) does so before the scope decides, and one that
//! retries sends each attempt through the token middleware, with the current key.
//!
//! # Redirects
//!
//! reqwest follows redirects where no middleware sees them, and to another host drops
//! `Authorization`, `Cookie`, `Proxy-Authorization` and `WWW-Authenticate` but would carry a
//! `token` header. This client follows at most ten, and none that would take a request
//! carrying the token out of the scope: that `3xx` is returned, as tower-http's
//! `FollowRedirect` returns it with the layer's `redirect_policy()`. The token middleware
//! exists only in such a client.

use std::{fmt, sync::Arc};

use reqwest::{redirect, Request, Response, Url};
use reqwest_middleware::{ClientWithMiddleware, Middleware, Next, RequestInitialiser};

use crate::token_auth::{Decision, Target, Token, TokenAuthLayer, MAX_REDIRECTS};

/// Builds a `reqwest::Client` from `builder` with the redirect policy that keeps the token in
/// its scope, for a [`ClientBuilder`] that adds the token as `token` would. See the
/// [module docs](self).
///
/// # Errors
///
/// What `reqwest::ClientBuilder::build` reports: a TLS backend that cannot be initialised, say.
pub fn client_builder(
    builder: reqwest::ClientBuilder,
    token: &TokenAuthLayer,
) -> reqwest::Result<ClientBuilder> {
    let token = token.token().clone();
    let client = builder.redirect(redirect_policy(token.clone())).build()?;
    Ok(ClientBuilder { client, token, trace_id: false, middleware: Vec::new(), initialisers: Vec::new() })
}

/// A reqwest-middleware client that carries the jocloud token, from [`client_builder`].
///
/// Middleware added here runs outside the token middleware, as retry, failover and tracing
/// layers go outside `TokenAuthLayer` on a tower stack: see the [module docs](self). The
/// order of calls does not matter, but for the order of the middleware among themselves.
pub struct ClientBuilder {
    /// With the redirect policy that keeps the token in its scope.
    client: reqwest::Client,
    token: Arc<Token>,
    /// Whether the `traceId` middleware goes first.
    trace_id: bool,
    middleware: Vec<Arc<dyn Middleware>>,
    initialisers: Vec<Arc<dyn RequestInitialiser>>,
}

impl ClientBuilder {
    /// Gives every request exactly one non-empty `traceId` query parameter, as
    /// [`SetTraceIdLayer`](crate::trace_id::SetTraceIdLayer) does, and puts its
    /// [`TraceId`](crate::trace_id::TraceId) in the middleware extensions. It runs first, so
    /// that every retry of a request, yours or the previous-key retry, keeps its ID.
    #[cfg(feature = "trace-id")]
    #[cfg_attr(docsrs, doc(cfg(feature = "trace-id")))]
    #[must_use]
    pub fn trace_id(mut self) -> Self {
        self.trace_id = true;
        self
    }

    /// Adds `middleware`, outside the token middleware: it sees no token header, a URL it
    /// changes is in front of the scope's decision, and each request it sends on goes through
    /// the token middleware with the current key.
    #[must_use]
    pub fn with<M: Middleware>(mut self, middleware: M) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Adds `initialiser`, run on each request builder, as `reqwest_middleware` runs them.
    #[must_use]
    pub fn with_init<I: RequestInitialiser>(mut self, initialiser: I) -> Self {
        self.initialisers.push(Arc::new(initialiser));
        self
    }

    /// The client.
    pub fn build(self) -> ClientWithMiddleware {
        let mut builder = reqwest_middleware::ClientBuilder::new(self.client);
        #[cfg(feature = "trace-id")]
        if self.trace_id {
            builder = builder.with(trace::TraceIdMiddleware);
        }
        for middleware in self.middleware {
            builder = builder.with_arc(middleware);
        }
        builder = builder.with(TokenAuthMiddleware { token: self.token.clone() });
        // Inside the token middleware: it sees the key the request was sent with.
        #[cfg(feature = "rotation")]
        let builder = builder.with(retry::PreviousKeyMiddleware { token: self.token });
        self.initialisers.into_iter().fold(builder, |builder, init| builder.with_arc_init(init)).build()
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("token", &self.token)
            .field("trace_id", &self.trace_id)
            .field("middleware", &self.middleware.len())
            .field("initialisers", &self.initialisers.len())
            .finish_non_exhaustive()
    }
}

/// Follows at most ten redirects, and none that would take a request carrying the token out of
/// the scope: that `3xx` is returned.
fn redirect_policy(token: Arc<Token>) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        let from = attempt.previous().last().map(target);
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if from.is_some_and(|from| !token.follows_redirect(from, target(attempt.url()))) {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// A reqwest URL as the scope sees it.
fn target(url: &Url) -> Target<'_> {
    Target::known(url.scheme(), url.host_str(), url.port())
}

/// Adds the token as the layer would. Had only through [`client_builder`], with the policy
/// that keeps reqwest's own redirects in the scope.
struct TokenAuthMiddleware {
    token: Arc<Token>,
}

#[async_trait::async_trait]
impl Middleware for TokenAuthMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let signed = match self.token.decide(target(request.url())) {
            Decision::Sign => true,
            Decision::Upgrade => request.url_mut().set_scheme("https").is_ok(),
            Decision::Leave => false,
        };
        self.token.apply_to_headers(signed, request.headers_mut());
        next.run(request, extensions).await
    }
}

/// The previous-key retry for reqwest requests.
#[cfg(feature = "rotation")]
mod retry {
    use reqwest::{Request, Response};
    use reqwest_middleware::{Middleware, Next};

    use std::sync::Arc;

    use crate::token_auth::Token;

    /// Sends a request refused with `401` once more with the previous key of a live layer,
    /// while its grace period runs (see `Token::use_previous_key`); a body that cannot be copied
    /// is sent once.
    pub(super) struct PreviousKeyMiddleware {
        pub(super) token: Arc<Token>,
    }

    #[async_trait::async_trait]
    impl Middleware for PreviousKeyMiddleware {
        async fn handle(
            &self,
            request: Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<Response> {
            // A copy only while a previous key is usable, and only of a body that can be copied.
            let retry = self.token.may_retry(request.headers()).then(|| request.try_clone()).flatten();
            let response = next.clone().run(request, extensions).await?;
            if let Some(mut retry) = retry {
                if self.token.use_previous_key(response.status(), retry.headers_mut()) {
                    return next.run(retry, extensions).await;
                }
            }
            Ok(response)
        }
    }
}

/// `traceId` for reqwest requests.
#[cfg(feature = "trace-id")]
mod trace {
    use reqwest::{Request, Response};
    use reqwest_middleware::{Middleware, Next};

    use crate::trace_id::query_with_trace_id;

    /// Gives every request exactly one non-empty `traceId` query parameter, as
    /// `SetTraceIdLayer` does, and puts its `TraceId` into the middleware extensions.
    pub(super) struct TraceIdMiddleware;

    #[async_trait::async_trait]
    impl Middleware for TraceIdMiddleware {
        async fn handle(
            &self,
            mut request: Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<Response> {
            let url = request.url_mut();
            let (query, trace_id) = query_with_trace_id(url.query().unwrap_or(""));
            if let Some(query) = query {
                url.set_query(Some(&query));
            }
            extensions.insert(trace_id);
            next.run(request, extensions).await
        }
    }
}
