//! A client's jocloud interface certificate: its ID and secret key.

use std::{env, fmt, str::FromStr};

use base64::Engine as _;
use http::HeaderValue;
use zeroize::Zeroizing;

use super::Scheme;
use crate::error::{InvalidCredentials, LoadError, LoadProblem, Part};

/// The longest header value a credential may encode to, in bytes, with the longer scheme word.
///
/// Common servers and proxies cap a header line at 8 KiB; a longer token could never be sent.
const MAX_HEADER_VALUE: usize = 8 * 1024;

/// A jocloud interface certificate: its ID and secret key.
///
/// Built only through validating constructors, so every `Credentials` encodes to a token the
/// server can split back into ID and secret and that fits in a header. The secret is zeroized
/// when the value is dropped and never appears in `Debug` output or in any error.
///
/// ```
/// use jocloud_auth::Credentials;
///
/// let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
/// assert_eq!(credentials.id(), "qawsedrftg");
/// assert_eq!(format!("{credentials:?}"), r#"Credentials { id: "qawsedrftg", secret: "[redacted]" }"#);
///
/// // "id:secret", split at the first colon, as some configuration files store it.
/// let parsed: Credentials = "qawsedrftg:abcdefghijk".parse()?;
/// assert_eq!(parsed.id(), credentials.id());
/// # Ok::<(), jocloud_auth::InvalidCredentials>(())
/// ```
#[derive(Clone)]
pub struct Credentials {
    id: String,
    secret: Zeroizing<String>,
}

impl Credentials {
    /// The environment variable [`Credentials::from_env`] reads the certificate ID from.
    pub const ID_VAR: &'static str = "JOCLOUD_SECRET_ID";
    /// The environment variable [`Credentials::from_env`] reads the secret key from.
    pub const SECRET_VAR: &'static str = "JOCLOUD_SECRET_KEY";

    /// Validates a certificate ID and secret key.
    ///
    /// # Errors
    ///
    /// Whatever no jocloud console issues, each with its own [`InvalidCredentials`]: an empty ID
    /// or secret; an ID containing `:` (the server splits the decoded token at the first
    /// colon); leading or trailing whitespace, a control character (a NUL, a newline inside) or
    /// an invisible format character (a byte-order mark, a zero-width space) in either, all
    /// copy-paste mistakes; and a pair whose header value would exceed 8 KiB. The error never
    /// contains the secret.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Result<Self, InvalidCredentials> {
        // Wrap the secret first, so it is zeroized on every return path, errors included.
        let secret = Zeroizing::new(secret.into());
        let id = id.into();
        check_id(&id)?;
        check_part(&secret, Part::Secret)?;
        let payload = id.len() + 1 + secret.len();
        if header_value_len(Scheme::Basic, payload) > MAX_HEADER_VALUE {
            return Err(InvalidCredentials::TooLong { max_header_bytes: MAX_HEADER_VALUE });
        }
        Ok(Self { id, secret })
    }

    /// Reads the ID from `JOCLOUD_SECRET_ID` and the secret from `JOCLOUD_SECRET_KEY`.
    ///
    /// # Errors
    ///
    /// A variable that is not set or not valid Unicode, and everything [`Credentials::new`]
    /// rejects, as a [`LoadError::EnvVar`] naming the variable the problem is in.
    pub fn from_env() -> Result<Self, LoadError> {
        let id = read_var(Self::ID_VAR)?;
        let mut secret = Zeroizing::new(read_var(Self::SECRET_VAR)?);
        // Moved, not copied: one buffer holds the secret, and it is zeroized either way.
        Self::new(id, std::mem::take(&mut *secret)).map_err(|invalid| LoadError::EnvVar {
            name: if invalid.part() == Some(Part::Id) { Self::ID_VAR } else { Self::SECRET_VAR },
            problem: LoadProblem::Invalid(invalid),
        })
    }

    /// Whether both hold the same ID and secret. Not constant-time: for comparing keys read
    /// from a file, never for checking a request.
    #[cfg(feature = "rotation")]
    pub(crate) fn same_as(&self, other: &Credentials) -> bool {
        self.id == other.id && *self.secret == *other.secret
    }

    /// The certificate ID. Not a secret: it is what the server reports back as the caller.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The ID and the secret, moved: one buffer holds the secret still.
    pub(super) fn into_parts(self) -> (String, Zeroizing<String>) {
        (self.id, self.secret)
    }

    /// The secret key, for digesting it.
    #[cfg_attr(not(feature = "digest"), allow(dead_code))]
    pub(super) fn secret(&self) -> &str {
        &self.secret
    }

    /// The base64 payload, `base64("<id>:<secret>")`, in buffers that are zeroized on drop.
    #[cfg(test)]
    pub(crate) fn encoded_payload(&self) -> Zeroizing<String> {
        encode_payload(&self.id, &self.secret)
    }

    /// The complete header value, `"<scheme> <payload>"`, marked sensitive: for clients outside
    /// tower, or for a `curl` command line.
    ///
    /// The value is the secret in reversible form. Prefer
    /// [`TokenAuthLayer`](crate::token_auth::TokenAuthLayer), which keeps it out of reach.
    pub fn header_value(&self, scheme: Scheme) -> HeaderValue {
        header_value(scheme, &encode_payload(&self.id, &self.secret))
    }
}

/// `base64("<id>:<secret>")`, in buffers that are zeroized on drop.
pub(super) fn encode_payload(id: &str, secret: &str) -> Zeroizing<String> {
    let mut plain = Zeroizing::new(String::with_capacity(id.len() + 1 + secret.len()));
    plain.push_str(id);
    plain.push(':');
    plain.push_str(secret);
    let mut encoded = Zeroizing::new(String::new());
    // Sized up front so the buffer never reallocates and leaves a copy behind.
    encoded.reserve_exact(base64::encoded_len(plain.len(), true).unwrap_or(0));
    base64::engine::general_purpose::STANDARD.encode_string(plain.as_bytes(), &mut encoded);
    encoded
}

/// `"<scheme> <payload>"` as a sensitive header value whose clones never allocate.
fn header_value(scheme: Scheme, payload: &str) -> HeaderValue {
    let mut text = Zeroizing::new(String::with_capacity(scheme.as_str().len() + 1 + payload.len()));
    text.push_str(scheme.as_str());
    text.push(' ');
    text.push_str(payload);
    // A scheme word, a space and base64 are visible ASCII, which a header value always accepts.
    let mut value = HeaderValue::from_str(&text).expect("scheme and base64 make a valid header value");
    value.set_sensitive(true);
    // A freshly copied value allocates a shared reference count on its first clone, and each
    // clone of it checks whether that happened. Its clone is the shared form from the start:
    // cloning that per request is a reference count increment and nothing more.
    value.clone()
}

/// The length of `"<scheme> <base64 of payload_len bytes>"`.
fn header_value_len(scheme: Scheme, payload_len: usize) -> usize {
    scheme.as_str().len() + 1 + payload_len.div_ceil(3) * 4
}

impl FromStr for Credentials {
    type Err = InvalidCredentials;

    /// Parses `"<id>:<secret>"`, split at the first `:` (the secret may contain colons).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, secret) = s.split_once(':').ok_or(InvalidCredentials::MissingSeparator)?;
        Self::new(id, secret)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("id", &self.id).field("secret", &"[redacted]").finish()
    }
}

/// A certificate ID as [`Credentials::new`] requires it, for a digest entry too.
pub(super) fn check_id(id: &str) -> Result<(), InvalidCredentials> {
    check_part(id, Part::Id)?;
    if id.contains(':') {
        return Err(InvalidCredentials::IdContainsColon);
    }
    Ok(())
}

fn check_part(value: &str, part: Part) -> Result<(), InvalidCredentials> {
    if value.is_empty() {
        return Err(InvalidCredentials::Empty(part));
    }
    if value.trim() != value {
        return Err(InvalidCredentials::SurroundingWhitespace(part));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidCredentials::ControlCharacter(part));
    }
    if value.chars().any(is_invisible_format) {
        return Err(InvalidCredentials::InvisibleCharacter(part));
    }
    Ok(())
}

/// Unicode format characters (category Cf) that text copied from a web console or a document
/// brings along unseen: the soft hyphen, zero-width spaces and joiners, direction marks and
/// embeddings, the word joiner and invisible operators, the byte-order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}')
        || matches!(c, '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

fn read_var(name: &'static str) -> Result<String, LoadError> {
    let problem = match env::var(name) {
        Ok(value) => return Ok(value),
        Err(env::VarError::NotPresent) => LoadProblem::NotSet,
        Err(env::VarError::NotUnicode(value)) => {
            // The value may be the secret: zeroize it, without looking at it.
            drop(Zeroizing::new(value.into_encoded_bytes()));
            LoadProblem::NotUnicode
        }
    };
    Err(LoadError::EnvVar { name, problem })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limit check computes the length without encoding; it must match the encoding.
    #[test]
    fn header_value_len_is_the_encoded_length() {
        for payload_len in 4..200 {
            let credentials = Credentials::new("id", "s".repeat(payload_len - 3)).unwrap();
            for scheme in Scheme::ALL {
                let encoded = credentials.header_value(scheme).len();
                assert_eq!(header_value_len(scheme, payload_len), encoded, "{scheme} {payload_len}");
            }
        }
    }

    #[cfg(feature = "rotation")]
    #[test]
    fn same_as_needs_the_same_id_and_secret() {
        let credentials = Credentials::new("id", "secret").unwrap();
        assert!(credentials.same_as(&Credentials::new("id", "secret").unwrap()));
        assert!(!credentials.same_as(&Credentials::new("id", "other").unwrap()));
        assert!(!credentials.same_as(&Credentials::new("other", "secret").unwrap()));
        assert!(!credentials.same_as(&Credentials::new("other", "other").unwrap()));
    }
}
