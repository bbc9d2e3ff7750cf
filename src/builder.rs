//! `tower::ServiceBuilder` methods for this crate's layers (feature `tower`).

use tower::{layer::util::Stack, ServiceBuilder};

use crate::{credentials::Credentials, token_auth::TokenAuthLayer, validate::ValidateTokenLayer};

/// This crate's layers as [`ServiceBuilder`](tower::ServiceBuilder) methods, so a stack reads as one chain.
///
/// Each method is `.layer(…)` with the layer's plain constructor; configure a layer and pass it
/// to `.layer(…)` when the defaults do not fit (a [scope](crate::token_auth#scope), say).
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use jocloud_auth::{Credentials, ServiceBuilderExt};
/// use tower::{service_fn, ServiceBuilder};
///
/// let credentials = Credentials::new("qawsedrftg", "abcdefghijk")?;
/// let server = ServiceBuilder::new()
///     .jocloud_validate_token(&credentials)
///     .service(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) }));
/// # let _ = server;
/// # Ok::<(), jocloud_auth::InvalidCredentials>(())
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub trait ServiceBuilderExt<L>: sealed::Sealed {
    /// Adds [`TokenAuthLayer::new`].
    fn jocloud_token(self, credentials: &Credentials) -> ServiceBuilder<Stack<TokenAuthLayer, L>>;

    /// Adds [`TokenAuthLayer::live`].
    #[cfg(feature = "rotation")]
    fn jocloud_live_token(
        self,
        credentials: &crate::token_auth::live::LiveCredentials,
    ) -> ServiceBuilder<Stack<TokenAuthLayer, L>>;

    /// Adds [`ValidateTokenLayer::new`].
    fn jocloud_validate_token(
        self,
        credentials: &Credentials,
    ) -> ServiceBuilder<Stack<ValidateTokenLayer, L>>;

    /// Adds [`ValidateTokenLayer::live`].
    #[cfg(feature = "rotation")]
    fn jocloud_validate_live_token(
        self,
        set: &crate::validate::live::LiveCredentialSet,
    ) -> ServiceBuilder<Stack<ValidateTokenLayer, L>>;

    /// Adds [`SetTraceIdLayer`](crate::trace_id::SetTraceIdLayer).
    #[cfg(feature = "trace-id")]
    fn jocloud_trace_id(self) -> ServiceBuilder<Stack<crate::trace_id::SetTraceIdLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn jocloud_token(self, credentials: &Credentials) -> ServiceBuilder<Stack<TokenAuthLayer, L>> {
        self.layer(TokenAuthLayer::new(credentials))
    }

    #[cfg(feature = "rotation")]
    fn jocloud_live_token(
        self,
        credentials: &crate::token_auth::live::LiveCredentials,
    ) -> ServiceBuilder<Stack<TokenAuthLayer, L>> {
        self.layer(TokenAuthLayer::live(credentials))
    }

    fn jocloud_validate_token(
        self,
        credentials: &Credentials,
    ) -> ServiceBuilder<Stack<ValidateTokenLayer, L>> {
        self.layer(ValidateTokenLayer::new(credentials))
    }

    #[cfg(feature = "rotation")]
    fn jocloud_validate_live_token(
        self,
        set: &crate::validate::live::LiveCredentialSet,
    ) -> ServiceBuilder<Stack<ValidateTokenLayer, L>> {
        self.layer(ValidateTokenLayer::live(set))
    }

    #[cfg(feature = "trace-id")]
    fn jocloud_trace_id(self) -> ServiceBuilder<Stack<crate::trace_id::SetTraceIdLayer, L>> {
        self.layer(crate::trace_id::SetTraceIdLayer::new())
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}
