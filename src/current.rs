//! What a layer holds of the keys it works with: fixed when it was built, or (feature
//! `rotation`) a live handle's snapshot at each request, read one way.
//!
//! A live value is an [`ArcSwap`](arc_swap::ArcSwap) of immutable snapshots: a request loads
//! the current one without a lock, and a writer publishes a new one whole, writers in turn.

use std::ops::Deref;
#[cfg(feature = "rotation")]
use std::sync::Arc;

/// Keys fixed when a layer was built, held in place (a layer holds its settings behind one
/// `Arc` already), or a live handle's.
#[derive(Clone)]
pub(crate) enum Current<T> {
    Fixed(T),
    #[cfg(feature = "rotation")]
    Live(Arc<Swap<T>>),
}

impl<T> Current<T> {
    pub(crate) fn fixed(value: T) -> Self {
        Current::Fixed(value)
    }

    /// The keys now: for a live handle, its current snapshot, loaded without a lock.
    #[inline]
    pub(crate) fn load(&self) -> Loaded<'_, T> {
        match self {
            Current::Fixed(fixed) => Loaded::Fixed(fixed),
            #[cfg(feature = "rotation")]
            Current::Live(live) => Loaded::Live(live.current.load()),
        }
    }
}

/// The keys one request works with.
pub(crate) enum Loaded<'a, T> {
    Fixed(&'a T),
    #[cfg(feature = "rotation")]
    Live(arc_swap::Guard<Arc<T>>),
}

impl<T> Deref for Loaded<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Loaded::Fixed(fixed) => fixed,
            #[cfg(feature = "rotation")]
            Loaded::Live(live) => live,
        }
    }
}

/// A live value: its current snapshot, and the lock its writers take in turn (requests never
/// take it), so that no change is lost between a writer's load and its store.
#[cfg(feature = "rotation")]
pub(crate) struct Swap<T> {
    current: arc_swap::ArcSwap<T>,
    writers: std::sync::Mutex<()>,
}

#[cfg(feature = "rotation")]
impl<T> Swap<T> {
    pub(crate) fn new(value: T) -> Self {
        Self { current: arc_swap::ArcSwap::from_pointee(value), writers: std::sync::Mutex::new(()) }
    }

    /// The current snapshot, loaded without a lock.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<T>> {
        self.current.load()
    }

    /// Publishes the value `change` makes of the current one, if it makes one, with no other
    /// writer in between; returns what `change` says besides. A writer that panicked
    /// published nothing half-done: the others carry on.
    pub(crate) fn update<R>(&self, change: impl FnOnce(&T) -> (Option<T>, R)) -> R {
        let _writing = self.writers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (next, result) = change(&self.current.load());
        if let Some(next) = next {
            self.current.store(Arc::new(next));
        }
        result
    }
}

#[cfg(feature = "rotation")]
impl<T: Clone> Swap<T> {
    /// Applies `change` to a copy of the current value and publishes the copy, if `change` says
    /// it changed anything; returns what `change` returns besides.
    pub(crate) fn change<R>(&self, change: impl FnOnce(&mut T) -> (R, bool)) -> R {
        self.update(|current| {
            let mut next = current.clone();
            let (result, changed) = change(&mut next);
            (changed.then_some(next), result)
        })
    }
}
