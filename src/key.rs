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

    pub(crate) fn id(&self) -> Arc<str> {
        match self {
            Token::Static(token) => token.id.clone(),
            #[cfg(feature = "rotation")]
            Token::Live(live) => live.id(),
        }
    }
}
