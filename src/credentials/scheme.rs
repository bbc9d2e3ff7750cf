//! The word before the payload, and the header the token goes in.

use std::{fmt, str::FromStr};

use http::HeaderName;

use crate::error::ParseSchemeError;

/// The header jocloud reads the token from: `token`.
pub const TOKEN_HEADER: HeaderName = HeaderName::from_static("token");

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

#[cfg(test)]
mod tests {
    use super::*;

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
