//! [`TokenAuth`]: the client middleware, and its response future.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

#[cfg(any(feature = "tower-http-06", feature = "tower-http-07"))]
use super::scope::Target;
use super::{token::Token, TokenAuthLayer};
use crate::credentials::Credentials;

/// Middleware that adds the jocloud `token` header. See the [module docs](super).
#[derive(Clone)]
pub struct TokenAuth<S> {
    inner: S,
    token: Arc<Token>,
}

impl<S> TokenAuth<S> {
    /// Wraps `inner`, sending `credentials` on every request. See [`TokenAuthLayer::new`].
    pub fn new(inner: S, credentials: &Credentials) -> Self {
        TokenAuthLayer::new(credentials).layer(inner)
    }

    /// Wraps `inner`, sending the current key of `credentials`. See [`TokenAuthLayer::live`].
    #[cfg(feature = "rotation")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rotation")))]
    pub fn live(inner: S, credentials: &super::live::LiveCredentials) -> Self {
        TokenAuthLayer::live(credentials).layer(inner)
    }

    pub(super) fn with_token(inner: S, token: Arc<Token>) -> Self {
        Self { inner, token }
    }

    inner_service_accessors!();
}

impl<S, B, ResBody> Service<Request<B>> for TokenAuth<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let signed = self.token.apply(&mut request);
        ResponseFuture { future: self.inner.call(request), check: Check::new(&self.token, signed) }
    }
}

pin_project! {
    /// Response future of [`TokenAuth`]: the inner service's response. With the `tower-http-06`
    /// or `tower-http-07` feature, it checks that no redirect followed inside the layer took
    /// the token out of its scope (see [redirects](super#redirects)).
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        check: Check,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.future.poll(cx));
        if let Ok(response) = &output {
            this.check.response(response);
        }
        Poll::Ready(output)
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// What is checked of a signed request's response: where a redirect followed inside the layer
/// ended (features `tower-http-06`, `tower-http-07`).
#[cfg(any(feature = "tower-http-06", feature = "tower-http-07"))]
struct Check(Option<Arc<Token>>);

#[cfg(any(feature = "tower-http-06", feature = "tower-http-07"))]
impl Check {
    fn new(token: &Arc<Token>, signed: bool) -> Self {
        Self(signed.then(|| token.clone()))
    }

    /// Panics if tower-http's `FollowRedirect`, inside the layer, followed the signed request
    /// to a URI outside the scope: the token went there. Its `RequestUri` says where it ended.
    fn response<B>(&mut self, response: &Response<B>) {
        let Some(token) = self.0.take() else { return };
        let extensions = response.extensions();
        #[cfg(feature = "tower-http-06")]
        let ended = extensions.get::<tower_http::follow_redirect::RequestUri>().map(|uri| &uri.0);
        #[cfg(not(feature = "tower-http-06"))]
        let ended = None;
        #[cfg(feature = "tower-http-07")]
        let ended =
            ended.or(extensions.get::<tower_http_07::follow_redirect::RequestUri>().map(|uri| &uri.0));
        if let Some(uri) = ended.filter(|uri| !token.permits(Target::of(uri))) {
            let port = uri.port().map(|port| format!(":{port}")).unwrap_or_default();
            panic!(
                "jocloud-auth: tower-http's FollowRedirect inside TokenAuthLayer followed a redirect to \
                 {}://{}{port}, outside the layer's scope, with the token. Put TokenAuthLayer inside \
                 FollowRedirectLayer (after it in a ServiceBuilder), or give FollowRedirectLayer \
                 the layer's redirect_policy().",
                uri.scheme_str().unwrap_or(""),
                uri.host().unwrap_or(""),
            );
        }
    }
}

/// Nothing to check without tower-http.
#[cfg(not(any(feature = "tower-http-06", feature = "tower-http-07")))]
struct Check;

#[cfg(not(any(feature = "tower-http-06", feature = "tower-http-07")))]
impl Check {
    fn new(_: &Arc<Token>, _: bool) -> Self {
        Self
    }

    fn response<B>(&mut self, _: &Response<B>) {}
}

impl<S: fmt::Debug> fmt::Debug for TokenAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAuth").field("inner", &self.inner).field("layer", &self.token).finish()
    }
}
