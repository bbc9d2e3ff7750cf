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
    live::{WeakCredentials, WeakSet, DEFAULT_GRACE},
    Credentials, CredentialsSource, LiveCredentialSet, LiveCredentials,
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
        let follower = Follower::new(first, options.grace, Target::Client(credentials.downgrade()));
        spawn(source, options, follower)?;
        Ok(credentials)
    }
}

impl LiveCredentialSet {
    /// A set accepting the credentials read from `source` now, kept current by a thread that
    /// follows it for as long as any handle to the set is left; after a change the previous key
    /// stays accepted for the grace period.
    ///
    /// # Errors
    ///
    /// As [`LiveCredentials::follow`].
    pub fn follow(source: CredentialsSource, options: FollowOptions) -> Result<Self, FollowError> {
        let first = source.load()?;
        let set = Self::new([&first]);
        let target = Target::Server { set: set.downgrade(), retiring: Vec::new() };
        let follower = Follower::new(first, options.grace, target);
        spawn(source, options, follower)?;
        Ok(set)
    }
}

/// Starts the thread that reads `source` every interval and feeds `follower` what it read.
fn spawn(
    source: CredentialsSource,
    options: FollowOptions,
    mut follower: Follower,
) -> Result<(), FollowError> {
    let interval = options.interval;
    std::thread::Builder::new()
        .name("jocloud-auth-follow".into())
        .spawn(move || {
            run(
                || std::thread::sleep(interval),
                |now| follower.step(source.load(), now),
                |error| report(&source, error, options.on_error.as_deref()),
            )
        })
        .map(drop)
        .map_err(|error| FollowError::Spawn(error.kind()))
}

/// The follower's loop: wait, take a step, report; until the step says nothing is left to
/// feed, or panics, which is reported as [`FollowError::Stopped`].
fn run(mut wait: impl FnMut(), mut step: impl FnMut(Instant) -> Step, report: impl Fn(&FollowError)) {
    loop {
        wait();
        match catch_unwind(AssertUnwindSafe(|| step(Instant::now()))) {
            Ok(Step::Continue) => {}
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
    /// A new problem with the source, to be reported.
    Report(LoadError),
    /// Every handle to what the follower feeds is gone.
    Gone,
}

/// What a follower feeds. Weak, so that the follower ends when every handle is gone.
enum Target {
    Client(WeakCredentials),
    /// With the keys replaced within their grace period, and when it ends (`None`: never).
    Server {
        set: WeakSet,
        retiring: Vec<(Credentials, Option<Instant>)>,
    },
}

/// The follower's state, fed one read at a time with the time of the read.
struct Follower {
    current: Credentials,
    /// A changed key seen at the last read, published if the next read agrees.
    candidate: Option<Credentials>,
    last_error: Option<LoadError>,
    grace: Duration,
    target: Target,
}

impl Follower {
    fn new(current: Credentials, grace: Duration, target: Target) -> Self {
        Self { current, candidate: None, last_error: None, grace, target }
    }

    /// Takes in one read of the source, made at `now`.
    fn step(&mut self, read: Result<Credentials, LoadError>, now: Instant) -> Step {
        if !self.expire(now) {
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
        if read.same_as(&self.current) {
            self.candidate = None;
        } else if self.candidate.as_ref().is_some_and(|candidate| candidate.same_as(&read)) {
            self.candidate = None;
            if !self.publish(read, now) {
                return Step::Gone;
            }
        } else {
            self.candidate = Some(read);
        }
        Step::Continue
    }

    /// Makes `new` the current key, keeping the old one for the grace period; `false` once
    /// nothing is left to feed.
    fn publish(&mut self, new: Credentials, now: Instant) -> bool {
        let old = std::mem::replace(&mut self.current, new);
        match &mut self.target {
            Target::Client(credentials) => {
                let Some(credentials) = credentials.upgrade() else { return false };
                credentials.rotate_at(&self.current, now);
            }
            Target::Server { set, retiring } => {
                let Some(set) = set.upgrade() else { return false };
                set.insert(&self.current);
                // A -> B -> A: a key that comes back is current again, not retiring.
                retiring.retain(|(key, _)| !key.same_as(&self.current));
                retiring.push((old, now.checked_add(self.grace)));
            }
        }
        true
    }

    /// Drops the server's previous keys whose grace period is over at `now` (a client's
    /// previous key carries its own end); `false` once nothing is left to feed.
    fn expire(&mut self, now: Instant) -> bool {
        match &mut self.target {
            Target::Client(credentials) => credentials.upgrade().is_some(),
            Target::Server { set, retiring } => {
                let Some(set) = set.upgrade() else { return false };
                retiring.retain(|(key, until)| {
                    let over = until.is_some_and(|until| until <= now);
                    if over && !key.same_as(&self.current) {
                        set.remove(key);
                    }
                    !over
                });
                true
            }
        }
    }
}

/// Tells the user about a problem with the source: never its content, which errors never hold.
/// A reporting callback that panics is not allowed to stop the follower.
fn report(
    source: &CredentialsSource,
    error: &FollowError,
    on_error: Option<&(dyn Fn(&FollowError) + Send + Sync)>,
) {
    #[cfg(feature = "tracing")]
    match error {
        FollowError::Stopped => {
            tracing::error!(source = %source.describe(), %error, "jocloud credentials follower stopped")
        }
        _ => {
            tracing::warn!(source = %source.describe(), %error, "jocloud credentials not reloaded; keeping the last good key")
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

    fn client(secret: &str) -> (LiveCredentials, Follower) {
        let credentials = LiveCredentials::with_grace(&key(secret), GRACE);
        let follower = Follower::new(key(secret), GRACE, Target::Client(credentials.downgrade()));
        (credentials, follower)
    }

    fn server(secret: &str) -> (LiveCredentialSet, Follower) {
        let set = LiveCredentialSet::new([&key(secret)]);
        let target = Target::Server { set: set.downgrade(), retiring: Vec::new() };
        (set, Follower::new(key(secret), GRACE, target))
    }

    fn accepts(set: &LiveCredentialSet, secret: &str) -> bool {
        set.load().find(key(secret).encoded_payload().as_bytes()).is_some()
    }

    #[test]
    fn a_change_is_published_once_two_reads_agree() {
        let (credentials, mut follower) = client("a");
        let t0 = Instant::now();
        assert_eq!(follower.step(Ok(key("b")), t0), Step::Continue);
        assert_eq!(credentials.value(Scheme::Base), value("a"), "one read is not enough");
        // A read that disagrees starts over.
        assert_eq!(follower.step(Ok(key("c")), t0), Step::Continue);
        assert_eq!(follower.step(Ok(key("b")), t0), Step::Continue);
        assert_eq!(credentials.value(Scheme::Base), value("a"));
        assert_eq!(follower.step(Ok(key("b")), t0), Step::Continue);
        assert_eq!(credentials.value(Scheme::Base), value("b"));
        // An error between two reads of a change starts over too.
        follower.step(Ok(key("c")), t0);
        follower.step(Err(missing("/x")), t0);
        follower.step(Ok(key("c")), t0);
        assert_eq!(credentials.value(Scheme::Base), value("b"));
        follower.step(Ok(key("c")), t0);
        assert_eq!(credentials.value(Scheme::Base), value("c"));
    }

    #[test]
    fn the_clients_previous_key_is_usable_for_the_grace_period() {
        let (credentials, mut follower) = client("a");
        let t0 = Instant::now();
        follower.step(Ok(key("b")), t0);
        follower.step(Ok(key("b")), t0);
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
        follower.step(Ok(key("b")), t0);
        follower.step(Ok(key("b")), t0);
        assert!(accepts(&set, "a") && accepts(&set, "b"));
        follower.step(Ok(key("b")), t0 + GRACE - Duration::from_nanos(1));
        assert!(accepts(&set, "a"), "still within the grace period");
        follower.step(Ok(key("b")), t0 + GRACE);
        assert!(!accepts(&set, "a") && accepts(&set, "b"), "the grace period is over");

        // B -> A: A is current again, and B retires.
        let t1 = t0 + GRACE * 2;
        follower.step(Ok(key("a")), t1);
        follower.step(Ok(key("a")), t1);
        assert!(accepts(&set, "a") && accepts(&set, "b"));
        follower.step(Ok(key("a")), t1 + GRACE);
        assert!(accepts(&set, "a") && !accepts(&set, "b"));
    }

    #[test]
    fn two_changes_within_one_grace_retire_both_old_keys() {
        let (set, mut follower) = server("a");
        let t0 = Instant::now();
        follower.step(Ok(key("b")), t0);
        follower.step(Ok(key("b")), t0);
        let t1 = t0 + GRACE / 2;
        follower.step(Ok(key("c")), t1);
        follower.step(Ok(key("c")), t1);
        assert!(accepts(&set, "a") && accepts(&set, "b") && accepts(&set, "c"));
        follower.step(Ok(key("c")), t0 + GRACE);
        assert!(!accepts(&set, "a") && accepts(&set, "b"));
        follower.step(Ok(key("c")), t1 + GRACE);
        assert!(!accepts(&set, "b") && accepts(&set, "c"));

        // A -> B -> A within one grace: A is current, only B retires.
        let t2 = t1 + GRACE * 2;
        follower.step(Ok(key("a")), t2);
        follower.step(Ok(key("a")), t2);
        follower.step(Ok(key("c")), t2);
        follower.step(Ok(key("c")), t2);
        follower.step(Ok(key("a")), t2);
        follower.step(Ok(key("a")), t2);
        follower.step(Ok(key("a")), t2 + GRACE);
        assert!(accepts(&set, "a") && !accepts(&set, "c"));
    }

    #[test]
    fn a_grace_too_long_for_the_clock_never_ends() {
        let credentials = LiveCredentials::with_grace(&key("a"), Duration::MAX);
        let set = LiveCredentialSet::new([&key("a")]);
        let target = Target::Server { set: set.downgrade(), retiring: Vec::new() };
        let mut follower = Follower::new(key("a"), Duration::MAX, target);
        let t0 = Instant::now();
        follower.step(Ok(key("b")), t0);
        follower.step(Ok(key("b")), t0);
        credentials.rotate_at(&key("b"), t0);
        let far = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
        follower.step(Ok(key("b")), far);
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
        assert_eq!(follower.step(Ok(key("a")), t0), Step::Continue);
        assert_eq!(follower.step(Err(missing("/x")), t0), Step::Report(missing("/x")));
    }

    #[test]
    fn a_follower_with_nothing_left_to_feed_is_gone() {
        let t0 = Instant::now();
        let (credentials, mut follower) = client("a");
        drop(credentials);
        assert_eq!(follower.step(Ok(key("a")), t0), Step::Gone);
        let (set, mut follower) = server("a");
        drop(set);
        assert_eq!(follower.step(Ok(key("a")), t0), Step::Gone);
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
        );
        assert_eq!(steps.get(), 3);
        assert_eq!(*reports.lock().unwrap(), [FollowError::Load(missing("/x"))]);

        let reports = Mutex::new(Vec::new());
        run(|| {}, |_| panic!("a bug"), |error| reports.lock().unwrap().push(error.clone()));
        assert_eq!(*reports.lock().unwrap(), [FollowError::Stopped], "a stop is never silent");
    }

    #[test]
    fn a_panicking_report_does_not_stop_the_follower() {
        let source = CredentialsSource::file("/nonexistent");
        report(&source, &FollowError::Stopped, Some(&|_: &FollowError| panic!("the user's callback")));
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
