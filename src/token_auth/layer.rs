//! [`TokenAuthLayer`]: the client layer's options, and the token it hands its services.

use std::{fmt, sync::Arc};

use http::HeaderName;
use tower_layer::Layer;

use super::{
    scope::HostPattern,
    token::{InsertPolicy, Keys, Token},
    TokenAuth,
};
#[cfg(doc)]
use crate::credentials::TOKEN_HEADER;
use crate::{
    credentials::{Credentials, Scheme},
    current::Current,
};

/// Adds the jocloud `token` header to requests. See the [module docs](super).
///
/// Cloning it is cheap: one reference count, as services are cloned per request.
#[derive(Clone)]
pub struct TokenAuthLayer {
    token: Arc<Token>,
}

impl TokenAuthLayer {
    /// A layer that sends `credentials` as `token: Base <base64(id:secret)>`, over HTTPS to
    /// jocloud's hosts only: see [scope](super#scope).
    pub fn new(credentials: &Credentials) -> Self {
        Self::with_keys(Current::fixed(Keys::new(credentials)))
    }

    fn with_keys(keys: Current<Keys>) -> Self {
        Self { token: Arc::new(Token::new(keys)) }
    }

    /// The token, to change while the layer is built.
    fn token_mut(&mut self) -> &mut Token {
        Arc::make_mut(&mut self.token)
    }

    /// The token this layer's services send, for the clients that send it otherwise.
    #[cfg(any(feature = "reqwest", all(feature = "rotation", feature = "tower")))]
    pub(crate) fn token(&self) -> &Arc<Token> {
        &self.token
    }

    /// For jocloud's cloud recording: sends `AppID: <app_id>` beside the token, with the word
    /// `Basic`, to `api.jocloud.com` and `api-oversea.jocloud.com` only.
    ///
    /// [`scheme`](Self::scheme) and [`for_host`](Self::for_host), called before or after, still
    /// win. Like the token, the `AppID` header is removed from requests outside the
    /// [scope](super#scope), and the [policy](Self::policy) applies to it too.
    #[must_use]
    pub fn cloud_recording(mut self, app_id: u64) -> Self {
        self.token_mut().cloud_recording(app_id);
        self
    }

    /// Sends `scheme` as the word before the payload: `Base` unless set (`Basic` for
    /// [`cloud_recording`](Self::cloud_recording)).
    #[must_use]
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.token_mut().set_scheme(scheme);
        self
    }

    /// Sends the token in `name` instead of [`TOKEN_HEADER`].
    #[must_use]
    pub fn header_name(mut self, name: HeaderName) -> Self {
        self.token_mut().set_header_name(name);
        self
    }

    /// What to do when a request already carries the header ([`InsertPolicy::Override`] unless set).
    #[must_use]
    pub fn policy(mut self, policy: InsertPolicy) -> Self {
        self.token_mut().set_policy(policy);
        self
    }

    /// Sends the token over plain HTTP too, as it is, for a loopback mock or a TLS-terminating
    /// proxy on the same machine: see [scope](super#scope).
    #[must_use]
    pub fn allow_http(mut self) -> Self {
        self.token_mut().allow_http();
        self
    }

    /// Sends the token to `host` instead of jocloud's hosts; call again to add more. See
    /// [scope](super#scope). Name the port of a local mock: a pattern without one takes every
    /// port of the host, and so every other local server a redirect might name.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let credentials = jocloud_auth::Credentials::new("qawsedrftg", "abcdefghijk")?;
    /// use jocloud_auth::token_auth::TokenAuthLayer;
    ///
    /// let mock = TokenAuthLayer::new(&credentials).for_host("127.0.0.1:8080".parse()?).allow_http();
    /// # let _ = mock;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn for_host(mut self, host: HostPattern) -> Self {
        self.token_mut().add_host(host);
        self
    }
}

/// Keys that rotate (feature `rotation`).
#[cfg(feature = "rotation")]
impl TokenAuthLayer {
    /// A layer whose services send the current key of `credentials`, rotations included.
    #[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
    pub fn live(credentials: &super::live::LiveCredentials) -> Self {
        Self::with_keys(credentials.current())
    }
}

/// tower-http's `FollowRedirect` inside the layer (features `tower-http-06`, `tower-http-07`).
#[cfg(any(feature = "tower-http-06", feature = "tower-http-07"))]
impl TokenAuthLayer {
    /// A policy for a tower-http `FollowRedirect` inside this layer, which keeps the token in
    /// the layer's scope: see [`RedirectPolicy`](super::RedirectPolicy) and
    /// [redirects](super#redirects).
    #[cfg_attr(docsrs, doc(cfg(any(feature = "tower-http-06", feature = "tower-http-07"))))]
    pub fn redirect_policy(&self) -> super::RedirectPolicy {
        super::RedirectPolicy::new(self.token.clone())
    }
}

impl<S> Layer<S> for TokenAuthLayer {
    type Service = TokenAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenAuth::with_token(inner, self.token.clone())
    }
}

impl fmt::Debug for TokenAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.token.fmt(f)
    }
}
