//! The previous-key retry's one rule, which `retry::RetryWithPreviousKey` (tower) and the
//! client of `reqwest::client_builder` both apply: a request refused with `401`, sent with the
//! current key of a live layer while the key it replaced is in its grace period, goes once
//! more with that key.

use std::time::Instant;

use http::{HeaderMap, HeaderValue, StatusCode};

use crate::{key::Token, token_auth::TokenAuthLayer};

impl TokenAuthLayer {
    /// Whether a request sent with `headers` could be retried with the previous key, so is
    /// worth a copy.
    pub(crate) fn may_retry(&self, headers: &HeaderMap) -> bool {
        self.previous_value(headers, Instant::now()).is_some()
    }

    /// Whether a request sent with `headers` and answered with `status` is to be sent once
    /// more with the previous key, and if so puts that key into `headers`.
    pub(crate) fn use_previous_key(&self, status: StatusCode, headers: &mut HeaderMap) -> bool {
        if status != StatusCode::UNAUTHORIZED {
            return false;
        }
        let Some(previous) = self.previous_value(headers, Instant::now()) else {
            return false;
        };
        headers.insert(&self.config.header_name, previous);
        true
    }

    /// The previous key's value, for a request that carries exactly the current key (so it was
    /// in scope, and is not a retry already) while the previous key's grace period runs at
    /// `now`.
    fn previous_value(&self, headers: &HeaderMap, now: Instant) -> Option<HeaderValue> {
        let Token::Live(live) = &self.config.token else { return None };
        let mut sent = headers.get_all(&self.config.header_name).iter();
        let (Some(sent), None) = (sent.next(), sent.next()) else { return None };
        let keys = live.keys();
        let previous =
            keys.previous.as_ref().filter(|previous| previous.until.is_none_or(|until| now < until))?;
        let scheme = self.word();
        (keys.token.value(scheme) == sent).then(|| previous.token.value(scheme).clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        credentials::{Credentials, Scheme, TOKEN_HEADER},
        live::LiveCredentials,
    };

    fn key(n: usize) -> Credentials {
        Credentials::new("id", format!("secret-{n}")).unwrap()
    }

    fn sent(credentials: &Credentials) -> HeaderMap {
        HeaderMap::from_iter([(TOKEN_HEADER, credentials.header_value(Scheme::Base))])
    }

    #[test]
    fn the_previous_key_is_used_within_its_grace_period_only() {
        let grace = Duration::from_secs(30);
        let credentials = LiveCredentials::with_grace(&key(0), grace);
        let layer = TokenAuthLayer::live(&credentials);
        let zero = key(0).header_value(Scheme::Base);
        let t0 = Instant::now();
        assert_eq!(layer.previous_value(&sent(&key(0)), t0), None, "no previous key yet");
        credentials.rotate_at(&key(1), t0);
        assert_eq!(layer.previous_value(&sent(&key(1)), t0 + grace / 2), Some(zero.clone()));
        assert_eq!(layer.previous_value(&sent(&key(1)), t0 + grace), None, "the grace period is over");
        assert_eq!(layer.previous_value(&sent(&key(0)), t0), None, "only a request with the current key");
        let mut twice = sent(&key(1));
        twice.append(TOKEN_HEADER, key(1).header_value(Scheme::Base));
        assert_eq!(layer.previous_value(&twice, t0), None, "only a request with one token header");
        // Rotating to the current key changes nothing; forgetting ends the grace period.
        credentials.rotate_at(&key(1), t0 + grace);
        assert_eq!(layer.previous_value(&sent(&key(1)), t0), Some(zero));
        credentials.forget_previous();
        assert_eq!(layer.previous_value(&sent(&key(1)), t0), None);
        assert_eq!(TokenAuthLayer::new(&key(1)).previous_value(&sent(&key(1)), t0), None, "a static key");
    }

    #[test]
    fn a_grace_too_long_for_the_clock_never_ends() {
        let credentials = LiveCredentials::with_grace(&key(0), Duration::MAX);
        let t0 = Instant::now();
        credentials.rotate_at(&key(1), t0);
        let far = t0 + Duration::from_secs(100 * 365 * 24 * 3600);
        let layer = TokenAuthLayer::live(&credentials);
        assert_eq!(layer.previous_value(&sent(&key(1)), far), Some(key(0).header_value(Scheme::Base)));
    }

    #[test]
    fn only_a_401_is_retried_and_with_the_previous_key() {
        let credentials = LiveCredentials::new(&key(0));
        credentials.rotate(&key(1));
        let layer = TokenAuthLayer::live(&credentials);
        let mut headers = sent(&key(1));
        assert!(layer.may_retry(&headers));
        assert!(!layer.use_previous_key(StatusCode::FORBIDDEN, &mut headers));
        assert_eq!(headers, sent(&key(1)));
        assert!(layer.use_previous_key(StatusCode::UNAUTHORIZED, &mut headers));
        assert_eq!(headers, sent(&key(0)));
        assert!(!layer.use_previous_key(StatusCode::UNAUTHORIZED, &mut headers), "a retry is not retried");
    }
}
