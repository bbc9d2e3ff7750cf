//! The credentials' errors: they are invalid ([`InvalidCredentials`], and [`ParseSchemeError`]
//! for a scheme word) or could not be loaded ([`LoadError`]); no error holds any part of a
//! secret or any content of a file. A host pattern's is [`token_auth::InvalidHost`], a
//! follower's are [`FollowError`] and [`FollowProblem`], beside what they concern.
//!
//! [`token_auth::InvalidHost`]: crate::token_auth::InvalidHost
//! [`FollowError`]: crate::FollowError
//! [`FollowProblem`]: crate::FollowProblem

use std::{error::Error, fmt, io, path::PathBuf};

/// Which half of a credential a problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// The certificate ID.
    Id,
    /// The secret key.
    Secret,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::Id => "the certificate ID",
            Part::Secret => "the secret key",
        })
    }
}

/// Why a certificate ID and secret key were refused: what no jocloud console issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvalidCredentials {
    /// The part is empty.
    Empty(Part),
    /// The part starts or ends with whitespace.
    SurroundingWhitespace(Part),
    /// The part contains a control character, such as NUL or a line break.
    ControlCharacter(Part),
    /// The part contains an invisible format character, such as a byte-order mark or a
    /// zero-width space.
    InvisibleCharacter(Part),
    /// The certificate ID contains `:`, so the server could not split the token.
    IdContainsColon,
    /// The token would not fit in a header value of `max_header_bytes`.
    TooLong {
        /// The limit, in bytes of the header value.
        max_header_bytes: usize,
    },
    /// An `"id:secret"` string has no `:`.
    MissingSeparator,
    /// A value that starts with `{SHA256}` (a digest entry) is not followed by 64 hex digits.
    MalformedDigest,
    /// A digest entry, where this build accepts none: it needs the `digest` feature.
    DigestNotEnabled,
    /// A value that opens with `{` but not with `{SHA256}`: another marker (`{SHA}`,
    /// `{SHA-256}`) or one cut short. Never taken as a secret.
    UnknownMarker,
    /// A value of 64 hex digits alone: a SHA-256 digest whose `{SHA256}` marker was left out,
    /// which would otherwise be accepted as the secret itself.
    DigestWithoutMarker,
    /// A secret, where the source was told to hold digests only.
    NotADigest,
    /// `"<id>:<secret>"` is longer than a validator decodes to check a digest.
    TooLongForDigest {
        /// The limit, in bytes.
        max_bytes: usize,
    },
}

impl InvalidCredentials {
    /// The part the problem is in, where it is in one.
    pub fn part(&self) -> Option<Part> {
        match *self {
            Self::Empty(part)
            | Self::SurroundingWhitespace(part)
            | Self::ControlCharacter(part)
            | Self::InvisibleCharacter(part) => Some(part),
            Self::IdContainsColon => Some(Part::Id),
            Self::MalformedDigest
            | Self::DigestNotEnabled
            | Self::UnknownMarker
            | Self::DigestWithoutMarker
            | Self::NotADigest => Some(Part::Secret),
            Self::TooLong { .. } | Self::MissingSeparator | Self::TooLongForDigest { .. } => None,
        }
    }
}

impl fmt::Display for InvalidCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid jocloud credentials: ")?;
        self.describe(f)
    }
}

impl InvalidCredentials {
    /// The message without the common prefix.
    fn describe(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty(part) => write!(f, "{part} is empty"),
            Self::SurroundingWhitespace(part) => write!(f, "{part} starts or ends with whitespace"),
            Self::ControlCharacter(part) => write!(f, "{part} contains a control character"),
            Self::InvisibleCharacter(part) => {
                write!(f, "{part} contains an invisible character (such as a BOM or zero-width space)")
            }
            Self::IdContainsColon => f.write_str("the certificate ID contains ':'"),
            Self::TooLong { max_header_bytes } => {
                write!(f, "the token would be longer than the {max_header_bytes}-byte header limit")
            }
            Self::MissingSeparator => f.write_str("expected \"<id>:<secret>\", found no ':'"),
            Self::MalformedDigest => f.write_str("a digest entry is {SHA256} and 64 hex digits"),
            Self::DigestNotEnabled => {
                f.write_str("a digest entry ({SHA256}), which needs jocloud-auth's `digest` feature")
            }
            Self::UnknownMarker => f.write_str(
                "a value opening with `{` is a digest entry, and the only one known is {SHA256} followed \
                 by 64 hex digits",
            ),
            Self::DigestWithoutMarker => f.write_str(
                "64 hex digits alone look like a SHA-256 digest without its marker, which would be \
                 accepted as the secret itself: write {SHA256}<hex>",
            ),
            Self::NotADigest => {
                f.write_str("a secret, where this source holds digests only: write {SHA256}<hex> instead")
            }
            Self::TooLongForDigest { max_bytes } => {
                write!(f, "\"<id>:<secret>\" is longer than the {max_bytes} bytes a digest is checked for")
            }
        }
    }
}

impl Error for InvalidCredentials {}

/// Why credentials could not be loaded: where from, and what went wrong there.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// An environment variable.
    EnvVar {
        /// Its name.
        name: &'static str,
        /// What is wrong with it.
        problem: LoadProblem,
    },
    /// A file.
    File {
        /// The path, as the source was given it.
        path: PathBuf,
        /// What is wrong with it.
        problem: LoadProblem,
    },
}

impl LoadError {
    /// What went wrong.
    pub fn problem(&self) -> &LoadProblem {
        match self {
            Self::EnvVar { problem, .. } | Self::File { problem, .. } => problem,
        }
    }
}

/// What went wrong loading credentials from one place. Never holds any of its content.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadProblem {
    /// The environment variable is not set.
    NotSet,
    /// The file could not be opened or read, as `std::io` says.
    Io(io::ErrorKind),
    /// The path leads (after symlinks) to something other than a regular file: a directory, a
    /// FIFO, a socket or a device. Refused without reading, so that nothing there can block.
    NotAFile,
    /// The file is larger than any credentials file can be, so it was not read.
    TooLarge {
        /// The limit, in bytes.
        max_bytes: u64,
    },
    /// The content is not valid UTF-8 (or the variable, or a file name that is a certificate
    /// ID, not valid Unicode).
    NotUnicode,
    /// The content is not valid credentials.
    Invalid(InvalidCredentials),
    /// A line of a file of lines is not valid credentials.
    InvalidLine {
        /// Its number, from 1.
        line: usize,
        /// What is wrong with it.
        invalid: InvalidCredentials,
    },
    /// The file or directory holds no credentials at all.
    NoCredentials,
    /// The file is empty, or holds a line ending only.
    EmptyFile,
    /// A file of lines whose last line has no line ending: it may be cut short, caught while
    /// being written in place.
    UnendedLastLine,
    /// The file or directory holds more credentials than a source may
    /// ([`CredentialSetSource::MAX_CREDENTIALS`](crate::CredentialSetSource::MAX_CREDENTIALS)).
    TooMany {
        /// The limit, in credentials.
        max: usize,
    },
    /// The file (or the volume's version) changed while it was being read: it is read again
    /// later.
    Changed,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (place, problem) = match self {
            Self::EnvVar { name, problem } => (format!("environment variable {name}"), problem),
            Self::File { path, problem } => (path.display().to_string(), problem),
        };
        write!(f, "cannot load jocloud credentials from {place}: ")?;
        match problem {
            LoadProblem::NotSet => f.write_str("not set"),
            LoadProblem::Io(kind) => write!(f, "{kind}"),
            LoadProblem::NotAFile => f.write_str("not a regular file (a directory, FIFO, socket or device)"),
            LoadProblem::TooLarge { max_bytes } => {
                write!(f, "larger than {max_bytes} bytes, too large to hold credentials")
            }
            LoadProblem::NotUnicode => f.write_str("not valid UTF-8"),
            LoadProblem::Invalid(invalid) => invalid.describe(f),
            LoadProblem::InvalidLine { line, invalid } => {
                write!(f, "line {line}: ")?;
                invalid.describe(f)
            }
            LoadProblem::NoCredentials => f.write_str("holds no credentials"),
            LoadProblem::EmptyFile => f.write_str("the file is empty"),
            LoadProblem::TooMany { max } => write!(f, "holds more than {max} credentials"),
            LoadProblem::UnendedLastLine => f.write_str(
                "the last line has no line ending, so the file may be cut short: end every line with \
                 one, and replace the file by rename rather than write it in place",
            ),
            LoadProblem::Changed => f.write_str("changed while it was being read"),
        }
    }
}

/// No `source`: the message says what an invalid value's error would, once. The
/// [`InvalidCredentials`] itself is in [`LoadError::problem`].
impl Error for LoadError {}

/// The error of parsing a [`Scheme`](crate::Scheme) from a word other than `Base` or `Basic`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseSchemeError(());

impl ParseSchemeError {
    pub(crate) fn new() -> Self {
        Self(())
    }
}

impl fmt::Display for ParseSchemeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown jocloud token scheme: expected `Base` or `Basic`")
    }
}

impl Error for ParseSchemeError {}
