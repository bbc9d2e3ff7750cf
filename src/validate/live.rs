//! A server's accepted credentials that change while it runs: [`LiveCredentialSet`] (feature
//! `rotation`).

use std::{fmt, sync::Arc};

use super::{accepted::AcceptedSet, feed::SetFeed, filed::Inserted};
#[cfg(doc)]
use crate::credentials::Credentials;
use crate::{
    credentials::AcceptedCredential,
    current::{Current, Swap},
    follow::{spawn, FollowError, FollowOptions, Follower},
    source::{CredentialSetSource, Seen},
};

/// The credentials a server accepts, changeable while it runs. Cloning gives another handle to
/// the same set.
///
/// Every service built from [`ValidateTokenLayer::live`](super::ValidateTokenLayer::live)
/// checks each request against what the set holds at that moment. Changes are serialised among
/// themselves and publish a new immutable snapshot; requests read it with a lock-free atomic
/// load and never wait for a change. A removed key is freed once no request is being checked
/// against a snapshot that holds it.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use jocloud_auth::{validate::ValidateTokenLayer, Credentials, LiveCredentialSet, Scheme, TOKEN_HEADER};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let old = Credentials::new("qawsedrftg", "old-secret")?;
/// let new = Credentials::new("qawsedrftg", "new-secret")?;
/// let accepted = LiveCredentialSet::new([&old]);
/// let server = ValidateTokenLayer::live(&accepted)
///     .layer(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(Full::<bytes::Bytes>::default())) }));
/// let with = |credentials: &Credentials| {
///     Request::builder().header(TOKEN_HEADER, credentials.header_value(Scheme::Base)).body(()).unwrap()
/// };
///
/// accepted.insert(&new); // first the server learns the new key...
/// assert_eq!(server.clone().oneshot(with(&new)).await?.status(), StatusCode::OK);
/// accepted.remove(&old); // ...then, once every client has moved over, forgets the old one.
/// assert_eq!(server.oneshot(with(&old)).await?.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
pub struct LiveCredentialSet {
    set: Arc<Swap<AcceptedSet>>,
}

impl LiveCredentialSet {
    /// Starts with `credentials` (possibly none: then every request is rejected): each a
    /// [`Credentials`], or an [`AcceptedCredential`] held by secret or by digest.
    pub fn new<C: Into<AcceptedCredential>>(credentials: impl IntoIterator<Item = C>) -> Self {
        Self { set: Arc::new(Swap::new(AcceptedSet::of(credentials))) }
    }

    /// A set accepting the credentials read from `source` now, kept current by a thread that
    /// follows it for as long as any handle to the set is left.
    ///
    /// `source` is one credential ([`CredentialsSource`](crate::CredentialsSource)) or many ([`CredentialSetSource`]).
    /// Each change applies as a difference, in one step: a key that is new is accepted, and
    /// every other credential is untouched, so no request of theirs fails on the way.
    ///
    /// - A key replaced by another for its certificate ID (and, from a source of one
    ///   credential, any replaced key) stays accepted for the grace period, for clients that
    ///   have not read the new key yet; a request that uses it carries
    ///   [`RetiringKey`](crate::validate::RetiringKey).
    /// - A certificate ID that is gone from a source of many is refused from the next request
    ///   on, with any of its keys still in a grace period: that is how an operator revokes a
    ///   customer. ([`remove_id`](Self::remove_id) does it by hand.)
    ///
    /// Requests never wait on a change: it is read, compared and applied on the follower's
    /// thread, and published as one new snapshot. The memory a followed set takes per
    /// credential, its first load and how soon a change is live, measured for 100,000
    /// customers, are in `benches/README.md` ("A gateway's 100,000 customers").
    ///
    /// # Errors
    ///
    /// As [`LiveCredentials::follow`](crate::LiveCredentials::follow), with what [`CredentialSetSource::load`] reports.
    ///
    /// # Example
    ///
    /// ```no_run
    /// use jocloud_auth::{validate::ValidateTokenLayer, CredentialSetSource, FollowOptions, LiveCredentialSet};
    ///
    /// // A Secret with a key per customer (its ID) holding that customer's secret.
    /// let source = CredentialSetSource::dir("/var/run/secrets/customers");
    /// let accepted = LiveCredentialSet::follow(source, FollowOptions::default())?;
    /// let layer = ValidateTokenLayer::live(&accepted);
    /// # Ok::<(), jocloud_auth::FollowError>(())
    /// ```
    pub fn follow(
        source: impl Into<CredentialSetSource>,
        options: FollowOptions,
    ) -> Result<Self, FollowError> {
        let source = source.into();
        let mut seen = Seen::default();
        let first = source.load_unless_seen(&mut seen)?.first();
        let set = Self::new(&first);
        let feed = SetFeed::new(Arc::downgrade(&set.set), options.grace_period(), source.is_one());
        let follower = Follower::new(first, feed);
        let describe = source.describe();
        spawn(move || source.load_unless_seen(&mut seen), describe, options, follower)?;
        Ok(set)
    }

    /// Accepts `credentials` too. Returns `false` if they were accepted already.
    pub fn insert(&self, credential: impl Into<AcceptedCredential>) -> bool {
        let credential = credential.into();
        self.update(|set| {
            let inserted = set.insert(&credential);
            (inserted == Inserted::New, inserted != Inserted::Known)
        })
    }

    /// Stops accepting `credentials` (this ID with this secret). Returns `false` if they were
    /// not accepted.
    pub fn remove(&self, credential: impl Into<AcceptedCredential>) -> bool {
        let credential = credential.into();
        self.update(|set| {
            let removed = set.remove(&credential);
            (removed, removed)
        })
    }

    /// Stops accepting every credential with this certificate ID, from the next request on:
    /// the current key and any still in a follower's grace period. This is how to revoke a
    /// leaked key at once. Returns how many there were.
    ///
    /// A follower adds a key for this ID again only when its source changes that customer's
    /// key (or adds the customer back), so remove the customer from the source too.
    pub fn remove_id(&self, id: &str) -> usize {
        self.update(|set| {
            let removed = set.remove_id(id);
            (removed, removed > 0)
        })
    }

    /// The accepted certificate IDs, each once (also while a key of one is in its grace
    /// period), sorted. Like [`id_count`](Self::id_count), a walk of the whole set: for a
    /// health check or a metric now and then, not for every request.
    pub fn ids(&self) -> Vec<String> {
        self.set.load().ids()
    }

    /// How many certificate IDs (customers) are accepted.
    pub fn id_count(&self) -> usize {
        self.set.load().id_count()
    }

    /// What a layer holds of this set: its current snapshot at each request.
    pub(super) fn current(&self) -> Current<AcceptedSet> {
        Current::Live(self.set.clone())
    }

    /// Applies `change` to a copy of the current set and publishes it, if `change` says it
    /// changed anything. The copy shares every payload with the original, so it costs a table
    /// of reference counts, not new secrets.
    fn update<R>(&self, change: impl FnOnce(&mut AcceptedSet) -> (R, bool)) -> R {
        self.set.change(change)
    }
}

impl fmt::Debug for LiveCredentialSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCredentialSet").field("ids", &self.set.load().summary()).finish()
    }
}

/// What a check of a token of given credentials finds, and the handle a feed holds, for the
/// tests of a follower's changes.
#[cfg(test)]
impl LiveCredentialSet {
    pub(super) fn downgrade(&self) -> std::sync::Weak<Swap<AcceptedSet>> {
        Arc::downgrade(&self.set)
    }

    pub(super) fn caller(
        &self,
        credentials: &crate::credentials::Credentials,
    ) -> Option<super::caller::Caller> {
        self.set.load().find(credentials.encoded_payload().as_bytes()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        credentials::Credentials,
        validate::feed::{apply, SetChange},
    };

    fn key(n: usize) -> Credentials {
        Credentials::new("id", format!("secret-{n}")).unwrap()
    }

    /// A call that changes nothing publishes no snapshot: requests keep the one they have.
    #[test]
    fn a_set_publishes_only_what_changes() {
        let set = LiveCredentialSet::new([&key(0)]);
        // Held, so that no later snapshot can take the address of an earlier one.
        let snapshot = || arc_swap::Guard::into_inner(set.set.load());
        let first = snapshot();
        assert!(!set.insert(key(0)) && Arc::ptr_eq(&snapshot(), &first), "accepted already");
        assert!(!set.remove(key(1)) && Arc::ptr_eq(&snapshot(), &first), "not accepted");
        assert!(set.remove_id("unknown") == 0 && Arc::ptr_eq(&snapshot(), &first));
        let one = AcceptedCredential::from(key(1));
        let retire = || apply(&set.set, SetChange { retire: vec![&one], ..SetChange::default() });
        retire();
        assert!(Arc::ptr_eq(&snapshot(), &first), "retiring what is not accepted");
        assert!(set.insert(key(1)));
        let second = snapshot();
        assert!(!Arc::ptr_eq(&second, &first));
        retire();
        let third = snapshot();
        assert!(!Arc::ptr_eq(&third, &second), "a key now retiring");
        assert!(!set.insert(key(1)), "accepted already, no longer retiring");
        assert!(!Arc::ptr_eq(&snapshot(), &third));
    }
}
