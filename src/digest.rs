//! The validator's path for credentials held by digest (feature `digest`): a token whose
//! credential the set knows only as the SHA-256 digest of `"<id>:<secret>"`.

use base64::{engine::general_purpose::STANDARD, DecodeSliceError, Engine as _};
use constant_time_eq::constant_time_eq_32;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::{
    accepted::{AcceptedEntry, AcceptedSet, Check},
    credentials::{AcceptedCredential, Credentials, Held},
};

impl AcceptedCredential {
    /// What a server holds of `credentials` by digest: the SHA-256 of `"<id>:<secret>"`, as
    /// `printf '%s' '<id>:<secret>' | sha256sum` prints it.
    ///
    /// ```
    /// use jocloud_auth::{AcceptedCredential, Credentials};
    ///
    /// let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
    /// let held = AcceptedCredential::digest_of(&credentials);
    /// let line = held.digest_line().unwrap();
    /// assert!(line.starts_with("qawsedrftg:{SHA256}") && !line.contains("abcdefghijk"));
    /// assert!(line.parse::<AcceptedCredential>()?.is_digest());
    /// # Ok::<(), jocloud_auth::InvalidCredentials>(())
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "digest")))]
    pub fn digest_of(credentials: &Credentials) -> Self {
        let digest = Sha256::new()
            .chain_update(credentials.id())
            .chain_update(":")
            .chain_update(credentials.secret().as_bytes())
            .finalize();
        Self::with_digest(credentials.id(), digest.into())
    }

    /// `"<id>:{SHA256}<hex>"`, a line of a file of lines, for a credential held by digest;
    /// `None` for one held by its secret, which this never shows.
    #[cfg_attr(docsrs, doc(cfg(feature = "digest")))]
    pub fn digest_line(&self) -> Option<String> {
        let Held::Sha256(digest) = self.held() else { return None };
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        Some(format!("{}:{{SHA256}}{hex}", self.id()))
    }
}

/// Decoded on the stack up to this length, the `id:secret` of any console's credential.
const ON_THE_STACK: usize = 256;

impl AcceptedSet {
    /// The entry holding the digest of what `presented` decodes to, under the ID it names:
    /// compared in constant time with each digest filed under that ID, none skipped. The
    /// decoded token (a secret, perhaps a real one out of date) is zeroized.
    pub(crate) fn find_digest(&self, presented: &[u8]) -> Option<&AcceptedEntry> {
        if self.digests.is_empty() {
            return None;
        }
        self.find_digest_with(presented, &mut [0u8; ON_THE_STACK])
    }

    /// [`find_digest`](Self::find_digest), decoding into `stack`, which it leaves zeroed.
    fn find_digest_with<'s>(
        &'s self,
        presented: &[u8],
        stack: &mut [u8; ON_THE_STACK],
    ) -> Option<&'s AcceptedEntry> {
        match STANDARD.decode_slice(presented, &mut stack[..]) {
            // Only the bytes written are wiped: the whole buffer would cost hundreds more.
            Ok(len) => self.find_digest_of(Wiped(&mut stack[..len]).0),
            Err(DecodeSliceError::OutputSliceTooSmall) => {
                stack.zeroize();
                self.find_digest_of(&Zeroizing::new(STANDARD.decode(presented).ok()?))
            }
            Err(DecodeSliceError::DecodeError(_)) => {
                stack.zeroize();
                None
            }
        }
    }

    /// The entry holding the digest of `decoded`, `"<id>:<secret>"`.
    fn find_digest_of(&self, decoded: &[u8]) -> Option<&AcceptedEntry> {
        let colon = decoded.iter().position(|&byte| byte == b':')?;
        let filed = self.digests.get(std::str::from_utf8(&decoded[..colon]).ok()?)?;
        let digest: [u8; 32] = Sha256::digest(decoded).into();
        let mut found = None;
        for entry in filed.iter() {
            if matches!(&entry.check, Check::Sha256(held) if constant_time_eq_32(held, &digest)) {
                found = Some(entry);
            }
        }
        found
    }
}

/// Bytes zeroized when dropped.
struct Wiped<'a>(&'a mut [u8]);

impl Drop for Wiped<'_> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token a request presented, decoded to find its digest, is zeroed after, accepted or
    /// not, on the stack and on the heap.
    #[test]
    fn the_decoded_token_is_wiped() {
        let credentials = Credentials::new("cust000001", "s3cr3t-generated").unwrap();
        let set =
            AcceptedSet::with_entries([AcceptedEntry::new(&AcceptedCredential::digest_of(&credentials))]);
        for (secret, accepted) in [("s3cr3t-generated", true), ("not-the-secret", false)] {
            let presented = Credentials::new("cust000001", secret).unwrap().encoded_payload();
            let mut stack = [0u8; ON_THE_STACK];
            assert_eq!(
                set.find_digest_with(presented.as_bytes(), &mut stack).is_some(),
                accepted,
                "{secret}"
            );
            assert_eq!(stack, [0; ON_THE_STACK], "{secret}: wiped");
        }
        let long = Credentials::new("cust000001", "s".repeat(ON_THE_STACK)).unwrap().encoded_payload();
        let mut stack = [0u8; ON_THE_STACK];
        assert!(set.find_digest_with(long.as_bytes(), &mut stack).is_none());
        assert_eq!(stack, [0; ON_THE_STACK], "a long token goes to the heap, the stack left zeroed");
        assert!(set.find_digest_with(b"not base64!", &mut stack).is_none());
        assert_eq!(stack, [0; ON_THE_STACK]);
    }
}
