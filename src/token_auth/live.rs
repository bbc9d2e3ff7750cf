//! A client's key that rotates while services run: [`LiveCredentials`] (feature `rotation`).

use std::{
    fmt,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use super::token::Keys;
use crate::{
    credentials::Credentials,
    current::{Current, Swap},
    follow::{spawn, Feed, FollowError, FollowOptions, Follower, Reload, DEFAULT_GRACE},
    source::{CredentialsSource, Read},
};

/// A client key that can be replaced while services use it. Cloning gives another handle to
/// the same key.
///
/// Every service built from [`TokenAuthLayer::live`](super::TokenAuthLayer::live)
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
    keys: Arc<Swap<Keys>>,
    /// How long a rotated-out key stays usable for a retry.
    grace: Duration,
}

impl LiveCredentials {
    /// Starts with `credentials`; a rotated-out key stays usable for a retry for 120 s.
    pub fn new(credentials: &Credentials) -> Self {
        Self::with_grace(credentials, DEFAULT_GRACE)
    }

    /// Starts with `credentials`; a rotated-out key stays usable for a retry for `grace`.
    ///
    /// Any `grace` is fine: one too long for the clock to add means "until the next rotation".
    pub fn with_grace(credentials: &Credentials, grace: Duration) -> Self {
        Self { keys: Arc::new(Swap::new(Keys::new(credentials))), grace }
    }

    /// Credentials read from `source` now, and kept current by a thread that follows it for as
    /// long as any handle to them is left. After a change the previous key stays usable for a
    /// retry for the grace period.
    ///
    /// # Errors
    ///
    /// [`FollowError::Load`] with what [`CredentialsSource::load`] reports for the first read
    /// (a follower starts only from good credentials), or [`FollowError::Spawn`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// use jocloud_auth::{token_auth::TokenAuthLayer, CredentialsSource, FollowOptions, LiveCredentials};
    ///
    /// // A Kubernetes Secret with keys `id` and `secret`, mounted at /var/run/secrets/jocloud.
    /// let source = CredentialsSource::dir("/var/run/secrets/jocloud");
    /// let credentials = LiveCredentials::follow(source, FollowOptions::default())?;
    /// // Followed for as long as `credentials` or this layer (or a service of it) is alive.
    /// let layer = TokenAuthLayer::live(&credentials);
    /// # Ok::<(), jocloud_auth::FollowError>(())
    /// ```
    pub fn follow(source: CredentialsSource, options: FollowOptions) -> Result<Self, FollowError> {
        let first = source.load()?;
        let credentials = Self::with_grace(&first, options.grace_period());
        let follower = Follower::new(first, ClientFeed(credentials.downgrade()));
        let describe = source.describe();
        spawn(move || source.load().map(Read::Version), describe, options, follower)?;
        Ok(credentials)
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
    fn rotate_at(&self, credentials: &Credentials, now: Instant) {
        let until = now.checked_add(self.grace);
        self.keys.update(|keys| (keys.rotate(credentials, until), ()));
    }

    /// Ends the grace period of the previous key now: no request is retried with it any more.
    pub fn forget_previous(&self) {
        self.keys.update(|keys| (keys.forget_previous(), ()));
    }

    /// The certificate ID sent now.
    pub fn id(&self) -> String {
        self.keys.load().id().to_owned()
    }

    /// What a layer holds of these credentials: their current snapshot at each request.
    pub(super) fn current(&self) -> Current<Keys> {
        Current::Live(self.keys.clone())
    }

    /// A handle that does not keep the credentials alive, for a follower.
    fn downgrade(&self) -> WeakCredentials {
        WeakCredentials { keys: Arc::downgrade(&self.keys), grace: self.grace }
    }
}

impl fmt::Debug for LiveCredentials {
    /// The IDs only, and until when the previous key stays usable (`None`: for ever).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys.load();
        f.debug_struct("LiveCredentials").field("id", &keys.id()).field("previous", &keys.previous()).finish()
    }
}

/// A [`LiveCredentials`] that does not keep it alive.
struct WeakCredentials {
    keys: Weak<Swap<Keys>>,
    grace: Duration,
}

impl WeakCredentials {
    /// The credentials, while any handle to them is left.
    fn upgrade(&self) -> Option<LiveCredentials> {
        self.keys.upgrade().map(|keys| LiveCredentials { keys, grace: self.grace })
    }
}

/// A client's key: the previous one carries its own grace period.
struct ClientFeed(WeakCredentials);

impl Feed for ClientFeed {
    type Version = Credentials;

    fn same(one: &Credentials, other: &Credentials) -> bool {
        one.same_as(other)
    }

    fn publish(&mut self, old: &Credentials, new: &Credentials, now: Instant) -> Option<Reload> {
        self.0.upgrade()?.rotate_at(new, now);
        let replaced = usize::from(old.id() == new.id());
        Some(Reload { added: 1 - replaced, replaced, removed: 1 - replaced, total: 1 })
    }

    fn expire(&mut self, _: Instant) -> bool {
        self.0.upgrade().is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::{io, path::PathBuf};

    use http::HeaderValue;

    use super::*;
    #[cfg(any(feature = "tower", feature = "reqwest"))]
    use crate::token_auth::TokenAuthLayer;
    use crate::{
        credentials::Scheme,
        error::{LoadError, LoadProblem},
        follow::Step,
    };

    fn key(secret: &str) -> Credentials {
        Credentials::new("id", secret).unwrap()
    }

    fn value(secret: &str) -> HeaderValue {
        key(secret).header_value(Scheme::Base)
    }

    fn missing(path: &str) -> LoadError {
        LoadError::File { path: PathBuf::from(path), problem: LoadProblem::Io(io::ErrorKind::NotFound) }
    }

    const GRACE: Duration = Duration::from_secs(10);

    impl LiveCredentials {
        /// The header value sent now for `scheme`.
        fn value(&self, scheme: Scheme) -> HeaderValue {
            self.keys.load().value(scheme).clone()
        }

        /// The previous key's value and until when it is usable.
        fn previous(&self) -> Option<(HeaderValue, Option<Instant>)> {
            let keys = self.keys.load();
            Some((keys.previous_value(Scheme::Base)?.clone(), keys.previous()?.1))
        }
    }

    fn client(secret: &str) -> (LiveCredentials, Follower<ClientFeed>) {
        let credentials = LiveCredentials::with_grace(&key(secret), GRACE);
        let follower = Follower::new(key(secret), ClientFeed(credentials.downgrade()));
        (credentials, follower)
    }

    fn read(secret: &str) -> Result<Read<Credentials>, LoadError> {
        Ok(Read::Version(key(secret)))
    }

    #[test]
    fn a_change_is_published_once_two_reads_agree() {
        let (credentials, mut follower) = client("a");
        let t0 = Instant::now();
        assert_eq!(follower.step(read("b"), t0), Step::Continue);
        assert_eq!(credentials.value(Scheme::Base), value("a"), "one read is not enough");
        // A read that disagrees starts over.
        assert_eq!(follower.step(read("c"), t0), Step::Continue);
        assert_eq!(follower.step(read("b"), t0), Step::Continue);
        assert_eq!(credentials.value(Scheme::Base), value("a"));
        let reload = Reload { added: 0, replaced: 1, removed: 0, total: 1 };
        assert_eq!(follower.step(read("b"), t0), Step::Reloaded(reload));
        assert_eq!(credentials.value(Scheme::Base), value("b"));
        // An error between two reads of a change starts over too.
        follower.step(read("c"), t0);
        follower.step(Err(missing("/x")), t0);
        follower.step(read("c"), t0);
        assert_eq!(credentials.value(Scheme::Base), value("b"));
        follower.step(read("c"), t0);
        assert_eq!(credentials.value(Scheme::Base), value("c"));
    }

    #[test]
    fn the_clients_previous_key_is_usable_for_the_grace_period() {
        let (credentials, mut follower) = client("a");
        let t0 = Instant::now();
        follower.step(read("b"), t0);
        follower.step(read("b"), t0);
        let previous = credentials.previous().expect("the replaced key is kept");
        assert_eq!(previous, (value("a"), Some(t0 + GRACE)));
        assert_eq!(credentials.value(Scheme::Base), value("b"));
    }

    #[test]
    fn each_distinct_error_is_reported_once() {
        let (_credentials, mut follower) = client("a");
        let t0 = Instant::now();
        assert_eq!(follower.step(Err(missing("/x")), t0), Step::Report(missing("/x")));
        assert_eq!(follower.step(Err(missing("/x")), t0), Step::Continue);
        assert_eq!(follower.step(Err(missing("/y")), t0), Step::Report(missing("/y")));
        assert_eq!(follower.step(Err(missing("/x")), t0), Step::Report(missing("/x")));
        // A good read in between: the same problem again is news again.
        assert_eq!(follower.step(read("a"), t0), Step::Continue);
        assert_eq!(follower.step(Err(missing("/x")), t0), Step::Report(missing("/x")));
    }

    #[test]
    fn a_follower_with_nothing_left_to_feed_is_gone() {
        let t0 = Instant::now();
        let (credentials, mut follower) = client("a");
        drop(credentials);
        assert_eq!(follower.step(read("a"), t0), Step::Gone);
    }

    fn numbered(n: usize) -> Credentials {
        Credentials::new("id", format!("secret-{n}")).unwrap()
    }

    /// A writer that ends a grace period while another rotates: every rotation stays in force
    /// until the next, and none is undone by the other writer's older view.
    #[test]
    fn concurrent_writers_lose_no_update() {
        const ROTATIONS: usize = 3000;
        let credentials = LiveCredentials::new(&numbered(0));
        let done = std::sync::atomic::AtomicBool::new(false);
        let mut undone = Vec::new();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    credentials.forget_previous();
                }
            });
            for n in 1..=ROTATIONS {
                credentials.rotate(&numbered(n));
                let expected = numbered(n).header_value(Scheme::Base);
                if (0..3).any(|_| credentials.value(Scheme::Base) != expected) {
                    undone.push(n);
                }
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        assert_eq!(undone, Vec::<usize>::new(), "rotations undone by the other writer");
    }

    #[test]
    fn rotating_by_hand_keeps_the_previous_key_for_the_grace_period() {
        let grace = Duration::from_secs(30);
        let credentials = LiveCredentials::with_grace(&numbered(0), grace);
        let t0 = Instant::now();
        assert!(credentials.previous().is_none(), "no previous key yet");
        credentials.rotate_at(&numbered(1), t0);
        let zero = numbered(0).header_value(Scheme::Base);
        assert_eq!(credentials.previous(), Some((zero.clone(), Some(t0 + grace))));
        // Rotating to the current key changes nothing.
        credentials.rotate_at(&numbered(1), t0 + grace);
        assert_eq!(credentials.previous(), Some((zero, Some(t0 + grace))));
        credentials.forget_previous();
        assert_eq!(credentials.previous(), None);
        assert_eq!(credentials.value(Scheme::Basic), numbered(1).header_value(Scheme::Basic));
    }

    /// The previous-key retry's rule (`Token::previous_value`), with live keys and the clock
    /// injected: the previous key is used only for a request that carried exactly the current
    /// key, within the grace period.
    #[cfg(any(feature = "tower", feature = "reqwest"))]
    fn sent(credentials: &Credentials) -> http::HeaderMap {
        http::HeaderMap::from_iter([(
            crate::credentials::TOKEN_HEADER,
            credentials.header_value(Scheme::Base),
        )])
    }

    #[cfg(any(feature = "tower", feature = "reqwest"))]
    #[test]
    fn the_previous_key_is_used_within_its_grace_period_only() {
        let grace = Duration::from_secs(30);
        let credentials = LiveCredentials::with_grace(&numbered(0), grace);
        let token = TokenAuthLayer::live(&credentials).token().clone();
        let zero = numbered(0).header_value(Scheme::Base);
        let t0 = Instant::now();
        assert_eq!(token.previous_value(&sent(&numbered(0)), t0), None, "no previous key yet");
        credentials.rotate_at(&numbered(1), t0);
        assert_eq!(token.previous_value(&sent(&numbered(1)), t0 + grace / 2), Some(zero.clone()));
        assert_eq!(token.previous_value(&sent(&numbered(1)), t0 + grace), None, "the grace period is over");
        assert_eq!(
            token.previous_value(&sent(&numbered(0)), t0),
            None,
            "only a request with the current key"
        );
        let mut twice = sent(&numbered(1));
        twice.append(crate::credentials::TOKEN_HEADER, numbered(1).header_value(Scheme::Base));
        assert_eq!(token.previous_value(&twice, t0), None, "only a request with one token header");
        // Rotating to the current key changes nothing; forgetting ends the grace period.
        credentials.rotate_at(&numbered(1), t0 + grace);
        assert_eq!(token.previous_value(&sent(&numbered(1)), t0), Some(zero));
        credentials.forget_previous();
        assert_eq!(token.previous_value(&sent(&numbered(1)), t0), None);
        let fixed = TokenAuthLayer::new(&numbered(1)).token().clone();
        assert_eq!(fixed.previous_value(&sent(&numbered(1)), t0), None, "a static key");
    }

    #[cfg(any(feature = "tower", feature = "reqwest"))]
    #[test]
    fn a_grace_too_long_for_the_clock_never_ends() {
        let credentials = LiveCredentials::with_grace(&numbered(0), Duration::MAX);
        let t0 = Instant::now();
        credentials.rotate_at(&numbered(1), t0);
        let far = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
        let token = TokenAuthLayer::live(&credentials).token().clone();
        assert_eq!(
            token.previous_value(&sent(&numbered(1)), far),
            Some(numbered(0).header_value(Scheme::Base))
        );
    }

    #[cfg(any(feature = "tower", feature = "reqwest"))]
    #[test]
    fn only_a_401_is_retried_and_with_the_previous_key() {
        let credentials = LiveCredentials::new(&numbered(0));
        credentials.rotate(&numbered(1));
        let token = TokenAuthLayer::live(&credentials).token().clone();
        let mut headers = sent(&numbered(1));
        assert!(token.may_retry(&headers));
        assert!(!token.use_previous_key(http::StatusCode::FORBIDDEN, &mut headers));
        assert_eq!(headers, sent(&numbered(1)));
        assert!(token.use_previous_key(http::StatusCode::UNAUTHORIZED, &mut headers));
        assert_eq!(headers, sent(&numbered(0)));
        assert!(
            !token.use_previous_key(http::StatusCode::UNAUTHORIZED, &mut headers),
            "a retry is not retried"
        );
    }
}
