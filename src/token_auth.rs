//! Attach the jocloud `token` header to outgoing requests.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{uri::Authority, Request, Response};
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
//! let client = TokenAuthLayer::new(&credentials)
//!     .https_only()
//!     .for_host(Authority::from_static("ai.jocloud.com"))
//!     .layer(client);
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
//! The credentials are encoded once, when the layer is built, into a
//! [sensitive](HeaderValue::is_sensitive) header value; each request then costs one header
//! insert: no allocation, no base64, no lock.
//!
//! # Scope
//!
//! [`https_only`](TokenAuthLayer::https_only) and [`for_host`](TokenAuthLayer::for_host) limit
//! which requests get the token. A request outside the scope leaves with **no** token header
//! at all: the layer removes one that is already there, whether the caller set it (under
//! [`InsertPolicy::IfMissing`]) or a redirect-following layer carried it over from an earlier
//! hop. Without either method every request is in scope.
//!
//! # Layer ordering
//!
//! In a `tower::ServiceBuilder` the first layer listed is the outermost. Put `TokenAuthLayer`
//! *inside* (below) redirect-following, retry, timeout and tracing layers:
//!
//! - **Redirects.** tower-http's `FollowRedirect` removes only `Authorization`, `Cookie` and
//!   `Proxy-Authorization` when a redirect crosses origins. Inside it, `TokenAuth` sees every
//!   hop, and its scope keeps the token away from hosts it was not meant for. Outside it, the
//!   token is part of the request `FollowRedirect` replays to any host, and no scope helps.
//! - **Retry.** Each attempt passes through `TokenAuth` again, with the current key.
//! - **Tracing.** Layers outside see the request before the token is added; layers inside see
//!   it marked sensitive, which `http`'s `Debug` and tower-http print as `Sensitive`.
//!
//! # Security
//!
//! The token is the secret in reversible form, sent on every request: use HTTPS and a scope.
//! It lives in a [`HeaderValue`], whose memory this crate cannot zeroize, for as long as the
//! layer, a service built from it, or a request carrying it does.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{uri::Authority, HeaderMap, HeaderName, HeaderValue, Request, StatusCode, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    credentials::{Credentials, EncodedToken, Scheme, TOKEN_HEADER},
    key::Token,
};

/// What to do when a request already has the token header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InsertPolicy {
    /// Replace it: the layer's credentials win. The default.
    #[default]
    Override,
    /// Keep the caller's header and add ours only where there is none.
    ///
    /// Outside the [scope](self#scope) the header is removed all the same.
    IfMissing,
}

/// Which requests get the token.
#[derive(Clone, Default)]
struct Scope {
    https_only: bool,
    /// Empty: any host. Shared, because services are cloned per request.
    hosts: Arc<[HostRule]>,
}

#[derive(Clone, Debug)]
struct HostRule {
    /// Lowercase.
    host: Box<str>,
    /// `None`: any port.
    port: Option<u16>,
}

impl Scope {
    #[inline]
    fn permits(&self, uri: &Uri) -> bool {
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.authority().map(Authority::host);
        let port = uri.port_u16().or_else(|| default_port(uri));
        self.permits_target(https, host, port)
    }

    /// Whether a request is in scope, given whether it goes over HTTPS, to which host (if the
    /// URI names one) and to which port.
    #[inline]
    fn permits_target(&self, https: bool, host: Option<&str>, port: Option<u16>) -> bool {
        if self.https_only && !https {
            return false;
        }
        if self.hosts.is_empty() {
            return true;
        }
        let Some(host) = host else {
            return false;
        };
        self.hosts
            .iter()
            .any(|rule| rule.host.eq_ignore_ascii_case(host) && rule.port.is_none_or(|p| Some(p) == port))
    }
}

fn default_port(uri: &Uri) -> Option<u16> {
    match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|rule| match rule.port {
                Some(port) => format!("{}:{port}", rule.host),
                None => rule.host.to_string(),
            })
            .collect();
        f.debug_struct("Scope").field("https_only", &self.https_only).field("hosts", &hosts).finish()
    }
}

/// Adds the jocloud `token` header to requests. See the [module docs](self).
///
/// Cloning it is cheap: a few reference counts.
#[derive(Clone)]
pub struct TokenAuthLayer {
    token: Token,
    scheme: Scheme,
    /// `None`: [`TOKEN_HEADER`], inserted as the constant, which costs nothing to build, where
    /// a stored name is cloned for every request.
    header_name: Option<HeaderName>,
    policy: InsertPolicy,
    scope: Scope,
}

impl TokenAuthLayer {
    /// A layer that sends `credentials` as `token: Base <base64(id:secret)>`.
    pub fn new(credentials: &Credentials) -> Self {
        Self::with_token(Token::Static(Arc::new(EncodedToken::new(credentials))))
    }

    fn with_token(token: Token) -> Self {
        Self {
            token,
            scheme: Scheme::default(),
            header_name: None,
            policy: InsertPolicy::default(),
            scope: Scope::default(),
        }
    }

    /// Sends `scheme` as the word before the payload (`Base` unless set).
    #[must_use]
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// Sends the token in `name` instead of [`TOKEN_HEADER`].
    #[must_use]
    pub fn header_name(mut self, name: HeaderName) -> Self {
        self.header_name = (name != TOKEN_HEADER).then_some(name);
        self
    }

    /// What to do when a request already carries the header ([`InsertPolicy::Override`] unless set).
    #[must_use]
    pub fn policy(mut self, policy: InsertPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sends the token only on requests whose URI has the `https` scheme, and removes the
    /// header from any other request. A relative URI (no scheme) is not `https`.
    #[must_use]
    pub fn https_only(mut self) -> Self {
        self.scope.https_only = true;
        self
    }

    /// Sends the token only to this host, and removes the header from requests to any other;
    /// call again to add more hosts.
    ///
    /// Hosts compare case-insensitively. An authority with a port matches only that port (a
    /// URI without one has its scheme's default, 80 or 443); one without a port matches any
    /// port. Once a host is given, a request whose URI names no host is out of scope.
    #[must_use]
    pub fn for_host(mut self, authority: Authority) -> Self {
        let rule =
            HostRule { host: authority.host().to_ascii_lowercase().into(), port: authority.port_u16() };
        self.scope.hosts = self.scope.hosts.iter().cloned().chain([rule]).collect();
        self
    }

    pub(crate) fn name(&self) -> &HeaderName {
        static TOKEN: HeaderName = TOKEN_HEADER;
        self.header_name.as_ref().unwrap_or(&TOKEN)
    }

    /// Adds, keeps or removes the header on one request.
    fn apply<B>(&self, request: &mut Request<B>) {
        let in_scope = self.scope.permits(request.uri());
        self.apply_to_headers(in_scope, request.headers_mut());
    }

    /// Adds, keeps or removes the header, given whether the request is in scope.
    #[inline]
    pub(crate) fn apply_to_headers(&self, in_scope: bool, headers: &mut HeaderMap) {
        let name = self.name();
        if !in_scope {
            return remove(headers, name);
        }
        if self.policy == InsertPolicy::IfMissing && headers.contains_key(name) {
            return;
        }
        let value = self.token.value(self.scheme);
        match &self.header_name {
            None => headers.insert(TOKEN_HEADER, value),
            Some(name) => headers.insert(name, value),
        };
    }
}

/// What the other request types (`reqwest`) and the previous-key retry need of a layer.
#[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
impl TokenAuthLayer {
    /// Whether a request over HTTPS or not, to `host` (if it names one) and `port`, is in scope.
    pub(crate) fn in_scope(&self, https: bool, host: Option<&str>, port: Option<u16>) -> bool {
        self.scope.permits_target(https, host, port)
    }

    /// Whether the scope names hosts (rather than allowing any).
    pub(crate) fn names_hosts(&self) -> bool {
        !self.scope.hosts.is_empty()
    }

    /// Whether a request sent with `headers` and answered with `status` is to be sent once
    /// more with the previous key, and if so puts that key into `headers`: see
    /// [`RetryWithPreviousKey`](crate::retry::RetryWithPreviousKey).
    pub(crate) fn use_previous_key(&self, status: StatusCode, headers: &mut HeaderMap) -> bool {
        if status != StatusCode::UNAUTHORIZED {
            return false;
        }
        let Some(previous) = self.previous_value(headers) else {
            return false;
        };
        headers.insert(self.name(), previous);
        true
    }

    /// Whether a request sent with `headers` could be retried with the previous key, so is
    /// worth a copy.
    pub(crate) fn may_retry(&self, headers: &HeaderMap) -> bool {
        self.previous_value(headers).is_some()
    }

    /// The previous key's value, for a request that carries exactly the current key (so it was
    /// in scope, and is not a retry already) while the previous key's grace period runs.
    fn previous_value(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        let mut sent = headers.get_all(self.name()).iter();
        match (sent.next(), sent.next()) {
            (Some(sent), None) => self.token.retry_value(self.scheme, sent),
            _ => None,
        }
    }
}

/// Out of line: leaving the scope is the exception, and its code would crowd the usual path.
#[cold]
fn remove(headers: &mut HeaderMap, name: &HeaderName) {
    headers.remove(name);
}

impl<S> Layer<S> for TokenAuthLayer {
    type Service = TokenAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenAuth { inner, layer: self.clone() }
    }
}

impl fmt::Debug for TokenAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuthLayer")
            .field("id", &self.token.id())
            .field("scheme", &self.scheme)
            .field("header_name", self.name())
            .field("policy", &self.policy)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Middleware that adds the jocloud `token` header. See the [module docs](self).
#[derive(Clone)]
pub struct TokenAuth<S> {
    inner: S,
    layer: TokenAuthLayer,
}

impl<S> TokenAuth<S> {
    /// Wraps `inner`, sending `credentials` on every request. See [`TokenAuthLayer::new`].
    pub fn new(inner: S, credentials: &Credentials) -> Self {
        TokenAuthLayer::new(credentials).layer(inner)
    }

    /// See [`TokenAuthLayer::scheme`].
    #[must_use]
    pub fn scheme(self, scheme: Scheme) -> Self {
        self.map_layer(|layer| layer.scheme(scheme))
    }

    /// See [`TokenAuthLayer::header_name`].
    #[must_use]
    pub fn header_name(self, name: HeaderName) -> Self {
        self.map_layer(|layer| layer.header_name(name))
    }

    /// See [`TokenAuthLayer::policy`].
    #[must_use]
    pub fn policy(self, policy: InsertPolicy) -> Self {
        self.map_layer(|layer| layer.policy(policy))
    }

    /// See [`TokenAuthLayer::https_only`].
    #[must_use]
    pub fn https_only(self) -> Self {
        self.map_layer(TokenAuthLayer::https_only)
    }

    /// See [`TokenAuthLayer::for_host`].
    #[must_use]
    pub fn for_host(self, authority: Authority) -> Self {
        self.map_layer(|layer| layer.for_host(authority))
    }

    fn map_layer(self, f: impl FnOnce(TokenAuthLayer) -> TokenAuthLayer) -> Self {
        Self { inner: self.inner, layer: f(self.layer) }
    }

    inner_service_accessors!();
}

#[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
impl<S> TokenAuth<S> {
    pub(crate) fn layer(&self) -> &TokenAuthLayer {
        &self.layer
    }
}

impl<S, B> Service<Request<B>> for TokenAuth<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        self.layer.apply(&mut request);
        self.inner.call(request)
    }
}

impl<S: fmt::Debug> fmt::Debug for TokenAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuth").field("inner", &self.inner).field("layer", &self.layer).finish()
    }
}

#[cfg(feature = "rotation")]
mod live {
    use tower_layer::Layer;

    use super::{TokenAuth, TokenAuthLayer};
    use crate::{key::Token, live::LiveCredentials};

    impl TokenAuthLayer {
        /// A layer whose services send the current key of `credentials`, rotations included.
        #[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
        pub fn live(credentials: &LiveCredentials) -> Self {
            Self::with_token(Token::Live(credentials.clone()))
        }
    }

    impl<S> TokenAuth<S> {
        /// Wraps `inner`, sending the current key of `credentials`. See [`TokenAuthLayer::live`].
        #[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
        pub fn live(inner: S, credentials: &LiveCredentials) -> Self {
            TokenAuthLayer::live(credentials).layer(inner)
        }
    }
}
