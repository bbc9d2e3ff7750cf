//! Why a request was turned away ([`Rejection`]), and the answer it gets by default.

#[cfg(doc)]
use super::{ValidateToken, ValidateTokenLayer};
use std::fmt;

use bytes::Bytes;
use http::{header::WWW_AUTHENTICATE, HeaderValue, Response, StatusCode};

use crate::credentials::Scheme;

/// Why [`ValidateToken`] turned a request away; in the extensions of every rejection response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// No token header.
    Missing,
    /// More than one token header.
    SeveralHeaders,
    /// The header is not a scheme word (`Base` or `Basic`), one space and a payload.
    Malformed,
    /// The header's scheme word is one this validator does not accept: `Basic` (cloud
    /// recording's) where only `Base` is, or the other way round. See
    /// [`cloud_recording`](ValidateTokenLayer::cloud_recording).
    UnacceptedScheme,
    /// A well-formed token that no accepted credential matches.
    UnknownCredential,
    /// A token longer than any this validator accepts: refused before any work on it.
    TooLong,
}

impl Rejection {
    /// A short name, for metrics labels and logs: `missing`, `several_headers`, `malformed`,
    /// `unaccepted_scheme`, `unknown_credential`, `too_long`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Rejection::Missing => "missing",
            Rejection::SeveralHeaders => "several_headers",
            Rejection::Malformed => "malformed",
            Rejection::UnacceptedScheme => "unaccepted_scheme",
            Rejection::UnknownCredential => "unknown_credential",
            Rejection::TooLong => "too_long",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Rejection {
    /// The default answer: an empty `401` with a `www-authenticate` challenge naming `word`.
    pub(super) fn challenge(self, word: Scheme) -> Response<Bytes> {
        let challenge = match (word, self) {
            (Scheme::Base, Rejection::Missing) => r#"Base error="missing_token""#,
            (Scheme::Base, _) => r#"Base error="invalid_token""#,
            (Scheme::Basic, Rejection::Missing) => r#"Basic error="missing_token""#,
            (Scheme::Basic, _) => r#"Basic error="invalid_token""#,
        };
        let mut response = Response::new(Bytes::new());
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        response
    }
}
