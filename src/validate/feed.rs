//! What a followed set does with each version its source gives: [`SetFeed`] applies it as a
//! difference, with the grace bookkeeping of replaced keys.

use std::{
    sync::Weak,
    time::{Duration, Instant},
};

use super::accepted::AcceptedSet;
use crate::{
    credentials::AcceptedCredential,
    current::Swap,
    follow::{Feed, Reload},
};

/// What a follower changes in a set at once.
#[derive(Default)]
pub(super) struct SetChange<'a> {
    /// Keys to accept (again, if they were retiring).
    pub(super) insert: Vec<&'a AcceptedCredential>,
    /// Keys still accepted, in their grace period.
    pub(super) retire: Vec<&'a AcceptedCredential>,
    /// Keys to refuse.
    pub(super) remove: Vec<AcceptedCredential>,
}

/// Applies `change` to `set` as one new snapshot, if it changes anything.
pub(super) fn apply(set: &Swap<AcceptedSet>, change: SetChange<'_>) {
    set.change(|set| {
        let mut changed = false;
        for credential in change.insert {
            changed |= set.insert(credential) != super::filed::Inserted::Known;
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

/// A server's set, as a version of credentials sorted by `AcceptedCredential::key`, each once.
pub(super) struct SetFeed {
    /// The live set's snapshots, held weakly: the follower ends with the last handle.
    set: Weak<Swap<AcceptedSet>>,
    grace: Duration,
    /// A source of one credential: a replaced key retires whatever its ID.
    one: bool,
    /// The keys replaced within their grace period, and when it ends (`None`: never).
    retiring: Vec<(AcceptedCredential, Option<Instant>)>,
}

impl SetFeed {
    pub(super) fn new(set: Weak<Swap<AcceptedSet>>, grace: Duration, one: bool) -> Self {
        Self { set, grace, one, retiring: Vec::new() }
    }
}

/// What is in `new` and not in `old`, and what is in `old` and not in `new`: one walk along
/// both, as each is sorted by `AcceptedCredential::key`.
fn difference<'a>(
    old: &'a [AcceptedCredential],
    new: &'a [AcceptedCredential],
) -> (Vec<&'a AcceptedCredential>, Vec<&'a AcceptedCredential>) {
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

/// The change from `old` to `new`, each sorted by `AcceptedCredential::key`, given the keys
/// that are in one of them only, counted in certificate IDs.
fn reload<'a>(
    old: &'a [AcceptedCredential],
    new: &'a [AcceptedCredential],
    differ: impl Iterator<Item = &'a AcceptedCredential>,
) -> Reload {
    let ids = |version: &'a [AcceptedCredential]| {
        let mut ids: Vec<&'a str> = version.iter().map(AcceptedCredential::id).collect();
        ids.dedup();
        ids
    };
    let (old_ids, new_ids) = (ids(old), ids(new));
    let kept = new_ids.iter().filter(|id| old_ids.binary_search(id).is_ok()).count();
    let mut replaced: Vec<&str> =
        differ.map(AcceptedCredential::id).filter(|id| holds_id(old, id) && holds_id(new, id)).collect();
    replaced.sort_unstable();
    replaced.dedup();
    Reload {
        added: new_ids.len() - kept,
        replaced: replaced.len(),
        removed: old_ids.len() - kept,
        total: new_ids.len(),
    }
}

fn holds(version: &[AcceptedCredential], credentials: &AcceptedCredential) -> bool {
    version.binary_search_by(|known| known.key().cmp(&credentials.key())).is_ok()
}

fn holds_id(version: &[AcceptedCredential], id: &str) -> bool {
    version.binary_search_by(|known| known.id().cmp(id)).is_ok()
}

impl Feed for SetFeed {
    type Version = Vec<AcceptedCredential>;

    fn same(one: &Vec<AcceptedCredential>, other: &Vec<AcceptedCredential>) -> bool {
        one.len() == other.len() && one.iter().zip(other).all(|(one, other)| one.key() == other.key())
    }

    fn publish(
        &mut self,
        old: &Vec<AcceptedCredential>,
        new: &Vec<AcceptedCredential>,
        now: Instant,
    ) -> Option<Reload> {
        let set = self.set.upgrade()?;
        let (added, replaced) = difference(old, new);
        let reload = reload(old, new, added.iter().chain(&replaced).copied());
        let mut change = SetChange { insert: added, ..SetChange::default() };
        let one = self.one;
        // A customer whose key changed again: `replaced` is sorted by ID.
        let changed_again = |id: &str| one || replaced.binary_search_by(|key| key.id().cmp(id)).is_ok();
        self.retiring.retain(|(key, until)| {
            // A -> B -> A: a key that comes back is current again, not retiring.
            if holds(new, key) {
                return false;
            }
            // A customer who is gone is refused at once, with every key still in a grace period;
            // a grace too long for the clock lasts until the customer's key changes again.
            let gone = !one && !holds_id(new, key.id());
            let superseded = until.is_none() && changed_again(key.id());
            if gone || superseded {
                change.remove.push(key.clone());
            }
            !(gone || superseded)
        });
        let until = now.checked_add(self.grace);
        for replaced in replaced {
            if one || holds_id(new, replaced.id()) {
                change.retire.push(replaced);
                self.retiring.push((replaced.clone(), until));
            } else {
                change.remove.push(replaced.clone());
            }
        }
        apply(&set, change);
        Some(reload)
    }

    fn expire(&mut self, now: Instant) -> bool {
        let Some(set) = self.set.upgrade() else { return false };
        let (over, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retiring)
            .into_iter()
            .partition(|(_, until)| until.is_some_and(|until| until <= now));
        self.retiring = kept;
        if !over.is_empty() {
            let remove = over.into_iter().map(|(key, _)| key).collect();
            apply(&set, SetChange { remove, ..SetChange::default() });
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::{
        credentials::Credentials,
        error::{LoadError, LoadProblem},
        follow::{Follower, Step},
        source::Read,
        validate::live::LiveCredentialSet,
    };

    const GRACE: Duration = Duration::from_secs(10);

    fn missing(path: &str) -> LoadError {
        LoadError::File { path: PathBuf::from(path), problem: LoadProblem::Io(std::io::ErrorKind::NotFound) }
    }

    /// A set following a source of one credential (`one`) or of many, which starts with `keys`.
    fn set_of(keys: &[(&str, &str)], grace: Duration, one: bool) -> (LiveCredentialSet, Follower<SetFeed>) {
        let version = version(keys).unwrap().first();
        let set = LiveCredentialSet::new(&version);
        let feed = SetFeed::new(set.downgrade(), grace, one);
        (set, Follower::new(version, feed))
    }

    fn server(secret: &str) -> (LiveCredentialSet, Follower<SetFeed>) {
        set_of(&[("id", secret)], GRACE, true)
    }

    /// A read of a source of many credentials, as `load_unless_seen` gives it.
    fn version(keys: &[(&str, &str)]) -> Result<Read<Vec<AcceptedCredential>>, LoadError> {
        let mut version: Vec<AcceptedCredential> =
            keys.iter().map(|(id, secret)| AcceptedCredential::new(*id, *secret).unwrap()).collect();
        version.sort_unstable_by(|a, b| a.key().cmp(&b.key()));
        Ok(Read::Version(version))
    }

    /// A read of a source of one credential with this secret.
    fn one(secret: &str) -> Result<Read<Vec<AcceptedCredential>>, LoadError> {
        version(&[("id", secret)])
    }

    fn accepts(set: &LiveCredentialSet, secret: &str) -> bool {
        accepts_key(set, "id", secret)
    }

    fn accepts_key(set: &LiveCredentialSet, id: &str, secret: &str) -> bool {
        set.caller(&Credentials::new(id, secret).unwrap()).is_some()
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
        set.caller(&Credentials::new(id, secret).unwrap()).is_some_and(|caller| caller.retiring)
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
        assert_eq!(follower.step(Ok(Read::SameAsLast), t0), Step::Continue);
        follower.step(version(&[("a", "2")]), t0);
        assert!(!accepts_key(&set, "a", "2"));
        follower.step(Ok(Read::SameAsLast), t0);
        assert!(accepts_key(&set, "a", "2"));
        assert_eq!(follower.step(Ok(Read::SameAsLast), t0), Step::Continue, "nothing new to publish");
        assert!(accepts_key(&set, "a", "1") && accepts_key(&set, "a", "2"));
        // An error in between: the next read is a new version again.
        follower.step(version(&[("a", "3")]), t0);
        follower.step(Err(missing("/x")), t0);
        follower.step(Ok(Read::SameAsLast), t0);
        assert!(!accepts_key(&set, "a", "3"));
    }

    /// A grace too long for the clock lasts until the next change, as on the client: A -> B
    /// keeps A however long it takes; B -> C then drops A and keeps B. Another customer's change
    /// leaves it alone; from a source of one credential, any change is the next.
    #[test]
    fn a_grace_too_long_for_the_clock_lasts_until_the_next_change() {
        let (set, mut follower) = set_of(&[("id", "a"), ("other", "x")], Duration::MAX, false);
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
        for (step, keys) in [(t0, [("id", "b"), ("other", "x")]), (far, [("id", "b"), ("other", "y")])] {
            follower.step(version(&keys), step);
            follower.step(version(&keys), step);
        }
        assert!(accepts(&set, "a") && accepts(&set, "b"), "another customer's change is not the next");
        follower.step(version(&[("id", "c"), ("other", "y")]), far);
        follower.step(version(&[("id", "c"), ("other", "y")]), far);
        assert!(!accepts(&set, "a") && accepts(&set, "b") && accepts(&set, "c"), "A -> B -> C drops A");
        assert!(accepts_key(&set, "other", "x") && accepts_key(&set, "other", "y"));

        let (set, mut follower) = set_of(&[("id", "a")], Duration::MAX, true);
        for secret in ["b", "b", "c", "c"] {
            follower.step(one(secret), far);
        }
        assert!(!accepts(&set, "a") && accepts(&set, "b") && accepts(&set, "c"), "a source of one");
    }

    #[test]
    fn a_follower_with_no_set_left_is_gone() {
        let (set, mut follower) = server("a");
        drop(set);
        // Any instant: a follower whose set is gone stops whatever the time.
        let t0 = Instant::now();
        assert_eq!(follower.step(one("a"), t0), Step::Gone);
    }
}
