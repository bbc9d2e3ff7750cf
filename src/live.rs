//! Keys that rotate while services run: [`LiveCredentials`] on the client, [`LiveCredentialSet`]
//! on the server.

use std::{
    fmt,
    sync::{Arc, Mutex, PoisonError, Weak},
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use http::HeaderValue;

use crate::{
    accepted::{AcceptedEntry, AcceptedSet, Inserted},
    credentials::{AcceptedCredential, Credentials, EncodedToken, Scheme},
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
/// let request = || Request::get("https://ai.jocloud.com/").body(());
/// let before = client.clone().oneshot(request()?).await?.into_body();
/// credentials.rotate(&Credentials::new("qawsedrftg", "new-secret")?);
/// let after = client.oneshot(request()?).await?.into_body();
/// assert_ne!(before, after);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
pub struct LiveCredentials {
    shared: Arc<ClientShared>,
}

struct ClientShared {
    keys: ArcSwap<Keys>,
    /// Serialises changes (a `rotate` by hand, a follower's), so that none is lost between its
    /// load and its store; requests never take it.
    writers: Mutex<()>,
    /// How long a rotated-out key stays usable for a retry.
    grace: Duration,
}

/// What a [`LiveCredentials`] holds at one moment.
pub(crate) struct Keys {
    pub(crate) token: EncodedToken,
    /// The key rotated out last, for the previous-key retry (`previous_key`) until the grace
    /// period ends.
    pub(crate) previous: Option<Previous>,
}

pub(crate) struct Previous {
    pub(crate) token: EncodedToken,
    /// `None`: a grace period too long for the clock to represent, which never ends.
    pub(crate) until: Option<Instant>,
}

/// How long a rotated-out key stays usable, unless told otherwise: twice the minute by which
/// the kubelet's updates of one Secret can reach two pods apart.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(120);

impl LiveCredentials {
    /// Starts with `credentials`; a rotated-out key stays usable for a retry for 120 s.
    pub fn new(credentials: &Credentials) -> Self {
        Self::with_grace(credentials, DEFAULT_GRACE)
    }

    /// Starts with `credentials`; a rotated-out key stays usable for a retry for `grace`.
    ///
    /// Any `grace` is fine: one too long for the clock to add means "until the next rotation".
    pub fn with_grace(credentials: &Credentials, grace: Duration) -> Self {
        let keys = Keys { token: EncodedToken::new(credentials), previous: None };
        let shared = ClientShared { keys: ArcSwap::from_pointee(keys), writers: Mutex::new(()), grace };
        Self { shared: Arc::new(shared) }
    }

    /// Makes every service built from this handle send `credentials` from its next request on,
    /// and keeps the key it replaces as the previous one for the grace period.
    ///
    /// Rotating by hand is then as safe as following a source, in either order: if the server
    /// has not learnt the new key yet, a request it refuses with `401` is sent once more with
    /// the previous key, by `retry::RetryWithPreviousKey` (features `rotation` and `tower`) on a
    /// tower stack or by the client of `reqwest::client_builder` (feature `reqwest`).
    /// Rotating to the key already current changes nothing.
    ///
    /// The token is encoded here, once, not per request. Concurrent rotations (by hand, by a
    /// follower) are serialised: each takes effect whole, and none is lost.
    pub fn rotate(&self, credentials: &Credentials) {
        self.rotate_at(credentials, Instant::now());
    }

    /// [`rotate`](Self::rotate), with the clock read by the caller.
    pub(crate) fn rotate_at(&self, credentials: &Credentials, now: Instant) {
        let new = EncodedToken::new(credentials);
        self.update(|keys| {
            if keys.token.same_as(&new) {
                return None;
            }
            let until = now.checked_add(self.shared.grace);
            Some(Keys { token: new, previous: Some(Previous { token: keys.token.clone(), until }) })
        });
    }

    /// Ends the grace period of the previous key now: no request is retried with it any more.
    pub fn forget_previous(&self) {
        self.update(|keys| {
            keys.previous.is_some().then(|| Keys { token: keys.token.clone(), previous: None })
        });
    }

    /// Publishes what `change` makes of the current keys, if anything, with no other writer in
    /// between.
    fn update(&self, change: impl FnOnce(&Keys) -> Option<Keys>) {
        // A writer that panicked published nothing half-done; carry on.
        let _writing = self.shared.writers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(next) = change(&self.shared.keys.load()) {
            self.shared.keys.store(Arc::new(next));
        }
    }

    /// The certificate ID currently sent.
    pub fn id(&self) -> Arc<str> {
        self.keys().token.id.clone()
    }

    /// The header value for `scheme`: a lock-free load and a reference count increment.
    #[inline]
    pub(crate) fn value(&self, scheme: Scheme) -> HeaderValue {
        self.keys().token.value(scheme).clone()
    }

    /// The keys now: a lock-free load.
    #[inline]
    pub(crate) fn keys(&self) -> arc_swap::Guard<Arc<Keys>> {
        self.shared.keys.load()
    }

    /// A handle that does not keep the credentials alive, for a follower.
    pub(crate) fn downgrade(&self) -> WeakCredentials {
        WeakCredentials(Arc::downgrade(&self.shared))
    }
}

/// A [`LiveCredentials`] that does not keep it alive.
pub(crate) struct WeakCredentials(Weak<ClientShared>);

impl WeakCredentials {
    /// The credentials, while any handle to them is left.
    pub(crate) fn upgrade(&self) -> Option<LiveCredentials> {
        self.0.upgrade().map(|shared| LiveCredentials { shared })
    }
}

impl fmt::Debug for LiveCredentials {
    /// The IDs only, and until when the previous key stays usable (`None`: for ever).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys();
        let previous = keys.previous.as_ref().map(|previous| (&previous.token.id, previous.until));
        f.debug_struct("LiveCredentials").field("id", &keys.token.id).field("previous", &previous).finish()
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
/// use http_body_util::Full;
/// use jocloud_auth::{validate::ValidateTokenLayer, Credentials, LiveCredentialSet, Scheme, TOKEN_HEADER};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let old = Credentials::new("qawsedrftg", "old-secret")?;
/// let new = Credentials::new("qawsedrftg", "new-secret")?;
/// let accepted = LiveCredentialSet::new([&old]);
/// let server = ValidateTokenLayer::live(&accepted)
///     .layer(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(Full::<bytes::Bytes>::default())) }));
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
    shared: Arc<SetShared>,
}

struct SetShared {
    current: ArcSwap<AcceptedSet>,
    /// Serialises changes, so that two cannot publish out of order; requests never take it.
    writers: Mutex<()>,
}

impl LiveCredentialSet {
    /// Starts with `credentials` (possibly none: then every request is rejected): each a
    /// [`Credentials`], or an [`AcceptedCredential`] held by secret or by digest.
    pub fn new<C: Into<AcceptedCredential>>(credentials: impl IntoIterator<Item = C>) -> Self {
        let set = AcceptedSet::with_entries(credentials.into_iter().map(|c| AcceptedEntry::new(&c.into())));
        Self { shared: Arc::new(SetShared { current: ArcSwap::from_pointee(set), writers: Mutex::new(()) }) }
    }

    /// Accepts `credentials` too. Returns `false` if they were accepted already.
    pub fn insert(&self, credential: impl Into<AcceptedCredential>) -> bool {
        let entry = AcceptedEntry::new(&credential.into());
        self.update(|set| {
            let inserted = set.insert(entry);
            (inserted == Inserted::New, inserted != Inserted::Known)
        })
    }

    /// Stops accepting `credentials` (this ID with this secret). Returns `false` if they were
    /// not accepted.
    pub fn remove(&self, credential: impl Into<AcceptedCredential>) -> bool {
        let credential = credential.into();
        self.update(|set| {
            let removed = set.remove(&credential);
            (removed, removed)
        })
    }

    /// Stops accepting every credential with this certificate ID, from the next request on:
    /// the current key and any still in a follower's grace period. This is how to revoke a
    /// leaked key at once. Returns how many there were.
    ///
    /// A follower adds a key for this ID again only when its source changes that customer's
    /// key (or adds the customer back), so remove the customer from the source too.
    pub fn remove_id(&self, id: &str) -> usize {
        self.update(|set| {
            let removed = set.remove_where(|accepted| accepted == id);
            (removed, removed > 0)
        })
    }

    /// The accepted certificate IDs, each once (also while a key of one is in its grace
    /// period), sorted.
    pub fn ids(&self) -> Vec<String> {
        self.shared.current.load().ids()
    }

    /// How many certificate IDs (customers) are accepted.
    pub fn id_count(&self) -> usize {
        self.shared.current.load().id_count()
    }

    /// Applies a follower's `change` as one new snapshot.
    pub(crate) fn apply(&self, change: SetChange<'_>) {
        self.update(|set| {
            let mut changed = false;
            for credential in change.insert {
                changed |= set.insert(AcceptedEntry::new(credential)) != Inserted::Known;
            }
            for credential in change.retire {
                changed |= set.retire(credential);
            }
            for credential in &change.remove {
                changed |= set.remove(credential);
            }
            ((), changed)
        });
    }

    /// A handle that does not keep the set alive, for a follower.
    pub(crate) fn downgrade(&self) -> WeakSet {
        WeakSet(Arc::downgrade(&self.shared))
    }

    /// The current snapshot, for one request.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<AcceptedSet>> {
        self.shared.current.load()
    }

    /// Applies `change` to a copy of the current set and publishes it, if `change` says it
    /// changed anything. The copy shares every entry with the original, so it costs a table of
    /// reference counts, not new secrets.
    fn update<R>(&self, change: impl FnOnce(&mut AcceptedSet) -> (R, bool)) -> R {
        // A writer that panicked published nothing half-done; carry on.
        let _writing = self.shared.writers.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = AcceptedSet::clone(&self.shared.current.load());
        let (result, changed) = change(&mut next);
        if changed {
            self.shared.current.store(Arc::new(next));
        }
        result
    }
}

/// What a follower changes in a [`LiveCredentialSet`] at once.
#[derive(Default)]
pub(crate) struct SetChange<'a> {
    /// Keys to accept (again, if they were retiring).
    pub(crate) insert: Vec<&'a AcceptedCredential>,
    /// Keys still accepted, in their grace period.
    pub(crate) retire: Vec<&'a AcceptedCredential>,
    /// Keys to refuse.
    pub(crate) remove: Vec<AcceptedCredential>,
}

/// A [`LiveCredentialSet`] that does not keep it alive.
pub(crate) struct WeakSet(Weak<SetShared>);

impl WeakSet {
    /// The set, while any handle to it is left.
    pub(crate) fn upgrade(&self) -> Option<LiveCredentialSet> {
        self.0.upgrade().map(|shared| LiveCredentialSet { shared })
    }
}

impl fmt::Debug for LiveCredentialSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCredentialSet").field("ids", &self.load().summary()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: usize) -> Credentials {
        Credentials::new("id", format!("secret-{n}")).unwrap()
    }

    /// A writer that ends a grace period while another rotates: every rotation stays in force
    /// until the next, and none is undone by the other writer's older view.
    #[test]
    fn concurrent_writers_lose_no_update() {
        const ROTATIONS: usize = 3000;
        let credentials = LiveCredentials::new(&key(0));
        let done = std::sync::atomic::AtomicBool::new(false);
        let mut undone = Vec::new();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    credentials.forget_previous();
                }
            });
            for n in 1..=ROTATIONS {
                credentials.rotate(&key(n));
                let expected = key(n).header_value(Scheme::Base);
                if (0..3).any(|_| credentials.value(Scheme::Base) != expected) {
                    undone.push(n);
                }
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(undone, Vec::<usize>::new(), "rotations undone by the other writer");
    }

    /// A call that changes nothing publishes no snapshot: requests keep the one they have.
    #[test]
    fn a_set_publishes_only_what_changes() {
        let set = LiveCredentialSet::new([&key(0)]);
        // Held, so that no later snapshot can take the address of an earlier one.
        let snapshot = || set.shared.current.load_full();
        let first = snapshot();
        assert!(!set.insert(key(0)) && Arc::ptr_eq(&snapshot(), &first), "accepted already");
        assert!(!set.remove(key(1)) && Arc::ptr_eq(&snapshot(), &first), "not accepted");
        assert!(set.remove_id("unknown") == 0 && Arc::ptr_eq(&snapshot(), &first));
        let one = AcceptedCredential::from(key(1));
        set.apply(SetChange { retire: vec![&one], ..SetChange::default() });
        assert!(Arc::ptr_eq(&snapshot(), &first), "retiring what is not accepted");
        assert!(set.insert(key(1)));
        let second = snapshot();
        assert!(!Arc::ptr_eq(&second, &first));
        set.apply(SetChange { retire: vec![&one], ..SetChange::default() });
        let third = snapshot();
        assert!(!Arc::ptr_eq(&third, &second), "a key now retiring");
        assert!(!set.insert(key(1)), "accepted already, no longer retiring");
        assert!(!Arc::ptr_eq(&snapshot(), &third));
    }

    #[test]
    fn rotating_by_hand_keeps_the_previous_key_for_the_grace_period() {
        let grace = Duration::from_secs(30);
        let credentials = LiveCredentials::with_grace(&key(0), grace);
        let t0 = Instant::now();
        assert!(credentials.keys().previous.is_none(), "no previous key yet");
        credentials.rotate_at(&key(1), t0);
        let previous = |credentials: &LiveCredentials| {
            let keys = credentials.keys();
            keys.previous
                .as_ref()
                .map(|previous| (previous.token.value(Scheme::Base).clone(), previous.until))
        };
        assert_eq!(previous(&credentials), Some((key(0).header_value(Scheme::Base), Some(t0 + grace))));
        // Rotating to the current key changes nothing.
        credentials.rotate_at(&key(1), t0 + grace);
        assert_eq!(previous(&credentials), Some((key(0).header_value(Scheme::Base), Some(t0 + grace))));
        credentials.forget_previous();
        assert_eq!(previous(&credentials), None);
        assert_eq!(credentials.value(Scheme::Basic), key(1).header_value(Scheme::Basic));
    }
}
