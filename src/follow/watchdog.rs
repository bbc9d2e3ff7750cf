//! The follower's watchdog: a read of the source that has not returned after a while (a hung
//! network mount) is reported, once per read.

use std::{
    sync::{atomic::AtomicBool, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// When the follower's read of the source began, if one is under way: what its watchdog
/// looks at.
#[derive(Default)]
pub(super) struct Reading {
    pub(super) since: Mutex<Option<Instant>>,
    /// Set once the follower has stopped, so that the watchdog stops too.
    pub(super) done: AtomicBool,
}

impl Reading {
    /// `read()`, noted as under way while it runs.
    pub(super) fn during<R>(&self, read: &mut impl FnMut() -> R) -> R {
        *self.since.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        let result = read();
        *self.since.lock().unwrap_or_else(PoisonError::into_inner) = None;
        result
    }
}

/// Marks the follower stopped when dropped, however its thread ends.
pub(super) struct Done<'a>(pub(super) &'a Reading);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.done.store(true, std::sync::atomic::Ordering::Release);
    }
}

/// The watchdog's state: which read it reported last, so that each stuck read is reported
/// once.
pub(super) struct Watch {
    stuck_after: Duration,
    /// When the read reported last began.
    reported: Option<Instant>,
}

impl Watch {
    pub(super) fn new(stuck_after: Duration) -> Self {
        Self { stuck_after, reported: None }
    }

    /// For how long the read under way since `started` has run, if it is to be reported at
    /// `now`: once per read, when it has run `stuck_after`.
    pub(super) fn check(&mut self, started: Option<Instant>, now: Instant) -> Option<Duration> {
        let started = started?;
        let reading_for = now.saturating_duration_since(started);
        if reading_for < self.stuck_after || self.reported == Some(started) {
            return None;
        }
        self.reported = Some(started);
        Some(reading_for)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each read that runs `stuck_after` is reported once, at the first check after; a read
    /// that returns in time, or none under way, is not.
    #[test]
    fn a_stuck_read_is_reported_once_per_read() {
        let stuck_after = Duration::from_secs(10);
        let mut watch = Watch::new(stuck_after);
        let t0 = Instant::now();
        assert_eq!(watch.check(None, t0), None, "no read under way");
        assert_eq!(watch.check(Some(t0), t0 + stuck_after - Duration::from_millis(1)), None);
        assert_eq!(watch.check(Some(t0), t0 + stuck_after), Some(stuck_after));
        assert_eq!(watch.check(Some(t0), t0 + stuck_after * 5), None, "that read was reported");
        let t1 = t0 + stuck_after * 6;
        assert_eq!(watch.check(None, t1), None);
        assert_eq!(watch.check(Some(t1), t1 + stuck_after * 2), Some(stuck_after * 2), "the next one is");
        assert_eq!(watch.check(Some(t1), t0), None, "a check before the read began");
    }
}
