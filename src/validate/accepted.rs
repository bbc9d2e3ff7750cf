//! The credentials a validator accepts, indexed for the check: each one held by its secret as
//! the payload a client sends, `base64("<id>:<secret>")`, filed under its SipHash with a random
//! key of the set's own; (feature `digest`) each one held by digest under its ID. Plain data: a live set publishes a new one at each change, sharing every payload
//! with the last. What timing reveals is in the module's Security section.

use std::{
    collections::HashMap,
    fmt,
    hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState},
    sync::Arc,
};

use constant_time_eq::constant_time_eq;
use zeroize::Zeroize;

#[cfg(feature = "tracing")]
use super::events::SecretIds;
#[cfg(feature = "rotation")]
use super::filed::Change;
use super::{
    caller::Caller,
    filed::{self, Filed, Inserted},
    rejection::Rejection,
};
#[cfg(feature = "digest")]
use super::{
    digest::Digests,
    presented::{Presented, MAX_DECODED_PAYLOAD},
};
use crate::credentials::AcceptedCredential;

/// The credentials a validator accepts.
#[derive(Clone)]
pub(crate) struct AcceptedSet {
    hasher: RandomState,
    by_hash: HashMap<u64, Filed<Entry>, BuildHasherDefault<AlreadyHashed>>,
    /// The IDs held by secret, for naming a known ID in a rejection's event.
    #[cfg(feature = "tracing")]
    secret_ids: SecretIds,
    #[cfg(feature = "digest")]
    digests: Digests,
    /// The longest payload any entry accepts, or has accepted: a longer token is refused
    /// before any work on it.
    longest: usize,
}

/// One credential held by its secret.
#[derive(Clone)]
struct Entry {
    id: Arc<str>,
    payload: Payload,
    retiring: bool,
}

impl filed::Entry for Entry {
    type Key = [u8];

    fn key(&self) -> &[u8] {
        &self.payload.0
    }

    fn retiring(&self) -> bool {
        self.retiring
    }

    fn with_retiring(&self, retiring: bool) -> Self {
        Self { retiring, ..self.clone() }
    }
}

/// The base64 payload a client sends, the secret in reversible form: shared by the set's
/// snapshots, and wiped when the last one lets go of it.
#[derive(Clone)]
struct Payload(Arc<[u8]>);

impl Drop for Payload {
    fn drop(&mut self) {
        if let Some(bytes) = Arc::get_mut(&mut self.0) {
            bytes.zeroize();
        }
    }
}

/// Up to this many hashes, a look-up compares with every entry rather than hash the payload.
const SCANNED: usize = 4;

/// The caller of the last of `entries` whose payload is `presented`, each compared in constant
/// time and none skipped, so that the time taken tells nothing of which one matched.
fn last_match<'a>(entries: impl Iterator<Item = &'a Entry>, presented: &[u8]) -> Option<Caller> {
    let mut found = None;
    for entry in entries {
        if constant_time_eq(&entry.payload.0, presented) {
            found = Some(entry);
        }
    }
    found.map(|entry| Caller::new(&entry.id, entry.retiring))
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

    fn write(&mut self, _: &[u8]) {
        unreachable!("a table of u64 keys hashes them with write_u64 only")
    }
}

impl AcceptedSet {
    /// An empty set with a fresh random key.
    pub(crate) fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            by_hash: HashMap::default(),
            #[cfg(feature = "tracing")]
            secret_ids: SecretIds::default(),
            #[cfg(feature = "digest")]
            digests: Digests::default(),
            longest: 0,
        }
    }

    pub(crate) fn of<C: Into<AcceptedCredential>>(credentials: impl IntoIterator<Item = C>) -> Self {
        let mut set = Self::new();
        for credential in credentials {
            set.insert(&credential.into());
        }
        set
    }

    /// The caller a token's payload names, held by its secret, or why there is none: a payload
    /// longer than any accepted is refused unread; another is compared byte for byte.
    pub(super) fn find(&self, payload: &[u8]) -> Result<Caller, Rejection> {
        if self.longest > 0 && payload.len() > self.longest {
            return Err(Rejection::TooLong);
        }
        self.find_payload(payload).ok_or(Rejection::UnknownCredential)
    }

    /// The caller a token names that is held by the digest of what it decodes to.
    #[cfg(feature = "digest")]
    pub(super) fn find_digest(&self, presented: &mut Presented<'_>) -> Option<Caller> {
        self.digests.find(presented)
    }

    /// The caller whose payload is `presented`. A set of a few hashes is compared with every
    /// entry, to the end: hashing the payload would cost more than that.
    fn find_payload(&self, presented: &[u8]) -> Option<Caller> {
        if self.by_hash.len() <= SCANNED {
            return last_match(self.by_hash.values().flat_map(Filed::entries), presented);
        }
        last_match(self.by_hash.get(&self.hash(presented))?.entries().iter(), presented)
    }

    fn hash(&self, payload: &[u8]) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(payload);
        hasher.finish()
    }

    /// Accepts `credential` unless it is accepted already (then it is no longer retiring);
    /// says which.
    pub(crate) fn insert(&mut self, credential: &AcceptedCredential) -> Inserted {
        let id: Arc<str> = credential.id().into();
        let (inserted, longest) = match credential.payload() {
            Some(payload) => {
                let entry =
                    Entry { id: id.clone(), payload: Payload(payload.as_bytes().into()), retiring: false };
                let hash = self.hash(payload.as_bytes());
                let inserted = filed::insert(&mut self.by_hash, hash, entry);
                #[cfg(feature = "tracing")]
                if inserted == Inserted::New {
                    self.secret_ids.add(&id);
                }
                (inserted, payload.len())
            }
            #[cfg(feature = "digest")]
            None => (self.digests.insert(&id, credential), MAX_DECODED_PAYLOAD),
            #[cfg(not(feature = "digest"))]
            None => return Inserted::Known,
        };
        if inserted == Inserted::New {
            self.longest = self.longest.max(longest);
        }
        inserted
    }

    /// Marks `credential` as retiring: still accepted, in its grace period. Says whether it
    /// was accepted and not retiring before.
    #[cfg(feature = "rotation")]
    pub(crate) fn retire(&mut self, credential: &AcceptedCredential) -> bool {
        self.change(credential, Change::Retire)
    }

    /// Stops accepting `credential` (this ID with this secret or digest); says whether it was
    /// accepted.
    #[cfg(feature = "rotation")]
    pub(crate) fn remove(&mut self, credential: &AcceptedCredential) -> bool {
        let removed = self.change(credential, Change::Remove);
        #[cfg(feature = "tracing")]
        if removed && credential.payload().is_some() {
            self.secret_ids.forget(credential.id(), 1);
        }
        removed
    }

    #[cfg(feature = "rotation")]
    fn change(&mut self, credential: &AcceptedCredential, change: Change) -> bool {
        match credential.payload() {
            Some(payload) => {
                let hash = self.hash(payload.as_bytes());
                filed::change(&mut self.by_hash, &hash, payload.as_bytes(), change)
            }
            #[cfg(feature = "digest")]
            None => self.digests.change(credential, change),
            #[cfg(not(feature = "digest"))]
            None => false,
        }
    }

    /// Stops accepting every key of `id`; returns how many there were.
    #[cfg(feature = "rotation")]
    pub(crate) fn remove_id(&mut self, id: &str) -> usize {
        let removed = filed::remove_where(&mut self.by_hash, |entry| &*entry.id == id);
        #[cfg(feature = "tracing")]
        self.secret_ids.forget(id, removed);
        #[cfg(feature = "digest")]
        let removed = removed + self.digests.remove_id(id);
        removed
    }

    /// How the set holds `id`'s keys, if it is an accepted certificate ID: `"digest"` where
    /// any is a digest, else `"secret"`.
    #[cfg(feature = "tracing")]
    pub(super) fn held(&self, id: &str) -> Option<&'static str> {
        #[cfg(feature = "digest")]
        if self.digests.holds(id) {
            return Some("digest");
        }
        self.secret_ids.contains(id).then_some("secret")
    }

    /// The ID of every credential, once per key: a walk of the whole set, for what is asked
    /// of it now and then (its IDs, their number, its `Debug`), never on a request.
    fn every_id(&self) -> impl Iterator<Item = &Arc<str>> {
        let ids = self.by_hash.values().flat_map(Filed::entries).map(|entry| &entry.id);
        #[cfg(feature = "digest")]
        let ids = ids.chain(self.digests.ids());
        ids
    }

    /// The accepted IDs, each once, sorted.
    #[cfg_attr(not(feature = "rotation"), allow(dead_code))]
    pub(crate) fn ids(&self) -> Vec<String> {
        let mut ids: Vec<&str> = self.every_id().map(|id| &**id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter().map(str::to_owned).collect()
    }

    /// How many certificate IDs are accepted.
    #[cfg_attr(not(feature = "rotation"), allow(dead_code))]
    pub(crate) fn id_count(&self) -> usize {
        self.every_id().map(|id| &**id).collect::<std::collections::HashSet<&str>>().len()
    }

    /// How many credentials the set holds, with the first few IDs in order: what `Debug`
    /// shows of a set that may hold 100,000.
    pub(crate) fn summary(&self) -> Summary {
        let mut first: Vec<Arc<str>> = Vec::with_capacity(Summary::SHOWN + 1);
        let mut count = 0;
        for id in self.every_id() {
            count += 1;
            // Kept in order, and cut back to the first few each time.
            first.insert(first.partition_point(|known| **known <= **id), id.clone());
            first.truncate(Summary::SHOWN);
        }
        Summary { count, first }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;

    fn credential(id: &str, secret: &str) -> AcceptedCredential {
        AcceptedCredential::new(id, secret).unwrap()
    }

    fn payload(id: &str, secret: &str) -> String {
        Credentials::new(id, secret).unwrap().encoded_payload().to_string()
    }

    /// The ID a token's payload is accepted as, if it is.
    fn find(set: &AcceptedSet, presented: &[u8]) -> Option<String> {
        set.find(presented).ok().map(|caller| caller.id.to_string())
    }

    /// An entry of `id` holding `payload`, to file by hand.
    fn entry(id: &str, payload: &[u8]) -> Entry {
        Entry { id: id.into(), payload: Payload(payload.into()), retiring: false }
    }

    /// `entry` filed under `hash` beside what is there: a 64-bit collision cannot be made on
    /// purpose.
    fn file_beside(set: &mut AcceptedSet, hash: u64, entry: Entry) {
        let filed = set.by_hash.get_mut(&hash).unwrap();
        let entries = [entry].into_iter().chain(filed.entries().iter().cloned());
        *filed = Filed::Several(entries.collect());
    }

    #[test]
    fn finds_exactly_the_accepted_payloads() {
        let set = AcceptedSet::of([credential("a", "one"), credential("b", "two"), credential("a", "three")]);
        assert_eq!(find(&set, payload("a", "one").as_bytes()).as_deref(), Some("a"));
        assert_eq!(find(&set, payload("b", "two").as_bytes()).as_deref(), Some("b"));
        assert_eq!(find(&set, payload("a", "three").as_bytes()).as_deref(), Some("a"));
        for presented in [payload("a", "two").as_bytes(), b"", b"YTpvbmU", b"YTpvbmU==="] {
            assert!(find(&set, presented).is_none(), "{presented:?}");
        }
        assert_eq!(set.ids(), ["a", "b"], "each ID once");
        assert_eq!(set.id_count(), 2);
    }

    #[cfg(feature = "rotation")]
    #[test]
    fn a_customer_is_counted_while_any_of_its_keys_is_accepted() {
        let mut set =
            AcceptedSet::of([credential("a", "one"), credential("a", "two"), credential("b", "one")]);
        assert_eq!(set.insert(&credential("a", "one")), Inserted::Known, "a key already there counts once");
        assert_eq!(set.id_count(), 2);
        assert!(set.remove(&credential("a", "one")));
        assert_eq!(set.ids(), ["a", "b"]);
        assert_eq!(set.remove_id("a"), 1);
        assert_eq!(set.ids(), ["b"]);
        assert!(set.remove(&credential("b", "one")));
        assert_eq!(set.id_count(), 0);
    }

    #[cfg(feature = "rotation")]
    #[test]
    fn repeated_credentials_count_once_and_removal_is_exact() {
        let mut set = AcceptedSet::new();
        assert_eq!(set.insert(&credential("a", "one")), Inserted::New);
        assert_eq!(set.insert(&credential("a", "one")), Inserted::Known);
        assert_eq!(set.insert(&credential("a", "two")), Inserted::New);
        assert!(set.retire(&credential("a", "two")));
        assert!(!set.retire(&credential("a", "two")), "retiring already");
        assert!(!set.retire(&credential("a", "three")), "not accepted");
        assert_eq!(set.insert(&credential("a", "two")), Inserted::NoLongerRetiring);
        assert!(set.remove(&credential("a", "one")));
        assert!(!set.remove(&credential("a", "one")));
        assert_eq!(set.ids(), ["a"]);
        assert_eq!(set.remove_id("a"), 1);
        assert!(set.by_hash.is_empty());
    }

    /// A rejection's event names an ID while any of its keys is held, and only then.
    #[cfg(all(feature = "tracing", feature = "rotation"))]
    #[test]
    fn an_id_is_known_while_any_of_its_keys_is_held() {
        let mut set =
            AcceptedSet::of([credential("a", "one"), credential("a", "two"), credential("b", "one")]);
        assert_eq!(set.insert(&credential("a", "one")), Inserted::Known);
        assert!(set.remove(&credential("a", "one")));
        assert!(!set.remove(&credential("a", "one")), "removed already");
        assert_eq!((set.held("a"), set.held("b"), set.held("c")), (Some("secret"), Some("secret"), None));
        assert!(set.remove(&credential("a", "two")));
        assert_eq!(set.held("a"), None);
        assert_eq!(set.insert(&credential("b", "two")), Inserted::New);
        assert_eq!(set.remove_id("b"), 2);
        assert_eq!(set.held("b"), None);
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
            let mut set = AcceptedSet::new();
            let entry = entry("id", payload);
            let hash = set.hash(payload);
            filed::insert(&mut set.by_hash, hash, entry);
            assert!(find(&set, payload).is_some(), "length {len}");
            let mut changed = payload.to_vec();
            for at in 0..len {
                for bit in 0..8 {
                    changed[at] ^= 1 << bit;
                    assert!(find(&set, &changed).is_none(), "length {len}, byte {at}, bit {bit}");
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
    }

    /// Removing one of two entries filed under one hash keeps the other and counts one.
    #[cfg(feature = "rotation")]
    #[test]
    fn removing_from_a_shared_hash_counts_what_went() {
        let mut set = AcceptedSet::of([credential("a", "one")]);
        let hash = set.hash(payload("a", "one").as_bytes());
        file_beside(&mut set, hash, entry("b", payload("b", "two").as_bytes()));
        assert_eq!(set.remove_id("b"), 1);
        assert_eq!(set.ids(), ["a"]);
        assert!(set.remove(&credential("a", "one")));
        assert!(set.by_hash.is_empty());
    }

    /// A set of up to four hashes is compared with every entry, wherever it is filed; a larger
    /// one looks under the presented payload's hash only. An entry filed under a wrong hash
    /// shows which path a look-up took.
    #[test]
    fn a_small_set_is_scanned_and_a_large_one_hashed() {
        for (size, found) in [(SCANNED, true), (SCANNED + 1, false)] {
            let mut set = AcceptedSet::of((0..size).map(|n| credential(&format!("id{n}"), "secret")));
            let hash = set.hash(payload("id0", "secret").as_bytes());
            let misfiled = set.by_hash.remove(&hash).unwrap();
            set.by_hash.insert(hash.wrapping_add(1), misfiled);
            let lookup = find(&set, payload("id0", "secret").as_bytes());
            assert_eq!(lookup.is_some(), found, "a set of {size}");
        }
    }

    #[test]
    fn an_entry_sharing_its_hash_with_another_is_still_found() {
        // A 64-bit collision cannot be made on purpose; file a second entry beside the first.
        let mut set = AcceptedSet::of([credential("a", "one")]);
        let hash = set.hash(payload("a", "one").as_bytes());
        file_beside(&mut set, hash, entry("b", payload("b", "two").as_bytes()));
        assert_eq!(find(&set, payload("a", "one").as_bytes()).as_deref(), Some("a"));
        assert!(matches!(set.by_hash[&hash], Filed::Several(_)));
    }

    /// A token longer than any payload the set holds is refused as such, before any look-up;
    /// an empty set has no longest, and refuses every token as unknown.
    #[test]
    fn a_token_longer_than_any_accepted_is_too_long() {
        let set = AcceptedSet::of([credential("a", "one")]);
        let accepted = payload("a", "one");
        let longer = format!("{accepted}A");
        assert_eq!(set.find(longer.as_bytes()).err(), Some(Rejection::TooLong));
        let empty = AcceptedSet::new();
        let refused = empty.find(accepted.as_bytes()).err();
        assert_eq!(refused, Some(Rejection::UnknownCredential));
    }
}
