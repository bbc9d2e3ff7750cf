//! The accepted side of validation: credentials laid out for a constant-time search.
//!
//! Private: `ValidateToken` and the live set build on it; nothing here is public API.

use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::{validate::AuthenticatedId, Credentials};

/// One accepted credential: its ID and its base64 payload (the secret in reversible form).
#[derive(Clone)]
pub struct AcceptedEntry {
    id: AuthenticatedId,
    payload: Zeroizing<String>,
}

impl AcceptedEntry {
    pub fn new(credentials: &Credentials) -> Self {
        Self { id: AuthenticatedId::new(credentials.id()), payload: credentials.encoded_payload() }
    }

    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    pub fn same_credentials(&self, other: &Self) -> bool {
        self.payload.as_bytes() == other.payload.as_bytes()
    }
}

/// Accepted payloads laid out for a constant-time search: each entry zero-padded to the same
/// number of 64-bit words, so a lookup touches the same memory whatever it is given.
pub struct AcceptedSet {
    words_per_entry: usize,
    words: Zeroizing<Vec<u64>>,
    lens: Box<[u64]>,
    ids: Box<[AuthenticatedId]>,
}

impl AcceptedSet {
    pub fn new(entries: &[AcceptedEntry]) -> Self {
        let longest = entries.iter().map(|entry| entry.payload.len()).max().unwrap_or(0);
        // At least one word, so `chunks_exact` has a non-zero size even for an empty set.
        let words_per_entry = longest.div_ceil(8).max(1);
        let mut words = Zeroizing::new(Vec::with_capacity(words_per_entry * entries.len()));
        for entry in entries {
            let payload = entry.payload.as_bytes();
            words.extend((0..words_per_entry).map(|index| word_at(payload, index)));
        }
        Self {
            words_per_entry,
            words,
            lens: entries.iter().map(|entry| entry.payload.len() as u64).collect(),
            ids: entries.iter().map(|entry| entry.id.clone()).collect(),
        }
    }

    /// The ID whose payload equals `presented`, in time independent of which (if any) matched.
    pub fn find(&self, presented: &[u8]) -> Option<&AuthenticatedId> {
        // 1-based index of the matching entry; 0 while none has matched.
        let mut found = 0u64;
        let entries = self.words.chunks_exact(self.words_per_entry).zip(self.lens.iter());
        for (position, (words, &len)) in (1u64..).zip(entries) {
            let mut diff = presented.len() as u64 ^ len;
            for (index, &word) in words.iter().enumerate() {
                diff |= word ^ word_at(presented, index);
            }
            found.conditional_assign(&position, diff.ct_eq(&0));
        }
        let index = usize::try_from(found).ok()?.checked_sub(1)?;
        self.ids.get(index)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(AuthenticatedId::as_str)
    }
}

/// Word `index` of `bytes`, zero-padded past the end. Branches only on the length.
#[inline]
fn word_at(bytes: &[u8], index: usize) -> u64 {
    let start = index * 8;
    match bytes.get(start..start + 8) {
        Some(chunk) => <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes),
        None => {
            let mut buffer = [0u8; 8];
            let tail = bytes.get(start..).unwrap_or_default();
            buffer[..tail.len()].copy_from_slice(tail);
            u64::from_le_bytes(buffer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(credentials: &[(&str, &str)]) -> AcceptedSet {
        let entries: Vec<_> = credentials
            .iter()
            .map(|(id, secret)| AcceptedEntry::new(&Credentials::new(*id, *secret).unwrap()))
            .collect();
        AcceptedSet::new(&entries)
    }

    #[test]
    fn finds_exactly_the_accepted_payloads() {
        let accepted =
            set(&[("qawsedrftg", "abcdefghijk"), ("other", "a-much-longer-secret-than-the-first")]);
        let found = |payload: &str| accepted.find(payload.as_bytes()).map(|id| id.as_str().to_owned());
        assert_eq!(found("cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw=="), Some("qawsedrftg".into()));
        let other = Credentials::new("other", "a-much-longer-secret-than-the-first").unwrap();
        assert_eq!(found(&other.encoded_payload()), Some("other".into()));
        // Prefixes, extensions and near misses, including ones that differ only past the
        // shorter entry's padding.
        for wrong in [
            "",
            "cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw=",
            "cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==\0",
            "cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==A",
            "dWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==",
        ] {
            assert_eq!(found(wrong), None, "{wrong:?}");
        }
    }

    #[test]
    fn an_empty_set_accepts_nothing() {
        assert!(set(&[]).find(b"").is_none());
        assert!(set(&[]).find(b"anything").is_none());
    }

    #[test]
    fn word_at_pads_with_zeros() {
        assert_eq!(word_at(b"abcdefghij", 0), u64::from_le_bytes(*b"abcdefgh"));
        assert_eq!(word_at(b"abcdefghij", 1), u64::from_le_bytes(*b"ij\0\0\0\0\0\0"));
        assert_eq!(word_at(b"abcdefghij", 2), 0);
        assert_eq!(word_at(b"", 7), 0);
    }
}
