//! The key a client layer sends: fixed when the layer is built, or live (feature `rotation`).

use std::sync::Arc;

use http::HeaderValue;

use crate::credentials::{EncodedToken, Scheme};

#[derive(Clone)]
pub(crate) enum Token {
    Static(Arc<EncodedToken>),
    #[cfg(feature = "rotation")]
    Live(crate::live::LiveCredentials),
}

impl Token {
    /// The value to send now.
    #[inline]
    pub(crate) fn value(&self, scheme: Scheme) -> HeaderValue {
        match self {
            Token::Static(token) => token.value(scheme).clone(),
            #[cfg(feature = "rotation")]
            Token::Live(live) => live.value(scheme),
        }
    }

    /// The previous key's value, for a request sent with `sent` and refused: only a live key
    /// has one, while its grace period runs.
    #[cfg_attr(not(feature = "reqwest"), allow(dead_code))]
    pub(crate) fn retry_value(&self, scheme: Scheme, sent: &HeaderValue) -> Option<HeaderValue> {
        match self {
            Token::Static(_) => {
                let _ = (scheme, sent);
                None
            }
            #[cfg(feature = "rotation")]
            Token::Live(live) => live.retry_value(scheme, sent, std::time::Instant::now()),
        }
    }

    pub(crate) fn id(&self) -> Arc<str> {
        match self {
            Token::Static(token) => token.id.clone(),
            #[cfg(feature = "rotation")]
            Token::Live(live) => live.id(),
        }
    }
}
