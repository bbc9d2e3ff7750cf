//! jocloud interface certificates and the token they encode.
//!
//! A jocloud request authenticates with one header,
//! `token: Base <base64("<certificate ID>:<certificate secret key>")>`, standard padded base64 of
//! the UTF-8 bytes. [`Credentials`] holds a validated ID and secret; the layers in this crate
//! encode it once, when they are built.
//!
//! # Example
//!
//! ```
//! use jocloud_auth::Credentials;
//!
//! let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
//! assert_eq!(credentials.id(), "qawsedrftg");
//! // The secret never shows up in formatted output.
//! assert!(!format!("{credentials:?}").contains("abcdefghijk"));
//!
//! // "id:secret", split at the first colon, as some config files store it.
//! let parsed: Credentials = "qawsedrftg:abcdefghijk".parse()?;
//! assert_eq!(parsed.id(), credentials.id());
//! # Ok::<(), jocloud_auth::CredentialsError>(())
//! ```

use std::{env, error::Error, fmt, str::FromStr};

use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use zeroize::Zeroizing;

/// The header jocloud reads the token from: `token`.
pub const TOKEN_HEADER: HeaderName = HeaderName::from_static("token");

/// The header the client layer writes: [`TOKEN_HEADER`] unless configured otherwise.
///
/// The default is kept as the compile-time constant rather than a stored `HeaderName`: a
/// constant goes into a `HeaderMap` by value for free, where a stored name has to be cloned
/// (through `Bytes`' vtable) on every insert. The usual layer inserts the constant directly;
/// this serves the others, such as the `IfMissing` policy, which took 64 rather than 42 ns
/// per request with a stored name (`cargo bench --bench client`).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) enum TokenHeaderName {
    #[default]
    Token,
    Custom(HeaderName),
}

impl fmt::Debug for TokenHeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token => fmt::Debug::fmt(&TOKEN_HEADER, f),
            Self::Custom(name) => fmt::Debug::fmt(name, f),
        }
    }
}

impl TokenHeaderName {
    pub(crate) fn new(name: HeaderName) -> Self {
        if name == TOKEN_HEADER {
            Self::Token
        } else {
            Self::Custom(name)
        }
    }

    #[inline(always)]
    pub(crate) fn insert(&self, headers: &mut http::HeaderMap, value: HeaderValue) {
        match self {
            Self::Token => headers.insert(TOKEN_HEADER, value),
            Self::Custom(name) => headers.insert(name, value),
        };
    }

    #[inline(always)]
    pub(crate) fn entry<'a>(&self, headers: &'a mut http::HeaderMap) -> http::header::Entry<'a, HeaderValue> {
        match self {
            Self::Token => headers.entry(TOKEN_HEADER),
            Self::Custom(name) => headers.entry(name),
        }
    }
}

/// The word before the base64 payload in the header value.
///
/// jocloud's own documentation disagrees: the content-moderation API says `Base`, the
/// cloud-recording API says `Basic`. `Base` is the default everywhere in this crate.
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
    /// Every scheme, in a fixed order (the index of a scheme is its position here).
    pub(crate) const ALL: [Scheme; 2] = [Scheme::Base, Scheme::Basic];

    /// The word as it appears in the header.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Base => "Base",
            Scheme::Basic => "Basic",
        }
    }

    /// Position in [`Scheme::ALL`], for per-scheme tables.
    pub(crate) const fn index(self) -> usize {
        match self {
            Scheme::Base => 0,
            Scheme::Basic => 1,
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A jocloud interface certificate: its ID and secret key.
///
/// Built only through validating constructors, so every `Credentials` encodes to a token the
/// server can split back into ID and secret. The secret is zeroized when the value is dropped
/// and never appears in `Debug` output or in any error.
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
    /// An empty ID or secret, an ID containing `:` (the server splits the decoded token at the
    /// first colon), or leading or trailing whitespace in either (almost always a copy-paste
    /// mistake). The error never contains the secret.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Result<Self, CredentialsError> {
        // Wrap the secret first, so it is zeroized on every return path, errors included.
        let secret = Zeroizing::new(secret.into());
        let id = id.into();
        check_part(&id, Part::Id)?;
        check_part(&secret, Part::Secret)?;
        if id.contains(':') {
            return Err(CredentialsError::IdContainsColon);
        }
        Ok(Self { id, secret })
    }

    /// Reads the ID from `JOCLOUD_SECRET_ID` and the secret from `JOCLOUD_SECRET_KEY`.
    ///
    /// # Errors
    ///
    /// A variable that is not set or not valid Unicode (the error names the variable), and
    /// everything [`Credentials::new`] rejects.
    pub fn from_env() -> Result<Self, CredentialsError> {
        let id = read_var(Self::ID_VAR)?;
        let mut secret = Zeroizing::new(read_var(Self::SECRET_VAR)?);
        // Moved, not copied: one buffer holds the secret, and it is zeroized either way.
        Self::new(id, std::mem::take(&mut *secret))
    }

    /// The certificate ID. Not a secret: it is what the server reports back as the caller.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The base64 payload, `base64("<id>:<secret>")`, in buffers that are zeroized on drop.
    pub(crate) fn encoded_payload(&self) -> Zeroizing<String> {
        let mut plain = Zeroizing::new(String::with_capacity(self.id.len() + 1 + self.secret.len()));
        plain.push_str(&self.id);
        plain.push(':');
        plain.push_str(&self.secret);
        // Sized up front so the buffer never reallocates and leaves a copy behind.
        let len = base64::encoded_len(plain.len(), true).unwrap_or(0);
        let mut encoded = Zeroizing::new(String::with_capacity(len));
        base64::engine::general_purpose::STANDARD.encode_string(plain.as_bytes(), &mut encoded);
        encoded
    }

    /// The complete header value, `"<scheme> <payload>"`, marked sensitive: for clients outside
    /// tower, or for a `curl` command line.
    ///
    /// The value is the secret in reversible form. Prefer [`TokenAuthLayer`](crate::TokenAuthLayer),
    /// which keeps it out of reach.
    pub fn header_value(&self, scheme: Scheme) -> HeaderValue {
        header_value(scheme, self.encoded_payload().as_bytes())
    }
}

/// Builds `"<scheme> <payload>"` as a sensitive header value whose clones never allocate.
pub(crate) fn header_value(scheme: Scheme, payload: &[u8]) -> HeaderValue {
    let word = scheme.as_str().as_bytes();
    let mut bytes = Zeroizing::new(Vec::with_capacity(word.len() + 1 + payload.len()));
    bytes.extend_from_slice(word);
    bytes.push(b' ');
    bytes.extend_from_slice(payload);
    // A scheme word, a space and base64 are all visible ASCII, which `from_bytes` accepts.
    let mut value = HeaderValue::from_bytes(&bytes).expect("scheme and base64 are valid header bytes");
    value.set_sensitive(true);
    // The first clone of a freshly copied value allocates its shared refcount; do it now so
    // that the clones made per request are a reference count increment and nothing more.
    drop(value.clone());
    value
}

impl FromStr for Credentials {
    type Err = CredentialsError;

    /// Parses `"<id>:<secret>"`, split at the first `:` (the secret may contain colons).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (id, secret) = s.split_once(':').ok_or(CredentialsError::MissingSeparator)?;
        Self::new(id, secret)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("id", &self.id).field("secret", &"[redacted]").finish()
    }
}

#[derive(Clone, Copy)]
enum Part {
    Id,
    Secret,
}

fn check_part(value: &str, part: Part) -> Result<(), CredentialsError> {
    if value.is_empty() {
        return Err(match part {
            Part::Id => CredentialsError::EmptyId,
            Part::Secret => CredentialsError::EmptySecret,
        });
    }
    if value.trim() != value {
        return Err(match part {
            Part::Id => CredentialsError::IdSurroundingWhitespace,
            Part::Secret => CredentialsError::SecretSurroundingWhitespace,
        });
    }
    Ok(())
}

fn read_var(name: &'static str) -> Result<String, CredentialsError> {
    env::var(name).map_err(|error| match error {
        env::VarError::NotPresent => CredentialsError::MissingEnvVar(name),
        // The OsString inside may be the secret: drop it without looking at it.
        env::VarError::NotUnicode(_) => CredentialsError::NotUnicodeEnvVar(name),
    })
}

/// Why a certificate ID and secret were rejected. Never contains the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The certificate ID is empty.
    EmptyId,
    /// The secret key is empty.
    EmptySecret,
    /// The certificate ID contains `:`, so the server could not split the token.
    IdContainsColon,
    /// The certificate ID starts or ends with whitespace.
    IdSurroundingWhitespace,
    /// The secret key starts or ends with whitespace.
    SecretSurroundingWhitespace,
    /// An `"id:secret"` string has no `:`.
    MissingSeparator,
    /// The named environment variable is not set.
    MissingEnvVar(&'static str),
    /// The named environment variable is set but is not valid Unicode.
    NotUnicodeEnvVar(&'static str),
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid jocloud credentials: ")?;
        match self {
            Self::EmptyId => f.write_str("the certificate ID is empty"),
            Self::EmptySecret => f.write_str("the secret key is empty"),
            Self::IdContainsColon => {
                f.write_str("the certificate ID contains ':', which the server uses to split ID from secret")
            }
            Self::IdSurroundingWhitespace => {
                f.write_str("the certificate ID starts or ends with whitespace (a copy-paste mistake?)")
            }
            Self::SecretSurroundingWhitespace => {
                f.write_str("the secret key starts or ends with whitespace (a copy-paste mistake?)")
            }
            Self::MissingSeparator => f.write_str("expected \"<id>:<secret>\" but found no ':'"),
            Self::MissingEnvVar(name) => write!(f, "environment variable {name} is not set"),
            Self::NotUnicodeEnvVar(name) => {
                write!(f, "environment variable {name} is not valid Unicode")
            }
        }
    }
}

impl Error for CredentialsError {}
