//! The digest path (feature `digest`): credentials a validator knows only by the SHA-256 of
//! `"<id>:<secret>"`, filed by ID, and the check of a token against them.

use std::{collections::HashMap, sync::Arc};

use constant_time_eq::constant_time_eq_32;
use sha2::{Digest as _, Sha256};

#[cfg(feature = "rotation")]
use super::filed::Change;
use super::{
    caller::Caller,
    filed::{self, Filed, Inserted},
    presented::Presented,
};
use crate::credentials::AcceptedCredential;

/// Credentials held by digest, by certificate ID. Its entries are shared by the set's
/// snapshots, as the payloads are.
#[derive(Clone, Default)]
pub(super) struct Digests {
    by_id: HashMap<Arc<str>, Filed<Held>>,
}

/// One digest of an ID's.
#[derive(Clone, Copy)]
struct Held {
    digest: [u8; 32],
    retiring: bool,
}

impl filed::Entry for Held {
    type Key = [u8; 32];

    fn key(&self) -> &[u8; 32] {
        &self.digest
    }

    fn retiring(&self) -> bool {
        self.retiring
    }

    fn with_retiring(&self, retiring: bool) -> Self {
        Self { retiring, ..*self }
    }
}

impl Digests {
    /// The caller whose digest is that of what `presented` decodes to, under the ID it names:
    /// compared in constant time with each digest filed under that ID, none skipped. The
    /// digest is computed whether or not the ID is known, so that timing does not tell one
    /// that is.
    pub(super) fn find(&self, presented: &mut Presented<'_>) -> Option<Caller> {
        if self.by_id.is_empty() {
            return None;
        }
        let decoded = presented.decoded()?;
        let colon = decoded.iter().position(|&byte| byte == b':')?;
        let digest: [u8; 32] = Sha256::digest(decoded).into();
        let id = std::str::from_utf8(&decoded[..colon]).ok()?;
        let (id, filed) = self.by_id.get_key_value(id)?;
        let mut found = None;
        for held in filed.entries() {
            if constant_time_eq_32(&held.digest, &digest) {
                found = Some(held);
            }
        }
        found.map(|held| Caller::new(id, held.retiring))
    }

    /// Accepts `credential`, held by digest, for `id` (the set's copy of its ID).
    pub(super) fn insert(&mut self, id: &Arc<str>, credential: &AcceptedCredential) -> Inserted {
        let Some(&digest) = credential.digest() else { return Inserted::Known };
        filed::insert(&mut self.by_id, id.clone(), Held { digest, retiring: false })
    }

    /// Does `change` to `credential`; says whether it did anything.
    #[cfg(feature = "rotation")]
    pub(super) fn change(&mut self, credential: &AcceptedCredential, change: Change) -> bool {
        credential
            .digest()
            .is_some_and(|digest| filed::change(&mut self.by_id, credential.id(), digest, change))
    }

    /// Stops accepting every digest of `id`; returns how many there were.
    #[cfg(feature = "rotation")]
    pub(super) fn remove_id(&mut self, id: &str) -> usize {
        self.by_id.remove(id).map_or(0, |filed| filed.entries().len())
    }

    /// Whether `id` has a digest here.
    #[cfg(feature = "tracing")]
    pub(super) fn holds(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// The ID of every digest held.
    pub(super) fn ids(&self) -> impl Iterator<Item = &Arc<str>> {
        self.by_id.iter().flat_map(|(id, filed)| filed.entries().iter().map(move |_| id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        credentials::{Credentials, MAX_DECODED},
        validate::accepted::AcceptedSet,
    };

    /// The longest credential `digest_of` takes is checked, its token decoded whole; one byte
    /// more is refused by `digest_of`.
    #[test]
    fn the_longest_digest_credential_fits_and_one_byte_more_is_refused() {
        let max = MAX_DECODED;
        let longest = Credentials::new("id", "s".repeat(max - 3)).unwrap();
        let set = AcceptedSet::of([AcceptedCredential::digest_of(&longest).unwrap()]);
        let payload = longest.encoded_payload();
        assert_eq!(payload.len(), super::super::presented::MAX_DECODED_PAYLOAD);
        let refused_as = set.find(payload.as_bytes()).err();
        assert_eq!(refused_as, Some(super::super::rejection::Rejection::UnknownCredential), "not too long");
        let mut buffer = [0; MAX_DECODED];
        assert!(set.find_digest(&mut Presented::new(payload.as_bytes(), &mut buffer)).is_some());
        let longer = Credentials::new("id", "s".repeat(max - 2)).unwrap();
        assert_eq!(
            AcceptedCredential::digest_of(&longer).map(|_| ()),
            Err(crate::error::InvalidCredentials::TooLongForDigest { max_bytes: max })
        );
    }

    /// The hasher wipes its buffer, which held `id:secret`, when it is dropped (sha2's
    /// `zeroize` feature).
    #[test]
    fn the_hasher_wipes_itself() {
        fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wipes_on_drop::<Sha256>();
    }

    /// A digest-held credential is found by the digest of what its token decodes to, under its
    /// ID only; a wrong secret, an unknown ID, or what is no `"<id>:<secret>"` is not.
    #[test]
    fn a_digest_is_found_under_its_id_only() {
        let credentials = Credentials::new("cust000001", "s3cr3t-generated").unwrap();
        let set = AcceptedSet::of([AcceptedCredential::digest_of(&credentials).unwrap()]);
        let find = |id: &str, secret: &str| {
            let payload = Credentials::new(id, secret).unwrap().encoded_payload();
            let mut buffer = [0; MAX_DECODED];
            let mut presented = Presented::new(payload.as_bytes(), &mut buffer);
            let caller = set.find_digest(&mut presented);
            caller.map(|caller| caller.id.to_string())
        };
        assert_eq!(find("cust000001", "s3cr3t-generated").as_deref(), Some("cust000001"));
        assert_eq!(find("cust000001", "not-the-secret"), None);
        assert_eq!(find("cust000002", "s3cr3t-generated"), None);
        let mut buffer = [0; MAX_DECODED];
        assert!(set.find_digest(&mut Presented::new(b"bm8gY29sb24=", &mut buffer)).is_none(), "no colon");
    }
}
