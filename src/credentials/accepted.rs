//! What a server accepts of one credential: its secret, or (feature `digest`) a digest only.

use std::{fmt, str::FromStr};

use zeroize::Zeroizing;

use super::{
    client::{check_id, encode_payload},
    Credentials,
};
use crate::error::InvalidCredentials;

/// What a server holds to accept one credential: the certificate ID with its secret, or, with
/// the `digest` feature, with only the SHA-256 digest of `"<id>:<secret>"`, so that the server
/// holds no secret at all.
///
/// Parses from `"<id>:<secret>"` or `"<id>:{SHA256}<64 hex digits>"`, a line of
/// [`CredentialSetSource::lines`](crate::CredentialSetSource::lines); [`new`](Self::new) takes
/// the two halves, as a file per ID holds them. The digest is what
/// `printf '%s' '<id>:<secret>' | sha256sum` prints: see the
/// [validator's docs](crate::validate#credentials-held-by-digest) for what it protects.
///
/// ```
/// use jocloud_auth::{AcceptedCredential, Credentials};
///
/// let secret: AcceptedCredential = "qawsedrftg:abcdefghijk".parse()?;
/// assert!(!secret.is_digest());
/// let from_client: AcceptedCredential = Credentials::new("qawsedrftg", "abcdefghijk")?.into();
/// assert_eq!(from_client.id(), secret.id());
/// # Ok::<(), jocloud_auth::InvalidCredentials>(())
/// ```
#[derive(Clone)]
pub struct AcceptedCredential {
    id: String,
    held: Held,
}

/// How a server knows a credential.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Held {
    Secret(Zeroizing<String>),
    /// SHA-256 of `"<id>:<secret>"`.
    Sha256([u8; 32]),
}

impl Held {
    /// Its kind and bytes: what a set of credentials is sorted by.
    fn order(&self) -> (u8, &[u8]) {
        match self {
            Held::Secret(secret) => (0, secret.as_bytes()),
            Held::Sha256(digest) => (1, digest),
        }
    }
}

/// Not constant-time: for keys read from a file, never for checking a request.
impl Ord for Held {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What marks a value as a digest: `{SHA256}`, as htpasswd's `{SHA}` marks its own, in any case.
const SHA256_MARK: &str = "{SHA256}";

/// What a value held for a certificate ID is, by how it opens.
enum Value<'a> {
    /// A secret key.
    Secret,
    /// `{SHA256}`, in any case, and what follows it.
    Sha256(&'a str),
    /// `{` and anything else: another marker (`{SHA}`, `{SHA-256}`) or a marker cut short.
    OtherMarker,
}

impl<'a> Value<'a> {
    fn of(value: &'a str) -> Self {
        let marked = value.get(..SHA256_MARK.len()).filter(|mark| mark.eq_ignore_ascii_case(SHA256_MARK));
        match marked {
            Some(_) => Value::Sha256(&value[SHA256_MARK.len()..]),
            None if value.starts_with('{') => Value::OtherMarker,
            None => Value::Secret,
        }
    }
}

impl AcceptedCredential {
    /// A certificate ID with `value`: its secret key, or `{SHA256}` (in any case) and the 64
    /// hex digits of the SHA-256 digest of `"<id>:<secret>"`.
    ///
    /// A value is never misread as a secret when it was meant as a digest: one that opens with
    /// `{` is a digest entry or an error, and 64 hex digits alone (a digest whose marker was
    /// left out, which would let the hex itself in) are refused.
    ///
    /// # Errors
    ///
    /// What [`Credentials::new`] refuses; [`InvalidCredentials::DigestWithoutMarker`] for 64 hex
    /// digits alone; for a value opening with `{`, [`InvalidCredentials::UnknownMarker`] unless
    /// it is `{SHA256}`, then [`InvalidCredentials::MalformedDigest`] or, without the `digest`
    /// feature, [`InvalidCredentials::DigestNotEnabled`].
    pub fn new(id: impl Into<String>, value: impl Into<String>) -> Result<Self, InvalidCredentials> {
        let mut value = Zeroizing::new(value.into());
        let hex = match Value::of(&value) {
            Value::Secret if parse_hex(&value).is_some() => {
                return Err(InvalidCredentials::DigestWithoutMarker)
            }
            // Moved, not copied: one buffer holds the secret, and it is zeroized either way.
            Value::Secret => return Ok(Credentials::new(id, std::mem::take(&mut *value))?.into()),
            Value::OtherMarker => return Err(InvalidCredentials::UnknownMarker),
            Value::Sha256(hex) => hex,
        };
        let id = id.into();
        check_id(&id)?;
        let digest = parse_hex(hex).ok_or(InvalidCredentials::MalformedDigest)?;
        if !cfg!(feature = "digest") {
            return Err(InvalidCredentials::DigestNotEnabled);
        }
        Ok(Self { id, held: Held::Sha256(digest) })
    }

    /// The certificate ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the server holds only a digest of this credential.
    pub fn is_digest(&self) -> bool {
        matches!(self.held, Held::Sha256(_))
    }

    /// The base64 payload a client sends for this credential, where it is held by its secret:
    /// the secret in reversible form, zeroized on drop.
    pub(crate) fn payload(&self) -> Option<Zeroizing<String>> {
        match &self.held {
            Held::Secret(secret) => Some(encode_payload(&self.id, secret)),
            Held::Sha256(_) => None,
        }
    }

    /// The SHA-256 of `"<id>:<secret>"`, where that is what is held.
    #[cfg_attr(not(feature = "digest"), allow(dead_code))]
    pub(crate) fn digest(&self) -> Option<&[u8; 32]> {
        match &self.held {
            Held::Secret(_) => None,
            Held::Sha256(digest) => Some(digest),
        }
    }

    /// The ID and what is held, to sort a set of credentials by. Not constant-time: for keys
    /// read from a file, never for checking a request.
    pub(crate) fn key(&self) -> (&str, &Held) {
        (&self.id, &self.held)
    }
}

/// 64 hex digits, either case, as 32 bytes.
fn parse_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let digit = |byte: u8| char::from(byte).to_digit(16);
    let mut digest = [0; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(digest)
}

impl From<Credentials> for AcceptedCredential {
    fn from(credentials: Credentials) -> Self {
        let (id, secret) = credentials.into_parts();
        Self { id, held: Held::Secret(secret) }
    }
}

impl From<&Credentials> for AcceptedCredential {
    fn from(credentials: &Credentials) -> Self {
        credentials.clone().into()
    }
}

impl From<&AcceptedCredential> for AcceptedCredential {
    fn from(credential: &AcceptedCredential) -> Self {
        credential.clone()
    }
}

impl FromStr for AcceptedCredential {
    type Err = InvalidCredentials;

    /// Parses `"<id>:<secret>"` or `"<id>:{SHA256}<hex>"`, split at the first `:`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, value) = s.split_once(':').ok_or(InvalidCredentials::MissingSeparator)?;
        Self::new(id, value)
    }
}

impl fmt::Debug for AcceptedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = if self.is_digest() { "[sha256 digest]" } else { "[redacted secret]" };
        f.debug_struct("AcceptedCredential").field("id", &self.id).field("held", &held).finish()
    }
}

/// Credentials held by digest (feature `digest`).
#[cfg(feature = "digest")]
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
        use sha2::{Digest as _, Sha256};

        if credentials.id().len() + 1 + credentials.secret().len() > MAX_DECODED {
            return Err(InvalidCredentials::TooLongForDigest { max_bytes: MAX_DECODED });
        }
        let digest = Sha256::new()
            .chain_update(credentials.id())
            .chain_update(":")
            .chain_update(credentials.secret().as_bytes())
            .finalize();
        Ok(Self { id: credentials.id().to_owned(), held: Held::Sha256(digest.into()) })
    }

    /// `"<id>:{SHA256}<hex>"`, a line of a file of lines, for a credential held by digest;
    /// `None` for one held by its secret, which this never shows.
    #[cfg_attr(docsrs, doc(cfg(feature = "digest")))]
    pub fn digest_line(&self) -> Option<String> {
        let Held::Sha256(digest) = &self.held else { return None };
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        Some(format!("{}:{{SHA256}}{hex}", self.id))
    }
}

/// The longest `"<id>:<secret>"` a validator decodes (on the stack), to check it against a
/// digest or to name its ID in an event: far above any console's credential.
pub(crate) const MAX_DECODED: usize = 255;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accepted_credential_says_how_it_is_held_and_never_the_secret() {
        let secret: AcceptedCredential = "qawsedrftg:abcdefghijk".parse().unwrap();
        let digest = AcceptedCredential { id: "qawsedrftg".into(), held: Held::Sha256([7; 32]) };
        assert!(!secret.is_digest());
        assert!(digest.is_digest());
        for (credential, held) in [(secret, "[redacted secret]"), (digest, "[sha256 digest]")] {
            let shown = format!("{credential:?}");
            assert!(shown.contains("qawsedrftg") && shown.contains(held), "{shown}");
            assert!(!shown.contains("abcdefghijk") && !shown.contains("0707"), "{shown}");
        }
    }

    /// Sets of credentials are sorted by ID, then secrets before digests, then bytes; `<` and
    /// `cmp` agree.
    #[test]
    fn held_credentials_order_by_kind_then_bytes() {
        let (a, b) = (Held::Secret(Zeroizing::new("a".into())), Held::Secret(Zeroizing::new("b".into())));
        let digest = Held::Sha256([0; 32]);
        assert!(a < b && b < digest);
        assert_eq!(b.partial_cmp(&digest), Some(b.cmp(&digest)));
        assert_eq!(digest.partial_cmp(&a), Some(std::cmp::Ordering::Greater));
    }
}
