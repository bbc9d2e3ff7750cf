//! `SetTraceIdLayer`: the query it writes, what it keeps, and a loopback round trip.
#![cfg(feature = "trace-id")]

mod common;

use std::{collections::HashSet, convert::Infallible, future::ready};

use bytes::Bytes;
use common::{bounded, http_client, serve, text};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use jocloud_auth::trace_id::{SetTraceId, SetTraceIdLayer, TraceId};
use tower::{service_fn, Layer, ServiceExt};

/// Sends `uri` through the layer; returns the URI the inner service got and the extension.
async fn through_layer(uri: &str) -> (Uri, Option<TraceId>) {
    let inner = service_fn(|request: Request<()>| async move {
        Ok::<_, Infallible>((request.uri().clone(), request.extensions().get::<TraceId>().cloned()))
    });
    SetTraceIdLayer::new().layer(inner).oneshot(Request::get(uri).body(()).unwrap()).await.unwrap()
}

#[tokio::test]
async fn keeps_the_existing_query() {
    let (uri, id) = through_layer("https://ai.jocloud.com/app/123456/v1/image/sync?lang=en&x=%20y").await;
    let id = id.unwrap();
    assert_eq!(uri.path(), "/app/123456/v1/image/sync");
    assert_eq!(uri.authority().unwrap(), "ai.jocloud.com");
    assert_eq!(uri.query().unwrap(), format!("lang=en&x=%20y&traceId={id}"));
    assert_eq!(id.as_str().len(), 36);
}

#[tokio::test]
async fn keeps_a_callers_trace_id() {
    let given = "https://ai.jocloud.com/app/1/v1/image/sync?traceId=bd526528-c0d7-4aa4-803b-f5a3fdc05805";
    let (uri, id) = through_layer(given).await;
    assert_eq!(uri, given);
    assert_eq!(id.unwrap().as_str(), "bd526528-c0d7-4aa4-803b-f5a3fdc05805");
}

#[tokio::test]
async fn every_request_gets_a_different_id() {
    const REQUESTS: usize = 10_000;
    let mut service = SetTraceId::new(service_fn(|request: Request<()>| {
        ready(Ok::<_, Infallible>(request.extensions().get::<TraceId>().cloned().unwrap()))
    }));
    let mut ids = HashSet::with_capacity(REQUESTS);
    for _ in 0..REQUESTS {
        let request = Request::get("/app/1/v1/image/sync").body(()).unwrap();
        ids.insert(tower::Service::call(&mut service, request).await.unwrap());
    }
    assert_eq!(ids.len(), REQUESTS);
}

#[tokio::test]
async fn round_trip_through_a_loopback_server() {
    bounded(async {
        // The server parses the query the way jocloud would, and echoes the traceId it found.
        let server = serve(service_fn(|request: Request<Incoming>| {
            let query = request.uri().query().unwrap_or_default().to_owned();
            let trace_ids: Vec<&str> =
                query.split('&').filter_map(|pair| pair.strip_prefix("traceId=")).collect();
            ready(text(trace_ids.join(",")))
        }))
        .await;

        // Records the extension on its way to the real client.
        let sent = std::sync::Arc::new(std::sync::Mutex::new(None));
        let recorder = sent.clone();
        let client = SetTraceIdLayer::new().layer(tower::util::MapRequest::new(
            http_client(),
            move |request: Request<Full<Bytes>>| {
                *recorder.lock().unwrap() = request.extensions().get::<TraceId>().cloned();
                request
            },
        ));
        let request = Request::post(server.url("/app/123456/v1/image/sync")).body(Full::default()).unwrap();
        let response = client.oneshot(request).await.unwrap();
        let echoed = response.into_body().collect().await.unwrap().to_bytes();
        let sent = sent.lock().unwrap().clone().expect("the layer recorded the ID");
        assert_eq!(echoed, sent.as_str(), "the server parsed exactly one traceId, the one recorded");
    })
    .await;
}

/// Whatever the caller wrote, the request leaves with exactly one non-empty `traceId`, as the
/// server decodes the query, and it is the one in the extension.
#[tokio::test]
async fn exactly_one_non_empty_trace_id_leaves() {
    for (query, callers) in [
        ("", None),
        ("traceId", None),
        ("traceId=", None),
        ("trace%49d=", None),
        ("a=1&traceId=&b=2", None),
        ("trace%49d=x", Some("x")),
        ("%74raceId=caller%2Fone", Some("caller/one")),
        ("traceId=a+b", Some("a b")),
        ("traceId=&traceId=second&traceId=third", Some("second")),
        ("traceid=lowercase-is-another-name", None),
    ] {
        let (uri, id) = through_layer(&format!("https://ai.jocloud.com/p?{query}")).await;
        let id = id.unwrap_or_else(|| panic!("{query}: no extension"));
        let decoded: Vec<String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .filter(|(name, _)| name == "traceId")
            .map(|(_, value)| value.into_owned())
            .collect();
        assert_eq!(decoded, [id.as_str()], "{query} became {uri}");
        assert!(!id.as_str().is_empty(), "{query}");
        if let Some(callers) = callers {
            assert_eq!(id.as_str(), callers, "{query}");
        }
    }
}

#[tokio::test]
async fn trace_id_shows_its_value() {
    let (uri, id) = through_layer("/p?traceId=bd526528").await;
    assert_eq!(uri, "/p?traceId=bd526528");
    let id = id.unwrap();
    assert_eq!(format!("{id:?}"), r#"TraceId("bd526528")"#);
    assert_eq!(id.to_string(), "bd526528");
    assert_eq!(AsRef::<str>::as_ref(&id), "bd526528");
}

#[tokio::test]
async fn uris_that_cannot_carry_a_query_pass_untouched() {
    for uri in ["ai.jocloud.com:443", "*"] {
        assert_eq!(through_layer(uri).await, (Uri::from_static(uri), None), "{uri}");
    }
}

/// The same rules for reqwest: the client of `reqwest::client_builder`, against a loopback
/// server that reports the query it got, exactly as it came.
#[cfg(feature = "reqwest")]
mod over_reqwest {
    use std::sync::{Arc, Mutex};

    use jocloud_auth::token_auth::TokenAuthLayer;
    use reqwest_middleware::{ClientWithMiddleware, Middleware, Next};

    use super::*;

    /// Records the `TraceId` the client put into the middleware extensions.
    struct Recorder(Arc<Mutex<Option<TraceId>>>);

    #[async_trait::async_trait]
    impl Middleware for Recorder {
        async fn handle(
            &self,
            request: reqwest::Request,
            extensions: &mut http::Extensions,
            next: Next<'_>,
        ) -> reqwest_middleware::Result<reqwest::Response> {
            *self.0.lock().unwrap() = extensions.get::<TraceId>().cloned();
            next.run(request, extensions).await
        }
    }

    /// The `traceId` values a server decodes from `query`.
    fn trace_ids(query: &str) -> Vec<String> {
        form_urlencoded::parse(query.as_bytes())
            .filter(|(name, _)| name == "traceId")
            .map(|(_, value)| value.into_owned())
            .collect()
    }

    /// A server that answers with the query it got, and a client that records the `TraceId`
    /// in its middleware extensions, with `trace_id()` or without.
    async fn server_and_client(
        trace_id: bool,
    ) -> (common::Server, ClientWithMiddleware, Arc<Mutex<Option<TraceId>>>) {
        let server = serve(service_fn(|request: Request<Incoming>| {
            ready(text(request.uri().query().unwrap_or_default().to_owned()))
        }))
        .await;
        let recorded = Arc::new(Mutex::new(None));
        let token = TokenAuthLayer::new(&common::vendor_credentials());
        let builder = jocloud_auth::reqwest::client_builder(reqwest::Client::builder(), &token).unwrap();
        let builder = builder.with(Recorder(recorded.clone()));
        let client = if trace_id { builder.trace_id() } else { builder }.build();
        (server, client, recorded)
    }

    #[tokio::test]
    async fn exactly_one_non_empty_trace_id_leaves_a_reqwest_client() {
        bounded(async {
            let (server, client, recorded) = server_and_client(true).await;

            let mut previous = None;
            for (query, callers) in [
                ("", None),
                ("traceId=", None),
                ("a=1&traceId=&b=2", None),
                ("trace%49d=x", Some("x")),
                ("traceId=&traceId=second&traceId=third", Some("second")),
                ("traceid=lowercase-is-another-name", None),
            ] {
                let url = server.url(&format!("/p?{query}"));
                let sent = client.get(&url).send().await.unwrap().text().await.unwrap();
                let recorded = recorded.lock().unwrap().take().expect("the TraceId is in the extensions");
                assert_eq!(trace_ids(&sent), [recorded.as_str()], "{query} became {sent}");
                assert!(!recorded.as_str().is_empty(), "{query}");
                match callers {
                    Some(callers) => assert_eq!(recorded.as_str(), callers, "{query}"),
                    None => assert_ne!(Some(recorded.clone()), previous, "a fresh ID per request: {query}"),
                }
                previous = Some(recorded);
            }
        })
        .await;
    }

    /// The feature makes `trace_id()` available and changes no client: one built without the
    /// call sends each URL as it is, with no `TraceId` in the extensions.
    #[tokio::test]
    async fn a_reqwest_client_adds_a_trace_id_only_when_asked() {
        bounded(async {
            let (server, client, recorded) = server_and_client(false).await;
            for query in ["", "a=1", "traceId="] {
                let sent = client.get(server.url(&format!("/p?{query}"))).send().await.unwrap();
                assert_eq!(sent.text().await.unwrap(), query);
                assert!(recorded.lock().unwrap().take().is_none(), "{query}");
            }
        })
        .await;
    }
}
