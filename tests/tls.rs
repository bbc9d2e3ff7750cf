//! The default layer, untouched, over real TLS on loopback: jocloud's names resolve to servers
//! of the test, HTTPS with a certificate made for them, and plain HTTP beside. On both client
//! paths (hyper-util over hyper-rustls, and the reqwest client of `reqwest::client_builder`):
//! the token arrives over HTTPS and never over HTTP; plain HTTP to jocloud's name goes over
//! HTTPS instead; cloud recording's `Basic` and `AppID` reach its two hosts only; the
//! previous-key retry and one `traceId` per logical request hold over TLS. Redirects:
//! tests/redirects.rs.
#![cfg(feature = "reqwest")]

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use common::{bounded, Server, VENDOR_TOKEN};
use http::{header::LOCATION, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use jocloud_auth::token_auth::TokenAuthLayer;
use tls::Pki;
use tower::{service_fn, Layer, ServiceExt};

/// What a server saw of one request.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    method: Method,
    path: String,
    token: Option<String>,
    app_id: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A server (HTTPS with `pki`, else plain HTTP) that records every request and answers `200`,
/// or, for a path under `/redirect/<status>`, redirects to `location` with that status.
async fn recording(pki: Option<&Pki>, location: Option<String>) -> (Server, Log) {
    let log = Log::default();
    let record = log.clone();
    let service = service_fn(move |request: Request<Incoming>| {
        let (record, location) = (record.clone(), location.clone());
        async move {
            let (parts, body) = request.into_parts();
            let header = |name: &str| parts.headers.get(name).map(|v| v.to_str().unwrap().to_owned());
            let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
            let path = parts.uri.path().to_owned();
            record.lock().unwrap().push(Seen {
                method: parts.method.clone(),
                path: path.clone(),
                token: header("token"),
                app_id: header("appid"),
                body,
            });
            let mut response = Response::new(Full::<Bytes>::from("ok"));
            if let (Some(status), Some(location)) = (path.strip_prefix("/redirect/"), location) {
                *response.status_mut() = StatusCode::from_bytes(status.as_bytes()).unwrap();
                response.headers_mut().insert(LOCATION, location.parse().unwrap());
            }
            Ok::<_, Infallible>(response)
        }
    });
    let server = match pki {
        Some(pki) => pki.serve(service).await,
        None => common::serve(service).await,
    };
    (server, log)
}

fn seen(log: &Log) -> Vec<Seen> {
    std::mem::take(&mut *log.lock().unwrap())
}

/// The two client paths, each with `layer` as it is, sending `method` to `url` with `body`.
struct Clients {
    hyper: jocloud_auth::token_auth::TokenAuth<tls::HttpsClient>,
    reqwest: reqwest_middleware::ClientWithMiddleware,
}

impl Clients {
    fn new(pki: &Pki, layer: &TokenAuthLayer) -> Self {
        let reqwest = jocloud_auth::reqwest::client_builder(pki.reqwest_builder(), layer).unwrap().build();
        Self { hyper: layer.layer(pki.hyper_client()), reqwest }
    }

    /// The status each path got.
    async fn send(&self, method: Method, url: &str) -> [StatusCode; 2] {
        self.try_send(method, url).await.map(|status| status.unwrap())
    }

    /// The status each path got, or its error.
    async fn try_send(&self, method: Method, url: &str) -> [Result<StatusCode, String>; 2] {
        let request = Request::builder().method(method.clone()).uri(url).body(Full::from("{}")).unwrap();
        let hyper = self.hyper.clone().oneshot(request).await.map(|response| response.status());
        let reqwest =
            self.reqwest.request(method, url).body("{}").send().await.map(|response| response.status());
        [hyper.map_err(|error| error.to_string()), reqwest.map_err(|error| error.to_string())]
    }
}

#[tokio::test]
async fn the_default_layer_signs_over_https_and_never_over_http() {
    bounded(async {
        let pki = Pki::new();
        let (https, https_log) = recording(Some(&pki), None).await;
        let (http, http_log) = recording(None, None).await;
        let clients = Clients::new(&pki, &TokenAuthLayer::new(&common::vendor_credentials()));

        let url = https.url_as("https", "ai.jocloud.com", "/app/1/v1/image/sync");
        assert_eq!(clients.send(Method::POST, &url).await, [StatusCode::OK; 2]);
        let tokens: Vec<_> = seen(&https_log).into_iter().map(|seen| seen.token).collect();
        assert_eq!(tokens, [Some(VENDOR_TOKEN.to_owned()), Some(VENDOR_TOKEN.to_owned())]);

        // Another name over plain HTTP goes as it is, without the token.
        let url = http.url_as("http", "example.com", "/");
        assert_eq!(clients.send(Method::POST, &url).await, [StatusCode::OK; 2]);
        let tokens: Vec<_> = seen(&http_log).into_iter().map(|seen| seen.token).collect();
        assert_eq!(tokens, [None, None]);
    })
    .await;
}

/// Plain HTTP to jocloud's name goes over HTTPS instead, before anything is sent: method,
/// body and token arrive over TLS, on both paths; where the port speaks only plain HTTP the
/// request fails, and nothing of it arrives in clear.
#[tokio::test]
async fn plain_http_to_jocloud_is_sent_over_https_instead() {
    bounded(async {
        let pki = Pki::new();
        let (https, https_log) = recording(Some(&pki), None).await;
        let (http, http_log) = recording(None, None).await;
        let clients = Clients::new(&pki, &TokenAuthLayer::new(&common::vendor_credentials()));

        let url = https.url_as("http", "ai.jocloud.com", "/app/1/v1/image/sync");
        assert_eq!(clients.send(Method::POST, &url).await, [StatusCode::OK; 2]);
        let arrived = Seen {
            method: Method::POST,
            path: "/app/1/v1/image/sync".into(),
            token: Some(VENDOR_TOKEN.into()),
            app_id: None,
            body: "{}".into(),
        };
        assert_eq!(seen(&https_log), [arrived.clone(), arrived]);

        let url = http.url_as("http", "ai.jocloud.com", "/app/1/v1/image/sync");
        let [hyper, reqwest] = clients.try_send(Method::POST, &url).await;
        assert!(hyper.is_err() && reqwest.is_err(), "{hyper:?} {reqwest:?}");
        assert_eq!(seen(&http_log), [], "nothing went over plain HTTP");
    })
    .await;
}

/// Cloud recording's `Basic` and `AppID` reach `api.jocloud.com` and `api-oversea.jocloud.com`
/// over HTTPS, and nothing of either any other jocloud name.
#[tokio::test]
async fn cloud_recording_reaches_its_two_hosts_only() {
    bounded(async {
        let pki = Pki::new();
        let (https, log) = recording(Some(&pki), None).await;
        let clients =
            Clients::new(&pki, &TokenAuthLayer::new(&common::vendor_credentials()).cloud_recording(10034));
        let basic = Some("Basic cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==".to_owned());
        for (host, expected) in [
            ("api.jocloud.com", (basic.clone(), Some("10034".to_owned()))),
            ("api-oversea.jocloud.com", (basic, Some("10034".to_owned()))),
            ("ai.jocloud.com", (None, None)),
        ] {
            let url = https.url_as("https", host, "/v1/recording/start");
            assert_eq!(clients.send(Method::POST, &url).await, [StatusCode::OK; 2], "{host}");
            let got: Vec<_> = seen(&log).into_iter().map(|seen| (seen.token, seen.app_id)).collect();
            assert_eq!(got, [expected.clone(), expected], "{host}");
        }
    })
    .await;
}

/// Over TLS as over plain HTTP: a server that knows only the old key, a client that rotated;
/// each request goes twice, the second time with the previous key, under one `traceId`.
#[cfg(all(feature = "rotation", feature = "tower", feature = "trace-id"))]
#[tokio::test]
async fn the_previous_key_retry_keeps_one_trace_id_over_tls() {
    use jocloud_auth::{
        retry::RetryWithPreviousKey, trace_id::SetTraceIdLayer, Credentials, LiveCredentials,
    };

    bounded(async {
        let pki = Pki::new();
        let key = |secret: &str| Credentials::new("qawsedrftg", secret).unwrap();
        let old = common::token_of(&key("old"));
        let queries = Arc::new(Mutex::new(Vec::new()));
        let record = queries.clone();
        let server = pki
            .serve(service_fn(move |request: Request<Incoming>| {
                let known = request.headers().get("token") == Some(&old);
                record.lock().unwrap().push(request.uri().query().unwrap_or_default().to_owned());
                let status = if known { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
                std::future::ready(Ok::<_, Infallible>(
                    Response::builder().status(status).body(Full::<Bytes>::default()).unwrap(),
                ))
            }))
            .await;
        let live = LiveCredentials::new(&key("old"));
        live.rotate(&key("new"));
        let layer = TokenAuthLayer::live(&live);
        let hyper = tower::ServiceBuilder::new()
            .layer(SetTraceIdLayer::new())
            .layer(layer.clone())
            .layer(RetryWithPreviousKey::layer(&layer))
            .service(pki.hyper_client());
        let reqwest =
            jocloud_auth::reqwest::client_builder(pki.reqwest_builder(), &layer).unwrap().trace_id().build();
        let url = server.url_as("https", "ai.jocloud.com", "/app/1/v1/image/sync");
        for path in ["hyper-util", "reqwest"] {
            for _ in 0..10 {
                let status = match path {
                    "hyper-util" => {
                        let request = Request::post(&url).body(Full::from("{}")).unwrap();
                        hyper.clone().oneshot(request).await.unwrap().status()
                    }
                    _ => reqwest.post(&url).body("{}").send().await.unwrap().status(),
                };
                assert_eq!(status, StatusCode::OK, "{path}");
            }
            let seen = std::mem::take(&mut *queries.lock().unwrap());
            assert_eq!(seen.len(), 20, "{path}: each request refused once, then retried");
            for pair in seen.chunks(2) {
                assert!(pair[0].starts_with("traceId=") && pair[0] == pair[1], "{path}: {pair:?}");
            }
            let distinct: std::collections::HashSet<&String> = seen.iter().collect();
            assert_eq!(distinct.len(), 10, "{path}: one traceId per logical request");
        }
    })
    .await;
}
