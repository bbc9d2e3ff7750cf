//! Following a [`CredentialsSource`] while services run: [`LiveCredentials::follow`] and
//! [`LiveCredentialSet::follow`].
//!
//! One thread per follower reads the source every `interval` (plain polling, on purpose: see
//! [`FollowOptions`]) and publishes a changed key once two consecutive reads agree, so a read
//! torn between two versions, or a file caught half-written, is never published. Bad content
//! (a missing, empty, invalid or half-written file, a deleted directory) keeps the last good
//! key, is reported, and is tried again at the next poll. The thread ends when its
//! [`Following`] guard is dropped or when every handle to what it feeds is gone, and the guard
//! waits for it, so no thread is left behind.

use std::{
    fmt,
    sync::{mpsc, Arc, Weak},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use crate::{
    live::{Keys, SetShared},
    Credentials, CredentialsError, CredentialsSource, LiveCredentialSet, LiveCredentials,
};

/// How to follow a [`CredentialsSource`].
///
/// - `interval` (default 500 ms): how often the source is read. A change is published at the
///   second read that sees it, so it is live within two intervals: one second by default. Why
///   polling and not file-system events: the kubelet updates a Secret volume by swapping a
///   `..data` symlink, which a watch on the files themselves never sees, and NFS and other
///   network file systems have no events at all; so events would still need this poll as a
///   safety net, and two small reads twice a second cost next to nothing.
/// - `grace` (default 120 s): how long the previous key stays usable after a change. A
///   followed [`LiveCredentialSet`] keeps accepting it, for clients that have not read the new
///   key yet; a followed [`LiveCredentials`] keeps it for
///   `RetryWithPreviousKey` (feature `tower`), for servers that have not. The
///   kubelet refreshes each pod's volume within about a minute of the change (its sync period),
///   so pods of one deployment can be a minute apart; the default is twice that.
/// - `on_error`: called with each new problem reading the source (once per problem, not at
///   every poll), never with any content. With the `tracing` feature, each is also a `WARN`
///   event.
#[derive(Clone)]
pub struct FollowOptions {
    interval: Duration,
    grace: Duration,
    on_error: Option<Report>,
}

type Report = Arc<dyn Fn(&CredentialsError) + Send + Sync>;

impl Default for FollowOptions {
    fn default() -> Self {
        Self { interval: Duration::from_millis(500), grace: Duration::from_secs(120), on_error: None }
    }
}

impl FollowOptions {
    /// Reads the source every `interval`.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Keeps the previous key usable for `grace` after a change.
    #[must_use]
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Calls `report` with each new problem reading the source.
    #[must_use]
    pub fn on_error(mut self, report: impl Fn(&CredentialsError) + Send + Sync + 'static) -> Self {
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

/// Keeps a follower running; dropping it stops the follower and waits for its thread to end.
#[must_use = "dropping the guard stops following at once"]
pub struct Following {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Following {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread at once; it ends within one read of the source.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for Following {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Following").finish_non_exhaustive()
    }
}

impl LiveCredentials {
    /// Credentials read from `source` now, and kept current by a thread that follows it.
    ///
    /// # Errors
    ///
    /// Whatever [`CredentialsSource::load`] reports for the first read (a follower starts only
    /// from good credentials), or [`CredentialsError::FollowerThread`].
    ///
    /// # Example
    ///
    /// ```no_run
    /// use jocloud_auth::{token_auth::TokenAuthLayer, CredentialsSource, FollowOptions, LiveCredentials};
    ///
    /// // A Kubernetes Secret with keys `id` and `secret`, mounted at /var/run/secrets/jocloud.
    /// let source = CredentialsSource::dir("/var/run/secrets/jocloud");
    /// let (credentials, _following) = LiveCredentials::follow(source, FollowOptions::default())?;
    /// let layer = TokenAuthLayer::live(&credentials);
    /// # Ok::<(), jocloud_auth::CredentialsError>(())
    /// ```
    pub fn follow(
        source: CredentialsSource,
        options: FollowOptions,
    ) -> Result<(Self, Following), CredentialsError> {
        let first = source.load()?;
        let credentials = Self::new(&first);
        let target = Target::Client { keys: Arc::downgrade(&credentials.current), previous_until: None };
        Ok((credentials, Follower::start(source, options, first, target)?))
    }
}

impl LiveCredentialSet {
    /// A set accepting the credentials read from `source` now, kept current by a thread that
    /// follows it; after a change the previous key stays accepted for the grace period.
    ///
    /// # Errors
    ///
    /// Whatever [`CredentialsSource::load`] reports for the first read, or
    /// [`CredentialsError::FollowerThread`].
    pub fn follow(
        source: CredentialsSource,
        options: FollowOptions,
    ) -> Result<(Self, Following), CredentialsError> {
        let first = source.load()?;
        let set = Self::new([&first]);
        let target = Target::Server { set: Arc::downgrade(&set.shared), retiring: Vec::new() };
        Ok((set, Follower::start(source, options, first, target)?))
    }
}

/// What a follower feeds. Weak, so that the follower ends when every handle is gone.
enum Target {
    Client { keys: Weak<arc_swap::ArcSwap<Keys>>, previous_until: Option<Instant> },
    Server { set: Weak<SetShared>, retiring: Vec<(Credentials, Instant)> },
}

struct Follower {
    source: CredentialsSource,
    options: FollowOptions,
    current: Credentials,
    /// A changed key seen at the last read, published if the next read agrees.
    candidate: Option<Credentials>,
    last_error: Option<CredentialsError>,
    target: Target,
}

impl Follower {
    fn start(
        source: CredentialsSource,
        options: FollowOptions,
        current: Credentials,
        target: Target,
    ) -> Result<Following, CredentialsError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let interval = options.interval;
        let mut follower = Follower { source, options, current, candidate: None, last_error: None, target };
        let thread = std::thread::Builder::new()
            .name("jocloud-auth-follow".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    if !follower.poll(Instant::now()) {
                        break;
                    }
                }
            })
            .map_err(|error| CredentialsError::FollowerThread(error.kind()))?;
        Ok(Following { stop: Some(stop), thread: Some(thread) })
    }

    /// One read of the source; `false` once nothing is left to feed.
    fn poll(&mut self, now: Instant) -> bool {
        if !self.expire(now) {
            return false;
        }
        match self.source.load() {
            Err(error) => {
                self.candidate = None;
                if self.last_error.as_ref() != Some(&error) {
                    report(&self.source, &error, self.options.on_error.as_deref());
                    self.last_error = Some(error);
                }
            }
            Ok(read) => {
                self.last_error = None;
                if read.same_as(&self.current) {
                    self.candidate = None;
                } else if self.candidate.as_ref().is_some_and(|candidate| candidate.same_as(&read)) {
                    self.candidate = None;
                    return self.publish(read, now);
                } else {
                    self.candidate = Some(read);
                }
            }
        }
        true
    }

    /// Makes `new` the current key, keeping the old one for the grace period.
    fn publish(&mut self, new: Credentials, now: Instant) -> bool {
        let until = now + self.options.grace;
        let old = std::mem::replace(&mut self.current, new);
        match &mut self.target {
            Target::Client { keys, previous_until } => {
                let Some(keys) = keys.upgrade() else { return false };
                LiveCredentials { current: keys }.rotate_keeping_previous(&self.current);
                *previous_until = Some(until);
            }
            Target::Server { set, retiring } => {
                let Some(shared) = set.upgrade() else { return false };
                LiveCredentialSet { shared }.insert(&self.current);
                // A -> B -> A: a key that comes back is current again, not retiring.
                retiring.retain(|(key, _)| !key.same_as(&self.current));
                retiring.push((old, until));
            }
        }
        true
    }

    /// Drops previous keys whose grace period is over; `false` once nothing is left to feed.
    fn expire(&mut self, now: Instant) -> bool {
        match &mut self.target {
            Target::Client { keys, previous_until } => {
                let Some(keys) = keys.upgrade() else { return false };
                if previous_until.is_some_and(|until| until <= now) {
                    LiveCredentials { current: keys }.forget_previous();
                    *previous_until = None;
                }
            }
            Target::Server { set, retiring } => {
                let Some(shared) = set.upgrade() else { return false };
                let set = LiveCredentialSet { shared };
                retiring.retain(|(key, until)| {
                    let over = *until <= now;
                    if over && !key.same_as(&self.current) {
                        set.remove(key);
                    }
                    !over
                });
            }
        }
        true
    }
}

/// Tells the user about a problem with the source: never its content, which errors never hold.
fn report(
    source: &CredentialsSource,
    error: &CredentialsError,
    on_error: Option<&(dyn Fn(&CredentialsError) + Send + Sync)>,
) {
    #[cfg(feature = "tracing")]
    tracing::warn!(source = %source.describe(), %error, "jocloud credentials not reloaded; keeping the last good key");
    #[cfg(not(feature = "tracing"))]
    let _ = source;
    if let Some(on_error) = on_error {
        on_error(error);
    }
}
