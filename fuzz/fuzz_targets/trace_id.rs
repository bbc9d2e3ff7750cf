//! The trace ID for arbitrary queries: exactly one non-empty decoded `traceId` leaves, and it
//! is the one in the extension.
#![no_main]

mod common;

use http::{Request, Uri};
use jocloud_auth::trace_id::{SetTraceIdLayer, TraceId};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt};

fuzz_target!(|query: String| {
    let Ok(uri) = format!("https://ai.jocloud.com/p?{query}").parse::<Uri>() else { return };
    let echo = tower::service_fn(|request: Request<()>| {
        std::future::ready(Ok::<_, std::convert::Infallible>(request))
    });
    let mut request = Request::new(());
    *request.uri_mut() = uri;
    let sent = common::now(SetTraceIdLayer::new().layer(echo).oneshot(request)).unwrap();
    let id = sent.extensions().get::<TraceId>().expect("a trace ID").as_str().to_owned();
    let decoded: Vec<String> = form_urlencoded::parse(sent.uri().query().unwrap_or("").as_bytes())
        .filter(|(name, _)| name == "traceId")
        .map(|(_, value)| value.into_owned())
        .collect();
    assert_eq!(decoded, [id.clone()], "from {query:?}");
    assert!(!id.is_empty());
});
