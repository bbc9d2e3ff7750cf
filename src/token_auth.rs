//! Client side: attach the jocloud `token` header to every outgoing request.
//!
//! [`TokenAuthLayer`] encodes the credentials once, when it is built, into a sensitive
//! [`HeaderValue`]. Each request then costs one header insert: no allocation, no base64, no lock.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use jocloud_auth::{Credentials, TokenAuthLayer, TOKEN_HEADER};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
//!
//! // Stands in for a hyper-util client: echoes the header it was given.
//! let client = service_fn(|request: Request<String>| async move {
//!     let token = request.headers()[TOKEN_HEADER].clone();
//!     Ok::<_, Infallible>(Response::new(token))
//! });
//!
//! let client = TokenAuthLayer::new(&credentials).layer(client);
//! let request = Request::post("https://ai.jocloud.com/app/123456/v1/image/sync").body(String::new())?;
//! let response = client.oneshot(request).await?;
//! assert_eq!(response.body(), "Base cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==");
//! # Ok(())
//! # }
//! ```
//!
//! # Layer ordering
//!
//! In a [`tower::ServiceBuilder`](https://docs.rs/tower/latest/tower/struct.ServiceBuilder.html)
//! the first layer listed is the outermost. Put `TokenAuthLayer` *below* (inside)
//! `FollowRedirectLayer`, retry, timeout and `TraceLayer`:
//!
//! - **Redirects.** tower-http's `FollowRedirect` removes only `Authorization`, `Cookie` and
//!   `Proxy-Authorization` when a redirect crosses origins; a `token` header it has seen follows the
//!   redirect to any host. Placed inside `FollowRedirect`, `TokenAuth` sees every hop separately,
//!   and a [scope](TokenAuthLayer::for_host) keeps the token away from hosts it was not meant for.
//! - **Retry.** Each attempt passes through `TokenAuth` again, so each carries the current token
//!   (and, with [live rotation](crate::LiveCredentials), the newest one).
//! - **Tracing.** Outside `TraceLayer`, a request is logged before the token is added. Inside it,
//!   the header is still marked [sensitive](HeaderValue::is_sensitive), which tower-http and
//!   `http`'s own `Debug` print as `Sensitive`.
//!
//! # Security
//!
//! The encoded token is the secret in reversible form. It lives in a [`HeaderValue`], whose
//! memory this crate cannot zeroize, for as long as the layer or any service built from it does.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{header::Entry, uri::Authority, HeaderName, HeaderValue, Request, Uri};
use tower_layer::Layer;
use tower_service::Service;

use crate::credentials::{Credentials, Scheme, TokenHeaderName};

/// Where a token comes from: a fixed [`StaticToken`] or, with the `rotation` feature, a
/// [`LiveToken`](crate::LiveToken) that follows [`LiveCredentials`](crate::LiveCredentials).
///
/// Sealed: implemented only in this crate, so the request path of each stays under its control.
pub trait TokenSource: sealed::TokenSource {}

pub(crate) mod sealed {
    use http::HeaderValue;

    use crate::Scheme;

    pub trait TokenSource: Clone {
        /// The value to insert into the next request: a reference count increment.
        fn header_value(&mut self) -> HeaderValue;
        /// Switches to `scheme`; called when the layer is configured, never per request.
        fn set_scheme(&mut self, scheme: Scheme);
        /// The certificate ID, for `Debug`.
        fn id(&self) -> std::sync::Arc<str>;
    }
}

/// A token fixed when the layer was built: the source behind [`TokenAuthLayer::new`].
#[derive(Clone)]
pub struct StaticToken {
    value: HeaderValue,
    id: Arc<str>,
}

impl TokenSource for StaticToken {}

impl sealed::TokenSource for StaticToken {
    #[inline]
    fn header_value(&mut self) -> HeaderValue {
        self.value.clone()
    }

    fn set_scheme(&mut self, scheme: Scheme) {
        // The payload follows the first space; everything before it is the old scheme word.
        let bytes = self.value.as_bytes();
        let payload = bytes.iter().position(|&b| b == b' ').map_or(bytes, |space| &bytes[space + 1..]);
        self.value = crate::credentials::header_value(scheme, payload);
    }

    fn id(&self) -> Arc<str> {
        self.id.clone()
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticToken").field("id", &self.id).finish_non_exhaustive()
    }
}

/// What to do when a request already has the token header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertPolicy {
    /// Replace it: the layer's credentials win. The default.
    #[default]
    Override,
    /// Keep the caller's header and add ours only where there is none.
    IfMissing,
}

/// Which requests get the token. Empty means every request.
#[derive(Clone, Default)]
struct Scope {
    https_only: bool,
    /// Shared: cloning a service per request must not clone the list.
    hosts: Option<Arc<[HostRule]>>,
}

#[derive(Clone, Debug)]
struct HostRule {
    /// Lowercase.
    host: Box<str>,
    port: Option<u16>,
    /// `host` or `host:port`: how a request to this host is usually written, so the common case
    /// is one string comparison instead of parsing the request's authority.
    usual: Box<str>,
}

impl Scope {
    // Out of line: inlined, its registers cost the unscoped call more than the call costs here.
    #[inline(never)]
    fn permits(&self, uri: &Uri) -> bool {
        if self.https_only && uri.scheme() != Some(&http::uri::Scheme::HTTPS) {
            return false;
        }
        match &self.hosts {
            None => true,
            Some(rules) => {
                let Some(authority) = uri.authority() else {
                    return false;
                };
                rules.iter().any(|rule| *rule.usual == *authority.as_str())
                    || rules.iter().any(|rule| rule.matches(authority, uri))
            }
        }
    }

    fn add_host(&mut self, authority: &Authority) {
        let host = authority.host().to_ascii_lowercase();
        let port = authority.port_u16();
        let usual = match port {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let rule = HostRule { host: host.into(), port, usual: usual.into() };
        let mut rules: Vec<HostRule> = self.hosts.take().map(|rules| rules.to_vec()).unwrap_or_default();
        rules.push(rule);
        self.hosts = Some(rules.into());
    }
}

impl HostRule {
    /// The full comparison, for authorities written unusually: upper case, user info, a port
    /// spelled out where the rule has none, or left out where it is the scheme's default.
    #[cold]
    fn matches(&self, authority: &Authority, uri: &Uri) -> bool {
        let port = authority.port_u16().or_else(|| default_port(uri));
        self.host.eq_ignore_ascii_case(authority.host()) && self.port.is_none_or(|p| Some(p) == port)
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
        let hosts: Vec<&str> =
            self.hosts.iter().flat_map(|rules| rules.iter()).map(|rule| &*rule.usual).collect();
        f.debug_struct("Scope").field("https_only", &self.https_only).field("hosts", &hosts).finish()
    }
}

/// Adds the jocloud `token` header to requests. See the [module docs](self).
///
/// Built with [`TokenAuthLayer::new`] (fixed credentials) or
/// [`TokenAuthLayer::live`] (rotating credentials, `rotation` feature), then configured with the
/// builder methods. Cloning it is cheap: a few reference counts.
#[derive(Clone)]
pub struct TokenAuthLayer<T = StaticToken> {
    token: T,
    header_name: TokenHeaderName,
    policy: InsertPolicy,
    scope: Scope,
    /// The token replaces any header of [`TOKEN_HEADER`](crate::TOKEN_HEADER): the default
    /// policy and name. Worked out when the layer is configured, like `scoped`, so that the
    /// usual call makes two checks instead of four and keeps the rest out of line.
    plain: bool,
    /// Some requests do not get the token: `https_only` or `for_host` was called.
    scoped: bool,
}

impl TokenAuthLayer<StaticToken> {
    /// A layer that sends `credentials` as `token: Base <base64(id:secret)>`.
    pub fn new(credentials: &Credentials) -> Self {
        Self::from_source(StaticToken {
            value: credentials.header_value(Scheme::default()),
            id: credentials.id().into(),
        })
    }
}

impl<T: TokenSource> TokenAuthLayer<T> {
    pub(crate) fn from_source(token: T) -> Self {
        Self {
            token,
            header_name: TokenHeaderName::default(),
            policy: InsertPolicy::default(),
            scope: Scope::default(),
            plain: true,
            scoped: false,
        }
    }

    /// Works out `plain` and `scoped` again after a builder call.
    fn replan(mut self) -> Self {
        self.plain = self.header_name == TokenHeaderName::Token && self.policy == InsertPolicy::Override;
        self.scoped = self.scope.https_only || self.scope.hosts.is_some();
        self
    }

    /// Inserts the token into `request` as configured.
    #[inline(always)]
    fn insert(&mut self, request: &mut Request<impl Sized>) {
        if self.scoped && !self.scope.permits(request.uri()) {
            return;
        }
        let headers = request.headers_mut();
        if self.plain {
            headers.insert(crate::TOKEN_HEADER, sealed::TokenSource::header_value(&mut self.token));
        } else {
            self.insert_configured(headers);
        }
    }

    /// [`insert`](Self::insert) with another name or policy.
    #[inline(never)]
    fn insert_configured(&mut self, headers: &mut http::HeaderMap) {
        match self.policy {
            InsertPolicy::Override => {
                self.header_name.insert(headers, sealed::TokenSource::header_value(&mut self.token));
            }
            InsertPolicy::IfMissing => {
                if let Entry::Vacant(slot) = self.header_name.entry(headers) {
                    slot.insert(sealed::TokenSource::header_value(&mut self.token));
                }
            }
        }
    }

    /// Sends `scheme` as the word before the payload (`Base` unless set).
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.token.set_scheme(scheme);
        self
    }

    /// Sends the token in `name` instead of [`TOKEN_HEADER`](crate::TOKEN_HEADER).
    pub fn header_name(mut self, name: HeaderName) -> Self {
        self.header_name = TokenHeaderName::new(name);
        self.replan()
    }

    /// What to do when a request already carries the header ([`InsertPolicy::Override`] unless set).
    pub fn policy(mut self, policy: InsertPolicy) -> Self {
        self.policy = policy;
        self.replan()
    }

    /// Sends the token only on requests whose URI has the `https` scheme.
    ///
    /// Requests with a relative URI (no scheme) do not get it either.
    pub fn https_only(mut self) -> Self {
        self.scope.https_only = true;
        self.replan()
    }

    /// Sends the token only to this host; call again to add more.
    ///
    /// Hosts compare case-insensitively. An authority with a port matches only that port (a URI
    /// without one has its scheme's default, 80 or 443); one without a port matches any port.
    /// Once a host is given, requests with no host in their URI do not get the token.
    pub fn for_host(mut self, authority: Authority) -> Self {
        self.scope.add_host(&authority);
        self.replan()
    }
}

impl<S, T: TokenSource> Layer<S> for TokenAuthLayer<T> {
    type Service = TokenAuth<S, T>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenAuth { inner, layer: self.clone() }
    }
}

impl<T: TokenSource> fmt::Debug for TokenAuthLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuthLayer")
            .field("id", &sealed::TokenSource::id(&self.token))
            .field("header_name", &self.header_name)
            .field("policy", &self.policy)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Middleware that adds the jocloud `token` header. See the [module docs](self).
#[derive(Clone)]
pub struct TokenAuth<S, T = StaticToken> {
    inner: S,
    layer: TokenAuthLayer<T>,
}

impl<S> TokenAuth<S, StaticToken> {
    /// Wraps `inner`, sending `credentials` on every request.
    pub fn new(inner: S, credentials: &Credentials) -> Self {
        TokenAuthLayer::new(credentials).layer(inner)
    }

    /// The layer form of [`TokenAuth::new`].
    pub fn layer(credentials: &Credentials) -> TokenAuthLayer {
        TokenAuthLayer::new(credentials)
    }
}

impl<S, T: TokenSource> TokenAuth<S, T> {
    /// See [`TokenAuthLayer::scheme`].
    pub fn scheme(self, scheme: Scheme) -> Self {
        self.map_layer(|layer| layer.scheme(scheme))
    }

    /// See [`TokenAuthLayer::header_name`].
    pub fn header_name(self, name: HeaderName) -> Self {
        self.map_layer(|layer| layer.header_name(name))
    }

    /// See [`TokenAuthLayer::policy`].
    pub fn policy(self, policy: InsertPolicy) -> Self {
        self.map_layer(|layer| layer.policy(policy))
    }

    /// See [`TokenAuthLayer::https_only`].
    pub fn https_only(self) -> Self {
        self.map_layer(TokenAuthLayer::https_only)
    }

    /// See [`TokenAuthLayer::for_host`].
    pub fn for_host(self, authority: Authority) -> Self {
        self.map_layer(|layer| layer.for_host(authority))
    }

    fn map_layer(self, f: impl FnOnce(TokenAuthLayer<T>) -> TokenAuthLayer<T>) -> Self {
        Self { inner: self.inner, layer: f(self.layer) }
    }

    inner_service_accessors!();
}

impl<S, T, B> Service<Request<B>> for TokenAuth<S, T>
where
    S: Service<Request<B>>,
    T: TokenSource,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        self.layer.insert(&mut request);
        self.inner.call(request)
    }
}

impl<S: fmt::Debug, T: TokenSource> fmt::Debug for TokenAuth<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuth").field("inner", &self.inner).field("layer", &self.layer).finish()
    }
}
