//! Live credential rotation: switch keys in a running service without rebuilding its stack.
//!
//! On the client, [`LiveCredentials`] is a cloneable handle; every service built from
//! [`TokenAuthLayer::live`] sends its current token, and [`LiveCredentials::rotate`] switches all
//! of them from their next request on. On the server, [`LiveCredentialSet`] does the same for
//! the credentials [`ValidateTokenLayer::live`] accepts: add the new key, later remove the old.
//!
//! Readers never lock. Each service keeps the snapshot it last used and checks, with one atomic
//! load, whether it is still current ([`arc_swap::Cache`]); a rotation publishes a new immutable
//! snapshot, so a request sees the old token or the new one, never a mix. Writers (rotations)
//! are serialised among themselves and may allocate and encode; they are rare.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use jocloud_auth::{Credentials, LiveCredentials, LiveCredentialSet, TokenAuthLayer, ValidateTokenLayer};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let old = Credentials::new("qawsedrftg", "old-secret")?;
//! let new = Credentials::new("qawsedrftg", "new-secret")?;
//!
//! // Server: accepts whatever the set holds right now.
//! let accepted = LiveCredentialSet::new([&old]);
//! let server = ValidateTokenLayer::live(&accepted)
//!     .layer(service_fn(|_: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) }));
//!
//! // Client: sends whatever the handle holds right now.
//! let credentials = LiveCredentials::new(&old);
//! let client = TokenAuthLayer::live(&credentials).layer(server);
//!
//! let request = || Request::new(String::new());
//! assert_eq!(client.clone().oneshot(request()).await?.status(), 200);
//!
//! credentials.rotate(&new); // the client now sends the new key...
//! assert_eq!(client.clone().oneshot(request()).await?.status(), 401); // ...which the server does not know yet.
//!
//! accepted.insert(&new);
//! assert_eq!(client.clone().oneshot(request()).await?.status(), 200);
//! accepted.remove(&old); // once every client has moved over
//! assert_eq!(accepted.ids(), ["qawsedrftg"]);
//! # Ok(())
//! # }
//! ```

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError},
};

use arc_swap::{cache::Cache, ArcSwap};
use http::HeaderValue;
use tower_layer::Layer;

use crate::{
    accepted::{AcceptedEntry, AcceptedSet},
    credentials::{Credentials, Scheme},
    token_auth::{sealed, TokenAuth, TokenAuthLayer, TokenSource},
    validate::{sealed as validate_sealed, AcceptedSource, ValidateToken, ValidateTokenLayer},
};

/// One snapshot of a rotating credential: its ID and its header value for every scheme.
struct TokenValues {
    id: Arc<str>,
    by_scheme: [HeaderValue; Scheme::ALL.len()],
}

impl TokenValues {
    fn new(credentials: &Credentials) -> Self {
        Self {
            id: credentials.id().into(),
            by_scheme: Scheme::ALL.map(|scheme| credentials.header_value(scheme)),
        }
    }
}

/// A handle to credentials that can be replaced while services use them. Cloning it gives
/// another handle to the same credentials.
///
/// See the [module docs](self).
#[derive(Clone)]
pub struct LiveCredentials {
    current: Arc<ArcSwap<TokenValues>>,
}

impl LiveCredentials {
    /// Starts with `credentials`.
    pub fn new(credentials: &Credentials) -> Self {
        Self { current: Arc::new(ArcSwap::from_pointee(TokenValues::new(credentials))) }
    }

    /// Makes every service built from this handle send `credentials` from its next request on.
    ///
    /// The token is encoded here, once, not per request.
    pub fn rotate(&self, credentials: &Credentials) {
        self.current.store(Arc::new(TokenValues::new(credentials)));
    }

    /// The certificate ID currently sent.
    pub fn id(&self) -> Arc<str> {
        self.current.load().id.clone()
    }
}

impl fmt::Debug for LiveCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCredentials").field("id", &self.id()).finish_non_exhaustive()
    }
}

/// The token source behind [`TokenAuthLayer::live`]: follows a [`LiveCredentials`] handle.
#[derive(Clone)]
pub struct LiveToken {
    cache: Cache<Arc<ArcSwap<TokenValues>>, Arc<TokenValues>>,
    scheme: Scheme,
}

impl TokenSource for LiveToken {}

impl sealed::TokenSource for LiveToken {
    #[inline]
    fn header_value(&mut self) -> HeaderValue {
        self.cache.load().by_scheme[self.scheme.index()].clone()
    }

    fn set_scheme(&mut self, scheme: Scheme) {
        self.scheme = scheme;
    }

    fn id(&self) -> Arc<str> {
        self.cache.arc_swap().load().id.clone()
    }
}

impl fmt::Debug for LiveToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveToken").field("id", &sealed::TokenSource::id(self)).finish_non_exhaustive()
    }
}

impl TokenAuthLayer<LiveToken> {
    /// A layer whose services send the current token of `credentials`, rotations included.
    pub fn live(credentials: &LiveCredentials) -> Self {
        Self::from_source(LiveToken {
            cache: Cache::new(credentials.current.clone()),
            scheme: Scheme::default(),
        })
    }
}

impl<S> TokenAuth<S, LiveToken> {
    /// Wraps `inner`, sending the current token of `credentials`. See [`TokenAuthLayer::live`].
    pub fn live(inner: S, credentials: &LiveCredentials) -> Self {
        TokenAuthLayer::live(credentials).layer(inner)
    }
}

/// A handle to the set of credentials a server accepts, which can change while it runs.
/// Cloning it gives another handle to the same set.
///
/// See the [module docs](self).
#[derive(Clone)]
pub struct LiveCredentialSet {
    current: Arc<ArcSwap<AcceptedSet>>,
    /// The source of truth for writers; readers only ever see `current`.
    entries: Arc<Mutex<Vec<AcceptedEntry>>>,
}

impl LiveCredentialSet {
    /// Starts with `credentials` (possibly none: then every request is rejected).
    pub fn new<'a>(credentials: impl IntoIterator<Item = &'a Credentials>) -> Self {
        let set =
            Self { current: Arc::new(ArcSwap::from_pointee(AcceptedSet::new(&[]))), entries: Arc::default() };
        set.update(|entries| {
            for credentials in credentials {
                AcceptedEntry::new(credentials).add_to(entries);
            }
        });
        set
    }

    /// Accepts `credentials` too. Returns `false` if they were accepted already.
    pub fn insert(&self, credentials: &Credentials) -> bool {
        self.update(|entries| AcceptedEntry::new(credentials).add_to(entries))
    }

    /// Stops accepting `credentials` (this ID with this secret). Returns `false` if they were not
    /// accepted.
    pub fn remove(&self, credentials: &Credentials) -> bool {
        let gone = AcceptedEntry::new(credentials);
        self.update(|entries| {
            let before = entries.len();
            entries.retain(|entry| !entry.same_credentials(&gone));
            entries.len() != before
        })
    }

    /// Stops accepting every credential with this certificate ID. Returns how many there were.
    pub fn remove_id(&self, id: &str) -> usize {
        self.update(|entries| {
            let before = entries.len();
            entries.retain(|entry| entry.id() != id);
            before - entries.len()
        })
    }

    /// The accepted certificate IDs, in the order they were added (an ID with two accepted
    /// secrets appears twice).
    pub fn ids(&self) -> Vec<String> {
        self.current.load().ids().map(str::to_owned).collect()
    }

    /// Applies `change` and publishes the result, all under the writers' lock so that
    /// concurrent changes cannot publish out of order.
    fn update<R>(&self, change: impl FnOnce(&mut Vec<AcceptedEntry>) -> R) -> R {
        // A writer that panicked left `entries` as a whole vector; carry on with it.
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let result = change(&mut entries);
        self.current.store(Arc::new(AcceptedSet::new(&entries)));
        result
    }
}

impl fmt::Debug for LiveCredentialSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCredentialSet").field("ids", &self.ids()).finish()
    }
}

/// The accepted-set source behind [`ValidateTokenLayer::live`]: follows a [`LiveCredentialSet`].
#[derive(Clone)]
pub struct LiveAcceptedTokens {
    cache: Cache<Arc<ArcSwap<AcceptedSet>>, Arc<AcceptedSet>>,
}

impl AcceptedSource for LiveAcceptedTokens {}

impl validate_sealed::AcceptedSource for LiveAcceptedTokens {
    #[inline]
    fn load(&mut self) -> &AcceptedSet {
        self.cache.load()
    }

    fn ids(&self) -> Vec<String> {
        self.cache.arc_swap().load().ids().map(str::to_owned).collect()
    }
}

impl fmt::Debug for LiveAcceptedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveAcceptedTokens")
            .field("ids", &validate_sealed::AcceptedSource::ids(self))
            .finish()
    }
}

impl ValidateTokenLayer<LiveAcceptedTokens> {
    /// A layer that accepts whatever `set` holds at the time of each request.
    pub fn live(set: &LiveCredentialSet) -> Self {
        Self::from_source(LiveAcceptedTokens { cache: Cache::new(set.current.clone()) })
    }
}

impl<S> ValidateToken<S, LiveAcceptedTokens> {
    /// Wraps `inner`, accepting whatever `set` holds. See [`ValidateTokenLayer::live`].
    pub fn live(inner: S, set: &LiveCredentialSet) -> Self {
        ValidateTokenLayer::live(set).layer(inner)
    }
}
