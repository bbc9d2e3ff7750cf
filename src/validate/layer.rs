//! [`ValidateTokenLayer`]: the validator's options, and the check it hands its services.

use std::{fmt, sync::Arc};

use bytes::Bytes;
use http::{HeaderName, Response};
use tower_layer::Layer;

#[cfg(doc)]
use super::AuthenticatedId;
use super::{accepted::AcceptedSet, check::Check, Rejection, ValidateToken};
#[cfg(doc)]
use crate::credentials::TOKEN_HEADER;
use crate::{
    credentials::{AcceptedCredential, Credentials, Scheme},
    current::Current,
};

/// Checks the jocloud `token` header of incoming requests. See the [module docs](super).
#[derive(Clone)]
pub struct ValidateTokenLayer {
    /// Behind one `Arc`: a service is cloned for every request (axum's `route_layer` does).
    check: Arc<Check>,
}

impl ValidateTokenLayer {
    /// Accepts exactly `credentials`.
    pub fn new(credentials: &Credentials) -> Self {
        Self::any_of([credentials])
    }

    /// Accepts any of `credentials`, each reported as its own ID: for example the old and the
    /// new key of a certificate while clients move over, or one key per customer application.
    /// Each is a [`Credentials`] or an [`AcceptedCredential`], held by its secret or (feature
    /// `digest`) by a digest only. Credentials given twice count once.
    ///
    /// An empty list gives a layer that rejects every request.
    pub fn any_of<C: Into<AcceptedCredential>>(credentials: impl IntoIterator<Item = C>) -> Self {
        Self::with_accepted(Current::fixed(AcceptedSet::of(credentials)))
    }

    fn with_accepted(accepted: Current<AcceptedSet>) -> Self {
        Self { check: Arc::new(Check::new(accepted)) }
    }

    /// The check, to change while the layer is built.
    fn check_mut(&mut self) -> &mut Check {
        Arc::make_mut(&mut self.check)
    }

    /// For a server of jocloud's cloud recording (a local mock, say): accepts the word `Basic`
    /// in place of `Base`, as `TokenAuthLayer::cloud_recording` sends it, and names it in the
    /// `www-authenticate` challenge. [`scheme`](Self::scheme), called before or after, still
    /// wins.
    #[must_use]
    pub fn cloud_recording(mut self) -> Self {
        self.check_mut().cloud_recording();
        self
    }

    /// Accepts `scheme` as the word before the payload in place of `Base` (or cloud
    /// recording's `Basic`), and names it in the `www-authenticate` challenge. Words added with
    /// [`also_accept_scheme`](Self::also_accept_scheme), before or after, stay accepted.
    #[must_use]
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.check_mut().set_scheme(scheme);
        self
    }

    /// Accepts `scheme` too, for example `Basic` beside `Base`.
    #[must_use]
    pub fn also_accept_scheme(mut self, scheme: Scheme) -> Self {
        self.check_mut().also_accept_scheme(scheme);
        self
    }

    /// Reads the token from `name` instead of [`TOKEN_HEADER`].
    #[must_use]
    pub fn header_name(mut self, name: HeaderName) -> Self {
        self.check_mut().set_header_name(name);
        self
    }

    /// Passes the token header on to the inner service (marked sensitive) instead of removing
    /// it.
    ///
    /// Removal is the default: once the caller's ID is in the extensions, nothing inside needs
    /// the secret, and a gateway that forwards requests upstream would otherwise send every
    /// caller's key along with them.
    #[must_use]
    pub fn keep_token_header(mut self) -> Self {
        self.check_mut().keep_token_header();
        self
    }

    /// Lets a request it would reject through to the inner service, with the [`Rejection`] in
    /// the request's extensions (and, with `tracing`, the same `DEBUG` event), instead of
    /// answering `401`: to measure what enforcing would refuse before enforcing. The token
    /// header is removed all the same (or kept, marked sensitive, with
    /// [`keep_token_header`](Self::keep_token_header)).
    #[must_use]
    pub fn report_only(mut self) -> Self {
        self.check_mut().set_report_only();
        self
    }

    /// Answers rejected requests with `respond(reason)` instead of the empty `401`: for example
    /// jocloud-style JSON, `{"code": 401, "message": "invalid token"}`. The reason is added to
    /// the response's extensions all the same.
    #[must_use]
    pub fn on_rejection<T, F>(mut self, respond: F) -> Self
    where
        F: Fn(Rejection) -> Response<T> + Send + Sync + 'static,
        T: Into<Bytes>,
    {
        self.check_mut().on_rejection(Arc::new(move |rejection| respond(rejection).map(Into::into)));
        self
    }
}

/// Keys that rotate (feature `rotation`).
#[cfg(feature = "rotation")]
impl ValidateTokenLayer {
    /// Accepts whatever `set` holds at the time of each request.
    #[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
    pub fn live(set: &super::live::LiveCredentialSet) -> Self {
        Self::with_accepted(set.current())
    }
}

impl<S> Layer<S> for ValidateTokenLayer {
    type Service = ValidateToken<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ValidateToken::with_check(inner, self.check.clone())
    }
}

impl fmt::Debug for ValidateTokenLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.check.fmt(f)
    }
}
