//! Server side: accept only requests whose `token` header carries an accepted credential.
//!
//! [`ValidateTokenLayer`] compares the presented token in constant time against every accepted
//! credential, encoded once when the layer is built. A request that passes reaches the inner
//! service with an [`AuthenticatedId`] in its extensions; any other gets `401 Unauthorized` and
//! the inner service is never called.
//!
//! # Example
//!
//! ```
//! use axum::{routing::post, Extension, Router};
//! use http::{Request, StatusCode};
//! use jocloud_auth::{AuthenticatedId, Credentials, ValidateTokenLayer};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
//!
//! let app = Router::new()
//!     .route("/app/{appid}/v1/image/sync", post(|Extension(caller): Extension<AuthenticatedId>| async move {
//!         format!("hello, {}", caller.as_str())
//!     }))
//!     .layer(ValidateTokenLayer::new(&credentials));
//!
//! let request = Request::post("/app/123456/v1/image/sync")
//!     .header("token", "Base cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==")
//!     .body(axum::body::Body::empty())?;
//! assert_eq!(app.clone().oneshot(request).await?.status(), StatusCode::OK);
//!
//! let request = Request::post("/app/123456/v1/image/sync").body(axum::body::Body::empty())?;
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(response.headers()["www-authenticate"], "Base error=\"missing_token\"");
//! # Ok(())
//! # }
//! ```
//!
//! # What is accepted
//!
//! Exactly one header named `token` (or the [configured name](ValidateTokenLayer::header_name))
//! whose value is an accepted scheme word, one space, and the payload of an accepted credential,
//! byte for byte. Several `token` headers are rejected as invalid: a proxy may have appended one,
//! and choosing either would let the request pick which check it faces.
//!
//! The `401` response has an empty body and a `www-authenticate` header,
//! `<scheme> error="missing_token"` or `<scheme> error="invalid_token"`, and says nothing more:
//! not which part was wrong, not which credentials exist.
//!
//! # Security
//!
//! - The payload comparison takes the same time whatever the presented bytes are, up to their
//!   length, which the caller already knows: it reads every word of every accepted credential,
//!   padded so that a length difference is a difference in the words, and does not stop at a
//!   match, so timing reveals neither how close a guess was nor which credential matched.
//!   What timing can reveal is the size of that padded block (the smallest multiple of 8 bytes
//!   from 32 to 64, or of 128 bytes, that holds the longest accepted payload): a longer token
//!   is turned away without a comparison.
//! - The accepted payloads live in buffers this crate zeroizes when the last layer or service
//!   using them is dropped.
//! - hyper does not know the `token` header is secret, so layers *outside* this one (a
//!   `TraceLayer` that logs headers, say) see it in clear text. This layer marks it
//!   [sensitive](HeaderValue::is_sensitive) before passing the request on, so layers inside it
//!   print `Sensitive`: put `ValidateTokenLayer` outside any layer that logs headers.
//! - A token is a bearer secret sent on every request, with no nonce or expiry: serve this
//!   endpoint over TLS only.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, LazyLock},
    task::{Context, Poll},
};

use http::{
    header::WWW_AUTHENTICATE, Extensions, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode,
};
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
/// increment.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AuthenticatedId(Arc<str>);

impl AuthenticatedId {
    pub(crate) fn new(id: &str) -> Self {
        Self(id.into())
    }
}

impl AuthenticatedId {
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

/// Where the accepted set comes from: a fixed [`AcceptedTokens`] or, with the `rotation`
/// feature, a [`LiveAcceptedTokens`](crate::LiveAcceptedTokens) that follows a
/// [`LiveCredentialSet`](crate::LiveCredentialSet).
///
/// Sealed: implemented only in this crate.
pub trait AcceptedSource: sealed::AcceptedSource {}

pub(crate) mod sealed {
    pub trait AcceptedSource: Clone {
        /// The current set; per request, so it must not lock or allocate.
        fn load(&mut self) -> &crate::accepted::AcceptedSet;
        /// The accepted IDs, for `Debug`.
        fn ids(&self) -> Vec<String>;
    }
}

/// A set of accepted credentials fixed when the layer was built: the source behind
/// [`ValidateTokenLayer::new`] and [`ValidateTokenLayer::any_of`].
#[derive(Clone)]
pub struct AcceptedTokens(Arc<AcceptedSet>);

impl AcceptedSource for AcceptedTokens {}

impl sealed::AcceptedSource for AcceptedTokens {
    #[inline]
    fn load(&mut self) -> &AcceptedSet {
        &self.0
    }

    fn ids(&self) -> Vec<String> {
        self.0.ids().map(str::to_owned).collect()
    }
}

impl fmt::Debug for AcceptedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptedTokens").field("ids", &sealed::AcceptedSource::ids(self)).finish()
    }
}

/// Accepted scheme words, as a bit set over [`Scheme::index`].
#[derive(Clone, Copy, PartialEq, Eq)]
struct SchemeSet(u8);

impl SchemeSet {
    const fn only(scheme: Scheme) -> Self {
        Self(1 << scheme.index())
    }

    fn with(self, scheme: Scheme) -> Self {
        Self(self.0 | Self::only(scheme).0)
    }

    fn iter(self) -> impl Iterator<Item = Scheme> {
        Scheme::ALL.into_iter().filter(move |scheme| self.0 & Self::only(*scheme).0 != 0)
    }

    /// The payload after an accepted `"<scheme> "` prefix. Scheme words are public, so this
    /// may branch on them.
    #[inline]
    fn strip(self, value: &[u8]) -> Option<&[u8]> {
        self.iter().find_map(|scheme| value.strip_prefix(scheme.as_str().as_bytes())?.strip_prefix(b" "))
    }
}

impl fmt::Debug for SchemeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// Why a request was turned away; indexes [`REJECTIONS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rejection {
    Missing = 0,
    Invalid = 1,
}

/// Checks the jocloud `token` header of incoming requests. See the [module docs](self).
#[derive(Clone)]
pub struct ValidateTokenLayer<A = AcceptedTokens> {
    accepted: A,
    schemes: SchemeSet,
    /// The scheme named in `www-authenticate` on rejections.
    challenge: Scheme,
    /// Stored, not the constant: the header is almost always there, and looking it up by
    /// reference spares the drop a key moved in by value would need.
    header_name: HeaderName,
}

impl ValidateTokenLayer<AcceptedTokens> {
    /// Accepts exactly `credentials`.
    pub fn new(credentials: &Credentials) -> Self {
        Self::any_of([credentials])
    }

    /// Accepts any of `credentials`, each mapped to its own ID: for example the old and the new
    /// key of a certificate while clients move over.
    ///
    /// An empty list gives a layer that rejects every request.
    pub fn any_of<'a>(credentials: impl IntoIterator<Item = &'a Credentials>) -> Self {
        let entries: Vec<_> = credentials.into_iter().map(AcceptedEntry::new).collect();
        Self::from_source(AcceptedTokens(Arc::new(AcceptedSet::new(&entries))))
    }
}

impl<A: AcceptedSource> ValidateTokenLayer<A> {
    pub(crate) fn from_source(accepted: A) -> Self {
        Self {
            accepted,
            schemes: SchemeSet::only(Scheme::default()),
            challenge: Scheme::default(),
            header_name: TOKEN_HEADER,
        }
    }

    /// Accepts only `scheme` as the word before the payload (`Base` unless set).
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.schemes = SchemeSet::only(scheme);
        self.challenge = scheme;
        self
    }

    /// Accepts `scheme` too, for example `Basic` beside `Base`.
    pub fn also_accept_scheme(mut self, scheme: Scheme) -> Self {
        self.schemes = self.schemes.with(scheme);
        self
    }

    /// Reads the token from `name` instead of [`TOKEN_HEADER`].
    pub fn header_name(mut self, name: HeaderName) -> Self {
        self.header_name = name;
        self
    }

    /// Finds the caller's ID, and marks the token header sensitive on the way, so layers
    /// inside this one never log it (hyper does not know the header is secret).
    #[inline]
    fn check(&mut self, headers: &mut HeaderMap) -> Result<Extensions, Rejection> {
        // Several values under one name are rare: when no name has more than one, a plain
        // lookup is enough; otherwise count ours.
        if headers.len() != headers.keys_len() && headers.get_all(&self.header_name).iter().nth(1).is_some() {
            return Err(Rejection::Invalid);
        }
        let value = headers.get_mut(&self.header_name).ok_or(Rejection::Missing)?;
        value.set_sensitive(true);
        let payload = self.schemes.strip(value.as_bytes()).ok_or(Rejection::Invalid)?;
        sealed::AcceptedSource::load(&mut self.accepted).find(payload).cloned().ok_or(Rejection::Invalid)
    }

    fn reject<B: Default>(&self, rejection: Rejection) -> Response<B> {
        let mut response = Response::new(B::default());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        *response.headers_mut() = REJECTIONS[self.challenge.index()][rejection as usize].clone();
        response
    }
}

/// The headers of a `401`, by scheme ([`Scheme::index`]) and [`Rejection`]: a
/// `www-authenticate` challenge from static strings, so the rejection path formats nothing.
/// Prepared once, because cloning a map skips the hashing and probing that building one per
/// rejection would repeat.
static REJECTIONS: LazyLock<[[HeaderMap; 2]; 2]> = LazyLock::new(|| {
    Scheme::ALL.map(|scheme| {
        let challenges = match scheme {
            Scheme::Base => ["Base error=\"missing_token\"", "Base error=\"invalid_token\""],
            Scheme::Basic => ["Basic error=\"missing_token\"", "Basic error=\"invalid_token\""],
        };
        challenges.map(|challenge| {
            let mut headers = HeaderMap::with_capacity(1);
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
            headers
        })
    })
});

impl<S, A: AcceptedSource> Layer<S> for ValidateTokenLayer<A> {
    type Service = ValidateToken<S, A>;

    fn layer(&self, inner: S) -> Self::Service {
        ValidateToken { inner, layer: self.clone() }
    }
}

impl<A: AcceptedSource> fmt::Debug for ValidateTokenLayer<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateTokenLayer")
            .field("accepted_ids", &sealed::AcceptedSource::ids(&self.accepted))
            .field("schemes", &self.schemes)
            .field("header_name", &self.header_name)
            .finish()
    }
}

/// Middleware that validates the jocloud `token` header. See the [module docs](self).
#[derive(Clone)]
pub struct ValidateToken<S, A = AcceptedTokens> {
    inner: S,
    layer: ValidateTokenLayer<A>,
}

impl<S> ValidateToken<S, AcceptedTokens> {
    /// Wraps `inner`, accepting exactly `credentials`.
    pub fn new(inner: S, credentials: &Credentials) -> Self {
        ValidateTokenLayer::new(credentials).layer(inner)
    }

    /// Wraps `inner`, accepting any of `credentials`. See [`ValidateTokenLayer::any_of`].
    pub fn any_of<'a>(inner: S, credentials: impl IntoIterator<Item = &'a Credentials>) -> Self {
        ValidateTokenLayer::any_of(credentials).layer(inner)
    }

    /// The layer form of [`ValidateToken::new`].
    pub fn layer(credentials: &Credentials) -> ValidateTokenLayer {
        ValidateTokenLayer::new(credentials)
    }
}

impl<S, A: AcceptedSource> ValidateToken<S, A> {
    /// See [`ValidateTokenLayer::scheme`].
    pub fn scheme(self, scheme: Scheme) -> Self {
        self.map_layer(|layer| layer.scheme(scheme))
    }

    /// See [`ValidateTokenLayer::also_accept_scheme`].
    pub fn also_accept_scheme(self, scheme: Scheme) -> Self {
        self.map_layer(|layer| layer.also_accept_scheme(scheme))
    }

    /// See [`ValidateTokenLayer::header_name`].
    pub fn header_name(self, name: HeaderName) -> Self {
        self.map_layer(|layer| layer.header_name(name))
    }

    fn map_layer(self, f: impl FnOnce(ValidateTokenLayer<A>) -> ValidateTokenLayer<A>) -> Self {
        Self { inner: self.inner, layer: f(self.layer) }
    }

    inner_service_accessors!();
}

impl<S, A, ReqBody, ResBody> Service<Request<ReqBody>> for ValidateToken<S, A>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    A: AcceptedSource,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.layer.check(request.headers_mut()) {
            Ok(extensions) => {
                // Into a request without extensions (the usual case), this moves the map in.
                request.extensions_mut().extend(extensions);
                ResponseFuture { state: State::Called { future: self.inner.call(request) } }
            }
            Err(rejection) => {
                ResponseFuture { state: State::Rejected { response: Some(self.layer.reject(rejection)) } }
            }
        }
    }
}

impl<S: fmt::Debug, A: AcceptedSource> fmt::Debug for ValidateToken<S, A> {
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
