//! `tower::ServiceBuilder` methods for this crate's layers (feature `tower`).

use tower::{layer::util::Stack, ServiceBuilder};

use crate::{Credentials, TokenAuthLayer, ValidateTokenLayer};

/// Adds this crate's layers to a [`ServiceBuilder`] as methods, so a stack reads as one chain.
///
/// Each method is `.layer(…)` with the layer's plain constructor; configure a layer first and
/// pass it to `.layer(…)` when the defaults do not fit. Requires the `tower` feature.
///
/// # Example
///
/// ```
/// # #[cfg(feature = "trace-id")] {
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use jocloud_auth::{Credentials, ServiceBuilderExt};
/// use tower::{service_fn, ServiceBuilder};
///
/// let credentials = Credentials::new("qawsedrftg", "abcdefghijk").unwrap();
/// let client = ServiceBuilder::new()
///     .jocloud_trace_id()
///     .jocloud_token(&credentials)
///     .service(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) }));
/// # let _ = client; }
/// ```
pub trait ServiceBuilderExt<L>: sealed::Sealed {
    /// Adds [`TokenAuthLayer::new`].
    fn jocloud_token(self, credentials: &Credentials) -> ServiceBuilder<Stack<TokenAuthLayer, L>>;

    /// Adds [`TokenAuthLayer::live`].
    #[cfg(feature = "rotation")]
    fn jocloud_live_token(
        self,
        credentials: &crate::LiveCredentials,
    ) -> ServiceBuilder<Stack<TokenAuthLayer<crate::LiveToken>, L>>;

    /// Adds [`ValidateTokenLayer::new`].
    fn jocloud_validate_token(
        self,
        credentials: &Credentials,
    ) -> ServiceBuilder<Stack<ValidateTokenLayer, L>>;

    /// Adds [`ValidateTokenLayer::live`].
    #[cfg(feature = "rotation")]
    fn jocloud_validate_live_token(
        self,
        set: &crate::LiveCredentialSet,
    ) -> ServiceBuilder<Stack<ValidateTokenLayer<crate::LiveAcceptedTokens>, L>>;

    /// Adds [`TraceIdLayer`](crate::TraceIdLayer).
    #[cfg(feature = "trace-id")]
    fn jocloud_trace_id(self) -> ServiceBuilder<Stack<crate::TraceIdLayer, L>>;
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    fn jocloud_token(self, credentials: &Credentials) -> ServiceBuilder<Stack<TokenAuthLayer, L>> {
        self.layer(TokenAuthLayer::new(credentials))
    }

    #[cfg(feature = "rotation")]
    fn jocloud_live_token(
        self,
        credentials: &crate::LiveCredentials,
    ) -> ServiceBuilder<Stack<TokenAuthLayer<crate::LiveToken>, L>> {
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
        set: &crate::LiveCredentialSet,
    ) -> ServiceBuilder<Stack<ValidateTokenLayer<crate::LiveAcceptedTokens>, L>> {
        self.layer(ValidateTokenLayer::live(set))
    }

    #[cfg(feature = "trace-id")]
    fn jocloud_trace_id(self) -> ServiceBuilder<Stack<crate::TraceIdLayer, L>> {
        self.layer(crate::TraceIdLayer::new())
    }
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}
