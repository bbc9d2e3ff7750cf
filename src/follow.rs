//! Following a [`CredentialsSource`] while services run: [`LiveCredentials::follow`] and
//! [`LiveCredentialSet::follow`].
//!
//! One thread per follower reads the source every `interval` (plain polling, on purpose: see
//! [`FollowOptions`]) and publishes a changed key once two consecutive reads agree, so a read
//! torn between two versions, or a file caught half-written, is never published. Bad content
//! (a missing, empty, invalid or half-written file, something other than a file at the path, a
//! deleted directory) keeps the last good key, is reported, and is tried again at the next
//! poll; no read can block (see [`CredentialsSource::load`]).
//!
//! There is no guard to keep: the follower holds what it feeds weakly, and its thread ends at
//! its first poll after the last handle (and every layer and service built from one) is gone.
//! A follower that stops for any other reason says so through
//! [`on_error`](FollowOptions::on_error) with [`FollowError::Stopped`].

use std::{
    error::Error,
    fmt, io,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    error::LoadError,
    live::{SetChange, WeakCredentials, WeakSet, DEFAULT_GRACE},
    source::Seen,
    CredentialSetSource, Credentials, CredentialsSource, LiveCredentialSet, LiveCredentials,
};

/// How to follow a [`CredentialsSource`].
///
/// - `interval` (default 500 ms, kept between 1 ms and one hour): how often the source is read.
///   A change is published at the second read that sees it, so it is live within two
///   intervals: one second by default. Why polling and not file-system events: the kubelet
///   updates a Secret volume by swapping a `..data` symlink, which a watch on the files
///   themselves never sees, and NFS and other network file systems have no events at all; so
///   events would still need this poll as a safety net, and two small reads twice a second
///   cost next to nothing.
/// - `grace` (default 120 s; any value, one too long for the clock meaning "until the next
///   change"): how long the previous key stays usable after a change. A followed
///   [`LiveCredentialSet`] keeps accepting it, for clients that have not read the new key yet;
///   a followed [`LiveCredentials`] keeps it for the retry with the previous key, for servers
///   that have not. The kubelet refreshes each pod's volume within about a minute of the change
///   (its sync period), so pods of one deployment can be a minute apart; the default is twice
///   that.
/// - `on_error`: called with each new problem reading the source (once per distinct problem,
///   not at every poll), never with any content, and with [`FollowError::Stopped`] if the
///   follower ever stops for another reason than its handles being gone. With the `tracing`
///   feature, each is also a `WARN` event (`ERROR` for a stop).
#[derive(Clone)]
pub struct FollowOptions {
    interval: Duration,
    grace: Duration,
    on_error: Option<Report>,
}

type Report = Arc<dyn Fn(&FollowError) + Send + Sync>;

const MIN_INTERVAL: Duration = Duration::from_millis(1);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

impl Default for FollowOptions {
    fn default() -> Self {
        Self { interval: Duration::from_millis(500), grace: DEFAULT_GRACE, on_error: None }
    }
}

impl FollowOptions {
    /// Reads the source every `interval`, kept between 1 ms and one hour.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.clamp(MIN_INTERVAL, MAX_INTERVAL);
        self
    }

    /// Keeps the previous key usable for `grace` after a change.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Calls `report` with each new problem reading the source, and if the follower stops.
    #[must_use]
    pub fn on_error(mut self, report: impl Fn(&FollowError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(report));
        self
    }
}

impl fmt::Debug for FollowOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FollowOptions")
            .field("interval", &self.interval)
            .field("grace", &self.grace)
            .field("on_error", &self.on_error.is_some())
            .finish()
    }
}

/// What went wrong following a source: returned by `follow`, or reported to
/// [`on_error`](FollowOptions::on_error).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FollowError {
    /// The source could not be read, or holds no valid credentials. From `follow`: nothing was
    /// started. Reported: the last good key stays, and the source is read again at the next
    /// poll.
    Load(LoadError),
    /// The follower's thread could not be started (from `follow` only).
    Spawn(io::ErrorKind),
    /// The follower stopped (reported only): keys are no longer reloaded from the source.
    Stopped,
}

impl fmt::Display for FollowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Load(error) => write!(f, "{error}"),
            Self::Spawn(kind) => {
                write!(f, "cannot start the thread that follows jocloud credentials: {kind}")
            }
            Self::Stopped => {
                f.write_str("the jocloud credentials follower stopped; keys are no longer reloaded")
            }
        }
    }
}

impl Error for FollowError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Load(error) => Some(error),
            Self::Spawn(_) | Self::Stopped => None,
        }
    }
}

impl From<LoadError> for FollowError {
    fn from(error: LoadError) -> Self {
        Self::Load(error)
    }
}

impl LiveCredentials {
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
        let credentials = Self::with_grace(&first, options.grace);
        let follower = Follower::new(first, ClientFeed(credentials.downgrade()));
        let describe = source.describe();
        spawn(move || source.load().map(Some), describe, options, follower)?;
        Ok(credentials)
    }
}

impl LiveCredentialSet {
    /// A set accepting the credentials read from `source` now, kept current by a thread that
    /// follows it for as long as any handle to the set is left.
    ///
    /// `source` is one credential ([`CredentialsSource`]) or many ([`CredentialSetSource`]).
    /// Each change applies as a difference, in one step: a key that is new is accepted, and
    /// every other credential is untouched, so no request of theirs fails on the way.
    ///
    /// - A key replaced by another for its certificate ID (and, from a source of one
    ///   credential, any replaced key) stays accepted for the grace period, for clients that
    ///   have not read the new key yet; a request that uses it carries
    ///   [`RetiringKey`](crate::validate::RetiringKey).
    /// - A certificate ID that is gone from a source of many is refused from the next request
    ///   on, with any of its keys still in a grace period: that is how an operator revokes a
    ///   customer. ([`remove_id`](Self::remove_id) does it by hand.)
    ///
    /// Requests never wait on a change: it is read, compared and applied on the follower's
    /// thread, and published as one new snapshot. The memory a followed set takes per
    /// credential, its first load and how soon a change is live, measured for 100,000
    /// customers, are in `benches/README.md` ("A gateway's 100,000 customers").
    ///
    /// # Errors
    ///
    /// As [`LiveCredentials::follow`], with what [`CredentialSetSource::load`] reports.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use jocloud_auth::{validate::ValidateTokenLayer, CredentialSetSource, FollowOptions, LiveCredentialSet};
    ///
    /// // A Secret with a key per customer (its ID) holding that customer's secret.
    /// let source = CredentialSetSource::dir("/var/run/secrets/customers");
    /// let accepted = LiveCredentialSet::follow(source, FollowOptions::default())?;
    /// let layer = ValidateTokenLayer::live(&accepted);
    /// # Ok::<(), jocloud_auth::FollowError>(())
    /// ```
    pub fn follow(
        source: impl Into<CredentialSetSource>,
        options: FollowOptions,
    ) -> Result<Self, FollowError> {
        let source = source.into();
        let mut seen = Seen::default();
        // With nothing seen before, the first read is whatever is there.
        let first = source.load_unless_seen(&mut seen)?.unwrap_or_default();
        let set = Self::new(&first);
        let feed = SetFeed {
            set: set.downgrade(),
            grace: options.grace,
            one: source.is_one(),
            retiring: Vec::new(),
        };
        let follower = Follower::new(first, feed);
        let describe = source.describe();
        spawn(move || source.load_unless_seen(&mut seen), describe, options, follower)?;
        Ok(set)
    }
}

/// Starts the thread that reads the source with `read` every interval and feeds `follower`
/// what it read.
fn spawn<F: Feed + Send + 'static>(
    mut read: impl FnMut() -> Result<Option<F::Version>, LoadError> + Send + 'static,
    describe: String,
    options: FollowOptions,
    mut follower: Follower<F>,
) -> Result<(), FollowError>
where
    F::Version: Send,
{
    let interval = options.interval;
    std::thread::Builder::new()
        .name("jocloud-auth-follow".into())
        .spawn(move || {
            run(
                || std::thread::sleep(interval),
                |now| follower.step(read(), now),
                |error| report(&describe, error, options.on_error.as_deref()),
                |reload| announce(&describe, reload),
            )
        })
        .map(drop)
        .map_err(|error| FollowError::Spawn(error.kind()))
}

/// The follower's loop: wait, take a step, report; until the step says nothing is left to
/// feed, or panics, which is reported as [`FollowError::Stopped`].
fn run(
    mut wait: impl FnMut(),
    mut step: impl FnMut(Instant) -> Step,
    report: impl Fn(&FollowError),
    reloaded: impl Fn(&Reload),
) {
    loop {
        wait();
        match catch_unwind(AssertUnwindSafe(|| step(Instant::now()))) {
            Ok(Step::Continue) => {}
            Ok(Step::Reloaded(reload)) => reloaded(&reload),
            Ok(Step::Report(error)) => report(&FollowError::Load(error)),
            Ok(Step::Gone) => return,
            Err(_) => return report(&FollowError::Stopped),
        }
    }
}

/// What one step of a follower leads to.
#[derive(Debug, PartialEq)]
enum Step {
    Continue,
    /// A new version was published.
    Reloaded(Reload),
    /// A new problem with the source, to be reported.
    Report(LoadError),
    /// Every handle to what the follower feeds is gone.
    Gone,
}

/// What a published version changed, counted in certificate IDs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Reload {
    /// IDs that are new.
    added: usize,
    /// IDs whose key changed (the old one in its grace period).
    replaced: usize,
    /// IDs that are gone, refused from now on.
    removed: usize,
    /// IDs accepted now.
    total: usize,
}

/// What a follower feeds, held weakly so that the follower ends when every handle is gone.
trait Feed {
    /// What one read of the source gives.
    type Version;

    fn same(one: &Self::Version, other: &Self::Version) -> bool;

    /// Makes `new` current in place of `old`, and says what changed; `None` once nothing is
    /// left to feed.
    fn publish(&mut self, old: &Self::Version, new: &Self::Version, now: Instant) -> Option<Reload>;

    /// Ends the grace periods that are over at `now`; `false` once nothing is left to feed.
    fn expire(&mut self, now: Instant) -> bool;
}

/// The follower's state, fed one read at a time with the time of the read.
struct Follower<F: Feed> {
    current: F::Version,
    /// A changed version seen at the last read, published if the next read agrees.
    candidate: Option<F::Version>,
    last_error: Option<LoadError>,
    feed: F,
}

impl<F: Feed> Follower<F> {
    fn new(current: F::Version, feed: F) -> Self {
        Self { current, candidate: None, last_error: None, feed }
    }

    /// Takes in one read of the source, made at `now`: a version, or `None` for the very
    /// version of the last read (a kubelet volume's, which is never changed).
    fn step(&mut self, read: Result<Option<F::Version>, LoadError>, now: Instant) -> Step {
        if !self.feed.expire(now) {
            return Step::Gone;
        }
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                self.candidate = None;
                if self.last_error.as_ref() == Some(&error) {
                    return Step::Continue;
                }
                self.last_error = Some(error.clone());
                return Step::Report(error);
            }
        };
        self.last_error = None;
        let confirmed = match read {
            None => self.candidate.take(),
            Some(read) if F::same(&read, &self.current) => {
                self.candidate = None;
                None
            }
            Some(read) => match self.candidate.take() {
                Some(candidate) if F::same(&candidate, &read) => Some(read),
                _ => {
                    self.candidate = Some(read);
                    None
                }
            },
        };
        let Some(new) = confirmed else { return Step::Continue };
        let Some(reload) = self.feed.publish(&self.current, &new, now) else { return Step::Gone };
        self.current = new;
        Step::Reloaded(reload)
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

/// A server's set, as a version of credentials sorted by [`Credentials::key`], each once.
struct SetFeed {
    set: WeakSet,
    grace: Duration,
    /// A source of one credential: a replaced key retires whatever its ID.
    one: bool,
    /// The keys replaced within their grace period, and when it ends (`None`: never).
    retiring: Vec<(Credentials, Option<Instant>)>,
}

/// What is in `new` and not in `old`, and what is in `old` and not in `new`: one walk along
/// both, as each is sorted by [`Credentials::key`].
fn difference<'a>(
    old: &'a [Credentials],
    new: &'a [Credentials],
) -> (Vec<&'a Credentials>, Vec<&'a Credentials>) {
    let (mut added, mut gone) = (Vec::new(), Vec::new());
    let (mut old, mut new) = (old.iter().peekable(), new.iter().peekable());
    loop {
        match (old.peek(), new.peek()) {
            (None, None) => return (added, gone),
            (Some(_), None) => gone.extend(old.by_ref()),
            (None, Some(_)) => added.extend(new.by_ref()),
            (Some(o), Some(n)) => match o.key().cmp(&n.key()) {
                std::cmp::Ordering::Less => gone.extend(old.next()),
                std::cmp::Ordering::Greater => added.extend(new.next()),
                std::cmp::Ordering::Equal => {
                    old.next();
                    new.next();
                }
            },
        }
    }
}

impl Reload {
    /// The change from `old` to `new`, each sorted by [`Credentials::key`], given the keys
    /// that are in one of them only.
    fn between<'a>(
        old: &'a [Credentials],
        new: &'a [Credentials],
        differ: impl Iterator<Item = &'a Credentials>,
    ) -> Self {
        let ids = |version: &'a [Credentials]| {
            let mut ids: Vec<&'a str> = version.iter().map(Credentials::id).collect();
            ids.dedup();
            ids
        };
        let (old_ids, new_ids) = (ids(old), ids(new));
        let kept = new_ids.iter().filter(|id| old_ids.binary_search(id).is_ok()).count();
        let mut replaced: Vec<&str> =
            differ.map(Credentials::id).filter(|id| holds_id(old, id) && holds_id(new, id)).collect();
        replaced.sort_unstable();
        replaced.dedup();
        Self {
            added: new_ids.len() - kept,
            replaced: replaced.len(),
            removed: old_ids.len() - kept,
            total: new_ids.len(),
        }
    }
}

/// With `tracing`, a reload's `INFO` event: what changed, in counts of certificate IDs.
fn announce(source: &str, reload: &Reload) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        source,
        added = reload.added,
        replaced = reload.replaced,
        removed = reload.removed,
        total = reload.total,
        "jocloud credentials reloaded"
    );
    let _ = (source, reload);
}

fn holds(version: &[Credentials], credentials: &Credentials) -> bool {
    version.binary_search_by(|known| known.key().cmp(&credentials.key())).is_ok()
}

fn holds_id(version: &[Credentials], id: &str) -> bool {
    version.binary_search_by(|known| known.id().cmp(id)).is_ok()
}

impl Feed for SetFeed {
    type Version = Vec<Credentials>;

    fn same(one: &Vec<Credentials>, other: &Vec<Credentials>) -> bool {
        one.len() == other.len() && one.iter().zip(other).all(|(one, other)| one.same_as(other))
    }

    fn publish(&mut self, old: &Vec<Credentials>, new: &Vec<Credentials>, now: Instant) -> Option<Reload> {
        let set = self.set.upgrade()?;
        let (added, replaced) = difference(old, new);
        let reload = Reload::between(old, new, added.iter().chain(&replaced).copied());
        let mut change = SetChange { insert: added, ..SetChange::default() };
        let until = now.checked_add(self.grace);
        for replaced in replaced {
            if self.one || holds_id(new, replaced.id()) {
                change.retire.push(replaced);
                self.retiring.push((replaced.clone(), until));
            } else {
                change.remove.push(replaced.clone());
            }
        }
        let one = self.one;
        self.retiring.retain(|(key, _)| {
            // A -> B -> A: a key that comes back is current again, not retiring.
            if holds(new, key) {
                return false;
            }
            // A customer who is gone is refused at once, with every key still in a grace period.
            let gone = !one && !holds_id(new, key.id());
            if gone {
                change.remove.push(key.clone());
            }
            !gone
        });
        set.apply(change);
        Some(reload)
    }

    fn expire(&mut self, now: Instant) -> bool {
        let Some(set) = self.set.upgrade() else { return false };
        let (over, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retiring)
            .into_iter()
            .partition(|(_, until)| until.is_some_and(|until| until <= now));
        self.retiring = kept;
        if !over.is_empty() {
            set.apply(SetChange {
                remove: over.into_iter().map(|(key, _)| key).collect(),
                ..SetChange::default()
            });
        }
        true
    }
}

/// Tells the user about a problem with the source: never its content, which errors never hold.
/// A reporting callback that panics is not allowed to stop the follower.
fn report(source: &str, error: &FollowError, on_error: Option<&(dyn Fn(&FollowError) + Send + Sync)>) {
    #[cfg(feature = "tracing")]
    match error {
        FollowError::Stopped => {
            tracing::error!(source, %error, "jocloud credentials follower stopped")
        }
        _ => {
            tracing::warn!(source, %error, "jocloud credentials not reloaded; keeping the last good key")
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = source;
    if let Some(on_error) = on_error {
        let _ = catch_unwind(AssertUnwindSafe(|| on_error(error)));
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, path::PathBuf, sync::Mutex};

    use http::HeaderValue;

    use super::*;
    use crate::{error::LoadProblem, Scheme};

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

    /// What a `tracing` subscriber writes, shared by its clones.
    #[cfg(feature = "tracing")]
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    #[cfg(feature = "tracing")]
    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[cfg(feature = "tracing")]
    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn client(secret: &str) -> (LiveCredentials, Follower<ClientFeed>) {
        let credentials = LiveCredentials::with_grace(&key(secret), GRACE);
        let follower = Follower::new(key(secret), ClientFeed(credentials.downgrade()));
        (credentials, follower)
    }

    /// A set following a source of one credential (`one`) or of many, which starts with `keys`.
    fn set_of(keys: &[(&str, &str)], grace: Duration, one: bool) -> (LiveCredentialSet, Follower<SetFeed>) {
        let version = version(keys).unwrap().unwrap();
        let set = LiveCredentialSet::new(&version);
        let feed = SetFeed { set: set.downgrade(), grace, one, retiring: Vec::new() };
        (set, Follower::new(version, feed))
    }

    fn server(secret: &str) -> (LiveCredentialSet, Follower<SetFeed>) {
        set_of(&[("id", secret)], GRACE, true)
    }

    /// A read of a source of many credentials, as `load_unless_seen` gives it.
    fn version(keys: &[(&str, &str)]) -> Result<Option<Vec<Credentials>>, LoadError> {
        let mut version: Vec<Credentials> =
            keys.iter().map(|(id, secret)| Credentials::new(*id, *secret).unwrap()).collect();
        version.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
        Ok(Some(version))
    }

    /// A read of a source of one credential with this secret.
    fn one(secret: &str) -> Result<Option<Vec<Credentials>>, LoadError> {
        version(&[("id", secret)])
    }

    fn read(secret: &str) -> Result<Option<Credentials>, LoadError> {
        Ok(Some(key(secret)))
    }

    fn accepts(set: &LiveCredentialSet, secret: &str) -> bool {
        accepts_key(set, "id", secret)
    }

    fn accepts_key(set: &LiveCredentialSet, id: &str, secret: &str) -> bool {
        let payload = Credentials::new(id, secret).unwrap().encoded_payload();
        set.load().find(payload.as_bytes()).is_some()
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

    /// A feed that counts what it is asked to publish.
    struct Counting(Vec<(u32, u32)>);

    impl Feed for Counting {
        type Version = u32;

        fn same(one: &u32, other: &u32) -> bool {
            one == other
        }

        fn publish(&mut self, old: &u32, new: &u32, _: Instant) -> Option<Reload> {
            self.0.push((*old, *new));
            Some(Reload::default())
        }

        fn expire(&mut self, _: Instant) -> bool {
            true
        }
    }

    #[test]
    fn only_a_confirmed_change_is_published() {
        let mut follower = Follower::new(1, Counting(Vec::new()));
        let t0 = Instant::now();
        for read in [Some(1), Some(1), None, Some(2), Some(1), Some(1), Some(2), None, Some(2), Some(2)] {
            follower.step(Ok(read), t0);
        }
        assert_eq!(follower.feed.0, [(1, 2)], "a read of the current version changes nothing");
        assert_eq!(follower.current, 2);
    }

    #[test]
    fn the_clients_previous_key_is_usable_for_the_grace_period() {
        let (credentials, mut follower) = client("a");
        let t0 = Instant::now();
        follower.step(read("b"), t0);
        follower.step(read("b"), t0);
        let retry = |at| credentials.retry_value(Scheme::Base, &value("b"), at);
        assert_eq!(retry(t0), Some(value("a")));
        assert_eq!(retry(t0 + GRACE - Duration::from_nanos(1)), Some(value("a")));
        assert_eq!(retry(t0 + GRACE), None);
        // Only a request that carried the current key is retried.
        assert_eq!(credentials.retry_value(Scheme::Base, &value("a"), t0), None);
    }

    #[test]
    fn the_server_keeps_the_old_key_for_the_grace_period_and_a_to_b_to_a() {
        let (set, mut follower) = server("a");
        let t0 = Instant::now();
        follower.step(one("b"), t0);
        follower.step(one("b"), t0);
        assert!(accepts(&set, "a") && accepts(&set, "b"));
        follower.step(one("b"), t0 + GRACE - Duration::from_nanos(1));
        assert!(accepts(&set, "a"), "still within the grace period");
        follower.step(one("b"), t0 + GRACE);
        assert!(!accepts(&set, "a") && accepts(&set, "b"), "the grace period is over");

        // B -> A: A is current again, and B retires.
        let t1 = t0 + GRACE * 2;
        follower.step(one("a"), t1);
        follower.step(one("a"), t1);
        assert!(accepts(&set, "a") && accepts(&set, "b"));
        follower.step(one("a"), t1 + GRACE);
        assert!(accepts(&set, "a") && !accepts(&set, "b"));
    }

    #[test]
    fn two_changes_within_one_grace_retire_both_old_keys() {
        let (set, mut follower) = server("a");
        let t0 = Instant::now();
        follower.step(one("b"), t0);
        follower.step(one("b"), t0);
        let t1 = t0 + GRACE / 2;
        follower.step(one("c"), t1);
        follower.step(one("c"), t1);
        assert!(accepts(&set, "a") && accepts(&set, "b") && accepts(&set, "c"));
        follower.step(one("c"), t0 + GRACE);
        assert!(!accepts(&set, "a") && accepts(&set, "b"));
        follower.step(one("c"), t1 + GRACE);
        assert!(!accepts(&set, "b") && accepts(&set, "c"));

        // A -> B -> A within one grace: A is current, only B retires.
        let t2 = t1 + GRACE * 2;
        follower.step(one("a"), t2);
        follower.step(one("a"), t2);
        follower.step(one("c"), t2);
        follower.step(one("c"), t2);
        follower.step(one("a"), t2);
        follower.step(one("a"), t2);
        follower.step(one("a"), t2 + GRACE);
        assert!(accepts(&set, "a") && !accepts(&set, "c"));
    }

    fn retiring(set: &LiveCredentialSet, id: &str, secret: &str) -> bool {
        let payload = Credentials::new(id, secret).unwrap().encoded_payload();
        set.load().find(payload.as_bytes()).is_some_and(|entry| entry.retiring)
    }

    #[test]
    fn a_set_changes_as_a_difference() {
        let (set, mut follower) = set_of(&[("a", "1"), ("b", "1"), ("c", "1")], GRACE, false);
        let t0 = Instant::now();
        // b's secret changes, c is gone, d is new.
        let next = [("a", "1"), ("b", "2"), ("d", "1")];
        follower.step(version(&next), t0);
        assert!(accepts_key(&set, "c", "1"), "one read is not enough");
        follower.step(version(&next), t0);
        assert!(accepts_key(&set, "a", "1") && !retiring(&set, "a", "1"), "untouched");
        assert!(accepts_key(&set, "b", "2") && !retiring(&set, "b", "2"));
        assert!(retiring(&set, "b", "1"), "the replaced key, in its grace period");
        assert!(!accepts_key(&set, "c", "1"), "a customer who is gone is refused at once");
        assert!(accepts_key(&set, "d", "1"));
        follower.step(version(&next), t0 + GRACE);
        assert!(!accepts_key(&set, "b", "1") && accepts_key(&set, "b", "2"), "the grace period is over");

        // b changes again, then b goes within the grace: every key of b is refused at once.
        let t1 = t0 + GRACE * 2;
        follower.step(version(&[("a", "1"), ("b", "3"), ("d", "1")]), t1);
        follower.step(version(&[("a", "1"), ("b", "3"), ("d", "1")]), t1);
        assert!(retiring(&set, "b", "2"));
        follower.step(version(&[("a", "1"), ("d", "1")]), t1);
        follower.step(version(&[("a", "1"), ("d", "1")]), t1);
        assert!(!accepts_key(&set, "b", "2") && !accepts_key(&set, "b", "3"));
        assert_eq!(set.ids(), ["a", "d"]);
    }

    /// A reload counts certificate IDs: new, with a changed key, gone, and all.
    #[test]
    fn a_reload_says_what_changed() {
        let (_set, mut follower) = set_of(&[("a", "1"), ("b", "1"), ("c", "1"), ("c", "2")], GRACE, false);
        let t0 = Instant::now();
        let next = [("a", "1"), ("b", "2"), ("c", "1"), ("d", "1"), ("e", "1")];
        assert_eq!(follower.step(version(&next), t0), Step::Continue);
        let reload = Reload { added: 2, replaced: 2, removed: 0, total: 5 };
        assert_eq!(follower.step(version(&next), t0), Step::Reloaded(reload));
        let next = [("a", "1")];
        follower.step(version(&next), t0);
        let reload = Reload { added: 0, replaced: 0, removed: 4, total: 1 };
        assert_eq!(follower.step(version(&next), t0), Step::Reloaded(reload));
    }

    /// With `tracing`, a reload is one `INFO` event with its counts and the source.
    #[cfg(feature = "tracing")]
    #[test]
    fn a_reload_is_one_info_event_with_its_counts() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber =
            tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
        let reload = Reload { added: 1, replaced: 2, removed: 3, total: 40 };
        tracing::subscriber::with_default(subscriber, || announce("/run/customers", &reload));
        let text = captured.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        for field in ["INFO", "/run/customers", "added=1", "replaced=2", "removed=3", "total=40"] {
            assert!(text.contains(field), "{field} in {text}");
        }
    }

    #[test]
    fn a_key_that_comes_back_is_no_longer_retiring() {
        let (set, mut follower) = set_of(&[("a", "1")], GRACE, false);
        let t0 = Instant::now();
        for secret in ["2", "2", "1", "1"] {
            follower.step(version(&[("a", secret)]), t0);
        }
        assert!(accepts_key(&set, "a", "1") && !retiring(&set, "a", "1"));
        assert!(retiring(&set, "a", "2"));
        follower.step(version(&[("a", "1")]), t0 + GRACE);
        assert_eq!(set.ids(), ["a"]);
        assert!(accepts_key(&set, "a", "1"));
    }

    #[test]
    fn a_source_of_one_keeps_a_key_whose_id_changed_for_the_grace_period() {
        let (set, mut follower) = set_of(&[("a", "1")], GRACE, true);
        let t0 = Instant::now();
        follower.step(version(&[("b", "1")]), t0);
        follower.step(version(&[("b", "1")]), t0);
        assert!(retiring(&set, "a", "1") && accepts_key(&set, "b", "1"));
        follower.step(version(&[("b", "1")]), t0 + GRACE);
        assert!(!accepts_key(&set, "a", "1"));
    }

    /// `None` is the very version read last (a kubelet volume's): it confirms a candidate, and
    /// changes nothing otherwise.
    #[test]
    fn the_same_version_again_confirms_a_change() {
        let (set, mut follower) = set_of(&[("a", "1")], GRACE, false);
        let t0 = Instant::now();
        assert_eq!(follower.step(Ok(None), t0), Step::Continue);
        follower.step(version(&[("a", "2")]), t0);
        assert!(!accepts_key(&set, "a", "2"));
        follower.step(Ok(None), t0);
        assert!(accepts_key(&set, "a", "2"));
        assert_eq!(follower.step(Ok(None), t0), Step::Continue, "nothing new to publish");
        assert!(accepts_key(&set, "a", "1") && accepts_key(&set, "a", "2"));
        // An error in between: the next read is a new version again.
        follower.step(version(&[("a", "3")]), t0);
        follower.step(Err(missing("/x")), t0);
        follower.step(Ok(None), t0);
        assert!(!accepts_key(&set, "a", "3"));
    }

    #[test]
    fn a_grace_too_long_for_the_clock_never_ends() {
        let credentials = LiveCredentials::with_grace(&key("a"), Duration::MAX);
        let (set, mut follower) = set_of(&[("id", "a")], Duration::MAX, true);
        let t0 = Instant::now();
        follower.step(one("b"), t0);
        follower.step(one("b"), t0);
        credentials.rotate_at(&key("b"), t0);
        let far = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
        follower.step(one("b"), far);
        assert!(accepts(&set, "a"));
        assert_eq!(credentials.retry_value(Scheme::Base, &value("b"), far), Some(value("a")));
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
        let (set, mut follower) = server("a");
        drop(set);
        assert_eq!(follower.step(one("a"), t0), Step::Gone);
    }

    #[test]
    fn the_loop_reports_problems_and_a_stop_and_ends_when_gone() {
        let reports = Mutex::new(Vec::new());
        let steps = Cell::new(0);
        run(
            || {},
            |_| {
                steps.set(steps.get() + 1);
                match steps.get() {
                    1 => Step::Report(missing("/x")),
                    2 => Step::Continue,
                    _ => Step::Gone,
                }
            },
            |error| reports.lock().unwrap().push(error.clone()),
            |_| unreachable!("no step reloads"),
        );
        assert_eq!(steps.get(), 3);
        assert_eq!(*reports.lock().unwrap(), [FollowError::Load(missing("/x"))]);

        let reports = Mutex::new(Vec::new());
        run(|| {}, |_| panic!("a bug"), |error| reports.lock().unwrap().push(error.clone()), |_| {});
        assert_eq!(*reports.lock().unwrap(), [FollowError::Stopped], "a stop is never silent");
    }

    #[test]
    fn a_panicking_report_does_not_stop_the_follower() {
        report("/nonexistent", &FollowError::Stopped, Some(&|_: &FollowError| panic!("the user's callback")));
    }

    /// With `tracing`, a stop is an `ERROR` event and a problem with the source a `WARN` one,
    /// each naming the source.
    #[cfg(feature = "tracing")]
    #[test]
    fn a_stop_is_an_error_event_and_a_problem_a_warning() {
        let events = |error: FollowError| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber =
                tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
            tracing::subscriber::with_default(subscriber, || report("/run/customers", &error, None));
            captured.text()
        };
        let stopped = events(FollowError::Stopped);
        assert!(stopped.contains("ERROR") && stopped.contains("/run/customers"), "{stopped}");
        let problem = events(FollowError::Load(missing("/run/customers")));
        assert!(problem.contains("WARN") && !problem.contains("ERROR"), "{problem}");
        assert!(problem.contains("keeping the last good key"), "{problem}");
    }

    #[test]
    fn follow_errors_say_what_happened_and_a_load_error_is_their_source() {
        let error = FollowError::Load(missing("/run/customers"));
        let source = error.source().and_then(|source| source.downcast_ref::<LoadError>());
        assert_eq!(source, Some(&missing("/run/customers")));
        assert_eq!(error.to_string(), missing("/run/customers").to_string());
        assert!(FollowError::Stopped.source().is_none());
        assert!(FollowError::Stopped.to_string().contains("stopped"));
        let spawn = FollowError::Spawn(io::ErrorKind::WouldBlock);
        assert!(spawn.source().is_none());
        assert!(spawn.to_string().contains(&io::ErrorKind::WouldBlock.to_string()));
        // The options' `Debug` shows their values (and whether a callback is set, not which).
        let options = format!("{:?}", FollowOptions::default().interval(Duration::from_millis(20)));
        assert!(options.contains("20ms") && options.contains("120s"), "{options}");
    }

    #[test]
    fn option_values_saturate() {
        assert_eq!(FollowOptions::default().interval(Duration::ZERO).interval, MIN_INTERVAL);
        assert_eq!(FollowOptions::default().interval(Duration::MAX).interval, MAX_INTERVAL);
        assert_eq!(
            FollowOptions::default().interval(Duration::from_millis(20)).interval,
            Duration::from_millis(20)
        );
    }
}
