//! Accept only requests whose `token` header carries an accepted credential.
//!
//! ```
//! use axum::{body::Body, routing::post, Extension, Router};
//! use http::{Request, StatusCode};
//! use jocloud_auth::{validate::{AuthenticatedId, ValidateTokenLayer}, Credentials};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
//!
//! let app = Router::new()
//!     .route("/app/{appid}/v1/image/sync", post(|Extension(caller): Extension<AuthenticatedId>| async move {
//!         format!("hello, {caller}")
//!     }))
//!     .layer(ValidateTokenLayer::new(&credentials));
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
//! # Ok(())
//! # }
//! ```
//!
//! A request that passes reaches the inner service with an [`AuthenticatedId`] in its
//! extensions; any other gets `401 Unauthorized`, and the inner service is never called.
//!
//! # What is accepted
//!
//! Exactly one header named `token` (or the [configured name](ValidateTokenLayer::header_name))
//! whose value is an accepted scheme word, one space, and the payload of an accepted credential,
//! byte for byte. Several `token` headers are rejected: a proxy may have appended one, and
//! choosing either would let the request pick which check it faces.
//!
//! The `401` has an empty body and a `www-authenticate` header,
//! `<scheme> error="missing_token"` or `<scheme> error="invalid_token"`, and says nothing more:
//! not which part was wrong, not which credentials exist.
//!
//! # Security
//!
//! - The payload comparison is constant-time: timing reveals neither how close a guess came
//!   nor which credential matched. It can reveal the padded size of the longest accepted
//!   payload (a multiple of 8 bytes from 32 to 64, or of 128 bytes), and the number of
//!   accepted credentials, since each is compared.
//! - The accepted payloads live in buffers this crate zeroizes when the last layer, service or
//!   request check using them is done.
//! - hyper does not know the `token` header is secret, so layers *outside* this one (a
//!   `TraceLayer` that logs headers, say) see it in clear text. This layer marks it
//!   [sensitive](HeaderValue::is_sensitive) before passing the request on, so layers inside
//!   print `Sensitive`: put `ValidateTokenLayer` outside any layer that logs headers.
//! - A token is a bearer secret sent on every request, with no nonce or expiry: serve this
//!   endpoint over TLS only.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{header::WWW_AUTHENTICATE, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::{
    accepted::{AcceptedEntry, AcceptedSet},
    credentials::{Credentials, Scheme, TOKEN_HEADER},
};

/// The certificate ID of an accepted request, put into its extensions by [`ValidateToken`].
///
/// In axum, extract it with `Extension<AuthenticatedId>`. Cloning it is a reference count
/// increment. To unit-test a handler without the layer, build one with
/// [`AuthenticatedId::new`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AuthenticatedId(Arc<str>);

impl AuthenticatedId {
    /// An ID as the layer would report it.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The certificate ID.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthenticatedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthenticatedId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for AuthenticatedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for AuthenticatedId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Where the accepted credentials come from.
#[derive(Clone)]
enum Accepted {
    Static(Arc<AcceptedSet>),
    #[cfg(feature = "rotation")]
    Live(crate::LiveCredentialSet),
}

impl Accepted {
    fn find(&self, payload: &[u8]) -> Option<AuthenticatedId> {
        match self {
            Accepted::Static(set) => set.find(payload).cloned(),
            #[cfg(feature = "rotation")]
            Accepted::Live(set) => set.load().find(payload).cloned(),
        }
    }

    fn ids(&self) -> Vec<String> {
        match self {
            Accepted::Static(set) => set.ids().map(str::to_owned).collect(),
            #[cfg(feature = "rotation")]
            Accepted::Live(set) => set.ids(),
        }
    }
}

/// Why a request was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rejection {
    Missing,
    Invalid,
}

/// Checks the jocloud `token` header of incoming requests. See the [module docs](self).
#[derive(Clone)]
pub struct ValidateTokenLayer {
    accepted: Accepted,
    /// The scheme named in `www-authenticate` on rejections; always accepted.
    scheme: Scheme,
    /// Accepted besides `scheme`.
    also: Option<Scheme>,
    header_name: HeaderName,
}

impl ValidateTokenLayer {
    /// Accepts exactly `credentials`.
    pub fn new(credentials: &Credentials) -> Self {
        Self::any_of([credentials])
    }

    /// Accepts any of `credentials`, each reported as its own ID: for example the old and the
    /// new key of a certificate while clients move over.
    ///
    /// An empty list gives a layer that rejects every request.
    pub fn any_of<'a>(credentials: impl IntoIterator<Item = &'a Credentials>) -> Self {
        let entries: Vec<_> = credentials.into_iter().map(AcceptedEntry::new).collect();
        Self::with_accepted(Accepted::Static(Arc::new(AcceptedSet::new(&entries))))
    }

    /// Accepts whatever `set` holds at the time of each request.
    #[cfg(feature = "rotation")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
    pub fn live(set: &crate::LiveCredentialSet) -> Self {
        Self::with_accepted(Accepted::Live(set.clone()))
    }

    fn with_accepted(accepted: Accepted) -> Self {
        Self { accepted, scheme: Scheme::default(), also: None, header_name: TOKEN_HEADER }
    }

    /// Accepts only `scheme` as the word before the payload (`Base` unless set), and names it
    /// in the `www-authenticate` challenge.
    #[must_use]
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self.also = None;
        self
    }

    /// Accepts `scheme` too, for example `Basic` beside `Base`.
    #[must_use]
    pub fn also_accept_scheme(mut self, scheme: Scheme) -> Self {
        if scheme != self.scheme {
            self.also = Some(scheme);
        }
        self
    }

    /// Reads the token from `name` instead of [`TOKEN_HEADER`].
    #[must_use]
    pub fn header_name(mut self, name: HeaderName) -> Self {
        self.header_name = name;
        self
    }

    /// The caller's ID; marks the token header sensitive on the way, so that layers inside
    /// this one never log it (hyper does not know the header is secret).
    fn check(&self, headers: &mut HeaderMap) -> Result<AuthenticatedId, Rejection> {
        if headers.get_all(&self.header_name).iter().nth(1).is_some() {
            return Err(Rejection::Invalid);
        }
        let value = headers.get_mut(&self.header_name).ok_or(Rejection::Missing)?;
        value.set_sensitive(true);
        let payload = self.payload(value.as_bytes()).ok_or(Rejection::Invalid)?;
        self.accepted.find(payload).ok_or(Rejection::Invalid)
    }

    /// What follows an accepted scheme word and one space. Scheme words are public, so this
    /// may branch on them.
    fn payload<'a>(&self, value: &'a [u8]) -> Option<&'a [u8]> {
        [Some(self.scheme), self.also]
            .into_iter()
            .flatten()
            .find_map(|scheme| value.strip_prefix(scheme.as_str().as_bytes())?.strip_prefix(b" "))
    }

    fn reject<B: Default>(&self, rejection: Rejection) -> Response<B> {
        let challenge = match (self.scheme, rejection) {
            (Scheme::Base, Rejection::Missing) => r#"Base error="missing_token""#,
            (Scheme::Base, Rejection::Invalid) => r#"Base error="invalid_token""#,
            (Scheme::Basic, Rejection::Missing) => r#"Basic error="missing_token""#,
            (Scheme::Basic, Rejection::Invalid) => r#"Basic error="invalid_token""#,
        };
        let mut response = Response::new(B::default());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        response
    }
}

impl<S> Layer<S> for ValidateTokenLayer {
    type Service = ValidateToken<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ValidateToken { inner, layer: self.clone() }
    }
}

impl fmt::Debug for ValidateTokenLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateTokenLayer")
            .field("accepted_ids", &self.accepted.ids())
            .field("scheme", &self.scheme)
            .field("also", &self.also)
            .field("header_name", &self.header_name)
            .finish()
    }
}

/// Middleware that validates the jocloud `token` header. See the [module docs](self).
#[derive(Clone)]
pub struct ValidateToken<S> {
    inner: S,
    layer: ValidateTokenLayer,
}

impl<S> ValidateToken<S> {
    /// Wraps `inner`, accepting exactly `credentials`. See [`ValidateTokenLayer::new`].
    pub fn new(inner: S, credentials: &Credentials) -> Self {
        ValidateTokenLayer::new(credentials).layer(inner)
    }

    /// Wraps `inner`, accepting any of `credentials`. See [`ValidateTokenLayer::any_of`].
    pub fn any_of<'a>(inner: S, credentials: impl IntoIterator<Item = &'a Credentials>) -> Self {
        ValidateTokenLayer::any_of(credentials).layer(inner)
    }

    /// Wraps `inner`, accepting whatever `set` holds. See [`ValidateTokenLayer::live`].
    #[cfg(feature = "rotation")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
    pub fn live(inner: S, set: &crate::LiveCredentialSet) -> Self {
        ValidateTokenLayer::live(set).layer(inner)
    }

    /// See [`ValidateTokenLayer::scheme`].
    #[must_use]
    pub fn scheme(self, scheme: Scheme) -> Self {
        self.map_layer(|layer| layer.scheme(scheme))
    }

    /// See [`ValidateTokenLayer::also_accept_scheme`].
    #[must_use]
    pub fn also_accept_scheme(self, scheme: Scheme) -> Self {
        self.map_layer(|layer| layer.also_accept_scheme(scheme))
    }

    /// See [`ValidateTokenLayer::header_name`].
    #[must_use]
    pub fn header_name(self, name: HeaderName) -> Self {
        self.map_layer(|layer| layer.header_name(name))
    }

    fn map_layer(self, f: impl FnOnce(ValidateTokenLayer) -> ValidateTokenLayer) -> Self {
        Self { inner: self.inner, layer: f(self.layer) }
    }

    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ValidateToken<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let state = match self.layer.check(request.headers_mut()) {
            Ok(id) => {
                request.extensions_mut().insert(id);
                State::Called { future: self.inner.call(request) }
            }
            Err(rejection) => State::Rejected { response: Some(self.layer.reject(rejection)) },
        };
        ResponseFuture { state }
    }
}

impl<S: fmt::Debug> fmt::Debug for ValidateToken<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateToken").field("inner", &self.inner).field("layer", &self.layer).finish()
    }
}

pin_project! {
    /// Response future of [`ValidateToken`]: the inner service's future, or a ready `401`.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Called { #[pin] future: F },
        Rejected { response: Option<Response<B>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future } => future.poll(cx),
            StateProj::Rejected { response } => {
                Poll::Ready(Ok(response.take().expect("ResponseFuture polled after completion")))
            }
        }
    }
}

impl<F, B> fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
