//! Following a source while services run, for [`LiveCredentials::follow`](crate::LiveCredentials::follow) and
//! [`LiveCredentialSet::follow`](crate::LiveCredentialSet::follow): when to read, what to publish, what to report. What a version
//! changes is the [`Feed`]'s to say.
//!
//! One thread per follower polls the source every `interval` ([`FollowOptions`]) and publishes a
//! change once two consecutive reads agree, so a read torn between versions or of a half-written
//! file is never published. A bad read keeps the last good key, is reported, and is retried at
//! the next poll; nothing at a path makes a read block (`CredentialsSource::load`), and a
//! read that hangs all the same (a network mount that stopped answering) is reported by a
//! watchdog thread after 10 s as [`FollowProblem::ReadStuck`]. The follower holds what it feeds
//! weakly: its threads end at its first poll after the last handle, layer and service is gone.
//! Stopping for any other reason is reported through [`on_error`](FollowOptions::on_error) as
//! [`FollowProblem::Stopped`]; a reporting callback or `tracing` subscriber that panics stops
//! nothing.

use std::{
    error::Error,
    fmt, io,
    panic::{catch_unwind, AssertUnwindSafe},
    sync::{atomic::Ordering, Arc, PoisonError},
    time::{Duration, Instant},
};

use crate::{error::LoadError, source::Read};

mod watchdog;

use watchdog::{Done, Reading, Watch};

/// How long a replaced key stays usable, unless told otherwise: twice the minute by which the
/// kubelet's updates of one Secret can reach two pods apart.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(120);

/// How to follow a [`CredentialsSource`](crate::CredentialsSource).
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
///   [`LiveCredentialSet`](crate::LiveCredentialSet) keeps accepting it, for clients that have not read the new key yet;
///   a followed [`LiveCredentials`](crate::LiveCredentials) keeps it for the retry with the previous key, for servers
///   that have not. The kubelet refreshes each pod's volume within about a minute of the change
///   (its sync period), so pods of one deployment can be a minute apart; the default is twice
///   that.
/// - `on_error`: called with each new problem reading the source (once per distinct problem,
///   not at every poll), never with any content; with [`FollowProblem::ReadStuck`] for a read
///   that has not returned after 10 s; and with [`FollowProblem::Stopped`] if the follower ever
///   stops for another reason than its handles being gone. With the `tracing` feature, each is
///   also a `WARN` event (`ERROR` for a stop).
#[derive(Clone)]
pub struct FollowOptions {
    interval: Duration,
    grace: Duration,
    on_error: Option<Report>,
    /// How long a read may run before it is reported stuck.
    stuck_after: Duration,
}

type Report = Arc<dyn Fn(&FollowProblem) + Send + Sync>;

const MIN_INTERVAL: Duration = Duration::from_millis(1);
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// How long one read of the source may run before it is reported stuck: a read of a whole
/// file of lines or a large volume takes well under a second.
const STUCK_AFTER: Duration = Duration::from_secs(10);

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            grace: DEFAULT_GRACE,
            on_error: None,
            stuck_after: STUCK_AFTER,
        }
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

    /// How long a replaced key stays usable: what a followed handle is made with.
    pub(crate) fn grace_period(&self) -> Duration {
        self.grace
    }

    /// Calls `report` with each new problem reading the source, and if the follower stops.
    #[must_use]
    pub fn on_error(mut self, report: impl Fn(&FollowProblem) + Send + Sync + 'static) -> Self {
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
            .finish_non_exhaustive()
    }
}

/// Why `follow` could not start.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FollowError {
    /// The source could not be read, or holds no valid credentials: a follower starts only
    /// from good ones.
    Load(LoadError),
    /// The follower's thread could not be started.
    Spawn(io::ErrorKind),
}

impl fmt::Display for FollowError {
    /// A load error as it is (it says it all, so it is not also a `source`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Load(error) => error.fmt(f),
            Self::Spawn(kind) => {
                write!(f, "cannot start the thread that follows jocloud credentials: {kind}")
            }
        }
    }
}

impl Error for FollowError {}

impl From<LoadError> for FollowError {
    fn from(error: LoadError) -> Self {
        Self::Load(error)
    }
}

/// What a running follower reports to [`on_error`](FollowOptions::on_error).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FollowProblem {
    /// The source could not be read, or holds no valid credentials: the last good key stays,
    /// and the source is read again at the next poll.
    Load(LoadError),
    /// A read of the source has not returned after this long (a hung network mount, say): the
    /// last good key stays, and the read goes on. Reported once per read.
    ReadStuck {
        /// How long the read had run when it was reported.
        reading_for: Duration,
    },
    /// The follower stopped: keys are no longer reloaded from the source.
    Stopped,
}

impl fmt::Display for FollowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Load(error) => error.fmt(f),
            Self::ReadStuck { reading_for } => write!(
                f,
                "a read of the jocloud credentials source has not returned after {:.1} s (a hung \
                 network mount?); the last good key stays",
                reading_for.as_secs_f64()
            ),
            Self::Stopped => {
                f.write_str("the jocloud credentials follower stopped; keys are no longer reloaded")
            }
        }
    }
}

impl Error for FollowProblem {}

/// Starts the thread that reads the source with `read` every interval and feeds `follower`
/// what it read, and its watchdog, which reports a read that has not returned after
/// `stuck_after`.
pub(crate) fn spawn<F: Feed + Send + 'static>(
    mut read: impl FnMut() -> Result<Read<F::Version>, LoadError> + Send + 'static,
    describe: String,
    options: FollowOptions,
    mut follower: Follower<F>,
) -> Result<(), FollowError>
where
    F::Version: Send,
{
    let reading = Arc::new(Reading::default());
    let (interval, stuck_after, on_error) = (options.interval, options.stuck_after, options.on_error);
    let follow = {
        let (reading, describe, on_error) = (reading.clone(), describe.clone(), on_error.clone());
        move || {
            let _done = Done(&reading);
            run(
                || std::thread::sleep(interval),
                |now| follower.step(reading.during(&mut read), now),
                |error| report(&describe, error, on_error.as_deref()),
                |reload| announce(&describe, reload),
            )
        }
    };
    let watchdog = {
        let reading = reading.clone();
        move || {
            let tick = (stuck_after / 4).clamp(MIN_INTERVAL, Duration::from_secs(1));
            let mut watch = Watch::new(stuck_after);
            while !reading.done.load(Ordering::Acquire) {
                std::thread::sleep(tick);
                let started = *reading.since.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(reading_for) = watch.check(started, Instant::now()) {
                    report(&describe, &FollowProblem::ReadStuck { reading_for }, on_error.as_deref());
                }
            }
        }
    };
    let thread = |name: &str, run: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new().name(name.into()).spawn(run).map(drop)
    };
    thread("jocloud-auth-follow", Box::new(follow))
        .and_then(|()| thread("jocloud-auth-watch", Box::new(watchdog)))
        .map_err(|error| {
            reading.done.store(true, Ordering::Release);
            FollowError::Spawn(error.kind())
        })
}

/// The follower's loop: wait, take a step, report; until the step says nothing is left to
/// feed, or panics, which is reported as [`FollowProblem::Stopped`].
fn run(
    mut wait: impl FnMut(),
    mut step: impl FnMut(Instant) -> Step,
    report: impl Fn(&FollowProblem),
    reloaded: impl Fn(&Reload),
) {
    loop {
        wait();
        match catch_unwind(AssertUnwindSafe(|| step(Instant::now()))) {
            Ok(Step::Continue) => {}
            Ok(Step::Reloaded(reload)) => reloaded(&reload),
            Ok(Step::Report(error)) => report(&FollowProblem::Load(error)),
            Ok(Step::Gone) => return,
            Err(_) => return report(&FollowProblem::Stopped),
        }
    }
}

/// What one step of a follower leads to.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
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
pub(crate) struct Reload {
    /// IDs that are new.
    pub(crate) added: usize,
    /// IDs whose key changed (the old one in its grace period).
    pub(crate) replaced: usize,
    /// IDs that are gone, refused from now on.
    pub(crate) removed: usize,
    /// IDs accepted now.
    pub(crate) total: usize,
}

/// What a follower feeds, held weakly so that the follower ends when every handle is gone.
pub(crate) trait Feed {
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
pub(crate) struct Follower<F: Feed> {
    current: F::Version,
    /// A changed version seen at the last read, published if the next read agrees.
    candidate: Option<F::Version>,
    last_error: Option<LoadError>,
    feed: F,
}

impl<F: Feed> Follower<F> {
    pub(crate) fn new(current: F::Version, feed: F) -> Self {
        Self { current, candidate: None, last_error: None, feed }
    }

    /// Takes in one read of the source, made at `now`.
    pub(crate) fn step(&mut self, read: Result<Read<F::Version>, LoadError>, now: Instant) -> Step {
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
            Read::SameAsLast => self.candidate.take(),
            Read::Version(read) if F::same(&read, &self.current) => {
                self.candidate = None;
                None
            }
            Read::Version(read) => match self.candidate.take() {
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

/// With `tracing`, a reload's `INFO` event: what changed, in counts of certificate IDs. A
/// subscriber that panics is not allowed to stop the follower.
fn announce(source: &str, reload: &Reload) {
    #[cfg(feature = "tracing")]
    let _ = catch_unwind(|| {
        tracing::info!(
            source,
            added = reload.added,
            replaced = reload.replaced,
            removed = reload.removed,
            total = reload.total,
            "jocloud credentials reloaded"
        )
    });
    let _ = (source, reload);
}

/// Tells the user about a problem with the source: never its content, which errors never hold.
/// A subscriber or a reporting callback that panics is not allowed to stop the follower.
fn report(source: &str, error: &FollowProblem, on_error: Option<&(dyn Fn(&FollowProblem) + Send + Sync)>) {
    #[cfg(feature = "tracing")]
    let _ = catch_unwind(|| match error {
        FollowProblem::Stopped => {
            tracing::error!(source, %error, "jocloud credentials follower stopped")
        }
        _ => {
            tracing::warn!(source, %error, "jocloud credentials not reloaded; keeping the last good key")
        }
    });
    #[cfg(not(feature = "tracing"))]
    let _ = source;
    if let Some(on_error) = on_error {
        let _ = catch_unwind(AssertUnwindSafe(|| on_error(error)));
    }
}

#[cfg(test)]
mod tests {
    use std::{cell::Cell, path::PathBuf, sync::Mutex};

    use super::*;
    use crate::error::LoadProblem;

    fn missing(path: &str) -> LoadError {
        LoadError::File { path: PathBuf::from(path), problem: LoadProblem::Io(io::ErrorKind::NotFound) }
    }

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

    /// A feed that publishes into a list the test holds too, and goes once the test lets go.
    struct Shared(Arc<std::sync::Mutex<Vec<u32>>>);

    impl Feed for Shared {
        type Version = u32;

        fn same(one: &u32, other: &u32) -> bool {
            one == other
        }

        fn publish(&mut self, _: &u32, new: &u32, _: Instant) -> Option<Reload> {
            self.0.lock().unwrap().push(*new);
            Some(Reload::default())
        }

        fn expire(&mut self, _: Instant) -> bool {
            Arc::strong_count(&self.0) > 1
        }
    }

    /// A read that hangs (a network mount that stopped answering) is reported by the watchdog
    /// while it hangs; once it returns, the follower goes on and publishes what it read.
    #[test]
    fn a_read_that_hangs_is_reported_and_the_follower_goes_on() {
        let published = Arc::new(Mutex::new(Vec::new()));
        let follower = Follower::new(1, Shared(published.clone()));
        let (release, hung) = std::sync::mpsc::channel::<()>();
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = reads.clone();
        let read = move || {
            if counted.fetch_add(1, Ordering::SeqCst) == 1 {
                hung.recv().unwrap();
            }
            Ok(Read::Version(2))
        };
        let reports = Arc::new(Mutex::new(Vec::new()));
        let record = reports.clone();
        let mut options = FollowOptions::default()
            .interval(Duration::from_millis(1))
            .on_error(move |problem| record.lock().unwrap().push(problem.clone()));
        options.stuck_after = Duration::from_millis(20);
        spawn(read, "/hung".into(), options, follower).unwrap();
        let stuck = |reports: &Vec<FollowProblem>| {
            reports.iter().filter(|problem| matches!(problem, FollowProblem::ReadStuck { .. })).count()
        };
        let limit = Instant::now() + Duration::from_secs(60);
        while stuck(&reports.lock().unwrap()) == 0 {
            assert!(Instant::now() < limit, "the hung read was never reported");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(published.lock().unwrap().is_empty(), "nothing published while hung");
        release.send(()).unwrap();
        while published.lock().unwrap().is_empty() {
            assert!(Instant::now() < limit, "the follower did not go on");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(*published.lock().unwrap(), [2]);
        // Once per read (`Watch` is tested for that); a loaded machine may pause an ordinary one.
        let shown = reports.lock().unwrap()[0].to_string();
        assert!(shown.contains("has not returned") && shown.contains("last good key"), "{shown}");
    }

    #[test]
    fn only_a_confirmed_change_is_published() {
        let mut follower = Follower::new(1, Counting(Vec::new()));
        let t0 = Instant::now();
        for read in [Some(1), Some(1), None, Some(2), Some(1), Some(1), Some(2), None, Some(2), Some(2)] {
            follower.step(Ok(read.map_or(Read::SameAsLast, Read::Version)), t0);
        }
        assert_eq!(follower.feed.0, [(1, 2)], "a read of the current version changes nothing");
        assert_eq!(follower.current, 2);
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
        assert_eq!(*reports.lock().unwrap(), [FollowProblem::Load(missing("/x"))]);

        let reports = Mutex::new(Vec::new());
        run(|| {}, |_| panic!("a bug"), |error| reports.lock().unwrap().push(error.clone()), |_| {});
        assert_eq!(*reports.lock().unwrap(), [FollowProblem::Stopped], "a stop is never silent");
    }

    #[test]
    fn a_panicking_report_does_not_stop_the_follower() {
        report(
            "/nonexistent",
            &FollowProblem::Stopped,
            Some(&|_: &FollowProblem| panic!("the user's callback")),
        );
    }

    /// With `tracing`, a stop is an `ERROR` event and a problem with the source a `WARN` one,
    /// each naming the source.
    #[cfg(feature = "tracing")]
    #[test]
    fn a_stop_is_an_error_event_and_a_problem_a_warning() {
        let events = |error: FollowProblem| {
            let captured = Captured::default();
            let writer = captured.clone();
            let subscriber =
                tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
            tracing::subscriber::with_default(subscriber, || report("/run/customers", &error, None));
            captured.text()
        };
        let stopped = events(FollowProblem::Stopped);
        assert!(stopped.contains("ERROR") && stopped.contains("/run/customers"), "{stopped}");
        let problem = events(FollowProblem::Load(missing("/run/customers")));
        assert!(problem.contains("WARN") && !problem.contains("ERROR"), "{problem}");
        assert!(problem.contains("keeping the last good key"), "{problem}");
    }

    /// What a chain printer (`anyhow`'s `{:#}`, say) shows: each error, then its sources.
    fn chain(error: &dyn Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(error) = source {
            text = format!("{text}: {error}");
            source = error.source();
        }
        text
    }

    /// Each thing is printed once, however the error is printed.
    #[test]
    fn follow_errors_print_each_thing_once() {
        let invalid = crate::error::InvalidCredentials::IdContainsColon;
        let load = LoadError::File { path: "/run/pair".into(), problem: LoadProblem::Invalid(invalid) };
        let expected = "cannot load jocloud credentials from /run/pair: the certificate ID contains ':'";
        assert_eq!(chain(&load), expected);
        assert_eq!(chain(&FollowError::Load(load.clone())), expected);
        assert_eq!(chain(&FollowProblem::Load(load)), expected);
        let stopped = chain(&FollowProblem::Stopped);
        assert!(stopped.contains("stopped") && stopped.contains("no longer reloaded"), "{stopped}");
        let spawn = chain(&FollowError::Spawn(io::ErrorKind::WouldBlock));
        assert!(
            spawn.contains("cannot start") && spawn.contains(&io::ErrorKind::WouldBlock.to_string()),
            "{spawn}"
        );
        // The options' `Debug` shows their values (and whether a callback is set, not which).
        let options = format!("{:?}", FollowOptions::default().interval(Duration::from_millis(20)));
        assert!(options.contains("20ms") && options.contains("120s"), "{options}");
    }

    /// A `tracing` subscriber that panics on every event stops neither the loop nor the
    /// reports: the reload and the problem after it still reach `on_error` and the loop.
    #[cfg(feature = "tracing")]
    #[test]
    fn a_panicking_subscriber_does_not_stop_the_follower() {
        struct Panicking;
        impl tracing::Subscriber for Panicking {
            fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
                true
            }
            fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
                tracing::span::Id::from_u64(1)
            }
            fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
            fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
            fn event(&self, _: &tracing::Event<'_>) {
                panic!("a subscriber's bug");
            }
            fn enter(&self, _: &tracing::span::Id) {}
            fn exit(&self, _: &tracing::span::Id) {}
        }
        let reports = Mutex::new(Vec::new());
        let steps = Cell::new(0);
        tracing::subscriber::with_default(Panicking, || {
            run(
                || {},
                |_| {
                    steps.set(steps.get() + 1);
                    match steps.get() {
                        1 => Step::Reloaded(Reload::default()),
                        2 => Step::Report(missing("/x")),
                        _ => Step::Gone,
                    }
                },
                |error| {
                    report(
                        "/x",
                        error,
                        Some(&|error: &FollowProblem| reports.lock().unwrap().push(error.clone())),
                    )
                },
                |reload| announce("/x", reload),
            )
        });
        assert_eq!(steps.get(), 3, "the loop went on to its end");
        assert_eq!(*reports.lock().unwrap(), [FollowProblem::Load(missing("/x"))]);
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
