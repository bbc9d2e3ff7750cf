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
//! of the secret ([`AcceptedCredential`]), compared in constant time: whoever reads the
//! gateway's configuration cannot then call as its customers. Secrets and digests mix in one
//! set and follow, retire and revoke alike. SHA-256 is fast, so it protects a generated secret
//! (128 random bits, as jocloud's consoles make), not one a person chose: digests are for
//! generated secrets only, by contract. A slow derivation with a cache of verdicts (Caddy's
//! bcrypt) would cost far more per request, for passwords this protocol does not have. A token
//! checked against a digest is decoded on the stack, `"<id>:<secret>"` of at most 255 bytes
//! (`digest_of` refuses a longer one), and hashed whether or not its ID is known.
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
//!   gone or marked [sensitive](HeaderValue::is_sensitive).
//! - The token is a bearer secret with no nonce or expiry: serve over TLS only.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{
    header::{Entry, WWW_AUTHENTICATE},
    HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode,
};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

#[cfg(feature = "tracing")]
use crate::credentials::MAX_HEADER_VALUE;
use crate::{
    accepted::{AcceptedEntry, AcceptedSet},
    credentials::{AcceptedCredential, Credentials, Scheme, TOKEN_HEADER},
};

/// The certificate ID of an accepted request, put into its extensions by [`ValidateToken`].
///
/// Read it with `request.extensions().get::<AuthenticatedId>()`; in axum, with the `axum`
/// feature, take it as a handler argument. Cloning it is a reference count increment. To
/// unit-test a handler without the layer, build one with [`AuthenticatedId::new`].
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

/// In the extensions of a request accepted with a key in its grace period, beside its
/// [`AuthenticatedId`].
///
/// A set followed with `LiveCredentialSet::follow` (feature `rotation`) keeps accepting a key
/// that was replaced until its grace period ends, for clients that have not read the new key
/// yet. A request that uses such a key carries this marker (count them by caller in a layer
/// inside). With `tracing`, an `INFO` event names the caller's ID (`jocloud.caller_id`) once
/// per ID every 30 s, however many requests it sends: who has not moved to the new key yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RetiringKey;

/// Why [`ValidateToken`] turned a request away; in the extensions of every rejection response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// No token header.
    Missing,
    /// More than one token header.
    SeveralHeaders,
    /// The header is not a scheme word (`Base` or `Basic`), one space and a payload.
    Malformed,
    /// The header's scheme word is one this validator does not accept: `Basic` (cloud
    /// recording's) where only `Base` is, or the other way round. See
    /// [`cloud_recording`](ValidateTokenLayer::cloud_recording).
    UnacceptedScheme,
    /// A well-formed token that no accepted credential matches.
    UnknownCredential,
    /// A token longer than any this validator accepts: refused before any work on it.
    TooLong,
}

impl Rejection {
    /// A short name, for metrics labels and logs: `missing`, `several_headers`, `malformed`,
    /// `unaccepted_scheme`, `unknown_credential`, `too_long`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::SeveralHeaders => "several_headers",
            Rejection::Malformed => "malformed",
            Rejection::UnacceptedScheme => "unaccepted_scheme",
            Rejection::UnknownCredential => "unknown_credential",
            Rejection::TooLong => "too_long",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the accepted credentials come from.
#[derive(Clone)]
enum Accepted {
    Static(Arc<AcceptedSet>),
    #[cfg(feature = "rotation")]
    Live(crate::live::LiveCredentialSet),
}

/// Who an accepted request comes from, and whether with a key in its grace period.
struct Caller {
    id: AuthenticatedId,
    retiring: bool,
}

impl Caller {
    fn of(entry: &AcceptedEntry) -> Self {
        Self { id: AuthenticatedId(entry.id.clone()), retiring: entry.retiring }
    }
}

impl Accepted {
    /// The caller `payload` names, or why there is none.
    fn find(&self, payload: &[u8]) -> Result<Caller, Rejection> {
        let find = |set: &AcceptedSet| {
            // Refused before any hashing or decoding: a token of any length costs no more.
            if payload.len() > set.longest() && set.longest() > 0 {
                return Err(Rejection::TooLong);
            }
            set.find(payload).map(Caller::of).ok_or(Rejection::UnknownCredential)
        };
        match self {
            Accepted::Static(set) => find(set),
            #[cfg(feature = "rotation")]
            Accepted::Live(set) => find(&set.load()),
        }
    }

    #[cfg(feature = "tracing")]
    fn held(&self, id: &str) -> Option<&'static str> {
        match self {
            Accepted::Static(set) => set.held(id),
            #[cfg(feature = "rotation")]
            Accepted::Live(set) => set.load().held(id),
        }
    }

    #[cfg(feature = "tracing")]
    fn announce_retiring(&self, id: &str, now: std::time::Instant) -> bool {
        match self {
            Accepted::Static(set) => set.announce_retiring(id, now),
            #[cfg(feature = "rotation")]
            Accepted::Live(set) => set.load().announce_retiring(id, now),
        }
    }

    fn summary(&self) -> crate::accepted::Summary {
        match self {
            Accepted::Static(set) => set.summary(),
            #[cfg(feature = "rotation")]
            Accepted::Live(set) => set.load().summary(),
        }
    }
}

/// A set of schemes.
#[derive(Clone, Copy, Debug, Default)]
struct Schemes {
    base: bool,
    basic: bool,
}

impl Schemes {
    fn insert(&mut self, scheme: Scheme) {
        match scheme {
            Scheme::Base => self.base = true,
            Scheme::Basic => self.basic = true,
        }
    }

    fn contains(self, scheme: Scheme) -> bool {
        match scheme {
            Scheme::Base => self.base,
            Scheme::Basic => self.basic,
        }
    }
}

/// A caller-supplied rejection response.
type Respond = Arc<dyn Fn(Rejection) -> Response<Bytes> + Send + Sync>;

/// Checks the jocloud `token` header of incoming requests. See the [module docs](self).
#[derive(Clone)]
pub struct ValidateTokenLayer {
    /// Behind one `Arc`: a service is cloned for every request (axum's `route_layer` does).
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    accepted: Accepted,
    /// The scheme set by hand: accepted, and named in `www-authenticate` on rejections.
    scheme: Option<Scheme>,
    /// The product's scheme, used where none is set by hand: `Basic` for cloud recording.
    product: Scheme,
    /// Accepted besides the scheme, whichever that is.
    also: Schemes,
    header_name: HeaderName,
    keep_token_header: bool,
    report_only: bool,
    respond: Option<Respond>,
}

impl ValidateTokenLayer {
    /// Accepts exactly `credentials`.
    pub fn new(credentials: &Credentials) -> Self {
        Self::any_of([credentials])
    }

    /// Accepts any of `credentials`, each reported as its own ID: for example the old and the
    /// new key of a certificate while clients move over, or one key per customer application.
    /// Each is a [`Credentials`] or an [`AcceptedCredential`], held by its secret or (feature
    /// `digest`) by a digest only. Credentials given twice count once.
    ///
    /// An empty list gives a layer that rejects every request.
    pub fn any_of<C: Into<AcceptedCredential>>(credentials: impl IntoIterator<Item = C>) -> Self {
        let set = AcceptedSet::with_entries(credentials.into_iter().map(|c| AcceptedEntry::new(&c.into())));
        Self::with_accepted(Accepted::Static(Arc::new(set)))
    }

    /// Accepts whatever `set` holds at the time of each request.
    #[cfg(feature = "rotation")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
    pub fn live(set: &crate::live::LiveCredentialSet) -> Self {
        Self::with_accepted(Accepted::Live(set.clone()))
    }

    fn with_accepted(accepted: Accepted) -> Self {
        let config = Config {
            accepted,
            scheme: None,
            product: Scheme::Base,
            also: Schemes::default(),
            header_name: TOKEN_HEADER,
            keep_token_header: false,
            report_only: false,
            respond: None,
        };
        Self { config: Arc::new(config) }
    }

    /// The options, to change while the layer is built.
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// For a server of jocloud's cloud recording (a local mock, say): accepts the word `Basic`
    /// in place of `Base`, as `TokenAuthLayer::cloud_recording` sends it, and names it in the
    /// `www-authenticate` challenge. [`scheme`](Self::scheme), called before or after, still
    /// wins.
    #[must_use]
    pub fn cloud_recording(mut self) -> Self {
        self.config_mut().product = Scheme::Basic;
        self
    }

    /// Accepts `scheme` as the word before the payload in place of `Base` (or cloud
    /// recording's `Basic`), and names it in the `www-authenticate` challenge. Words added with
    /// [`also_accept_scheme`](Self::also_accept_scheme), before or after, stay accepted.
    #[must_use]
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.config_mut().scheme = Some(scheme);
        self
    }

    /// Accepts `scheme` too, for example `Basic` beside `Base`.
    #[must_use]
    pub fn also_accept_scheme(mut self, scheme: Scheme) -> Self {
        self.config_mut().also.insert(scheme);
        self
    }

    /// Reads the token from `name` instead of [`TOKEN_HEADER`].
    #[must_use]
    pub fn header_name(mut self, name: HeaderName) -> Self {
        self.config_mut().header_name = name;
        self
    }

    /// Passes the token header on to the inner service (marked sensitive) instead of removing
    /// it.
    ///
    /// Removal is the default: once the caller's ID is in the extensions, nothing inside needs
    /// the secret, and a gateway that forwards requests upstream would otherwise send every
    /// caller's key along with them.
    #[must_use]
    pub fn keep_token_header(mut self) -> Self {
        self.config_mut().keep_token_header = true;
        self
    }

    /// Lets a request it would reject through to the inner service, with the [`Rejection`] in
    /// the request's extensions (and, with `tracing`, the same `DEBUG` event), instead of
    /// answering `401`: to measure what enforcing would refuse before enforcing. The token
    /// header is removed all the same (or kept, marked sensitive, with
    /// [`keep_token_header`](Self::keep_token_header)).
    #[must_use]
    pub fn report_only(mut self) -> Self {
        self.config_mut().report_only = true;
        self
    }

    /// Answers rejected requests with `respond(reason)` instead of the empty `401`: for example
    /// jocloud-style JSON, `{"code": 401, "message": "invalid token"}`. The reason is added to
    /// the response's extensions all the same.
    #[must_use]
    pub fn on_rejection<T, F>(mut self, respond: F) -> Self
    where
        F: Fn(Rejection) -> Response<T> + Send + Sync + 'static,
        T: Into<Bytes>,
    {
        self.config_mut().respond = Some(Arc::new(move |rejection| respond(rejection).map(Into::into)));
        self
    }

    /// The caller's ID, or why there is none. On success the token header is removed, or
    /// marked sensitive when kept, so that layers inside never see or log it in clear.
    fn check(&self, headers: &mut HeaderMap) -> Result<Caller, Rejection> {
        let Entry::Occupied(mut token) = headers.entry(&self.config.header_name) else {
            return Err(Rejection::Missing);
        };
        if token.iter().nth(1).is_some() {
            return Err(Rejection::SeveralHeaders);
        }
        let payload = self.payload(token.get().as_bytes())?;
        let caller = self.config.accepted.find(payload)?;
        if self.config.keep_token_header {
            token.get_mut().set_sensitive(true);
        } else {
            token.remove();
        }
        Ok(caller)
    }

    /// The scheme word this layer names in its challenges.
    fn word(&self) -> Scheme {
        self.config.scheme.unwrap_or(self.config.product)
    }

    /// What follows an accepted scheme word and one space. Scheme words are public, so this
    /// may branch on them.
    fn payload<'a>(&self, value: &'a [u8]) -> Result<&'a [u8], Rejection> {
        let (scheme, payload) = Scheme::ALL
            .into_iter()
            .find_map(|scheme| Some((scheme, scheme.strip_from(value)?)))
            .ok_or(Rejection::Malformed)?;
        if scheme == self.word() || self.config.also.contains(scheme) {
            Ok(payload)
        } else {
            Err(Rejection::UnacceptedScheme)
        }
    }

    /// Removes the token header, or marks it sensitive when kept, whatever the check found.
    fn hide_token(&self, headers: &mut HeaderMap) {
        let Entry::Occupied(mut token) = headers.entry(&self.config.header_name) else {
            return;
        };
        if self.config.keep_token_header {
            token.iter_mut().for_each(|value| value.set_sensitive(true));
        } else {
            drop(token.remove_entry_mult());
        }
    }

    /// With `tracing`, the rejection's `DEBUG` event: its reason, and for a well-formed token
    /// of a known ID with a wrong secret (of any length up to a credential's), the ID and how
    /// the set holds it, so that a customer's
    /// stale secret (or a digest made with `echo`'s newline) stands out from noise. An ID that
    /// is not accepted is never echoed. The ID is looked up only where the event is wanted.
    fn report(&self, rejection: Rejection, headers: &HeaderMap) {
        #[cfg(feature = "tracing")]
        if tracing::enabled!(tracing::Level::DEBUG) {
            let wrong_secret = matches!(rejection, Rejection::UnknownCredential | Rejection::TooLong);
            let known = wrong_secret.then(|| self.known_id(headers)).flatten();
            match known {
                Some((id, held)) => tracing::debug!(
                    reason = rejection.as_str(),
                    report_only = self.config.report_only,
                    jocloud.caller_id = id.as_str(),
                    held,
                    "jocloud token rejected: wrong secret for a known certificate ID"
                ),
                None => tracing::debug!(
                    reason = rejection.as_str(),
                    report_only = self.config.report_only,
                    "jocloud token rejected"
                ),
            }
        }
        let _ = (rejection, headers);
    }

    /// The certificate ID a token names, if it is an accepted one, with how it is held:
    /// `"secret"` or `"digest"`.
    #[cfg(feature = "tracing")]
    fn known_id(&self, headers: &HeaderMap) -> Option<(String, &'static str)> {
        use base64::Engine as _;
        let value = headers.get(&self.config.header_name)?.as_bytes();
        // No longer than any credential's: a decode of a token of any length would cost as much.
        if value.len() > MAX_HEADER_VALUE {
            return None;
        }
        let payload = Scheme::ALL.into_iter().find_map(|scheme| scheme.strip_from(value))?;
        // The secret half may be a real one, out of date: zeroized with the rest.
        let decoded =
            zeroize::Zeroizing::new(base64::engine::general_purpose::STANDARD.decode(payload).ok()?);
        let id = std::str::from_utf8(decoded.split(|&byte| byte == b':').next()?).ok()?;
        let held = self.config.accepted.held(id)?;
        Some((id.to_owned(), held))
    }

    fn reject(&self, rejection: Rejection, headers: &HeaderMap) -> Response<Bytes> {
        self.report(rejection, headers);
        let mut response = match &self.config.respond {
            Some(respond) => respond(rejection),
            None => self.challenge(rejection),
        };
        response.extensions_mut().insert(rejection);
        response
    }

    /// The default rejection: an empty `401` with a `www-authenticate` challenge.
    fn challenge(&self, rejection: Rejection) -> Response<Bytes> {
        let challenge = match (self.word(), rejection) {
            (Scheme::Base, Rejection::Missing) => r#"Base error="missing_token""#,
            (Scheme::Base, _) => r#"Base error="invalid_token""#,
            (Scheme::Basic, Rejection::Missing) => r#"Basic error="missing_token""#,
            (Scheme::Basic, _) => r#"Basic error="invalid_token""#,
        };
        let mut response = Response::new(Bytes::new());
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
            .field("accepted_ids", &self.config.accepted.summary())
            .field("scheme", &self.word())
            .field("also", &self.config.also)
            .field("header_name", &self.config.header_name)
            .field("keep_token_header", &self.config.keep_token_header)
            .field("report_only", &self.config.report_only)
            .field("on_rejection", &self.config.respond.is_some())
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
    pub fn any_of<C: Into<AcceptedCredential>>(inner: S, credentials: impl IntoIterator<Item = C>) -> Self {
        ValidateTokenLayer::any_of(credentials).layer(inner)
    }

    /// Wraps `inner`, accepting whatever `set` holds. See [`ValidateTokenLayer::live`].
    #[cfg(feature = "rotation")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
    pub fn live(inner: S, set: &crate::live::LiveCredentialSet) -> Self {
        ValidateTokenLayer::live(set).layer(inner)
    }

    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ValidateToken<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let Caller { id, retiring } = match self.layer.check(request.headers_mut()) {
            Ok(caller) => caller,
            Err(rejection) if self.layer.config.report_only => {
                self.layer.report(rejection, request.headers());
                self.layer.hide_token(request.headers_mut());
                request.extensions_mut().insert(rejection);
                return ResponseFuture { state: State::Called { future: self.inner.call(request) } };
            }
            Err(rejection) => {
                let response = self.layer.reject(rejection, request.headers());
                return ResponseFuture { state: State::Rejected { response: Some(response) } };
            }
        };
        // Borrowed: tracing before 0.1.37 (this crate allows 0.1.30) takes a sized value by reference.
        #[cfg(feature = "tracing")]
        #[allow(clippy::needless_borrows_for_generic_args)]
        tracing::Span::current().record("jocloud.caller_id", &id.as_str());
        if retiring {
            #[cfg(feature = "tracing")]
            if self.layer.config.accepted.announce_retiring(id.as_str(), std::time::Instant::now()) {
                tracing::info!(
                    jocloud.caller_id = id.as_str(),
                    "jocloud requests with a key in its grace period (one event per ID per 30 s)"
                );
            }
            request.extensions_mut().insert(RetiringKey);
        }
        request.extensions_mut().insert(id);
        ResponseFuture { state: State::Called { future: self.inner.call(request) } }
    }
}

impl<S: fmt::Debug> fmt::Debug for ValidateToken<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateToken").field("inner", &self.inner).field("layer", &self.layer).finish()
    }
}

pin_project! {
    /// Response future of [`ValidateToken`]: the inner service's response, or a rejection.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] future: F },
        Rejected { response: Option<Response<Bytes>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<Bytes>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future } => future.poll(cx),
            StateProj::Rejected { response } => {
                let response = response.take().expect("ResponseFuture polled after completion");
                Poll::Ready(Ok(response.map(B::from)))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

pin_project! {
    /// A body that is either another body or a rejection's bytes: wraps a body no one can
    /// build, such as `hyper::body::Incoming`, so that [`ValidateToken`] can answer a rejection
    /// in it. See [the module docs](self#rejections).
    ///
    /// An [`http_body::Body`] with `Bytes` data, as hyper's, axum's and reqwest's are.
    ///
    /// ```
    /// use http::{Request, Response};
    /// use hyper::body::Incoming;
    /// use hyper_util::{client::legacy::Client, rt::TokioExecutor};
    /// use jocloud_auth::{validate::{ResponseBody, ValidateTokenLayer}, Credentials};
    /// use tower::ServiceBuilder;
    ///
    /// # fn main() -> Result<(), jocloud_auth::InvalidCredentials> {
    /// let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
    /// // A gateway that forwards each accepted request upstream as it came.
    /// let upstream = Client::builder(TokioExecutor::new()).build_http::<Incoming>();
    /// let gateway = ServiceBuilder::new()
    ///     .layer(ValidateTokenLayer::new(&credentials))
    ///     .map_response(|response: Response<Incoming>| response.map(ResponseBody::new))
    ///     .service(upstream);
    /// # fn serves_incoming<S: tower::Service<Request<Incoming>>>(_: &S) {}
    /// # serves_incoming(&gateway);
    /// # Ok(())
    /// # }
    /// ```
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Rejection { data: Option<Bytes> },
    }
}

impl<B> ResponseBody<B> {
    /// `body`, as it is.
    pub fn new(body: B) -> Self {
        Self { kind: Kind::Inner { body } }
    }
}

impl<B> From<Bytes> for ResponseBody<B> {
    fn from(data: Bytes) -> Self {
        Self { kind: Kind::Rejection { data: (!data.is_empty()).then_some(data) } }
    }
}

impl<B: Body<Data = Bytes>> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Rejection { data } => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Rejection { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Rejection { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64))
            }
        }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

#[cfg(feature = "axum")]
mod extract {
    use std::convert::Infallible;

    use axum_core::{
        extract::{FromRequestParts, OptionalFromRequestParts},
        response::{IntoResponse, Response},
    };
    use http::{request::Parts, StatusCode};

    use super::{AuthenticatedId, Rejection};

    /// `AuthenticatedId` as an axum extractor: `async fn handler(caller: AuthenticatedId)`.
    impl<S: Send + Sync> FromRequestParts<S> for AuthenticatedId {
        type Rejection = MissingAuthenticatedId;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            let missing =
                || MissingAuthenticatedId { let_through: parts.extensions.get::<Rejection>().copied() };
            parts.extensions.get::<AuthenticatedId>().cloned().ok_or_else(missing)
        }
    }

    /// `Option<AuthenticatedId>` as an axum extractor, for a route behind a
    /// [`report_only`](super::ValidateTokenLayer::report_only) layer: `None` for a request it
    /// let through.
    impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthenticatedId {
        type Rejection = Infallible;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<AuthenticatedId>().cloned())
        }
    }

    /// The [`AuthenticatedId`] extractor's rejection: the route has no `ValidateTokenLayer`, or
    /// one in report-only mode let an unauthenticated request through.
    ///
    /// A programming error, not the caller's: `500 Internal Server Error`, saying which and what
    /// to do.
    #[derive(Debug)]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub struct MissingAuthenticatedId {
        /// Why a report-only layer let the request through, if one did.
        let_through: Option<Rejection>,
    }

    impl IntoResponse for MissingAuthenticatedId {
        fn into_response(self) -> Response {
            let message = match self.let_through {
                Some(rejection) => format!(
                    "AuthenticatedId is missing: ValidateTokenLayer is in report-only mode and let this \
                     request through unauthenticated ({rejection}); take `Option<AuthenticatedId>` in \
                     this handler"
                ),
                None => "AuthenticatedId is missing: is ValidateTokenLayer applied to this route? (a route \
                         added after `.layer(..)` or `.route_layer(..)` is not covered)"
                    .to_owned(),
            };
            (StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::MissingAuthenticatedId;
