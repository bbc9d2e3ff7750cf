//! The credentials a validator accepts: each payload (`base64("<id>:<secret>")`) filed under its
//! SipHash with a random key of the set's own, and each ID indexed too, for digests, counting and
//! the events that name one. What timing reveals is in `validate`'s Security section; a larger
//! table adds only its cache effects.

use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use constant_time_eq::constant_time_eq;
use zeroize::Zeroizing;

use crate::credentials::{encode_payload, AcceptedCredential, Held};

/// One accepted credential: its ID and what a token is checked against.
#[derive(Clone)]
pub(crate) struct AcceptedEntry {
    pub(crate) id: Arc<str>,
    pub(crate) check: Check,
    /// Replaced by a newer key, and accepted only until its grace period ends.
    pub(crate) retiring: bool,
}

/// What a presented token is compared with.
#[derive(Clone, PartialEq)]
pub(crate) enum Check {
    /// The base64 payload a client sends (the secret in reversible form, zeroized when the
    /// last set holding it is dropped), filed under its keyed hash.
    Payload(Arc<Zeroizing<String>>),
    /// SHA-256 of `"<id>:<secret>"` (feature `digest`), filed under the ID.
    Sha256([u8; 32]),
}

impl Check {
    /// The longest token payload this accepts.
    fn longest_payload(&self) -> usize {
        match self {
            Check::Payload(payload) => payload.len(),
            #[cfg(feature = "digest")]
            Check::Sha256(_) => crate::digest::MAX_DIGEST_PAYLOAD,
            #[cfg(not(feature = "digest"))]
            Check::Sha256(_) => 0,
        }
    }
}

impl AcceptedEntry {
    pub(crate) fn new(credential: &AcceptedCredential) -> Self {
        let check = match credential.held() {
            Held::Secret(secret) => Check::Payload(Arc::new(encode_payload(credential.id(), secret))),
            Held::Sha256(digest) => Check::Sha256(*digest),
        };
        Self { id: credential.id().into(), check, retiring: false }
    }
}

/// What [`AcceptedSet::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    New,
    /// Accepted already, in its grace period: now current again.
    NoLongerRetiring,
    /// Accepted already: nothing changed.
    Known,
}

/// Accepted payloads by their keyed hash: almost always one entry per hash. The entries under
/// a hash are shared, so a changed copy of a large set costs a reference count per hash, not
/// an allocation or a re-encoded secret.
#[derive(Clone)]
pub(crate) struct AcceptedSet {
    hasher: RandomState,
    by_hash: HashMap<u64, Arc<[AcceptedEntry]>, BuildHasherDefault<AlreadyHashed>>,
    /// Credentials held by digest, by certificate ID (feature `digest`).
    pub(crate) digests: HashMap<Arc<str>, Arc<[AcceptedEntry]>>,
    /// Each certificate ID once: for counting customers, and for the events that name one.
    customers: HashMap<Arc<str>, Customer>,
    /// The longest payload any entry accepts (or has accepted): a longer token is refused
    /// before any work on it.
    longest: usize,
}

/// What the set knows of one certificate ID besides its keys.
struct Customer {
    /// How many entries carry this ID: two while a key is in its grace period.
    keys: usize,
    /// When a request with a key in its grace period may be announced again.
    retiring_event: EventGate,
}

impl Clone for Customer {
    fn clone(&self) -> Self {
        Self { keys: self.keys, retiring_event: self.retiring_event.clone() }
    }
}

/// Lets one event through per [`EventGate::INTERVAL`], whatever the number of requests: a
/// lock-free check, made only on the paths that report.
pub(crate) struct EventGate {
    start: Instant,
    /// Milliseconds after `start` before which no event goes through.
    next: AtomicU64,
}

// Read only by the `tracing` feature's events.
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
impl EventGate {
    pub(crate) const INTERVAL: Duration = Duration::from_secs(30);

    pub(crate) fn new(start: Instant) -> Self {
        Self { start, next: AtomicU64::new(0) }
    }

    /// Whether an event at `now` goes through; if it does, the next one waits an interval.
    pub(crate) fn pass(&self, now: Instant) -> bool {
        let at = u64::try_from(now.saturating_duration_since(self.start).as_millis()).unwrap_or(u64::MAX);
        let next = self.next.load(Ordering::Relaxed);
        let interval = Self::INTERVAL.as_millis() as u64;
        at >= next
            && self
                .next
                .compare_exchange(next, at.saturating_add(interval), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl Clone for EventGate {
    /// A copy with the same next time: a new snapshot of the set goes on where this one was.
    fn clone(&self) -> Self {
        Self { start: self.start, next: AtomicU64::new(self.next.load(Ordering::Relaxed)) }
    }
}

/// The size of a set and its first IDs, for `Debug`.
pub(crate) struct Summary {
    count: usize,
    first: Vec<Arc<str>>,
}

impl Summary {
    const SHOWN: usize = 5;
}

impl fmt::Debug for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        list.entries(&self.first);
        if self.count > self.first.len() {
            list.entry(&format_args!("… {} more", self.count - self.first.len()));
        }
        list.finish()
    }
}

/// Up to this many hashes, `find` compares with every entry rather than hash the payload.
const SCANNED: usize = 4;

/// The ID of the last of `entries` whose payload is `presented`, each compared in constant time
/// and none skipped, so that the time taken tells nothing of which one matched.
fn last_match<'a>(
    entries: impl Iterator<Item = &'a AcceptedEntry>,
    presented: &[u8],
) -> Option<&'a AcceptedEntry> {
    let mut found = None;
    for entry in entries {
        if matches!(&entry.check, Check::Payload(payload) if constant_time_eq(payload.as_bytes(), presented))
        {
            found = Some(entry);
        }
    }
    found
}

/// The table's keys are keyed SipHash values already; hashing them again would only cost time.
#[derive(Default)]
struct AlreadyHashed(u64);

impl Hasher for AlreadyHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is ever called; this keeps the hasher correct for any input anyway.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

impl AcceptedSet {
    /// An empty set with a fresh random key.
    pub(crate) fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            by_hash: HashMap::default(),
            digests: HashMap::new(),
            customers: HashMap::new(),
            longest: 0,
        }
    }

    /// The longest token payload an entry accepts, or has accepted since the set was made.
    pub(crate) fn longest(&self) -> usize {
        self.longest
    }

    pub(crate) fn with_entries(entries: impl IntoIterator<Item = AcceptedEntry>) -> Self {
        let mut set = Self::new();
        for entry in entries {
            set.insert(entry);
        }
        set
    }

    /// The entry that accepts `presented`, a token's base64 payload: one whose payload equals
    /// it byte for byte, or (feature `digest`) one holding the digest of what it decodes to.
    pub(crate) fn find(&self, presented: &[u8]) -> Option<&AcceptedEntry> {
        let found = self.find_payload(presented);
        #[cfg(feature = "digest")]
        let found = found.or_else(|| self.find_digest(presented));
        found
    }

    /// The entry whose payload equals `presented`. A set of a few credentials is compared with
    /// every one, to the end: hashing the payload would cost more than that.
    fn find_payload(&self, presented: &[u8]) -> Option<&AcceptedEntry> {
        if self.by_hash.len() <= SCANNED {
            return last_match(self.by_hash.values().flat_map(|filed| filed.iter()), presented);
        }
        last_match(self.by_hash.get(&self.hash(presented))?.iter(), presented)
    }

    /// Where `entry` is filed: under its payload's keyed hash, or its ID for a digest.
    fn slot(&mut self, entry: &AcceptedEntry) -> &mut Arc<[AcceptedEntry]> {
        match &entry.check {
            Check::Payload(payload) => {
                self.by_hash.entry(self.hash(payload.as_bytes())).or_insert_with(|| Arc::new([]))
            }
            Check::Sha256(_) => self.digests.entry(entry.id.clone()).or_insert_with(|| Arc::new([])),
        }
    }

    /// Drops the slot of `entry` if nothing is filed there any more.
    #[cfg(feature = "rotation")]
    fn drop_empty_slot(&mut self, entry: &AcceptedEntry) {
        match &entry.check {
            Check::Payload(payload) => {
                let hash = self.hash(payload.as_bytes());
                if self.by_hash.get(&hash).is_some_and(|filed| filed.is_empty()) {
                    self.by_hash.remove(&hash);
                }
            }
            Check::Sha256(_) => {
                if self.digests.get(&entry.id).is_some_and(|filed| filed.is_empty()) {
                    self.digests.remove(&entry.id);
                }
            }
        }
    }

    /// Every entry.
    fn entries(&self) -> impl Iterator<Item = &AcceptedEntry> {
        self.by_hash.values().chain(self.digests.values()).flat_map(|filed| filed.iter())
    }

    fn hash(&self, payload: &[u8]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(payload);
        hasher.finish()
    }

    /// Adds `entry` unless the same credentials are accepted already (then they are no longer
    /// retiring); says which.
    pub(crate) fn insert(&mut self, entry: AcceptedEntry) -> Inserted {
        let filed = self.slot(&entry);
        // A plain comparison: this runs when the set changes, not on a request.
        let known = filed.iter().find(|known| known.check == entry.check).map(|known| known.retiring);
        match known {
            Some(false) => return Inserted::Known,
            Some(true) => {
                *filed = filed
                    .iter()
                    .map(|known| AcceptedEntry {
                        retiring: known.retiring && known.check != entry.check,
                        ..known.clone()
                    })
                    .collect();
                return Inserted::NoLongerRetiring;
            }
            None => {}
        }
        let filed = filed.iter().cloned().chain([entry.clone()]).collect();
        *self.slot(&entry) = filed;
        self.longest = self.longest.max(entry.check.longest_payload());
        self.customers
            .entry(entry.id.clone())
            .or_insert_with(|| Customer { keys: 0, retiring_event: EventGate::new(Instant::now()) })
            .keys += 1;
        Inserted::New
    }

    /// Counts `entry` out of its customer's keys, and forgets a customer left with none.
    #[cfg(feature = "rotation")]
    fn forget(&mut self, entry: &AcceptedEntry) {
        if let Some(customer) = self.customers.get_mut(&entry.id) {
            customer.keys -= 1;
            if customer.keys == 0 {
                self.customers.remove(&entry.id);
            }
        }
    }

    /// Whether a request from `id` with a key in its grace period is to be announced at
    /// `now`: once per ID per [`EventGate::INTERVAL`].
    #[cfg(feature = "tracing")]
    pub(crate) fn announce_retiring(&self, id: &str, now: Instant) -> bool {
        self.customers.get(id).is_some_and(|customer| customer.retiring_event.pass(now))
    }

    /// How the set holds `id`'s keys, if it is an accepted certificate ID: `"digest"` where
    /// any is a digest, else `"secret"`.
    #[cfg(feature = "tracing")]
    pub(crate) fn held(&self, id: &str) -> Option<&'static str> {
        let known = self.customers.contains_key(id);
        known.then(|| if self.digests.contains_key(id) { "digest" } else { "secret" })
    }

    /// Marks `credential` as retiring: still accepted, in its grace period. Says whether it
    /// was accepted and not retiring before.
    #[cfg(feature = "rotation")]
    pub(crate) fn retire(&mut self, credential: &AcceptedCredential) -> bool {
        let entry = AcceptedEntry::new(credential);
        let filed = self.slot(&entry);
        let changed = filed.iter().any(|known| !known.retiring && known.check == entry.check);
        if changed {
            let retiring = |known: &AcceptedEntry| known.retiring || known.check == entry.check;
            *filed = filed
                .iter()
                .map(|known| AcceptedEntry { retiring: retiring(known), ..known.clone() })
                .collect();
        }
        self.drop_empty_slot(&entry);
        changed
    }

    /// Removes every entry whose ID `gone` says is gone; returns how many.
    #[cfg(feature = "rotation")]
    pub(crate) fn remove_where(&mut self, gone: impl Fn(&str) -> bool) -> usize {
        let mut removed = Vec::new();
        let mut sort_out = |filed: &mut Arc<[AcceptedEntry]>| {
            let (went, kept): (Vec<AcceptedEntry>, Vec<AcceptedEntry>) =
                filed.iter().cloned().partition(|entry| gone(&entry.id));
            if !went.is_empty() {
                removed.extend(went);
                *filed = kept.into();
            }
            !filed.is_empty()
        };
        self.by_hash.retain(|_, filed| sort_out(filed));
        self.digests.retain(|_, filed| sort_out(filed));
        removed.iter().for_each(|entry| self.forget(entry));
        removed.len()
    }

    /// Removes `credential` (this ID with this secret or digest); says whether it was there.
    #[cfg(feature = "rotation")]
    pub(crate) fn remove(&mut self, credential: &AcceptedCredential) -> bool {
        let entry = AcceptedEntry::new(credential);
        let filed = self.slot(&entry);
        let (went, kept): (Vec<AcceptedEntry>, Vec<AcceptedEntry>) =
            filed.iter().cloned().partition(|known| known.check == entry.check);
        *filed = kept.into();
        self.drop_empty_slot(&entry);
        went.iter().for_each(|entry| self.forget(entry));
        !went.is_empty()
    }

    /// How many credentials the set holds, with the first few IDs in order: what `Debug`
    /// shows of a set that may hold 100,000.
    pub(crate) fn summary(&self) -> Summary {
        let mut first: Vec<Arc<str>> = Vec::with_capacity(Summary::SHOWN + 1);
        let mut count = 0;
        for entry in self.entries() {
            count += 1;
            // Kept in order, and cut back to the first few each time.
            first.insert(first.partition_point(|id| **id <= *entry.id), entry.id.clone());
            first.truncate(Summary::SHOWN);
        }
        Summary { count, first }
    }

    /// The accepted IDs, each once, sorted.
    #[cfg_attr(not(feature = "rotation"), allow(dead_code))]
    pub(crate) fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.customers.keys().map(|id| id.to_string()).collect();
        ids.sort_unstable();
        ids
    }

    /// How many certificate IDs are accepted.
    #[cfg_attr(not(feature = "rotation"), allow(dead_code))]
    pub(crate) fn id_count(&self) -> usize {
        self.customers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, secret: &str) -> AcceptedEntry {
        AcceptedEntry::new(&AcceptedCredential::new(id, secret).unwrap())
    }

    fn payload(id: &str, secret: &str) -> Zeroizing<String> {
        encode_payload(id, secret)
    }

    #[test]
    fn finds_exactly_the_accepted_payloads() {
        let set = AcceptedSet::with_entries([entry("a", "one"), entry("b", "two"), entry("a", "three")]);
        assert_eq!(set.find(payload("a", "one").as_bytes()).map(|entry| &*entry.id), Some("a"));
        assert_eq!(set.find(payload("b", "two").as_bytes()).map(|entry| &*entry.id), Some("b"));
        assert_eq!(set.find(payload("a", "three").as_bytes()).map(|entry| &*entry.id), Some("a"));
        for presented in [payload("a", "two").as_bytes(), b"", b"YTpvbmU", b"YTpvbmU==="] {
            assert!(set.find(presented).is_none(), "{presented:?}");
        }
        assert_eq!(set.ids(), ["a", "b"], "each ID once");
        assert_eq!(set.id_count(), 2);
    }

    #[cfg(feature = "rotation")]
    #[test]
    fn a_customer_is_counted_while_any_of_its_keys_is_accepted() {
        let mut set = AcceptedSet::with_entries([entry("a", "one"), entry("a", "two"), entry("b", "one")]);
        assert_eq!(set.insert(entry("a", "one")), Inserted::Known, "a key already there counts once");
        assert_eq!(set.id_count(), 2);
        assert!(set.remove(&AcceptedCredential::new("a", "one").unwrap()));
        assert_eq!(set.ids(), ["a", "b"]);
        assert_eq!(set.remove_where(|id| id == "a"), 1);
        assert_eq!(set.ids(), ["b"]);
        assert!(set.remove(&AcceptedCredential::new("b", "one").unwrap()));
        assert_eq!(set.id_count(), 0);
    }

    /// One event per interval, whatever the number of requests; a copy (a new snapshot of the
    /// set) goes on where the original was.
    #[test]
    fn an_event_gate_lets_one_through_per_interval() {
        let t0 = Instant::now();
        let gate = EventGate::new(t0);
        assert!(gate.pass(t0));
        assert!(!gate.pass(t0));
        assert!(!gate.pass(t0 + EventGate::INTERVAL - Duration::from_millis(1)));
        let copy = gate.clone();
        assert!(gate.pass(t0 + EventGate::INTERVAL));
        assert!(!gate.pass(t0 + EventGate::INTERVAL));
        assert!(copy.pass(t0 + EventGate::INTERVAL), "a copy has its own next time");
        assert!(!gate.pass(t0), "a time before the start is the start");
        let late = t0 + Duration::from_secs(3600);
        assert!(gate.pass(late) && !gate.pass(late + Duration::from_secs(1)));
    }

    #[cfg(feature = "rotation")]
    #[test]
    fn repeated_credentials_count_once_and_removal_is_exact() {
        let mut set = AcceptedSet::new();
        assert_eq!(set.insert(entry("a", "one")), Inserted::New);
        assert_eq!(set.insert(entry("a", "one")), Inserted::Known);
        assert_eq!(set.insert(entry("a", "two")), Inserted::New);
        assert!(set.retire(&AcceptedCredential::new("a", "two").unwrap()));
        assert!(!set.retire(&AcceptedCredential::new("a", "two").unwrap()), "retiring already");
        assert!(!set.retire(&AcceptedCredential::new("a", "three").unwrap()), "not accepted");
        assert_eq!(set.insert(entry("a", "two")), Inserted::NoLongerRetiring);
        assert!(set.remove(&AcceptedCredential::new("a", "one").unwrap()));
        assert!(!set.remove(&AcceptedCredential::new("a", "one").unwrap()));
        assert_eq!(set.ids(), ["a"]);
        assert_eq!(set.remove_where(|id| id == "a"), 1);
        assert!(set.by_hash.is_empty());
    }

    /// Every single-bit change of an accepted payload, for payloads of 1 to 400 bytes, is
    /// refused; the payload itself is found.
    #[test]
    fn every_single_bit_change_is_refused() {
        let long: Vec<u8> = (0..400)
            .map(|i| b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64])
            .collect();
        for len in 1..=400 {
            let payload = &long[..len];
            let entry = AcceptedEntry {
                id: "id".into(),
                check: Check::Payload(Arc::new(Zeroizing::new(String::from_utf8(payload.to_vec()).unwrap()))),
                retiring: false,
            };
            let set = AcceptedSet::with_entries([entry]);
            assert!(set.find(payload).is_some(), "length {len}");
            let mut changed = payload.to_vec();
            for at in 0..len {
                for bit in 0..8 {
                    changed[at] ^= 1 << bit;
                    assert!(set.find(&changed).is_none(), "length {len}, byte {at}, bit {bit}");
                    changed[at] ^= 1 << bit;
                }
            }
        }
    }

    /// The keyed hash tells payloads apart and differs between sets (a fresh random key each);
    /// the table's hasher passes a hash through as it is. A constant hash would keep every
    /// answer right and lose only the flat cost, so this is checked here directly.
    #[test]
    fn hashes_spread_and_pass_through() {
        let (one, other) = (AcceptedSet::new(), AcceptedSet::new());
        let payloads = [&b"cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw=="[..], b"b3RoZXI6c2VjcmV0", b""];
        let hashes: std::collections::HashSet<u64> = payloads.iter().map(|p| one.hash(p)).collect();
        assert_eq!(hashes.len(), payloads.len());
        assert_ne!(one.hash(payloads[0]), other.hash(payloads[0]));

        let mut passed = AlreadyHashed::default();
        passed.write_u64(0x0123_4567_89ab_cdef);
        assert_eq!(passed.finish(), 0x0123_4567_89ab_cdef);
        let mut written = AlreadyHashed::default();
        written.write(&[0x01, 0x80]);
        assert_eq!(written.finish(), 0x0180);
        // Nine bytes: the first comes round again onto the last, and cancels it.
        let mut wrapped = AlreadyHashed::default();
        wrapped.write(&[0x01, 0, 0, 0, 0, 0, 0, 0, 0x01]);
        assert_eq!(wrapped.finish(), 0);
    }

    /// Removing one of two entries filed under one hash keeps the other and counts one.
    #[cfg(feature = "rotation")]
    #[test]
    fn removing_from_a_shared_hash_counts_what_went() {
        let mut set = AcceptedSet::with_entries([entry("a", "one")]);
        let hash = set.hash(payload("a", "one").as_bytes());
        let filed = set.by_hash.get_mut(&hash).unwrap();
        *filed = [entry("b", "two")].into_iter().chain(filed.iter().cloned()).collect();
        assert_eq!(set.remove_where(|id| id == "b"), 1);
        assert_eq!(set.ids(), ["a"]);
        assert!(set.remove(&AcceptedCredential::new("a", "one").unwrap()));
        assert!(set.by_hash.is_empty());
    }

    /// A set of up to four is compared with every entry, wherever it is filed; a larger one
    /// looks under the presented payload's hash only. An entry filed under a wrong hash shows
    /// which path a look-up took.
    #[test]
    fn a_small_set_is_scanned_and_a_large_one_hashed() {
        for (size, found) in [(SCANNED, true), (SCANNED + 1, false)] {
            let mut set = AcceptedSet::with_entries((0..size).map(|n| entry(&format!("id{n}"), "secret")));
            let hash = set.hash(payload("id0", "secret").as_bytes());
            let misfiled = set.by_hash.remove(&hash).unwrap();
            set.by_hash.insert(hash.wrapping_add(1), misfiled);
            let lookup = set.find(payload("id0", "secret").as_bytes());
            assert_eq!(lookup.is_some(), found, "a set of {size}");
        }
    }

    #[test]
    fn an_entry_sharing_its_hash_with_another_is_still_found() {
        // A 64-bit collision cannot be made on purpose; file a second entry beside the first.
        let mut set = AcceptedSet::with_entries([entry("a", "one")]);
        let hash = set.hash(payload("a", "one").as_bytes());
        let filed = set.by_hash.get_mut(&hash).unwrap();
        *filed = [entry("b", "two")].into_iter().chain(filed.iter().cloned()).collect();
        assert_eq!(set.find(payload("a", "one").as_bytes()).map(|entry| &*entry.id), Some("a"));
    }
}
