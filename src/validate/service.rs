//! [`ValidateToken`]: the validator middleware, and its response future.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::{check::Check, RetiringKey, ValidateTokenLayer};
use crate::credentials::{AcceptedCredential, Credentials};

/// Middleware that validates the jocloud `token` header. See the [module docs](super).
#[derive(Clone)]
pub struct ValidateToken<S> {
    inner: S,
    check: Arc<Check>,
}

impl<S> ValidateToken<S> {
    /// Wraps `inner`, accepting exactly `credentials`. See [`ValidateTokenLayer::new`].
    pub fn new(inner: S, credentials: &Credentials) -> Self {
        ValidateTokenLayer::new(credentials).layer(inner)
    }

    /// Wraps `inner`, accepting any of `credentials`. See [`ValidateTokenLayer::any_of`].
    pub fn any_of<C: Into<AcceptedCredential>>(inner: S, credentials: impl IntoIterator<Item = C>) -> Self {
        ValidateTokenLayer::any_of(credentials).layer(inner)
    }

    /// Wraps `inner`, accepting whatever `set` holds. See [`ValidateTokenLayer::live`].
    #[cfg(feature = "rotation")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
    pub fn live(inner: S, set: &super::live::LiveCredentialSet) -> Self {
        ValidateTokenLayer::live(set).layer(inner)
    }

    pub(super) fn with_check(inner: S, check: Arc<Check>) -> Self {
        Self { inner, check }
    }

    inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ValidateToken<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        match self.check.check(request.headers_mut()) {
            Ok(caller) => {
                self.check.accepted(&caller);
                if caller.retiring {
                    request.extensions_mut().insert(RetiringKey);
                }
                request.extensions_mut().insert(caller.id);
            }
            Err(refused) if self.check.report_only() => {
                self.check.report(&refused);
                self.check.hide_token(request.headers_mut());
                request.extensions_mut().insert(refused.rejection);
            }
            Err(refused) => {
                let response = self.check.reject(&refused);
                return ResponseFuture { state: State::Rejected { response: Some(response) } };
            }
        }
        ResponseFuture { state: State::Called { future: self.inner.call(request) } }
    }
}

impl<S: fmt::Debug> fmt::Debug for ValidateToken<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidateToken").field("inner", &self.inner).field("layer", &self.check).finish()
    }
}

pin_project! {
    /// Response future of [`ValidateToken`]: the inner service's response, or a rejection.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Called { #[pin] future: F },
        Rejected { response: Option<Response<Bytes>> },
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<Bytes>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Called { future } => future.poll(cx),
            StateProj::Rejected { response } => {
                let response = response.take().expect("ResponseFuture polled after completion");
                Poll::Ready(Ok(response.map(B::from)))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
