//! Add jocloud's `traceId` query parameter, a fresh UUID v4, to every request.
//!
//! jocloud asks for `traceId` on every request: "a uuid string ... used for problem positioning
//! during troubleshooting; use different values for each request". [`TraceIdLayer`] appends
//! `traceId=<uuid>` to the URI's query when it has none, keeps every other part of the URI as it
//! was, and leaves a `traceId` the caller chose alone. Either way the ID is put into the
//! request's extensions as a [`TraceId`], so logs and spans can record it.
//!
//! Requires the `trace-id` feature.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use jocloud_auth::{TraceId, TraceIdLayer};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = TraceIdLayer::new().layer(service_fn(|request: Request<()>| async move {
//!     let trace_id = request.extensions().get::<TraceId>().cloned();
//!     Ok::<_, Infallible>(Response::new((request.uri().clone(), trace_id)))
//! }));
//!
//! let request = Request::post("https://ai.jocloud.com/app/123456/v1/image/sync?lang=en").body(())?;
//! let (uri, trace_id) = client.oneshot(request).await?.into_body();
//! let trace_id = trace_id.expect("the layer records the ID it used");
//! assert_eq!(uri.query(), Some(format!("lang=en&traceId={trace_id}").as_str()));
//! # Ok(())
//! # }
//! ```
//!
//! # URIs of every form
//!
//! - `https://host` (no path): becomes `https://host/?traceId=…`.
//! - `/path` (origin form, as axum and hyper servers see requests): `/path?traceId=…`.
//! - `/path?a=1&traceId=x`: unchanged; the extension holds `x`, exactly as written in the URI.
//! - `host:443` (CONNECT's authority form) and `*` (server-wide `OPTIONS`): unchanged, and no
//!   extension, since such a request has no query to carry the ID.
//!
//! Only a parameter spelled exactly `traceId` counts as the caller's.

use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{uri::PathAndQuery, Request, Uri};
use tower_layer::Layer;
use tower_service::Service;
use uuid::Uuid;

/// The query parameter jocloud reads.
const PARAM: &str = "traceId";

/// The `traceId` of a request, as [`SetTraceId`] put it into the URI (or found it there).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceId(Arc<str>);

impl TraceId {
    /// The ID as it appears in the query: a hyphenated lowercase UUID when this crate made it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TraceId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Adds a `traceId` query parameter to requests that have none. See the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceIdLayer {
    _private: (),
}

impl TraceIdLayer {
    /// A layer that gives each request without a `traceId` a fresh UUID v4.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for TraceIdLayer {
    type Service = SetTraceId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetTraceId { inner }
    }
}

/// Middleware that adds a `traceId` query parameter. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct SetTraceId<S> {
    inner: S,
}

impl<S> SetTraceId<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// The layer form of [`SetTraceId::new`].
    pub fn layer() -> TraceIdLayer {
        TraceIdLayer::new()
    }

    inner_service_accessors!();
}

impl<S, B> Service<Request<B>> for SetTraceId<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        if let Some((uri, trace_id)) = with_trace_id(request.uri()) {
            if let Some(uri) = uri {
                *request.uri_mut() = uri;
            }
            request.extensions_mut().insert(trace_id);
        }
        self.inner.call(request)
    }
}

/// The trace ID for `uri`, and the new URI if one had to be added. `None` for URIs that cannot
/// carry a query.
fn with_trace_id(uri: &Uri) -> Option<(Option<Uri>, TraceId)> {
    if let Some(existing) = uri.query().and_then(find_param) {
        return Some((None, TraceId(existing.into())));
    }
    let path_and_query = match uri.path_and_query() {
        Some(pq) if pq.path() == "*" => return None,
        Some(pq) => pq.as_str(),
        // An absolute URI with an empty path means "/"; no scheme and no path is authority form.
        None if uri.scheme().is_some() => "/",
        None => return None,
    };

    let mut buffer = Uuid::encode_buffer();
    let trace_id: &str = Uuid::new_v4().hyphenated().encode_lower(&mut buffer);

    let mut new = String::with_capacity(path_and_query.len() + 2 + PARAM.len() + 1 + trace_id.len());
    new.push_str(path_and_query);
    match uri.query() {
        None => new.push('?'),
        Some(query) if !query.is_empty() && !query.ends_with('&') => new.push('&'),
        Some(_) => {}
    }
    new.push_str(PARAM);
    new.push('=');
    new.push_str(trace_id);

    // Everything added is unreserved ASCII, so neither step fails; if one did, the request
    // would go on with its URI untouched rather than be lost.
    let path_and_query = PathAndQuery::try_from(new).ok()?;
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    let uri = Uri::from_parts(parts).ok()?;
    Some((Some(uri), TraceId(trace_id.into())))
}

/// The value of the first `traceId` parameter in `query`, as written.
fn find_param(query: &str) -> Option<&str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == PARAM).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(uri: &'static str) -> Option<(String, String)> {
        let (new, id) = with_trace_id(&Uri::from_static(uri))?;
        Some((new.map_or_else(|| uri.to_owned(), |u| u.to_string()), id.as_str().to_owned()))
    }

    #[test]
    fn appends_to_every_query_shape() {
        for (input, expected_prefix) in [
            ("https://ai.jocloud.com", "https://ai.jocloud.com/?traceId="),
            (
                "https://ai.jocloud.com/app/1/v1/image/sync",
                "https://ai.jocloud.com/app/1/v1/image/sync?traceId=",
            ),
            ("https://h/p?", "https://h/p?traceId="),
            ("https://h/p?a=1", "https://h/p?a=1&traceId="),
            ("https://h/p?a=1&", "https://h/p?a=1&traceId="),
            ("/p?a=1&b", "/p?a=1&b&traceId="),
            ("http://h:8080/p?tracEId=no", "http://h:8080/p?tracEId=no&traceId="),
        ] {
            let (uri, id) = rewrite(input).expect("a URI with a path gets a trace ID");
            assert_eq!(uri, format!("{expected_prefix}{id}"), "for {input}");
            assert_eq!(Uuid::parse_str(&id).map(|u| u.get_version_num()), Ok(4), "for {input}");
        }
    }

    #[test]
    fn keeps_a_callers_trace_id() {
        assert_eq!(
            rewrite("/p?a=1&traceId=mine&b=2"),
            Some(("/p?a=1&traceId=mine&b=2".into(), "mine".into()))
        );
        assert_eq!(rewrite("/p?traceId="), Some(("/p?traceId=".into(), String::new())));
    }

    #[test]
    fn leaves_uris_without_a_query_alone() {
        assert_eq!(rewrite("ai.jocloud.com:443"), None);
        assert_eq!(rewrite("*"), None);
    }
}
