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
//! [sensitive](HeaderValue::is_sensitive) header value: a request costs one header insert, with
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
//! HTTPS. It lives in a [`HeaderValue`], which this crate cannot zeroize, as long as the layer,
//! its services and the requests carrying it.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

#[cfg(any(feature = "tower-http-06", feature = "tower-http-07"))]
pub use crate::redirect_policy::RedirectPolicy;
pub use crate::scope::HostPattern;
use crate::{
    credentials::{Credentials, EncodedToken, Scheme, TOKEN_HEADER},
    key::Token,
    scope::{https_uri, Decision, Hosts, Scope, Target},
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

/// Adds the jocloud `token` header to requests. See the [module docs](self).
///
/// Cloning it is cheap: one reference count, as services are cloned per request.
#[derive(Clone)]
pub struct TokenAuthLayer {
    pub(crate) config: Arc<Config>,
}

/// What a layer does; read by the reqwest client and the previous-key retry too.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) token: Token,
    /// `None`: the product's word.
    scheme: Option<Scheme>,
    pub(crate) header_name: HeaderName,
    policy: InsertPolicy,
    pub(crate) scope: Scope,
    /// Cloud recording's `AppID` value; `None` for content moderation.
    app_id: Option<HeaderValue>,
}

/// The header cloud recording wants beside the token.
const APP_ID: HeaderName = HeaderName::from_static("appid");

/// The most redirects a client of this crate follows for one request, as reqwest by default.
#[cfg(any(feature = "reqwest", feature = "tower-http-06", feature = "tower-http-07"))]
pub(crate) const MAX_REDIRECTS: usize = 10;

impl TokenAuthLayer {
    /// A layer that sends `credentials` as `token: Base <base64(id:secret)>`, over HTTPS to
    /// jocloud's hosts only: see [scope](self#scope).
    pub fn new(credentials: &Credentials) -> Self {
        Self::with_token(Token::Static(Arc::new(EncodedToken::new(credentials))))
    }

    fn with_token(token: Token) -> Self {
        let config = Config {
            token,
            scheme: None,
            header_name: TOKEN_HEADER,
            policy: InsertPolicy::default(),
            scope: Scope::new(Hosts::Jocloud),
            app_id: None,
        };
        Self { config: Arc::new(config) }
    }

    /// The options, to change while the layer is built.
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// For jocloud's cloud recording: sends `AppID: <app_id>` beside the token, with the word
    /// `Basic`, to `api.jocloud.com` and `api-oversea.jocloud.com` only.
    ///
    /// [`scheme`](Self::scheme) and [`for_host`](Self::for_host), called before or after, still
    /// win. Like the token, the `AppID` header is removed from requests outside the
    /// [scope](self#scope), and the [policy](Self::policy) applies to it too.
    #[must_use]
    pub fn cloud_recording(mut self, app_id: u64) -> Self {
        let config = self.config_mut();
        // Stored as a clone, in the shared form whose clones never allocate (see `Credentials`).
        config.app_id = Some(HeaderValue::from(app_id).clone());
        config.scope.set_default_hosts(Hosts::CloudRecording);
        self
    }

    /// Sends `scheme` as the word before the payload: `Base` unless set (`Basic` for
    /// [`cloud_recording`](Self::cloud_recording)).
    #[must_use]
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.config_mut().scheme = Some(scheme);
        self
    }

    /// Sends the token in `name` instead of [`TOKEN_HEADER`].
    #[must_use]
    pub fn header_name(mut self, name: HeaderName) -> Self {
        // Stored as a clone: a name built at run time allocates on its first clone, its
        // clone never does, and the name is cloned on every request.
        self.config_mut().header_name = name.clone();
        self
    }

    /// What to do when a request already carries the header ([`InsertPolicy::Override`] unless set).
    #[must_use]
    pub fn policy(mut self, policy: InsertPolicy) -> Self {
        self.config_mut().policy = policy;
        self
    }

    /// Sends the token over plain HTTP too, as it is, for a loopback mock or a TLS-terminating
    /// proxy on the same machine: see [scope](self#scope).
    #[must_use]
    pub fn allow_http(mut self) -> Self {
        self.config_mut().scope.allow_http();
        self
    }

    /// Sends the token to `host` instead of jocloud's hosts; call again to add more. See
    /// [scope](self#scope). Name the port of a local mock: a pattern without one takes every
    /// port of the host, and so every other local server a redirect might name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let credentials = jocloud_auth::Credentials::new("qawsedrftg", "abcdefghijk")?;
    /// use jocloud_auth::token_auth::TokenAuthLayer;
    ///
    /// let mock = TokenAuthLayer::new(&credentials).for_host("127.0.0.1:8080".parse()?).allow_http();
    /// # let _ = mock;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn for_host(mut self, host: HostPattern) -> Self {
        self.config_mut().scope.add_host(host);
        self
    }

    /// The scheme word sent.
    pub(crate) fn word(&self) -> Scheme {
        let product = if self.config.app_id.is_some() { Scheme::Basic } else { Scheme::Base };
        self.config.scheme.unwrap_or(product)
    }

    /// Signs `request`, sends it over HTTPS instead, or takes the headers off it, as the scope
    /// decides; says whether it carries the token now.
    fn apply<B>(&self, request: &mut Request<B>) -> bool {
        let decision = self.decide(Target::of(request.uri()));
        let signed = match decision {
            Decision::Sign => true,
            // A URI that cannot be rebuilt (none can) is left as it is, without the token.
            Decision::Upgrade => match https_uri(request.uri()) {
                Some(uri) => {
                    *request.uri_mut() = uri;
                    true
                }
                None => false,
            },
            Decision::Leave => false,
        };
        self.apply_to_headers(signed, request.headers_mut());
        signed
    }

    /// What the scope decides for a request to `target`; with `tracing`, a `DEBUG` event for
    /// a request that goes without the token or over HTTPS instead.
    pub(crate) fn decide(&self, target: Target<'_>) -> Decision {
        let decision = self.config.scope.decide(target);
        #[cfg(feature = "tracing")]
        match decision {
            Decision::Sign => {}
            Decision::Upgrade => tracing::debug!(
                host = target.host(),
                "jocloud token: plain HTTP to a host in the layer's scope, sent over HTTPS instead"
            ),
            Decision::Leave => tracing::debug!(
                scheme = target.scheme().as_str(),
                host = target.host(),
                "jocloud token not sent: the request is outside the layer's scope"
            ),
        }
        decision
    }

    /// Adds or keeps the headers on a request that carries the token, removes them from one
    /// that does not.
    pub(crate) fn apply_to_headers(&self, signed: bool, headers: &mut HeaderMap) {
        if !signed {
            self.remove_headers(headers);
            return;
        }
        let keep = self.config.policy == InsertPolicy::IfMissing;
        if !(keep && headers.contains_key(&self.config.header_name)) {
            headers.insert(&self.config.header_name, self.config.token.value(self.word()));
        }
        if let Some(app_id) = &self.config.app_id {
            if !(keep && headers.contains_key(APP_ID)) {
                headers.insert(APP_ID, app_id.clone());
            }
        }
    }

    /// Removes the token header and, for cloud recording, the `AppID` header.
    pub(crate) fn remove_headers(&self, headers: &mut HeaderMap) {
        headers.remove(&self.config.header_name);
        if self.config.app_id.is_some() {
            headers.remove(APP_ID);
        }
    }
}

/// The redirect rule of the clients that follow redirects below the token: reqwest's and
/// tower-http's `FollowRedirect` with [`RedirectPolicy`].
#[cfg(any(feature = "reqwest", feature = "tower-http-06", feature = "tower-http-07"))]
impl TokenAuthLayer {
    /// Whether a request to `target` would carry the token as it is.
    pub(crate) fn permits(&self, target: Target<'_>) -> bool {
        self.config.scope.permits(target)
    }

    /// Whether to follow a redirect from `from` to `to`: not where it would take a request
    /// carrying the token out of the scope (the `3xx` is returned instead).
    pub(crate) fn follows_redirect(&self, from: Target<'_>, to: Target<'_>) -> bool {
        !self.permits(from) || self.permits(to)
    }
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
            .field("id", &self.config.token.id())
            .field("scheme", &self.word())
            .field("header_name", &self.config.header_name)
            .field("policy", &self.config.policy)
            .field("scope", &self.config.scope)
            .field("app_id", &self.config.app_id)
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

    inner_service_accessors!();
}

impl<S, B, ResBody> Service<Request<B>> for TokenAuth<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let signed = self.layer.apply(&mut request);
        ResponseFuture { future: self.inner.call(request), check: Check::new(&self.layer, signed) }
    }
}

pin_project! {
    /// Response future of [`TokenAuth`]: the inner service's response. With the `tower-http-06`
    /// or `tower-http-07` feature, it checks that no redirect followed inside the layer took
    /// the token out of its scope (see [redirects](self#redirects)).
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        check: Check,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.future.poll(cx));
        if let Ok(response) = &output {
            this.check.response(response);
        }
        Poll::Ready(output)
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// What is checked of a signed request's response: where a redirect followed inside the layer
/// ended (features `tower-http-06`, `tower-http-07`).
#[cfg(any(feature = "tower-http-06", feature = "tower-http-07"))]
struct Check(Option<TokenAuthLayer>);

#[cfg(any(feature = "tower-http-06", feature = "tower-http-07"))]
impl Check {
    fn new(layer: &TokenAuthLayer, signed: bool) -> Self {
        Self(signed.then(|| layer.clone()))
    }

    /// Panics if tower-http's `FollowRedirect`, inside the layer, followed the signed request
    /// to a URI outside the scope: the token went there. Its `RequestUri` says where it ended.
    fn response<B>(&mut self, response: &Response<B>) {
        let Some(layer) = self.0.take() else { return };
        let extensions = response.extensions();
        #[cfg(feature = "tower-http-06")]
        let ended = extensions.get::<tower_http::follow_redirect::RequestUri>().map(|uri| &uri.0);
        #[cfg(not(feature = "tower-http-06"))]
        let ended = None;
        #[cfg(feature = "tower-http-07")]
        let ended =
            ended.or(extensions.get::<tower_http_07::follow_redirect::RequestUri>().map(|uri| &uri.0));
        if let Some(uri) = ended.filter(|uri| !layer.permits(Target::of(uri))) {
            let port = uri.port().map(|port| format!(":{port}")).unwrap_or_default();
            panic!(
                "jocloud-auth: tower-http's FollowRedirect inside TokenAuthLayer followed a redirect to \
                 {}://{}{port}, outside the layer's scope, with the token. Put TokenAuthLayer inside \
                 FollowRedirectLayer (after it in a ServiceBuilder), or give FollowRedirectLayer \
                 the layer's redirect_policy().",
                uri.scheme_str().unwrap_or(""),
                uri.host().unwrap_or(""),
            );
        }
    }
}

/// Nothing to check without tower-http.
#[cfg(not(any(feature = "tower-http-06", feature = "tower-http-07")))]
struct Check;

#[cfg(not(any(feature = "tower-http-06", feature = "tower-http-07")))]
impl Check {
    fn new(_: &TokenAuthLayer, _: bool) -> Self {
        Self
    }

    fn response<B>(&mut self, _: &Response<B>) {}
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
