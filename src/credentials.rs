//! jocloud interface certificates, the scheme word, and the token they encode to.

use std::{env, fmt, str::FromStr, sync::Arc};

use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use zeroize::Zeroizing;

use crate::error::{InvalidCredentials, LoadError, LoadProblem, ParseSchemeError, Part};

/// The header jocloud reads the token from: `token`.
pub const TOKEN_HEADER: HeaderName = HeaderName::from_static("token");

/// The longest header value a credential may encode to, in bytes, with the longer scheme word.
///
/// Common servers and proxies cap a header line at 8 KiB; a longer token could never be sent.
pub(crate) const MAX_HEADER_VALUE: usize = 8 * 1024;

/// The word before the base64 payload in the header value.
///
/// jocloud's own documentation disagrees: the content-moderation API (`ai.jocloud.com`) says
/// `Base`, the cloud-recording API (`api.jocloud.com`) says `Basic`. `Base` is the default
/// everywhere in this crate. Parses from either word, as written in a configuration file:
///
/// ```
/// use jocloud_auth::Scheme;
///
/// assert_eq!("Basic".parse::<Scheme>(), Ok(Scheme::Basic));
/// assert!("Bearer".parse::<Scheme>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `token: Base <payload>`, as in the vendor's Java and Python samples.
    #[default]
    Base,
    /// `token: Basic <payload>`, as on jocloud's cloud-recording pages.
    Basic,
}

impl Scheme {
    /// Every scheme, in a fixed order.
    pub(crate) const ALL: [Scheme; 2] = [Scheme::Base, Scheme::Basic];

    /// The word as it appears in the header.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Base => "Base",
            Scheme::Basic => "Basic",
        }
    }

    /// What follows this scheme's word and one space at the start of `value`.
    pub(crate) fn strip_from(self, value: &[u8]) -> Option<&[u8]> {
        value.strip_prefix(self.as_str().as_bytes())?.strip_prefix(b" ")
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = ParseSchemeError;

    /// `Base` or `Basic`, exactly as the header spells them.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scheme::ALL.into_iter().find(|scheme| scheme.as_str() == s).ok_or(ParseSchemeError::new())
    }
}

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
        check_part(&id, Part::Id)?;
        check_part(&secret, Part::Secret)?;
        if id.contains(':') {
            return Err(InvalidCredentials::IdContainsColon);
        }
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

    /// The secret key, for digesting it.
    #[cfg_attr(not(feature = "digest"), allow(dead_code))]
    pub(crate) fn secret(&self) -> &str {
        &self.secret
    }

    /// The base64 payload, `base64("<id>:<secret>")`, in buffers that are zeroized on drop.
    pub(crate) fn encoded_payload(&self) -> Zeroizing<String> {
        encode_payload(&self.id, &self.secret)
    }

    /// The complete header value, `"<scheme> <payload>"`, marked sensitive: for clients outside
    /// tower, or for a `curl` command line.
    ///
    /// The value is the secret in reversible form. Prefer
    /// [`TokenAuthLayer`](crate::token_auth::TokenAuthLayer), which keeps it out of reach.
    pub fn header_value(&self, scheme: Scheme) -> HeaderValue {
        header_value(scheme, &self.encoded_payload())
    }
}

/// `base64("<id>:<secret>")`, in buffers that are zeroized on drop.
pub(crate) fn encode_payload(id: &str, secret: &str) -> Zeroizing<String> {
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
        check_part(&id, Part::Id)?;
        if id.contains(':') {
            return Err(InvalidCredentials::IdContainsColon);
        }
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

    pub(crate) fn held(&self) -> &Held {
        &self.held
    }

    /// `id`, held by `digest`.
    #[cfg_attr(not(feature = "digest"), allow(dead_code))]
    pub(crate) fn with_digest(id: &str, digest: [u8; 32]) -> Self {
        Self { id: id.to_owned(), held: Held::Sha256(digest) }
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
        Self { id: credentials.id, held: Held::Secret(credentials.secret) }
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

/// A credential encoded for the client: its ID and its header value for each scheme, so that
/// choosing a scheme is an index, never an encoding.
#[derive(Clone)]
pub(crate) struct EncodedToken {
    pub(crate) id: Arc<str>,
    base: HeaderValue,
    basic: HeaderValue,
}

impl EncodedToken {
    pub(crate) fn new(credentials: &Credentials) -> Self {
        let payload = credentials.encoded_payload();
        Self {
            id: credentials.id().into(),
            base: header_value(Scheme::Base, &payload),
            basic: header_value(Scheme::Basic, &payload),
        }
    }

    /// Whether both encode the same ID and secret. Not constant-time: for keys of our own.
    #[cfg(feature = "rotation")]
    pub(crate) fn same_as(&self, other: &EncodedToken) -> bool {
        self.base == other.base
    }

    #[inline]
    pub(crate) fn value(&self, scheme: Scheme) -> &HeaderValue {
        match scheme {
            Scheme::Base => &self.base,
            Scheme::Basic => &self.basic,
        }
    }
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

    #[test]
    fn an_accepted_credential_says_how_it_is_held_and_never_the_secret() {
        let secret: AcceptedCredential = "qawsedrftg:abcdefghijk".parse().unwrap();
        let digest = AcceptedCredential::with_digest("qawsedrftg", [7; 32]);
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

    #[test]
    fn strip_from_takes_the_word_and_one_space() {
        for scheme in Scheme::ALL {
            let word = scheme.as_str();
            assert_eq!(scheme.strip_from(format!("{word} cGF5").as_bytes()), Some(&b"cGF5"[..]));
            assert_eq!(scheme.strip_from(format!("{word}  cGF5").as_bytes()), Some(&b" cGF5"[..]));
            for wrong in [format!("{word}cGF5"), format!("{} cGF5", word.to_lowercase()), word.to_owned()] {
                assert_eq!(scheme.strip_from(wrong.as_bytes()), None, "{wrong:?}");
            }
        }
        assert_eq!(Scheme::Base.strip_from(b"Basic cGF5"), None);
        assert_eq!(Scheme::Basic.strip_from(b"Base cGF5"), None);
    }
}
