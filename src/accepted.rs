//! The accepted side of validation: credentials laid out for a constant-time search.
//!
//! Private: `ValidateToken` and the live set build on it; nothing here is public API.

use http::Extensions;
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

    #[cfg(feature = "rotation")]
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

/// Accepted payloads laid out for a constant-time search: each entry padded to the same
/// number of blocks, so a lookup touches the same memory whatever it is given.
pub struct AcceptedSet {
    table: Table,
    /// What an accepted request gets: `None` first (no match), then each entry's ID, already in
    /// an `Extensions` so that accepting a request clones a map rather than building one.
    /// Indexed by the search's 1-based result.
    extensions: Box<[Option<Extensions>]>,
}

/// The payloads in blocks of 64-bit words, each payload followed by the byte `0x80` and then
/// zeros (ISO/IEC 7816-4 padding), so that equal blocks mean equal payloads of equal length,
/// with no length to compare beside them. The block size is the smallest of these that holds
/// the longest payload and its terminator, so that the usual search compares one block per
/// entry and nothing more; a size fixed at compile time lets the compiler unroll it.
enum Table {
    /// Payloads of up to 31 bytes: an ID and a secret of up to 20 characters together.
    Words4(Rows<4>),
    /// Up to 39 bytes (26 characters), such as the vendor's example.
    Words5(Rows<5>),
    /// Up to 47 bytes (32 characters).
    Words6(Rows<6>),
    /// Up to 55 bytes (38 characters).
    Words7(Rows<7>),
    /// Up to 63 bytes (44 characters).
    Words8(Rows<8>),
    /// Any length, in as many 128-byte blocks as the longest needs.
    Long(LongRows),
}

impl AcceptedSet {
    pub fn new(entries: &[AcceptedEntry]) -> Self {
        // The search relies on at most one entry matching: repeated credentials count once.
        let mut distinct = Vec::with_capacity(entries.len());
        for entry in entries {
            entry.clone().add_to(&mut distinct);
        }
        let entries = &distinct[..];
        let longest = entries.iter().map(|entry| entry.payload.len()).max().unwrap_or(0);
        let table = match longest {
            0..=31 => Table::Words4(Rows::new(entries)),
            32..=39 => Table::Words5(Rows::new(entries)),
            40..=47 => Table::Words6(Rows::new(entries)),
            48..=55 => Table::Words7(Rows::new(entries)),
            56..=63 => Table::Words8(Rows::new(entries)),
            _ => Table::Long(LongRows::new(entries, (longest + 1).div_ceil(128))),
        };
        let extensions = std::iter::once(None)
            .chain(entries.iter().map(|entry| {
                let mut extensions = Extensions::new();
                extensions.insert(entry.id.clone());
                Some(extensions)
            }))
            .collect();
        Self { table, extensions }
    }

    /// The extensions (the [`AuthenticatedId`]) of the entry whose payload equals `presented`,
    /// in time independent of which (if any) matched:
    /// every block of every entry is compared, and the match is selected without a branch.
    /// A payload too long for the blocks is turned away at once: that reveals the block size,
    /// which the time of every search reveals anyway.
    #[inline(always)]
    pub fn find(&self, presented: &[u8]) -> Option<&AuthenticatedId> {
        let found = match &self.table {
            Table::Words4(rows) => rows.search(presented),
            Table::Words5(rows) => rows.search(presented),
            Table::Words6(rows) => rows.search(presented),
            Table::Words7(rows) => rows.search(presented),
            Table::Words8(rows) => rows.search(presented),
            Table::Long(rows) => rows.search(presented),
        };
        self.extensions.get(found)?.as_ref()?.get()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        let ids = self.extensions.iter().flatten().filter_map(Extensions::get::<AuthenticatedId>);
        ids.map(AuthenticatedId::as_str)
    }
}

/// Every entry's padded payload in one block of `W` words.
struct Rows<const W: usize>(Zeroizing<Vec<[u64; W]>>);

impl<const W: usize> Rows<W> {
    fn new(entries: &[AcceptedEntry]) -> Self {
        let mut blocks = Zeroizing::new(Vec::with_capacity(entries.len()));
        blocks.extend(entries.iter().map(|entry| padded_block(entry.payload.as_bytes(), 0)));
        Self(blocks)
    }

    /// The 1-based index of the entry equal to `presented`, 0 for none; compares all of them
    /// every time.
    #[inline]
    fn search(&self, presented: &[u8]) -> usize {
        if presented.len() >= W * 8 {
            return 0; // no room for the terminator: longer than every accepted payload
        }
        let block = padded_block(presented, 0);
        select(self.0.iter().map(|accepted| difference(accepted, &block)))
    }
}

/// Every entry's padded payload in `per_entry` blocks of 16 words.
struct LongRows {
    per_entry: usize,
    blocks: Zeroizing<Vec<[u64; 16]>>,
}

impl LongRows {
    fn new(entries: &[AcceptedEntry], per_entry: usize) -> Self {
        let mut blocks = Zeroizing::new(Vec::with_capacity(per_entry * entries.len()));
        for entry in entries {
            let payload = entry.payload.as_bytes();
            blocks.extend((0..per_entry).map(|index| padded_block(payload, index)));
        }
        Self { per_entry, blocks }
    }

    /// As [`Rows::search`], block by block.
    fn search(&self, presented: &[u8]) -> usize {
        if presented.len() >= self.per_entry * 16 * 8 {
            return 0;
        }
        select(self.blocks.chunks_exact(self.per_entry).map(|accepted| {
            let blocks = accepted.iter().enumerate();
            blocks.fold(0, |diff, (index, block)| diff | difference(block, &padded_block(presented, index)))
        }))
    }
}

/// The 1-based index of the one zero in `differences`, 0 if there is none, found without a
/// branch on them.
#[inline(always)]
fn select(differences: impl Iterator<Item = u64>) -> usize {
    // Entries are distinct, so at most one index is ever merged in.
    let mut found = 0u64;
    for (index, diff) in differences.enumerate() {
        found |= u64::conditional_select(&0, &(index as u64 + 1), diff.ct_eq(&0));
    }
    usize::try_from(found).unwrap_or(0)
}

/// Block `index` of `bytes` followed by `0x80` and zeros. Branches only on the length.
///
/// Built word by word in registers rather than copied into a buffer: a copy followed by the
/// terminator's one-byte store makes the word loads after them wait for both stores.
#[inline(always)]
fn padded_block<const W: usize>(bytes: &[u8], index: usize) -> [u64; W] {
    let rest = bytes.get(index * W * 8..).unwrap_or_default();
    let len = rest.len();
    // The word holding the end: the last `len % 8` bytes, then the terminator.
    let tail_len = len % 8;
    let tail = match len.checked_sub(8) {
        Some(start) => {
            let last = rest.get(start..).and_then(|last| last.try_into().ok()).map_or(0, u64::from_le_bytes);
            last.checked_shr(8 * (8 - tail_len) as u32).unwrap_or(0)
        }
        None => rest.iter().rev().fold(0, |word, &byte| (word << 8) | u64::from(byte)),
    } | (0x80 << (8 * tail_len));
    let end = len / 8;
    std::array::from_fn(|word| match rest.get(word * 8..word * 8 + 8) {
        Some(chunk) => chunk.try_into().map_or(0, u64::from_le_bytes),
        None if word == end && index * W * 8 <= bytes.len() => tail,
        None => 0,
    })
}

/// Zero exactly when the blocks are equal; no early exit.
#[inline(always)]
fn difference<const W: usize>(a: &[u64; W], b: &[u64; W]) -> u64 {
    a.iter().zip(b).fold(0, |diff, (x, y)| diff | (x ^ y))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, secret: &str) -> AcceptedEntry {
        AcceptedEntry::new(&Credentials::new(id, secret).unwrap())
    }

    fn set(credentials: &[(&str, &str)]) -> AcceptedSet {
        let entries: Vec<_> = credentials.iter().map(|(id, secret)| entry(id, secret)).collect();
        AcceptedSet::new(&entries)
    }

    fn found<'a>(accepted: &'a AcceptedSet, payload: &[u8]) -> Option<&'a str> {
        accepted.find(payload).map(AuthenticatedId::as_str)
    }

    #[test]
    fn finds_exactly_the_accepted_payloads() {
        let accepted =
            set(&[("qawsedrftg", "abcdefghijk"), ("other", "a-much-longer-secret-than-the-first")]);
        assert_eq!(found(&accepted, b"cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw=="), Some("qawsedrftg"));
        let other = entry("other", "a-much-longer-secret-than-the-first");
        assert_eq!(found(&accepted, other.payload.as_bytes()), Some("other"));
        // Prefixes, extensions and near misses, including ones that differ only past the
        // shorter entry's padding.
        for wrong in [
            "",
            "cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw=",
            "cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==\0",
            "cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==A",
            "dWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==",
        ] {
            assert_eq!(found(&accepted, wrong.as_bytes()), None, "{wrong:?}");
        }
    }

    /// Every block size, at and around its limits, with a short entry beside the long one.
    #[test]
    fn payloads_of_every_block_size() {
        let cases = [
            (4, 4),
            (28, 4),
            (32, 5),
            (36, 5),
            (40, 6),
            (44, 6),
            (48, 7),
            (52, 7),
            (56, 8),
            (60, 8),
            (64, 16),
            (124, 16),
            (128, 16),
            (400, 16),
        ];
        for (len, expected_words) in cases {
            // A secret whose payload (base64 of "l:secret") is exactly `len` bytes long.
            let long = entry("l", &"s".repeat(len / 4 * 3 - "l:".len()));
            assert_eq!(long.payload.len(), len);
            let accepted = AcceptedSet::new(&[entry("short", "x"), long.clone()]);
            let (words, per_entry) = match &accepted.table {
                Table::Words4(_) => (4, 1),
                Table::Words5(_) => (5, 1),
                Table::Words6(_) => (6, 1),
                Table::Words7(_) => (7, 1),
                Table::Words8(_) => (8, 1),
                Table::Long(rows) => (16, rows.per_entry),
            };
            assert_eq!((words, per_entry), (expected_words, (len + 1).div_ceil(words * 8)), "{len}");

            assert_eq!(found(&accepted, long.payload.as_bytes()), Some("l"), "{len}");
            assert_eq!(found(&accepted, entry("short", "x").payload.as_bytes()), Some("short"), "{len}");
            let payload = long.payload.as_bytes();
            for at in [0, payload.len() / 2, payload.len() - 1] {
                let mut wrong = payload.to_vec();
                wrong[at] ^= 1;
                assert_eq!(found(&accepted, &wrong), None, "{len}, byte {at}");
            }
            // Shorter and longer, including by the terminator byte itself and by zeros, which a
            // header value cannot hold but a padding that ignored lengths would not notice.
            for wrong in
                [&payload[..payload.len() - 1], &[payload, b"A"].concat(), &[payload, &[0x80]].concat()]
            {
                assert_eq!(found(&accepted, wrong), None, "{len}: {wrong:?}");
            }
            for zeros in [1, 7, 8, 200] {
                assert_eq!(found(&accepted, &[payload, &vec![0; zeros]].concat()), None, "{len} + {zeros}");
            }
        }
    }

    #[test]
    fn padded_block_ends_the_bytes_with_0x80() {
        let bytes: Vec<u8> = (1..=66).collect();
        let first: [u64; 8] = padded_block(&bytes, 0);
        assert_eq!(first[0], u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(first[7], u64::from_le_bytes([57, 58, 59, 60, 61, 62, 63, 64]));
        let mut second = [0; 8];
        second[0] = u64::from_le_bytes([65, 66, 0x80, 0, 0, 0, 0, 0]);
        assert_eq!(padded_block(&bytes, 1), second);
        assert_eq!(padded_block(&bytes, 2), [0; 8]);
        assert_eq!(padded_block(&bytes, 4), [u64::from_le_bytes([65, 66, 0x80, 0, 0, 0, 0, 0]), 0]);
        assert_eq!(padded_block(&bytes[..64], 1), [0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(padded_block(b"", 0), [0x80, 0, 0, 0]);
    }

    #[test]
    fn repeated_credentials_count_once() {
        let accepted =
            AcceptedSet::new(&[entry("a", "1"), entry("b", "2"), entry("a", "1"), entry("c", "3")]);
        assert_eq!(accepted.ids().collect::<Vec<_>>(), ["a", "b", "c"]);
        for (id, secret) in [("a", "1"), ("b", "2"), ("c", "3")] {
            assert_eq!(found(&accepted, entry(id, secret).payload.as_bytes()), Some(id));
        }
    }

    #[test]
    fn an_empty_set_accepts_nothing() {
        assert!(set(&[]).find(b"").is_none());
        assert!(set(&[]).find(b"anything").is_none());
    }
}
