//! Give every request jocloud's `traceId` query parameter.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use jocloud_auth::trace_id::{SetTraceIdLayer, TraceId};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = SetTraceIdLayer::new().layer(service_fn(|request: Request<()>| async move {
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
//! jocloud asks for a `traceId`, "a uuid string ... different values for each request".
//! [`SetTraceIdLayer`] sends exactly one non-empty `traceId`, recorded in the request's
//! extensions as a [`TraceId`]: a fresh UUID v4 appended to the query, unless the caller gave a
//! non-empty one (names compared percent-decoded, as the server reads them: `trace%49d=x` is
//! `traceId` `x`). Empty ones (`?traceId`, `?traceId=`) are replaced, any after the first
//! non-empty one dropped, and other parameters left as written. A request without a query form
//! (CONNECT's `host:443`, `OPTIONS *`) passes unchanged. The client of
//! `reqwest::client_builder` does the same. Requires the `trace-id` feature.

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

/// The `traceId` of a request, as the server will decode it from the query.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceId(Arc<str>);

impl TraceId {
    /// The ID: a hyphenated lowercase UUID when this crate made it.
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

impl AsRef<str> for TraceId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Gives every request exactly one non-empty `traceId`. See the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct SetTraceIdLayer {
    _private: (),
}

impl SetTraceIdLayer {
    /// A layer that gives each request without a `traceId` a fresh UUID v4.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for SetTraceIdLayer {
    type Service = SetTraceId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SetTraceId { inner }
    }
}

/// Middleware that gives every request exactly one non-empty `traceId`. See the
/// [module docs](self).
#[derive(Clone, Debug)]
pub struct SetTraceId<S> {
    inner: S,
}

impl<S> SetTraceId<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
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

/// The trace ID for `uri`, and the new URI when it had to change. `None` for URIs that cannot
/// carry a query: authority form (`host:port`) and asterisk form (`*`).
fn with_trace_id(uri: &Uri) -> Option<(Option<Uri>, TraceId)> {
    // `http` gives no path and query for authority form only; an absolute URI without a path
    // has the path `/`.
    let path_and_query = uri.path_and_query().filter(|pq| pq.as_str() != "*")?;
    let (query, trace_id) = query_with_trace_id(path_and_query.query().unwrap_or(""));
    let Some(query) = query else {
        return Some((None, trace_id));
    };
    // The path and the other parameters were valid before, and the serializer encodes the
    // rest, so neither step fails; if one did, the request would go on untouched, not be lost.
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(format!("{}?{query}", path_and_query.path())).ok()?);
    let uri = Uri::from_parts(parts).ok()?;
    Some((Some(uri), trace_id))
}

/// The trace ID for a request with `query`, and the query to send instead when it had to
/// change: every other parameter as written, then the one `traceId`.
pub(crate) fn query_with_trace_id(query: &str) -> (Option<String>, TraceId) {
    let params: Vec<(&str, Option<String>)> =
        query.split('&').filter(|raw| !raw.is_empty()).map(|raw| (raw, trace_id_value(raw))).collect();
    let mut trace_ids = params.iter().filter_map(|(_, value)| value.as_deref());
    let first = trace_ids.next();
    if let (Some(value), None) = (first, trace_ids.next()) {
        if !value.is_empty() {
            return (None, TraceId(value.into()));
        }
    }

    let value = match params.iter().find_map(|(_, value)| value.as_deref().filter(|v| !v.is_empty())) {
        Some(kept) => kept.to_owned(),
        None => Uuid::new_v4().hyphenated().to_string(),
    };
    let mut new = String::new();
    for (raw, _) in params.iter().filter(|(_, value)| value.is_none()) {
        new.push_str(raw);
        new.push('&');
    }
    new.push_str(&form_urlencoded::Serializer::new(String::new()).append_pair(PARAM, &value).finish());
    (Some(new), TraceId(value.into()))
}

/// The decoded value of a raw `name=value` query parameter whose decoded name is `traceId`.
fn trace_id_value(raw: &str) -> Option<String> {
    let (name, value) = form_urlencoded::parse(raw.as_bytes()).next()?;
    (name == PARAM).then(|| value.into_owned())
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
            ("https://h/app/1/v1/image/sync", "https://h/app/1/v1/image/sync?traceId="),
            ("https://h/p?", "https://h/p?traceId="),
            ("https://h/p?a=1", "https://h/p?a=1&traceId="),
            ("https://h/p?a=1&", "https://h/p?a=1&traceId="),
            ("/p?a=1&b&&c=%20", "/p?a=1&b&c=%20&traceId="),
            ("http://h:8080/p?tracEId=no", "http://h:8080/p?tracEId=no&traceId="),
        ] {
            let (uri, id) = rewrite(input).expect("a URI with a path gets a trace ID");
            assert_eq!(uri, format!("{expected_prefix}{id}"), "for {input}");
            assert_eq!(Uuid::parse_str(&id).map(|u| u.get_version_num()), Ok(4), "for {input}");
        }
    }

    #[test]
    fn keeps_a_callers_trace_id_by_its_decoded_name() {
        let kept = |uri, id: &str| assert_eq!(rewrite(uri), Some((uri.to_owned(), id.to_owned())));
        kept("/p?a=1&traceId=mine&b=2", "mine");
        kept("/p?trace%49d=x", "x");
        kept("/p?traceId=a%20b+c", "a b c");
    }

    #[test]
    fn replaces_empty_and_drops_repeated_trace_ids() {
        for uri in ["/p?traceId", "/p?traceId=", "/p?trace%49d=&a=1"] {
            let (new, id) = rewrite(uri).unwrap();
            assert!(!id.is_empty());
            assert!(new.ends_with(&format!("traceId={id}")), "{uri} became {new}");
        }
        assert_eq!(rewrite("/p?traceId=&traceId=b&x&traceId=c"), Some(("/p?x&traceId=b".into(), "b".into())));
        assert_eq!(rewrite("/p?traceId=a+b&traceId=c"), Some(("/p?traceId=a+b".into(), "a b".into())));
    }

    #[test]
    fn leaves_uris_without_a_query_alone() {
        assert_eq!(rewrite("ai.jocloud.com:443"), None);
        assert_eq!(rewrite("*"), None);
    }
}
