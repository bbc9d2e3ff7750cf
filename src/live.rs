//! Keys that rotate while services run: [`LiveCredentials`] on the client, [`LiveCredentialSet`]
//! on the server.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use arc_swap::ArcSwap;
use http::HeaderValue;

use crate::{
    accepted::{AcceptedEntry, AcceptedSet},
    credentials::{Credentials, EncodedToken, Scheme},
};

/// A client key that can be replaced while services use it. Cloning gives another handle to
/// the same key.
///
/// Every service built from [`TokenAuthLayer::live`](crate::token_auth::TokenAuthLayer::live)
/// sends the key the handle holds when the request passes through it; [`rotate`](Self::rotate)
/// switches all of them from their next request on.
///
/// Requests never lock: each reads the current snapshot with one lock-free atomic load
/// (`arc-swap`), clones its header value and lets go of it, so a request sees the old key or
/// the new one, never a mix, and a rotated-out key is freed once the last request carrying it
/// is done. No layer or service keeps a snapshot of its own. A thread's first load registers
/// it with `arc-swap`, once: an allocation, unless a thread that ended left its place free.
/// Requests allocate nothing after that.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use jocloud_auth::{token_auth::TokenAuthLayer, Credentials, LiveCredentials, TOKEN_HEADER};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let credentials = LiveCredentials::new(&Credentials::new("qawsedrftg", "old-secret")?);
/// let client = TokenAuthLayer::live(&credentials).layer(service_fn(|request: Request<()>| async move {
///     Ok::<_, Infallible>(Response::new(request.headers()[TOKEN_HEADER].clone()))
/// }));
///
/// let before = client.clone().oneshot(Request::new(())).await?.into_body();
/// credentials.rotate(&Credentials::new("qawsedrftg", "new-secret")?);
/// let after = client.oneshot(Request::new(())).await?.into_body();
/// assert_ne!(before, after);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
pub struct LiveCredentials {
    pub(crate) current: Arc<ArcSwap<Keys>>,
}

/// What a [`LiveCredentials`] holds at one moment.
pub(crate) struct Keys {
    token: EncodedToken,
    /// The key rotated out last, while a follower's grace period for it runs: see
    /// [`RetryWithPreviousKey`].
    previous: Option<EncodedToken>,
}

impl LiveCredentials {
    /// Starts with `credentials`.
    pub fn new(credentials: &Credentials) -> Self {
        let keys = Keys { token: EncodedToken::new(credentials), previous: None };
        Self { current: Arc::new(ArcSwap::from_pointee(keys)) }
    }

    /// Makes every service built from this handle send `credentials` from its next request on.
    ///
    /// The token is encoded here, once, not per request.
    pub fn rotate(&self, credentials: &Credentials) {
        self.current.store(Arc::new(Keys { token: EncodedToken::new(credentials), previous: None }));
    }

    /// [`rotate`](Self::rotate), keeping the current key as the previous one until
    /// [`forget_previous`](Self::forget_previous).
    pub(crate) fn rotate_keeping_previous(&self, credentials: &Credentials) {
        let previous = self.current.load().token.clone();
        self.current
            .store(Arc::new(Keys { token: EncodedToken::new(credentials), previous: Some(previous) }));
    }

    pub(crate) fn forget_previous(&self) {
        let token = self.current.load().token.clone();
        self.current.store(Arc::new(Keys { token, previous: None }));
    }

    /// The certificate ID currently sent.
    pub fn id(&self) -> Arc<str> {
        self.current.load().token.id.clone()
    }

    /// The header value for `scheme`, of the previous key if asked for and there is one: a
    /// lock-free load and a reference count increment.
    #[inline]
    pub(crate) fn value(&self, scheme: Scheme, previous: bool) -> HeaderValue {
        let keys = self.current.load();
        match (&keys.previous, previous) {
            (Some(previous), true) => previous.value(scheme).clone(),
            _ => keys.token.value(scheme).clone(),
        }
    }

    #[cfg(feature = "tower")]
    fn has_previous(&self) -> bool {
        self.current.load().previous.is_some()
    }
}

/// Marks a request to be sent with the previous key: see [`RetryWithPreviousKey`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct UsePreviousKey;

impl fmt::Debug for LiveCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCredentials").field("id", &self.id()).finish_non_exhaustive()
    }
}

/// The credentials a server accepts, changeable while it runs. Cloning gives another handle to
/// the same set.
///
/// Every service built from [`ValidateTokenLayer::live`](crate::validate::ValidateTokenLayer::live)
/// checks each request against what the set holds at that moment. Changes are serialised among
/// themselves and publish a new immutable snapshot; requests read it with a lock-free atomic
/// load and never wait for a change. A removed key is freed once no request is being checked
/// against a snapshot that holds it.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use jocloud_auth::{validate::ValidateTokenLayer, Credentials, LiveCredentialSet, Scheme, TOKEN_HEADER};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let old = Credentials::new("qawsedrftg", "old-secret")?;
/// let new = Credentials::new("qawsedrftg", "new-secret")?;
/// let accepted = LiveCredentialSet::new([&old]);
/// let server = ValidateTokenLayer::live(&accepted)
///     .layer(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) }));
/// let with = |credentials: &Credentials| {
///     Request::builder().header(TOKEN_HEADER, credentials.header_value(Scheme::Base)).body(()).unwrap()
/// };
///
/// accepted.insert(&new); // first the server learns the new key...
/// assert_eq!(server.clone().oneshot(with(&new)).await?.status(), StatusCode::OK);
/// accepted.remove(&old); // ...then, once every client has moved over, forgets the old one.
/// assert_eq!(server.oneshot(with(&old)).await?.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
pub struct LiveCredentialSet {
    pub(crate) shared: Arc<SetShared>,
}

pub(crate) struct SetShared {
    current: ArcSwap<AcceptedSet>,
    /// Serialises changes, so that two cannot publish out of order; requests never take it.
    writers: Mutex<()>,
}

impl LiveCredentialSet {
    /// Starts with `credentials` (possibly none: then every request is rejected).
    pub fn new<'a>(credentials: impl IntoIterator<Item = &'a Credentials>) -> Self {
        let set = AcceptedSet::with_entries(credentials.into_iter().map(AcceptedEntry::new));
        Self { shared: Arc::new(SetShared { current: ArcSwap::from_pointee(set), writers: Mutex::new(()) }) }
    }

    /// Accepts `credentials` too. Returns `false` if they were accepted already.
    pub fn insert(&self, credentials: &Credentials) -> bool {
        self.update(|set| set.insert(AcceptedEntry::new(credentials)))
    }

    /// Stops accepting `credentials` (this ID with this secret). Returns `false` if they were
    /// not accepted.
    pub fn remove(&self, credentials: &Credentials) -> bool {
        self.update(|set| set.remove(credentials))
    }

    /// Stops accepting every credential with this certificate ID. Returns how many there were.
    pub fn remove_id(&self, id: &str) -> usize {
        self.update(|set| set.remove_where(|accepted, _| accepted.as_str() == id))
    }

    /// The accepted certificate IDs, sorted (an ID with two accepted secrets appears twice).
    pub fn ids(&self) -> Vec<String> {
        self.shared.current.load().ids()
    }

    /// The current snapshot, for one request.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<AcceptedSet>> {
        self.shared.current.load()
    }

    /// Applies `change` to a copy of the current set and publishes it. The copy shares every
    /// entry with the original, so it costs a table of reference counts, not new secrets.
    fn update<R>(&self, change: impl FnOnce(&mut AcceptedSet) -> R) -> R {
        // A writer that panicked published nothing half-done; carry on.
        let _writing = self.shared.writers.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = AcceptedSet::clone(&self.shared.current.load());
        let result = change(&mut next);
        self.shared.current.store(Arc::new(next));
        result
    }
}

impl fmt::Debug for LiveCredentialSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCredentialSet").field("ids", &self.ids()).finish()
    }
}

/// A `tower` retry policy that sends a request refused with `401` once more with the previous
/// key, while a [followed](LiveCredentials::follow) rotation's grace period for that key runs.
///
/// It closes the `401` window of a client that reads a new key before the server it calls does
/// (in a cluster, each pod's secret volume is updated up to a minute apart): a `401` means the
/// request was not processed, so sending it again is safe. Put `RetryLayer::new(policy)` outside
/// the [`TokenAuthLayer::live`](crate::token_auth::TokenAuthLayer::live) layer of the same
/// `LiveCredentials`; the request body must be `Clone` (as `Full<Bytes>` is). Requires the
/// `rotation` and `tower` features.
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(all(feature = "rotation", feature = "tower"))))]
#[derive(Clone, Debug)]
pub struct RetryWithPreviousKey {
    credentials: LiveCredentials,
}

#[cfg(feature = "tower")]
impl RetryWithPreviousKey {
    /// Retries with the previous key of `credentials`.
    pub fn new(credentials: &LiveCredentials) -> Self {
        Self { credentials: credentials.clone() }
    }
}

#[cfg(feature = "tower")]
impl<B: Clone, ResBody, E> tower::retry::Policy<http::Request<B>, http::Response<ResBody>, E>
    for RetryWithPreviousKey
{
    type Future = std::future::Ready<()>;

    fn retry(
        &mut self,
        request: &mut http::Request<B>,
        result: &mut Result<http::Response<ResBody>, E>,
    ) -> Option<Self::Future> {
        let refused = matches!(result, Ok(response) if response.status() == http::StatusCode::UNAUTHORIZED);
        let retried = request.extensions().get::<UsePreviousKey>().is_some();
        if !refused || retried || !self.credentials.has_previous() {
            return None;
        }
        request.extensions_mut().insert(UsePreviousKey);
        Some(std::future::ready(()))
    }

    fn clone_request(&mut self, request: &http::Request<B>) -> Option<http::Request<B>> {
        let mut clone = http::Request::new(request.body().clone());
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.version_mut() = request.version();
        *clone.headers_mut() = request.headers().clone();
        *clone.extensions_mut() = request.extensions().clone();
        Some(clone)
    }
}
