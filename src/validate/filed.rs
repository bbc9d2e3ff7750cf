//! The entries a set files under one key of a table (a payload's hash, a digest's ID): almost
//! always one, held in the table itself; and what a change of the set does to them. One home
//! for both tables, so that a key is inserted, retired and removed the same way in each.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hash},
    sync::Arc,
};

/// One key of one certificate ID, current or retiring.
pub(super) trait Entry: Clone {
    /// What tells one key from another: its payload, its digest.
    type Key: PartialEq + ?Sized;

    fn key(&self) -> &Self::Key;

    /// Replaced by a newer key, and accepted only until its grace period ends.
    fn retiring(&self) -> bool;

    fn with_retiring(&self, retiring: bool) -> Self;
}

/// What [`insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inserted {
    New,
    /// Filed already, in its grace period: now current again.
    NoLongerRetiring,
    /// Filed already: nothing changed.
    Known,
}

/// The entries under one key.
#[derive(Clone)]
pub(super) enum Filed<E> {
    One(E),
    Several(Arc<[E]>),
}

impl<E: Entry> Filed<E> {
    pub(super) fn entries(&self) -> &[E] {
        match self {
            Filed::One(entry) => std::slice::from_ref(entry),
            Filed::Several(entries) => entries,
        }
    }

    /// These entries, as `change` makes them; `None` where none is left.
    fn with(&self, change: impl FnOnce(&[E]) -> Vec<E>) -> Option<Self> {
        let mut entries = change(self.entries());
        match entries.len() {
            0 => None,
            1 => entries.pop().map(Filed::One),
            _ => Some(Filed::Several(entries.into())),
        }
    }
}

/// Files `entry` under `slot`, unless the same key is filed there (then it is no longer
/// retiring); says which. A plain comparison: this runs when the set changes, not on a request.
pub(super) fn insert<K, E, S>(table: &mut HashMap<K, Filed<E>, S>, slot: K, entry: E) -> Inserted
where
    K: Hash + Eq,
    E: Entry,
    S: BuildHasher,
{
    let Some(filed) = table.get_mut(&slot) else {
        table.insert(slot, Filed::One(entry));
        return Inserted::New;
    };
    let same = |known: &E| known.key() == entry.key();
    let (inserted, next) = match filed.entries().iter().find(|known| same(known)).map(E::retiring) {
        Some(false) => return Inserted::Known,
        Some(true) => {
            let current = |known: &E| if same(known) { known.with_retiring(false) } else { known.clone() };
            (Inserted::NoLongerRetiring, filed.with(|entries| entries.iter().map(current).collect()))
        }
        None => {
            (Inserted::New, filed.with(|entries| entries.iter().cloned().chain([entry.clone()]).collect()))
        }
    };
    *filed = next.expect("one entry at least");
    inserted
}

/// What a change of the set does to one key that is filed.
#[cfg(feature = "rotation")]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// Still accepted, until its grace period ends.
    Retire,
    /// No longer accepted.
    Remove,
}

/// Does `change` to the entry of `key` under `slot`; says whether it did anything (a key
/// retiring already is not retired again).
#[cfg(feature = "rotation")]
pub(super) fn change<K, Q, E, S>(
    table: &mut HashMap<K, Filed<E>, S>,
    slot: &Q,
    key: &E::Key,
    change: Change,
) -> bool
where
    K: Hash + Eq + std::borrow::Borrow<Q>,
    Q: Hash + Eq + ?Sized,
    E: Entry,
    S: BuildHasher,
{
    let Some(filed) = table.get_mut(slot) else { return false };
    let applies = |known: &E| known.key() == key && !(change == Change::Retire && known.retiring());
    if !filed.entries().iter().any(applies) {
        return false;
    }
    let changed = filed.with(|entries| {
        let changed = |known: &E| match (applies(known), change) {
            (false, _) => Some(known.clone()),
            (true, Change::Retire) => Some(known.with_retiring(true)),
            (true, Change::Remove) => None,
        };
        entries.iter().filter_map(changed).collect()
    });
    match changed {
        Some(kept) => *filed = kept,
        None => drop(table.remove(slot)),
    }
    true
}

/// Takes every entry `gone` says is gone out of the table; returns how many.
#[cfg(feature = "rotation")]
pub(super) fn remove_where<K, E, S>(table: &mut HashMap<K, Filed<E>, S>, gone: impl Fn(&E) -> bool) -> usize
where
    K: Hash + Eq,
    E: Entry,
{
    let mut removed = 0;
    table.retain(|_, filed| {
        let count = filed.entries().iter().filter(|entry| gone(entry)).count();
        if count == 0 {
            return true;
        }
        removed += count;
        match filed.with(|entries| entries.iter().filter(|entry| !gone(entry)).cloned().collect()) {
            Some(kept) => {
                *filed = kept;
                true
            }
            None => false,
        }
    });
    removed
}
