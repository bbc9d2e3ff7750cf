//! The jocloud token for reqwest: one call that builds a reqwest-middleware client with it.
//!
//! ```no_run
//! use jocloud_auth::{token_auth::TokenAuthLayer, Credentials};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let token = TokenAuthLayer::new(&Credentials::from_env()?);
//! // Your TLS, timeouts and proxies on the reqwest builder; the token, its redirect policy
//! // and (with `trace-id`) the `traceId` come with the call.
//! let builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10));
//! let client = jocloud_auth::reqwest::client_builder(builder, &token)?.build();
//!
//! let response = client.post("https://ai.jocloud.com/app/123456/v1/image/sync").body("{}").send().await?;
//! println!("{}", response.status());
//! # Ok(())
//! # }
//! ```
//!
//! [`client_builder`] builds the `reqwest::Client` with the redirect policy below (replacing
//! the builder's) into a `reqwest_middleware::ClientBuilder` that adds, outermost first: with
//! `trace-id`, one `traceId` per request as `trace_id` sets it, kept across the retry; the
//! token, as the [`TokenAuthLayer`] adds it, [scope](crate::token_auth#scope) included; for a
//! live layer (feature `rotation`), `retry`'s previous-key retry (a streamed body is sent once).
//! Middleware added with `.with(..)` runs inside, and sees the token header marked
//! [sensitive](http::HeaderValue::is_sensitive).
//!
//! # Redirects
//!
//! reqwest follows redirects where no middleware sees them, and to another host drops
//! `Authorization`, `Cookie`, `Proxy-Authorization` and `WWW-Authenticate` but would carry a
//! `token` header. This client follows a redirect only from inside the scope to inside it (ten
//! at most) and returns any other `3xx`; the token middleware exists only in such a client. The
//! one way in, jocloud's answer to plain HTTP naming the same host over HTTPS, the middleware
//! follows itself, by reqwest's rules: after `301`/`302` a `POST`, after `303` anything but
//! `HEAD`, becomes a `GET` without body or payload headers; `307`/`308` keep method and body (a
//! streamed body gets the `3xx` back); cross-origin headers go.

use http::{
    header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, TRANSFER_ENCODING},
    HeaderName, Method, StatusCode,
};
use reqwest::{redirect, Request, Response, Url};
use reqwest_middleware::{Middleware, Next};

use crate::{scope::Target, token_auth::TokenAuthLayer};

/// The longest redirect chain followed, as reqwest's own default.
const MAX_REDIRECTS: usize = 10;

/// Builds a `reqwest::Client` from `builder` with the redirect policy that keeps the token in
/// its scope, and returns it in a `reqwest_middleware::ClientBuilder` that adds the token as
/// `token` would (and, with `trace-id`, the `traceId`). See the [module docs](self).
///
/// # Errors
///
/// What `reqwest::ClientBuilder::build` reports: a TLS backend that cannot be initialised, say.
pub fn client_builder(
    builder: reqwest::ClientBuilder,
    token: &TokenAuthLayer,
) -> reqwest::Result<reqwest_middleware::ClientBuilder> {
    let client = builder.redirect(redirect_policy(token.clone())).build()?;
    let middleware = reqwest_middleware::ClientBuilder::new(client);
    // Outermost, so that a retry with the previous key keeps the request's ID.
    #[cfg(feature = "trace-id")]
    let middleware = middleware.with(trace::TraceIdMiddleware);
    let middleware = middleware.with(TokenAuthMiddleware { layer: token.clone() });
    // Inside the token middleware: it sees the key the request was sent with.
    #[cfg(feature = "rotation")]
    let middleware = middleware.with(retry::PreviousKeyMiddleware { layer: token.clone() });
    Ok(middleware)
}

/// Follows a redirect only from the scope into the scope; otherwise hands the `3xx` back.
fn redirect_policy(layer: TokenAuthLayer) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        let in_scope = |url: &Url| layer.config.scope.permits(target(url));
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if in_scope(attempt.url()) && attempt.previous().last().is_some_and(in_scope) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// A reqwest URL as the scope sees it.
fn target(url: &Url) -> Target<'_> {
    Target::known(url.scheme(), url.host_str(), url.port_or_known_default())
}

/// Adds the token, and follows jocloud's HTTP-to-HTTPS redirect. Had only through
/// [`client_builder`], with the policy that keeps reqwest's own redirects in the scope.
struct TokenAuthMiddleware {
    layer: TokenAuthLayer,
}

#[async_trait::async_trait]
impl Middleware for TokenAuthMiddleware {
    async fn handle(
        &self,
        mut request: Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if self.sign(&mut request) {
            return next.run(request, extensions).await;
        }
        // Plain HTTP may be answered with a redirect to HTTPS, which the policy leaves here.
        let upgrade = (request.url().scheme() == "http").then(|| Upgrade::of(&request));
        let response = next.clone().run(request, extensions).await?;
        match upgrade.and_then(|upgrade| upgrade.follow(&response, &self.layer)) {
            Some(mut upgraded) => {
                self.sign(&mut upgraded);
                next.run(upgraded, extensions).await
            }
            None => Ok(response),
        }
    }
}

impl TokenAuthMiddleware {
    /// Adds, keeps or removes the token as the layer would; says whether `request` is in scope.
    fn sign(&self, request: &mut Request) -> bool {
        let in_scope = self.layer.in_scope(target(request.url()));
        self.layer.apply_to_headers(in_scope, request.headers_mut());
        in_scope
    }
}

/// A plain-HTTP request, kept to follow a redirect to the same host over HTTPS.
struct Upgrade {
    request: Request,
    /// The body is a stream, which cannot be copied: `request` has none.
    streamed: bool,
}

/// What reqwest (tower-http's `FollowRedirect`) drops with a body.
const PAYLOAD_HEADERS: [HeaderName; 4] = [CONTENT_TYPE, CONTENT_LENGTH, CONTENT_ENCODING, TRANSFER_ENCODING];

/// What reqwest drops on a redirect to another scheme, host or port.
const CROSS_ORIGIN_HEADERS: [&str; 5] =
    ["authorization", "cookie", "cookie2", "proxy-authorization", "www-authenticate"];

impl Upgrade {
    fn of(request: &Request) -> Self {
        if let Some(copy) = request.try_clone() {
            return Self { request: copy, streamed: false };
        }
        let mut copy = Request::new(request.method().clone(), request.url().clone());
        *copy.headers_mut() = request.headers().clone();
        *copy.version_mut() = request.version();
        *copy.timeout_mut() = request.timeout().copied();
        Self { request: copy, streamed: true }
    }

    /// The request to send next if `response` redirects it to the same host over HTTPS, into
    /// `layer`'s scope, changed as reqwest changes a request it follows.
    fn follow(self, response: &Response, layer: &TokenAuthLayer) -> Option<Request> {
        let Self { mut request, streamed } = self;
        let location = response.headers().get(LOCATION)?.to_str().ok()?;
        let url = response.url().join(location).ok()?;
        let same_host = url.host_str().is_some() && url.host_str() == request.url().host_str();
        if url.scheme() != "https" || !same_host || !layer.config.scope.permits(target(&url)) {
            return None;
        }
        let keeps_body = match response.status() {
            StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => request.method() != Method::POST,
            StatusCode::SEE_OTHER => false,
            StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT => true,
            _ => return None,
        };
        if keeps_body && streamed {
            // A stream cannot be sent again: the caller gets the redirect.
            return None;
        }
        if !keeps_body {
            *request.body_mut() = None;
            if request.method() != Method::HEAD {
                *request.method_mut() = Method::GET;
            }
            for name in PAYLOAD_HEADERS {
                request.headers_mut().remove(name);
            }
        }
        for name in CROSS_ORIGIN_HEADERS {
            request.headers_mut().remove(name);
        }
        *request.url_mut() = url;
        Some(request)
    }
}

/// The previous-key retry for reqwest requests.
#[cfg(feature = "rotation")]
mod retry {
    use reqwest::{Request, Response};
    use reqwest_middleware::{Middleware, Next};

    use crate::token_auth::TokenAuthLayer;

    /// Sends a request refused with `401` once more with the previous key of a live layer,
    /// while its grace period runs (see `previous_key`); a body that cannot be copied is sent
    /// once.
    pub(super) struct PreviousKeyMiddleware {
        pub(super) layer: TokenAuthLayer,
    }

    #[async_trait::async_trait]
    impl Middleware for PreviousKeyMiddleware {
        async fn handle(
            &self,
            request: Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<Response> {
            // A copy only while a previous key is usable, and only of a body that can be copied.
            let retry = self.layer.may_retry(request.headers()).then(|| request.try_clone()).flatten();
            let response = next.clone().run(request, extensions).await?;
            if let Some(mut retry) = retry {
                if self.layer.use_previous_key(response.status(), retry.headers_mut()) {
                    return next.run(retry, extensions).await;
                }
            }
            Ok(response)
        }
    }
}

/// `traceId` for reqwest requests.
#[cfg(feature = "trace-id")]
mod trace {
    use reqwest::{Request, Response};
    use reqwest_middleware::{Middleware, Next};

    use crate::trace_id::query_with_trace_id;

    /// Gives every request exactly one non-empty `traceId` query parameter, as
    /// `SetTraceIdLayer` does, and puts its `TraceId` into the middleware extensions.
    pub(super) struct TraceIdMiddleware;

    #[async_trait::async_trait]
    impl Middleware for TraceIdMiddleware {
        async fn handle(
            &self,
            mut request: Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<Response> {
            let url = request.url_mut();
            let (query, trace_id) = query_with_trace_id(url.query().unwrap_or(""));
            if let Some(query) = query {
                url.set_query(Some(&query));
            }
            extensions.insert(trace_id);
            next.run(request, extensions).await
        }
    }
}
