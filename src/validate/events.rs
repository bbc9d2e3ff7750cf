//! The validator's `tracing` events (feature `tracing`): a rejection at `DEBUG`; an accepted
//! caller in the request's span; a request with a key in its grace period at `INFO`, once per ID
//! per 30 s, whatever the number of requests.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::{accepted::AcceptedSet, caller::AuthenticatedId, presented::Presented, rejection::Rejection};

/// A certificate ID the set knows, named in the event of a rejection of its token, and how the
/// set holds it.
pub(super) struct Known {
    id: String,
    held: &'static str,
}

impl Known {
    /// For a rejection of a token whose ID the set knows (a wrong secret, of a length up to a
    /// decoded credential's), that ID. Looked up only where the rejection's event is wanted, so
    /// that timing tells no known ID where nobody listens.
    pub(super) fn of(rejection: Rejection, presented: &mut Presented<'_>, set: &AcceptedSet) -> Option<Self> {
        let wrong_secret = matches!(rejection, Rejection::UnknownCredential | Rejection::TooLong);
        if !(wrong_secret && tracing::enabled!(tracing::Level::DEBUG)) {
            return None;
        }
        let id = presented.id()?;
        let held = set.held(id)?;
        Some(Self { id: id.to_owned(), held })
    }
}

/// The certificate IDs a set holds by secret, each with its number of keys (two while one is in
/// its grace period): so that the event of a wrong secret finds a known ID in one look-up,
/// whatever the set's size. (A set finds the IDs it holds by digest by ID already.)
#[derive(Clone, Default)]
pub(super) struct SecretIds(HashMap<Arc<str>, usize>);

impl SecretIds {
    /// Counts a new key of `id` in.
    pub(super) fn add(&mut self, id: &Arc<str>) {
        *self.0.entry(id.clone()).or_default() += 1;
    }

    /// Counts `keys` keys of `id` out, and forgets an ID left with none.
    #[cfg(feature = "rotation")]
    pub(super) fn forget(&mut self, id: &str, keys: usize) {
        if let Some(held) = self.0.get_mut(id) {
            *held = held.saturating_sub(keys);
            if *held == 0 {
                self.0.remove(id);
            }
        }
    }

    pub(super) fn contains(&self, id: &str) -> bool {
        self.0.contains_key(id)
    }
}

/// The rejection's `DEBUG` event: its reason, and for a known ID with a wrong secret, the ID and
/// how the set holds it, so that a customer's stale secret (or a digest made with `echo`'s
/// newline) stands out from noise. An ID that is not accepted is never echoed.
pub(super) fn rejected(rejection: Rejection, known: Option<&Known>, report_only: bool) {
    match known {
        Some(known) => tracing::debug!(
            reason = rejection.as_str(),
            report_only,
            jocloud.caller_id = known.id.as_str(),
            held = known.held,
            "jocloud token rejected: wrong secret for a known certificate ID"
        ),
        None => tracing::debug!(reason = rejection.as_str(), report_only, "jocloud token rejected"),
    }
}

/// Records an accepted caller in the current span's `jocloud.caller_id`, where one declares it.
pub(super) fn accepted(id: &AuthenticatedId) {
    // Borrowed: tracing before 0.1.37 (this crate allows 0.1.30) takes a sized value by reference.
    #[allow(clippy::needless_borrows_for_generic_args)]
    tracing::Span::current().record("jocloud.caller_id", &id.as_str());
}

/// When each ID's next event about a key in its grace period may go: one per ID per
/// [`INTERVAL`](Self::INTERVAL). Held by the layer, shared by its services.
#[derive(Default)]
pub(super) struct Retiring {
    next: Mutex<HashMap<Box<str>, Instant>>,
}

impl Retiring {
    const INTERVAL: Duration = Duration::from_secs(30);

    /// IDs remembered before the ones whose interval is over are forgotten.
    const REMEMBERED: usize = 4096;

    /// The `INFO` event for a request from `id` with a key in its grace period, unless one went
    /// for it less than an interval ago.
    pub(super) fn announce(&self, id: &AuthenticatedId) {
        if self.pass(id.as_str(), Instant::now()) {
            tracing::info!(
                jocloud.caller_id = id.as_str(),
                "jocloud requests with a key in its grace period (one event per ID per 30 s)"
            );
        }
    }

    /// Whether an event for `id` at `now` goes; if it does, the next one waits an interval. A
    /// request never waits for another's: the one that finds the gate taken sends no event.
    fn pass(&self, id: &str, now: Instant) -> bool {
        let Ok(mut next) = self.next.try_lock() else { return false };
        if next.get(id).is_some_and(|&at| now < at) {
            return false;
        }
        if next.len() >= Self::REMEMBERED {
            next.retain(|_, at| now < *at);
        }
        next.insert(id.into(), now + Self::INTERVAL);
        true
    }
}

/// A new layer's gate: a copy made while a layer is built starts with no event sent.
impl Clone for Retiring {
    fn clone(&self) -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event per ID per interval, whatever the number of requests; each ID has its own.
    #[test]
    fn a_retiring_key_is_announced_once_per_id_and_interval() {
        let retiring = Retiring::default();
        let t0 = Instant::now();
        assert!(retiring.pass("a", t0));
        assert!(!retiring.pass("a", t0));
        assert!(!retiring.pass("a", t0 + Retiring::INTERVAL - Duration::from_millis(1)));
        assert!(retiring.pass("b", t0), "another ID");
        assert!(retiring.pass("a", t0 + Retiring::INTERVAL));
        assert!(!retiring.pass("a", t0 + Retiring::INTERVAL));
        let late = t0 + Duration::from_secs(3600);
        assert!(retiring.pass("a", late) && !retiring.pass("a", late + Duration::from_secs(1)));
    }

    /// Past the IDs it remembers, those whose interval is over are forgotten, and those still
    /// within it kept.
    #[test]
    fn a_gate_forgets_ids_whose_interval_is_over() {
        let retiring = Retiring::default();
        let t0 = Instant::now();
        assert!(retiring.pass("early", t0));
        let later = t0 + Retiring::INTERVAL;
        for n in 1..Retiring::REMEMBERED {
            assert!(retiring.pass(&n.to_string(), later));
        }
        assert!(retiring.pass("one more", later));
        let next = retiring.next.lock().unwrap();
        assert!(!next.contains_key("early") && next.contains_key("1") && next.contains_key("one more"));
    }
}
