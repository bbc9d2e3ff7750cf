//! The jocloud token and `traceId` for reqwest users: reqwest-middleware middleware, and tower
//! layers over a `reqwest::Client`.
//!
//! ```no_run
//! use jocloud_auth::{reqwest::TokenAuthMiddleware, token_auth::TokenAuthLayer, Credentials};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::from_env()?;
//! // HTTPS to jocloud's hosts only: the default scope.
//! let token = TokenAuthMiddleware::new(TokenAuthLayer::new(&credentials));
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
//! [`TokenAuthMiddleware`] adds the token exactly as the [`TokenAuthLayer`] it is built from
//! does: static or live keys, scheme, header name, insert policy, and the scope outside which
//! the header is removed, with a [sensitive](http::HeaderValue::is_sensitive) value. Built from
//! a live layer (`TokenAuthLayer::live`, feature `rotation`), it also sends a request refused with `401` once more
//! with the previous key while its grace period runs, as
//! `retry::RetryWithPreviousKey` does on a tower stack, so a
//! rotation has no `401` window whichever side reads the new key first. A request whose body is
//! a stream cannot be sent twice: it is sent once, and its `401` returned.
//!
//! With the `trace-id` feature, `TraceIdMiddleware` gives each request exactly one non-empty
//! `traceId`, as `trace_id::TraceIdLayer` does, and puts the `trace_id::TraceId` into the
//! middleware extensions.
//!
//! A tower stack over a `reqwest::Client` works as well: [`TokenAuth`], `trace_id::SetTraceId`
//! (with `trace-id`) and `retry::RetryWithPreviousKey` (with `rotation` and `tower`) serve
//! `reqwest::Request`.
//!
//! # Redirects
//!
//! reqwest follows redirects inside `execute`, where neither middleware nor tower layers see
//! the hops, and on a redirect to another host removes only `Authorization`, `Cookie`,
//! `Proxy-Authorization` and `WWW-Authenticate`. A `token` header added before `execute` goes
//! wherever a `307` names, unless the client is built with
//! [`redirect_policy`](TokenAuthLayer::redirect_policy), which follows a redirect only within
//! the scope and otherwise returns the `3xx` response. Build the `reqwest::Client` with it.
//!
//! reqwest cannot add a header to a hop it follows, so a redirect *into* the scope from outside
//! it, such as jocloud's answer to plain HTTP (a redirect to HTTPS), would arrive without the
//! token. [`TokenAuthMiddleware`] follows such a redirect itself, as reqwest would (a `GET`
//! without the body after `301`, `302` and `303`; the same method and body after `307` and
//! `308`, if the body can be cloned), adding the token to the HTTPS hop. A tower stack over a
//! `reqwest::Client` gets the `3xx` response instead: send it `https://` URLs.
//!
//! Requires the `reqwest` feature.

use std::{
    fmt,
    task::{Context, Poll},
};

use http::{
    header::{
        AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, PROXY_AUTHORIZATION, TRANSFER_ENCODING,
        WWW_AUTHENTICATE,
    },
    Method, StatusCode,
};
use reqwest::{redirect, Request, Response, Url};
use reqwest_middleware::{Middleware, Next};
use tower_service::Service;

use crate::{
    scope::Target,
    token_auth::{TokenAuth, TokenAuthLayer},
};

/// The longest redirect chain followed, as reqwest's own default.
const MAX_REDIRECTS: usize = 10;

impl TokenAuthLayer {
    /// A reqwest redirect policy that follows a redirect only where this layer would send the
    /// token anyway, and otherwise stops and hands the `3xx` response to the caller.
    ///
    /// reqwest replays every header but `Authorization`, `Cookie`, `Proxy-Authorization` and
    /// `WWW-Authenticate`: with its default policy, a `token` header follows a redirect to any
    /// host. With this one, a redirect is followed only into the
    /// [scope](crate::token_auth#scope), at most ten times: jocloud's `http://` to `https://`
    /// redirect is followed (and only its HTTPS hop gets the token), one to another host is
    /// not. See the [`reqwest` module](crate::reqwest).
    #[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
    pub fn redirect_policy(&self) -> redirect::Policy {
        let layer = self.clone();
        redirect::Policy::custom(move |attempt| {
            let in_scope = |url: &Url| layer.scope_permits(target(url));
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if in_scope(attempt.url()) && attempt.previous().last().is_some_and(in_scope) {
                attempt.follow()
            } else {
                // Out of the scope, or into it from outside: reqwest would replay the request
                // without the token. [`TokenAuthMiddleware`] follows the second kind itself.
                attempt.stop()
            }
        })
    }
}

/// A reqwest URL as the scope sees it.
fn target(url: &Url) -> Target<'_> {
    Target::known(url.scheme(), url.host_str(), url.port_or_known_default())
}

/// reqwest's own request type, for a `reqwest::Client` (or any other
/// `Service<reqwest::Request>`) under the layer: build that client with
/// [`TokenAuthLayer::redirect_policy`].
impl<S> Service<Request> for TokenAuth<S>
where
    S: Service<Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let layer = self.layer();
        layer.apply_to_headers(layer.in_scope(target(request.url())), request.headers_mut());
        self.get_mut().call(request)
    }
}

/// Adds the jocloud `token` header to requests of a `reqwest_middleware::ClientWithMiddleware`,
/// and retries a request refused with `401` with the previous key of a live layer. See the
/// [module docs](self).
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
    pub fn redirect_policy(&self) -> redirect::Policy {
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
impl Middleware for TokenAuthMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let in_scope = self.sign(&mut request);
        // Out of the scope, a copy in case the answer is a redirect into it (jocloud's answer to
        // plain HTTP), which the redirect policy leaves to the middleware. Once in the scope,
        // reqwest follows the redirects itself.
        let replay = if in_scope { None } else { request.try_clone() };
        let response = self.send(request, extensions, next.clone()).await?;
        match replay.and_then(|replay| self.redirect_into_scope(replay, &response)) {
            Some(mut redirected) => {
                self.sign(&mut redirected);
                self.send(redirected, extensions, next).await
            }
            None => Ok(response),
        }
    }
}

impl TokenAuthMiddleware {
    /// Adds, keeps or removes the token as the layer would; says whether `request` is in scope.
    fn sign(&self, request: &mut Request) -> bool {
        let in_scope = self.layer.in_scope(target(request.url()));
        self.layer.apply_to_headers(in_scope, request.headers_mut());
        in_scope
    }

    /// Sends `request`, and once more with the previous key if a live key's grace period runs
    /// and the answer is `401`.
    async fn send(
        &self,
        request: Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        // A copy only while a previous key is usable, and only of a body that can be copied.
        let retry = self.layer.may_retry(request.headers()).then(|| request.try_clone()).flatten();
        let response = next.clone().run(request, extensions).await?;
        if let Some(mut retry) = retry {
            if self.layer.use_previous_key(response.status(), retry.headers_mut()) {
                return next.run(retry, extensions).await;
            }
        }
        Ok(response)
    }

    /// The request to send next if `response` to `request` redirects into the scope, changed as
    /// reqwest changes a request it follows: after `301`, `302` and `303`, a `GET` (or `HEAD`)
    /// without a body; after `307` and `308`, the same method and body.
    fn redirect_into_scope(&self, mut request: Request, response: &Response) -> Option<Request> {
        let location = response.headers().get(http::header::LOCATION)?.to_str().ok()?;
        let url = response.url().join(location).ok()?;
        if !self.layer.scope_permits(target(&url)) {
            return None;
        }
        match response.status() {
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND | StatusCode::SEE_OTHER => {
                if request.method() != Method::HEAD {
                    *request.method_mut() = Method::GET;
                }
                *request.body_mut() = None;
                for name in [CONTENT_TYPE, CONTENT_LENGTH, TRANSFER_ENCODING] {
                    request.headers_mut().remove(name);
                }
            }
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => {}
            _ => return None,
        }
        // To another host or port, reqwest drops these; so does this hop.
        let from = response.url();
        if from.host_str() != url.host_str() || from.port_or_known_default() != url.port_or_known_default() {
            for name in [AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, WWW_AUTHENTICATE] {
                request.headers_mut().remove(name);
            }
        }
        *request.url_mut() = url;
        Some(request)
    }
}

/// `RetryWithPreviousKey` for a tower stack over a `reqwest::Client`.
#[cfg(all(feature = "rotation", feature = "tower"))]
mod retry {
    use std::future::{ready, Ready};

    use reqwest::{Request, Response};
    use tower::retry::Policy;

    use crate::retry::RetryWithPreviousKey;

    impl<E> Policy<Request, Response, E> for RetryWithPreviousKey {
        type Future = Ready<()>;

        fn retry(&mut self, request: &mut Request, result: &mut Result<Response, E>) -> Option<Ready<()>> {
            let status = result.as_ref().ok()?.status();
            self.token().use_previous_key(status, request.headers_mut()).then(|| ready(()))
        }

        fn clone_request(&mut self, request: &Request) -> Option<Request> {
            self.token().may_retry(request.headers()).then(|| request.try_clone()).flatten()
        }
    }
}

#[cfg(feature = "trace-id")]
pub use trace::TraceIdMiddleware;

/// `traceId` for reqwest requests.
#[cfg(feature = "trace-id")]
mod trace {
    use std::task::{Context, Poll};

    use reqwest::{Request, Response, Url};
    use reqwest_middleware::{Middleware, Next};
    use tower_service::Service;

    use crate::trace_id::{query_with_trace_id, SetTraceId, TraceId};

    /// Gives every request of a `reqwest_middleware::ClientWithMiddleware` exactly one
    /// non-empty `traceId` query parameter, and puts its [`TraceId`] into the middleware
    /// extensions. See [`trace_id`](crate::trace_id) for the rules.
    #[derive(Clone, Copy, Debug, Default)]
    #[cfg_attr(docsrs, doc(cfg(feature = "trace-id")))]
    pub struct TraceIdMiddleware {
        _private: (),
    }

    impl TraceIdMiddleware {
        /// Middleware that gives each request without a `traceId` a fresh UUID v4.
        pub fn new() -> Self {
            Self::default()
        }
    }

    /// Sets the one `traceId` of `url`'s query.
    fn set_trace_id(url: &mut Url) -> TraceId {
        let (query, trace_id) = query_with_trace_id(url.query().unwrap_or(""));
        if let Some(query) = query {
            url.set_query(Some(&query));
        }
        trace_id
    }

    #[async_trait::async_trait]
    impl Middleware for TraceIdMiddleware {
        async fn handle(
            &self,
            mut request: Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<Response> {
            extensions.insert(set_trace_id(request.url_mut()));
            next.run(request, extensions).await
        }
    }

    /// reqwest's own request type, for a `reqwest::Client` under the layer. `reqwest::Request`
    /// has no extensions to carry the [`TraceId`]: read it from the URL.
    impl<S: Service<Request>> Service<Request> for SetTraceId<S> {
        type Response = S::Response;
        type Error = S::Error;
        type Future = S::Future;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.get_mut().poll_ready(cx)
        }

        fn call(&mut self, mut request: Request) -> Self::Future {
            set_trace_id(request.url_mut());
            self.get_mut().call(request)
        }
    }
}
