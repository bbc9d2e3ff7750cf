//! The validator's path for credentials held by digest (feature `digest`): a token whose
//! credential the set knows only as the SHA-256 digest of `"<id>:<secret>"`.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use constant_time_eq::constant_time_eq_32;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroize;

use crate::{
    accepted::{AcceptedEntry, AcceptedSet, Check},
    credentials::{AcceptedCredential, Credentials, Held},
    error::InvalidCredentials,
};

impl AcceptedCredential {
    /// What a server holds of `credentials` by digest: the SHA-256 of `"<id>:<secret>"`, as
    /// `printf '%s' '<id>:<secret>' | sha256sum` prints it.
    ///
    /// ```
    /// use jocloud_auth::{AcceptedCredential, Credentials};
    ///
    /// let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
    /// let held = AcceptedCredential::digest_of(&credentials)?;
    /// let line = held.digest_line().unwrap();
    /// assert!(line.starts_with("qawsedrftg:{SHA256}") && !line.contains("abcdefghijk"));
    /// assert!(line.parse::<AcceptedCredential>()?.is_digest());
    /// # Ok::<(), jocloud_auth::InvalidCredentials>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`InvalidCredentials::TooLongForDigest`] where `"<id>:<secret>"` is longer than the 255
    /// bytes a validator decodes to check a digest (generated secrets are a few dozen).
    #[cfg_attr(docsrs, doc(cfg(feature = "digest")))]
    pub fn digest_of(credentials: &Credentials) -> Result<Self, InvalidCredentials> {
        if credentials.id().len() + 1 + credentials.secret().len() > MAX_DECODED {
            return Err(InvalidCredentials::TooLongForDigest { max_bytes: MAX_DECODED });
        }
        let digest = Sha256::new()
            .chain_update(credentials.id())
            .chain_update(":")
            .chain_update(credentials.secret().as_bytes())
            .finalize();
        Ok(Self::with_digest(credentials.id(), digest.into()))
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

/// The longest `"<id>:<secret>"` checked against a digest, decoded on the stack: far above
/// any console's credential.
const MAX_DECODED: usize = 255;

/// The longest token payload checked against a digest: the base64 of [`MAX_DECODED`] bytes,
/// which decodes to no more than that.
pub(crate) const MAX_DIGEST_PAYLOAD: usize = MAX_DECODED / 3 * 4;

impl AcceptedSet {
    /// The entry holding the digest of what `presented` decodes to, under the ID it names:
    /// compared in constant time with each digest filed under that ID, none skipped. The
    /// decoded token (a secret, perhaps a real one out of date) is zeroized.
    pub(crate) fn find_digest(&self, presented: &[u8]) -> Option<&AcceptedEntry> {
        if self.digests.is_empty() {
            return None;
        }
        self.find_digest_with(presented, &mut [0u8; MAX_DECODED])
    }

    /// [`find_digest`](Self::find_digest), decoding into `stack`, which it leaves zeroed. A
    /// payload that does not fit is refused unread: nothing is decoded onto the heap.
    fn find_digest_with<'s>(
        &'s self,
        presented: &[u8],
        stack: &mut [u8; MAX_DECODED],
    ) -> Option<&'s AcceptedEntry> {
        if presented.len() > MAX_DIGEST_PAYLOAD {
            return None;
        }
        match STANDARD.decode_slice(presented, &mut stack[..]) {
            // Only the bytes written are wiped: the whole buffer would cost hundreds more.
            Ok(len) => self.find_digest_of(Wiped(&mut stack[..len]).0),
            // A failed decode may have written a part.
            Err(_) => {
                stack.zeroize();
                None
            }
        }
    }

    /// The entry holding the digest of `decoded`, `"<id>:<secret>"`. The digest is computed
    /// whether or not the ID is known, so that timing does not tell one that is.
    fn find_digest_of(&self, decoded: &[u8]) -> Option<&AcceptedEntry> {
        let colon = decoded.iter().position(|&byte| byte == b':')?;
        let digest: [u8; 32] = Sha256::digest(decoded).into();
        let filed = std::str::from_utf8(&decoded[..colon]).ok().and_then(|id| self.digests.get(id));
        let mut found = None;
        for entry in filed.iter().flat_map(|filed| filed.iter()) {
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
    /// not; one too long to decode on the stack is refused unread.
    #[test]
    fn the_decoded_token_is_wiped() {
        let credentials = Credentials::new("cust000001", "s3cr3t-generated").unwrap();
        let set = AcceptedSet::with_entries([AcceptedEntry::new(
            &AcceptedCredential::digest_of(&credentials).unwrap(),
        )]);
        for (secret, accepted) in [("s3cr3t-generated", true), ("not-the-secret", false)] {
            let presented = Credentials::new("cust000001", secret).unwrap().encoded_payload();
            let mut stack = [0u8; MAX_DECODED];
            assert_eq!(
                set.find_digest_with(presented.as_bytes(), &mut stack).is_some(),
                accepted,
                "{secret}"
            );
            assert_eq!(stack, [0; MAX_DECODED], "{secret}: wiped");
        }
        let mut stack = [0u8; MAX_DECODED];
        let long = Credentials::new("cust000001", "s".repeat(MAX_DECODED)).unwrap().encoded_payload();
        assert!(set.find_digest_with(long.as_bytes(), &mut stack).is_none());
        assert_eq!(stack, [0; MAX_DECODED], "a long token is not decoded at all");
        // Valid base64 up to a bad last character: the part decoded before it is wiped.
        let cut = format!("{}!", &long[..MAX_DIGEST_PAYLOAD - 1]);
        assert!(set.find_digest_with(cut.as_bytes(), &mut stack).is_none());
        assert_eq!(stack, [0; MAX_DECODED]);
    }

    /// The longest payload checked is the longest a credential `digest_of` takes encodes to,
    /// and every payload of that length decodes on the stack.
    #[test]
    fn the_longest_digest_credential_fits_and_one_byte_more_is_refused() {
        let longest = Credentials::new("id", "s".repeat(MAX_DECODED - 3)).unwrap();
        let held = AcceptedCredential::digest_of(&longest).unwrap();
        let set = AcceptedSet::with_entries([AcceptedEntry::new(&held)]);
        let payload = longest.encoded_payload();
        assert_eq!(payload.len(), MAX_DIGEST_PAYLOAD);
        assert!(set.find_digest(payload.as_bytes()).is_some());
        let longer = Credentials::new("id", "s".repeat(MAX_DECODED - 2)).unwrap();
        assert_eq!(
            AcceptedCredential::digest_of(&longer).map(|_| ()),
            Err(InvalidCredentials::TooLongForDigest { max_bytes: MAX_DECODED })
        );
        assert_eq!(STANDARD.decode(vec![b'A'; MAX_DIGEST_PAYLOAD]).unwrap().len(), MAX_DECODED);
    }

    /// The hasher wipes its buffer, which held `id:secret`, when it is dropped (sha2's
    /// `zeroize` feature).
    #[test]
    fn the_hasher_wipes_itself() {
        fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wipes_on_drop::<Sha256>();
    }
}
