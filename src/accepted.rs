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

    /// Adds `self` to `entries` unless the same credentials are there already; says whether it did.
    pub fn add_to(self, entries: &mut Vec<AcceptedEntry>) -> bool {
        let known = entries.iter().any(|existing| existing.same_credentials(&self));
        if !known {
            entries.push(self);
        }
        !known
    }
}

/// Payloads are compared in blocks of this many 64-bit words: 64 bytes, one cache line, an ID
/// and secret of up to 47 characters together. A fixed size lets the compiler unroll and
/// vectorise the comparison of a whole block; longer payloads take several blocks.
const BLOCK_WORDS: usize = 8;
type Block = [u64; BLOCK_WORDS];

/// Accepted payloads laid out for a constant-time search: each entry zero-padded to the same
/// number of blocks, so a lookup touches the same memory whatever it is given.
pub struct AcceptedSet {
    blocks_per_entry: usize,
    blocks: Zeroizing<Vec<Block>>,
    lens: Box<[u64]>,
    ids: Box<[AuthenticatedId]>,
}

impl AcceptedSet {
    pub fn new(entries: &[AcceptedEntry]) -> Self {
        let longest = entries.iter().map(|entry| entry.payload.len()).max().unwrap_or(0);
        // At least one block, so `chunks_exact` has a non-zero size even for an empty set.
        let blocks_per_entry = longest.div_ceil(BLOCK_WORDS * 8).max(1);
        let mut blocks = Zeroizing::new(Vec::with_capacity(blocks_per_entry * entries.len()));
        for entry in entries {
            blocks.extend((0..blocks_per_entry).map(|index| block_at(entry.payload.as_bytes(), index)));
        }
        Self {
            blocks_per_entry,
            blocks,
            lens: entries.iter().map(|entry| entry.payload.len() as u64).collect(),
            ids: entries.iter().map(|entry| entry.id.clone()).collect(),
        }
    }

    /// The ID whose payload equals `presented`, in time independent of which (if any) matched:
    /// every block of every entry is compared, lengths are folded into the same result, and
    /// the match is selected without a branch.
    pub fn find(&self, presented: &[u8]) -> Option<&AuthenticatedId> {
        if self.blocks_per_entry == 1 {
            // The usual case: the presented payload is read into a block once.
            let first = block_at(presented, 0);
            self.search(presented.len(), |blocks| {
                blocks.iter().fold(0, |diff, block| diff | difference(block, &first))
            })
        } else {
            self.search(presented.len(), |blocks| {
                let blocks = blocks.iter().enumerate();
                blocks.fold(0, |diff, (index, block)| diff | difference(block, &block_at(presented, index)))
            })
        }
    }

    /// Runs `difference` (zero for equal blocks) over every entry, all of them every time.
    #[inline(always)]
    fn search(&self, presented_len: usize, difference: impl Fn(&[Block]) -> u64) -> Option<&AuthenticatedId> {
        // 1-based index of the matching entry; 0 while none has matched.
        let mut found = 0u64;
        let entries = self.blocks.chunks_exact(self.blocks_per_entry).zip(self.lens.iter());
        for (index, (blocks, &len)) in entries.enumerate() {
            let diff = (presented_len as u64 ^ len) | difference(blocks);
            found.conditional_assign(&(index as u64 + 1), diff.ct_eq(&0));
        }
        let index = usize::try_from(found).ok()?.checked_sub(1)?;
        self.ids.get(index)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.iter().map(AuthenticatedId::as_str)
    }
}

/// Block `index` of `bytes`, zero-padded past the end. Branches only on the length.
#[inline]
fn block_at(bytes: &[u8], index: usize) -> Block {
    let mut padded = [0u8; BLOCK_WORDS * 8];
    let rest = bytes.get(index * padded.len()..).unwrap_or_default();
    let copied = rest.len().min(padded.len());
    padded[..copied].copy_from_slice(&rest[..copied]);
    let mut block = [0u64; BLOCK_WORDS];
    for (word, chunk) in block.iter_mut().zip(padded.chunks_exact(8)) {
        *word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
    }
    block
}

/// Zero exactly when the blocks are equal; no early exit.
#[inline]
fn difference(a: &Block, b: &Block) -> u64 {
    a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y))
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
    fn payloads_longer_than_a_block() {
        let long_secret = "s".repeat(BLOCK_WORDS * 8 * 2);
        let accepted = set(&[("long", &long_secret), ("short", "secret")]);
        assert!(accepted.blocks_per_entry > 2);
        let long = AcceptedEntry::new(&Credentials::new("long", long_secret.as_str()).unwrap());
        assert_eq!(accepted.find(long.payload.as_bytes()).map(AuthenticatedId::as_str), Some("long"));
        let mut wrong = long.payload.as_bytes().to_vec();
        *wrong.last_mut().unwrap() ^= 1;
        assert!(accepted.find(&wrong).is_none());
        let short = AcceptedEntry::new(&Credentials::new("short", "secret").unwrap());
        assert_eq!(accepted.find(short.payload.as_bytes()).map(AuthenticatedId::as_str), Some("short"));
    }

    #[test]
    fn block_at_pads_with_zeros() {
        let bytes: Vec<u8> = (1..=66).collect();
        let first = block_at(&bytes, 0);
        assert_eq!(first[0], u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(first[7], u64::from_le_bytes([57, 58, 59, 60, 61, 62, 63, 64]));
        let mut second = [0; BLOCK_WORDS];
        second[0] = u64::from_le_bytes([65, 66, 0, 0, 0, 0, 0, 0]);
        assert_eq!(block_at(&bytes, 1), second);
        assert_eq!(block_at(&bytes, 2), [0; BLOCK_WORDS]);
        assert_eq!(block_at(b"", 0), [0; BLOCK_WORDS]);
    }

    #[test]
    fn an_empty_set_accepts_nothing() {
        assert!(set(&[]).find(b"").is_none());
        assert!(set(&[]).find(b"anything").is_none());
    }
}
