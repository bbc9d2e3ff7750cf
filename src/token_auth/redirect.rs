//! A tower-http `FollowRedirect` policy that keeps the token in its scope (features
//! `tower-http-06`, `tower-http-07`).

use std::sync::Arc;

use http::{Request, Uri};

#[cfg(doc)]
use super::TokenAuthLayer;
use super::{
    scope::Target,
    token::{Token, MAX_REDIRECTS},
};

/// A policy for tower-http's `FollowRedirect` that keeps a [`TokenAuthLayer`]'s token in its
/// scope, from [`TokenAuthLayer::redirect_policy`]: for a `FollowRedirect` inside the layer,
/// where the layer signs only the first request and tower-http replays its headers on every
/// hop.
///
/// It follows at most ten redirects, and none that would take a request carrying the token out
/// of the scope: that `3xx` is returned, as the reqwest client returns it. A hop outside the
/// scope that another policy lets through (combined with `PolicyExt::or`) goes without the
/// token and `AppID` headers.
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use jocloud_auth::{token_auth::TokenAuthLayer, Credentials};
/// use tower::{service_fn, ServiceBuilder};
/// use tower_http::follow_redirect::FollowRedirectLayer;
///
/// # fn main() -> Result<(), jocloud_auth::InvalidCredentials> {
/// let token = TokenAuthLayer::new(&Credentials::new("qawsedrftg", "abcdefghijk")?);
/// let client = ServiceBuilder::new()
///     .layer(token.clone())
///     .layer(FollowRedirectLayer::with_policy(token.redirect_policy()))
///     .service(service_fn(|_: http::Request<Full<Bytes>>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
///     }));
/// # let _ = client;
/// # Ok(())
/// # }
/// ```
///
/// Combine it with tower-http's own policies with `PolicyExt::and`, naming the body and error
/// types (`.and::<_, Full<Bytes>, hyper_util::client::legacy::Error>(Standard::default())`,
/// say) to add `Standard`'s credential filter or a body-cloning policy.
#[derive(Clone, Debug)]
#[cfg_attr(docsrs, doc(cfg(any(feature = "tower-http-06", feature = "tower-http-07"))))]
pub struct RedirectPolicy {
    token: Arc<Token>,
    /// Redirects followed so far for this request (tower-http clones the policy per request).
    followed: usize,
}

impl RedirectPolicy {
    pub(super) fn new(token: Arc<Token>) -> Self {
        Self { token, followed: 0 }
    }

    /// Whether to follow the redirect from `previous` to `location`.
    fn follows(&mut self, previous: &Uri, location: &Uri) -> bool {
        self.followed += 1;
        self.followed <= MAX_REDIRECTS
            && self.token.follows_redirect(Target::of(previous), Target::of(location))
    }

    /// Takes the token and `AppID` headers off a request outside the scope.
    fn on_request<B>(&self, request: &mut Request<B>) {
        if !self.token.permits(Target::of(request.uri())) {
            self.token.remove_headers(request.headers_mut());
        }
    }
}

/// The policy trait of one tower-http line, whose types differ by version only.
macro_rules! impl_policy {
    ($tower_http:ident) => {
        impl<B, E> $tower_http::follow_redirect::policy::Policy<B, E> for RedirectPolicy {
            fn redirect(
                &mut self,
                attempt: &$tower_http::follow_redirect::policy::Attempt<'_>,
            ) -> Result<$tower_http::follow_redirect::policy::Action, E> {
                use $tower_http::follow_redirect::policy::Action;
                let follows = self.follows(attempt.previous(), attempt.location());
                Ok(if follows { Action::Follow } else { Action::Stop })
            }

            fn on_request(&mut self, request: &mut Request<B>) {
                RedirectPolicy::on_request(self, request);
            }
        }
    };
}

#[cfg(feature = "tower-http-06")]
impl_policy!(tower_http);
#[cfg(feature = "tower-http-07")]
impl_policy!(tower_http_07);
