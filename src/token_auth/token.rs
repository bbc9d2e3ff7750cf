//! What a client sends, and where: the one token the tower layer, the reqwest client, the
//! redirect policy and the previous-key retry each hold.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue, Request};

use super::scope::{https_uri, Decision, HostPattern, Hosts, Scope, Target};
use crate::{
    credentials::{Credentials, Scheme, TOKEN_HEADER},
    current::Current,
};

/// What to do when a request already has the token header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InsertPolicy {
    /// Replace it: the layer's credentials win. The default.
    #[default]
    Override,
    /// Keep the caller's header and add ours only where there is none.
    ///
    /// Outside the [scope](super#scope) the header is removed all the same.
    IfMissing,
}

/// The header cloud recording wants beside the token.
const APP_ID: HeaderName = HeaderName::from_static("appid");

/// The most redirects a client of this crate follows for one request, as reqwest by default.
#[cfg(any(feature = "reqwest", feature = "tower-http-06", feature = "tower-http-07"))]
pub(crate) const MAX_REDIRECTS: usize = 10;

/// A client's token: the key (fixed, or a live handle's), the word before it, the header it
/// goes in and under which policy, where it may go, and cloud recording's `AppID`.
#[derive(Clone)]
pub(crate) struct Token {
    keys: Current<Keys>,
    /// `None`: the product's word.
    scheme: Option<Scheme>,
    header_name: HeaderName,
    policy: InsertPolicy,
    scope: Scope,
    /// Cloud recording's `AppID` value; `None` for content moderation.
    app_id: Option<HeaderValue>,
}

impl Token {
    /// `keys`, sent as `token: Base ..`, over HTTPS to jocloud's hosts only.
    pub(super) fn new(keys: Current<Keys>) -> Self {
        Self {
            keys,
            scheme: None,
            header_name: TOKEN_HEADER,
            policy: InsertPolicy::default(),
            scope: Scope::new(Hosts::Jocloud),
            app_id: None,
        }
    }

    pub(super) fn cloud_recording(&mut self, app_id: u64) {
        // Stored as a clone, in the shared form whose clones never allocate (see `Credentials`).
        self.app_id = Some(HeaderValue::from(app_id).clone());
        self.scope.set_default_hosts(Hosts::CloudRecording);
    }

    pub(super) fn set_scheme(&mut self, scheme: Scheme) {
        self.scheme = Some(scheme);
    }

    pub(super) fn set_header_name(&mut self, name: HeaderName) {
        // Stored as a clone: a name built at run time allocates on its first clone, its clone
        // never does, and the name is cloned on every request.
        self.header_name = name.clone();
    }

    pub(super) fn set_policy(&mut self, policy: InsertPolicy) {
        self.policy = policy;
    }

    pub(super) fn allow_http(&mut self) {
        self.scope.allow_http();
    }

    pub(super) fn add_host(&mut self, host: HostPattern) {
        self.scope.add_host(host);
    }

    /// The scheme word sent.
    fn word(&self) -> Scheme {
        let product = if self.app_id.is_some() { Scheme::Basic } else { Scheme::Base };
        self.scheme.unwrap_or(product)
    }

    /// Signs `request`, sends it over HTTPS instead, or takes the headers off it, as the scope
    /// decides; says whether it carries the token now.
    pub(super) fn apply<B>(&self, request: &mut Request<B>) -> bool {
        let signed = match self.decide(Target::of(request.uri())) {
            Decision::Sign => true,
            // A URI that cannot be rebuilt (none can) is left as it is, without the token.
            Decision::Upgrade => match https_uri(request.uri()) {
                Some(uri) => {
                    *request.uri_mut() = uri;
                    true
                }
                None => false,
            },
            Decision::Leave => false,
        };
        self.apply_to_headers(signed, request.headers_mut());
        signed
    }

    /// What the scope decides for a request to `target`; with `tracing`, a `DEBUG` event for
    /// a request that goes without the token or over HTTPS instead.
    pub(crate) fn decide(&self, target: Target<'_>) -> Decision {
        let decision = self.scope.decide(target);
        #[cfg(feature = "tracing")]
        match decision {
            Decision::Sign => {}
            Decision::Upgrade => tracing::debug!(
                host = target.host(),
                "jocloud token: plain HTTP to a host in the layer's scope, sent over HTTPS instead"
            ),
            Decision::Leave => tracing::debug!(
                scheme = target.scheme().as_str(),
                host = target.host(),
                "jocloud token not sent: the request is outside the layer's scope"
            ),
        }
        decision
    }

    /// Adds or keeps the headers on a request that carries the token, removes them from one
    /// that does not.
    pub(crate) fn apply_to_headers(&self, signed: bool, headers: &mut HeaderMap) {
        if !signed {
            self.remove_headers(headers);
            return;
        }
        let keep = self.policy == InsertPolicy::IfMissing;
        if !(keep && headers.contains_key(&self.header_name)) {
            headers.insert(&self.header_name, self.keys.load().value(self.word()).clone());
        }
        if let Some(app_id) = &self.app_id {
            if !(keep && headers.contains_key(APP_ID)) {
                headers.insert(APP_ID, app_id.clone());
            }
        }
    }

    /// Removes the token header and, for cloud recording, the `AppID` header.
    pub(crate) fn remove_headers(&self, headers: &mut HeaderMap) {
        headers.remove(&self.header_name);
        if self.app_id.is_some() {
            headers.remove(APP_ID);
        }
    }
}

/// The redirect rule of the clients that follow redirects below the token: reqwest's, and
/// tower-http's `FollowRedirect` with the layer's redirect policy; and the check of where one
/// ended.
#[cfg(any(feature = "reqwest", feature = "tower-http-06", feature = "tower-http-07"))]
impl Token {
    /// Whether a request to `target` would carry the token as it is.
    pub(crate) fn permits(&self, target: Target<'_>) -> bool {
        self.scope.permits(target)
    }

    /// Whether to follow a redirect from `from` to `to`: not where it would take a request
    /// carrying the token out of the scope (the `3xx` is returned instead).
    pub(crate) fn follows_redirect(&self, from: Target<'_>, to: Target<'_>) -> bool {
        !self.permits(from) || self.permits(to)
    }
}

/// The previous-key retry's one rule, which `retry::RetryWithPreviousKey` (tower) and the
/// client of `reqwest::client_builder` both apply: a request refused with `401`, sent with the
/// current key while the key it replaced is in its grace period, goes once more with that key.
#[cfg(all(feature = "rotation", any(feature = "tower", feature = "reqwest")))]
impl Token {
    /// Whether a request sent with `headers` could be retried with the previous key, so is
    /// worth a copy.
    pub(crate) fn may_retry(&self, headers: &HeaderMap) -> bool {
        self.previous_value(headers, std::time::Instant::now()).is_some()
    }

    /// Whether a request sent with `headers` and answered with `status` is to be sent once
    /// more with the previous key, and if so puts that key into `headers`.
    pub(crate) fn use_previous_key(&self, status: http::StatusCode, headers: &mut HeaderMap) -> bool {
        if status != http::StatusCode::UNAUTHORIZED {
            return false;
        }
        let Some(previous) = self.previous_value(headers, std::time::Instant::now()) else {
            return false;
        };
        headers.insert(&self.header_name, previous);
        true
    }

    /// The previous key's value, for a request that carries exactly the current key (so it was
    /// in scope, and is not a retry already) while the previous key's grace period runs at
    /// `now`.
    pub(super) fn previous_value(&self, headers: &HeaderMap, now: std::time::Instant) -> Option<HeaderValue> {
        let mut sent = headers.get_all(&self.header_name).iter();
        let (Some(sent), None) = (sent.next(), sent.next()) else { return None };
        let keys = self.keys.load();
        let previous =
            keys.previous.as_ref().filter(|previous| previous.until.is_none_or(|until| now < until))?;
        let scheme = self.word();
        (keys.value(scheme) == sent).then(|| previous.token.value(scheme).clone())
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuthLayer")
            .field("id", &self.keys.load().id())
            .field("scheme", &self.word())
            .field("header_name", &self.header_name)
            .field("policy", &self.policy)
            .field("scope", &self.scope)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// What a client sends at one moment: its key and, after a rotation (feature `rotation`), the
/// key it replaced, for the previous-key retry until the grace period ends.
#[derive(Clone)]
pub(crate) struct Keys {
    token: EncodedToken,
    #[cfg(feature = "rotation")]
    previous: Option<Previous>,
}

#[cfg(feature = "rotation")]
#[derive(Clone)]
struct Previous {
    token: EncodedToken,
    /// `None`: a grace period too long for the clock to represent, until the next rotation.
    until: Option<std::time::Instant>,
}

impl Keys {
    pub(crate) fn new(credentials: &Credentials) -> Self {
        Self {
            token: EncodedToken::new(credentials),
            #[cfg(feature = "rotation")]
            previous: None,
        }
    }

    /// The certificate ID sent.
    pub(crate) fn id(&self) -> &str {
        &self.token.id
    }

    /// The header value for `scheme`.
    #[inline]
    pub(crate) fn value(&self, scheme: Scheme) -> &HeaderValue {
        self.token.value(scheme)
    }
}

/// A change of a live client key (feature `rotation`).
#[cfg(feature = "rotation")]
impl Keys {
    /// `credentials` in place of the key, which stays usable until `until`; `None` if
    /// `credentials` is the key already.
    pub(crate) fn rotate(
        &self,
        credentials: &Credentials,
        until: Option<std::time::Instant>,
    ) -> Option<Self> {
        let token = EncodedToken::new(credentials);
        if token.base == self.token.base {
            return None;
        }
        let previous = Previous { token: self.token.clone(), until };
        Some(Self { token, previous: Some(previous) })
    }

    /// The key alone, its previous one forgotten; `None` if there was none.
    pub(crate) fn forget_previous(&self) -> Option<Self> {
        self.previous.is_some().then(|| Self { token: self.token.clone(), previous: None })
    }

    /// The previous key's ID and until when it is usable (`None`: until the next rotation).
    pub(crate) fn previous(&self) -> Option<(&str, Option<std::time::Instant>)> {
        self.previous.as_ref().map(|previous| (&*previous.token.id, previous.until))
    }

    /// The previous key's header value for `scheme`.
    #[cfg(test)]
    pub(crate) fn previous_value(&self, scheme: Scheme) -> Option<&HeaderValue> {
        self.previous.as_ref().map(|previous| previous.token.value(scheme))
    }
}

/// A credential encoded for the client: its ID and its header value for each scheme, so that
/// choosing a scheme is an index, never an encoding.
#[derive(Clone)]
struct EncodedToken {
    id: Box<str>,
    base: HeaderValue,
    basic: HeaderValue,
}

impl EncodedToken {
    fn new(credentials: &Credentials) -> Self {
        Self {
            id: credentials.id().into(),
            base: credentials.header_value(Scheme::Base),
            basic: credentials.header_value(Scheme::Basic),
        }
    }

    #[inline]
    fn value(&self, scheme: Scheme) -> &HeaderValue {
        match scheme {
            Scheme::Base => &self.base,
            Scheme::Basic => &self.basic,
        }
    }
}
