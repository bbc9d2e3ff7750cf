//! Who an accepted request comes from: [`AuthenticatedId`] in its extensions, the
//! [`RetiringKey`] marker, and (feature `axum`) the extractors that read them.

#[cfg(doc)]
use super::ValidateToken;
use std::{fmt, sync::Arc};

/// The certificate ID of an accepted request, put into its extensions by [`ValidateToken`].
///
/// Read it with `request.extensions().get::<AuthenticatedId>()`; in axum, with the `axum`
/// feature, take it as a handler argument. Cloning it is a reference count increment. To
/// unit-test a handler without the layer, build one with [`AuthenticatedId::new`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AuthenticatedId(Arc<str>);

impl AuthenticatedId {
    /// An ID as the layer would report it.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }

    /// The certificate ID.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthenticatedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthenticatedId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for AuthenticatedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AsRef<str> for AuthenticatedId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// In the extensions of a request accepted with a key in its grace period, beside its
/// [`AuthenticatedId`].
///
/// A set followed with `LiveCredentialSet::follow` (feature `rotation`) keeps accepting a key
/// that was replaced until its grace period ends, for clients that have not read the new key
/// yet. A request that uses such a key carries this marker (count them by caller in a layer
/// inside). With `tracing`, an `INFO` event names the caller's ID (`jocloud.caller_id`) once
/// per ID every 30 s, however many requests it sends: who has not moved to the new key yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RetiringKey;

/// Who an accepted request comes from, and whether with a key in its grace period.
pub(super) struct Caller {
    pub(super) id: AuthenticatedId,
    pub(super) retiring: bool,
}

impl Caller {
    pub(super) fn new(id: &Arc<str>, retiring: bool) -> Self {
        Self { id: AuthenticatedId(id.clone()), retiring }
    }
}

#[cfg(feature = "axum")]
mod extract {
    use std::convert::Infallible;

    use axum_core::{
        extract::{FromRequestParts, OptionalFromRequestParts},
        response::{IntoResponse, Response},
    };
    use http::{request::Parts, StatusCode};

    use super::AuthenticatedId;
    use crate::validate::Rejection;

    /// `AuthenticatedId` as an axum extractor: `async fn handler(caller: AuthenticatedId)`.
    impl<S: Send + Sync> FromRequestParts<S> for AuthenticatedId {
        type Rejection = MissingAuthenticatedId;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            let missing =
                || MissingAuthenticatedId { let_through: parts.extensions.get::<Rejection>().copied() };
            parts.extensions.get::<AuthenticatedId>().cloned().ok_or_else(missing)
        }
    }

    /// `Option<AuthenticatedId>` as an axum extractor, for a route behind a
    /// [`report_only`](crate::validate::ValidateTokenLayer::report_only) layer: `None` for a request it
    /// let through.
    impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthenticatedId {
        type Rejection = Infallible;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<AuthenticatedId>().cloned())
        }
    }

    /// The [`AuthenticatedId`] extractor's rejection: the route has no `ValidateTokenLayer`, or
    /// one in report-only mode let an unauthenticated request through.
    ///
    /// A programming error, not the caller's: `500 Internal Server Error`, saying which and what
    /// to do.
    #[derive(Debug)]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub struct MissingAuthenticatedId {
        /// Why a report-only layer let the request through, if one did.
        let_through: Option<Rejection>,
    }

    impl IntoResponse for MissingAuthenticatedId {
        fn into_response(self) -> Response {
            let message = match self.let_through {
                Some(rejection) => format!(
                    "AuthenticatedId is missing: ValidateTokenLayer is in report-only mode and let this \
                     request through unauthenticated ({rejection}); take `Option<AuthenticatedId>` in \
                     this handler"
                ),
                None => "AuthenticatedId is missing: is ValidateTokenLayer applied to this route? (a route \
                         added after `.layer(..)` or `.route_layer(..)` is not covered)"
                    .to_owned(),
            };
            (StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
        }
    }
}

#[cfg(feature = "axum")]
pub use extract::MissingAuthenticatedId;
