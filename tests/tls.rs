//! The default layer, untouched, over real TLS on loopback: jocloud's names resolve to servers
//! of the test, HTTPS with a certificate made for them, and plain HTTP beside. On both client
//! paths (hyper-util over hyper-rustls, and the reqwest client of `reqwest::client_builder`):
//! the token arrives over HTTPS and never over HTTP; jocloud's redirect from HTTP to HTTPS
//! signs the HTTPS hop only, and a downgrade signs nothing; cloud recording's `Basic` and
//! `AppID` reach its two hosts only; the previous-key retry and one `traceId` per logical
//! request hold over TLS.
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
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};

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
        let request = Request::builder().method(method.clone()).uri(url).body(Full::from("{}")).unwrap();
        let hyper = self.hyper.clone().oneshot(request).await.unwrap().status();
        let reqwest = self.reqwest.request(method, url).body("{}").send().await.unwrap().status();
        [hyper, reqwest]
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

        let url = http.url_as("http", "ai.jocloud.com", "/app/1/v1/image/sync");
        assert_eq!(clients.send(Method::POST, &url).await, [StatusCode::OK; 2]);
        let tokens: Vec<_> = seen(&http_log).into_iter().map(|seen| seen.token).collect();
        assert_eq!(tokens, [None, None], "the same name over plain HTTP gets no token");
    })
    .await;
}

/// jocloud answers plain HTTP with a redirect to HTTPS: the HTTPS hop carries the token, the
/// HTTP one none, for every redirect status; hyper-util through tower-http's `FollowRedirect`,
/// reqwest through the middleware's own hop, each with its method and body rules.
#[tokio::test]
async fn an_http_to_https_redirect_signs_the_https_hop_only() {
    use tower_http::follow_redirect::{policy, policy::PolicyExt, FollowRedirectLayer};

    bounded(async {
        let pki = Pki::new();
        let (https, https_log) = recording(Some(&pki), None).await;
        let landing = https.url_as("https", "ai.jocloud.com", "/landing");
        let (http, http_log) = recording(None, Some(landing)).await;
        let layer = TokenAuthLayer::new(&common::vendor_credentials());
        // A policy that copies the body, so that `307` and `308` are followed with it.
        let clone_body = policy::clone_body_fn(|body: &Full<Bytes>| Some(body.clone()));
        let follow =
            policy::Standard::default().and::<_, Full<Bytes>, hyper_util::client::legacy::Error>(clone_body);
        let hyper = ServiceBuilder::new()
            .layer(FollowRedirectLayer::with_policy(follow))
            .layer(layer.clone())
            .service(pki.hyper_client());
        let reqwest = jocloud_auth::reqwest::client_builder(pki.reqwest_builder(), &layer).unwrap().build();

        for (status, after) in [
            (301, Method::GET),
            (302, Method::GET),
            (303, Method::GET),
            (307, Method::POST),
            (308, Method::POST),
        ] {
            let url = http.url_as("http", "ai.jocloud.com", &format!("/redirect/{status}"));
            let request = Request::post(&url).body(Full::from("{}")).unwrap();
            let response = hyper.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "hyper-util, {status}");
            let response = reqwest.post(&url).body("{}").send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "reqwest, {status}");

            let http_tokens: Vec<_> = seen(&http_log).into_iter().map(|seen| seen.token).collect();
            assert_eq!(http_tokens, [None, None], "{status}: the HTTP hop carries no token");
            let body = if after == Method::POST { "{}" } else { "" };
            let hop = Seen {
                method: after.clone(),
                path: "/landing".into(),
                token: Some(VENDOR_TOKEN.into()),
                app_id: None,
                body: body.into(),
            };
            assert_eq!(seen(&https_log), [hop.clone(), hop], "{status}: the HTTPS hop, on both paths");
        }
    })
    .await;
}

/// The middleware's own hop is to the same host only: a redirect from plain HTTP to HTTPS on
/// another jocloud host, in the scope too, is handed back to the caller, the token unsent.
#[tokio::test]
async fn the_reqwest_hop_to_https_is_to_the_same_host_only() {
    bounded(async {
        let pki = Pki::new();
        let (https, https_log) = recording(Some(&pki), None).await;
        let elsewhere = https.url_as("https", "api.jocloud.com", "/landing");
        let (http, http_log) = recording(None, Some(elsewhere)).await;
        let layer = TokenAuthLayer::new(&common::vendor_credentials());
        let reqwest = jocloud_auth::reqwest::client_builder(pki.reqwest_builder(), &layer).unwrap().build();
        let url = http.url_as("http", "ai.jocloud.com", "/redirect/307");
        assert_eq!(reqwest.get(&url).send().await.unwrap().status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(seen(&http_log).len(), 1);
        assert_eq!(seen(&https_log), [], "api.jocloud.com was never reached");
    })
    .await;
}

/// A redirect from HTTPS down to HTTP on the same name carries no token: hyper-util follows it
/// without one, reqwest hands the redirect back.
#[tokio::test]
async fn a_downgrade_redirect_carries_no_token() {
    use tower_http::follow_redirect::FollowRedirectLayer;

    bounded(async {
        let pki = Pki::new();
        let (http, http_log) = recording(None, None).await;
        let down = http.url_as("http", "ai.jocloud.com", "/down");
        let (https, https_log) = recording(Some(&pki), Some(down)).await;
        let layer = TokenAuthLayer::new(&common::vendor_credentials());
        let hyper = ServiceBuilder::new()
            .layer(FollowRedirectLayer::new())
            .layer(layer.clone())
            .service(pki.hyper_client());
        let reqwest = jocloud_auth::reqwest::client_builder(pki.reqwest_builder(), &layer).unwrap().build();

        let url = https.url_as("https", "ai.jocloud.com", "/redirect/307");
        let request = Request::get(&url).body(Full::default()).unwrap();
        assert_eq!(hyper.oneshot(request).await.unwrap().status(), StatusCode::OK);
        assert_eq!(reqwest.get(&url).send().await.unwrap().status(), StatusCode::TEMPORARY_REDIRECT);
        let tokens: Vec<_> = seen(&https_log).into_iter().map(|seen| seen.token).collect();
        assert_eq!(tokens, [Some(VENDOR_TOKEN.to_owned()), Some(VENDOR_TOKEN.to_owned())]);
        let down: Vec<_> = seen(&http_log).into_iter().map(|seen| seen.token).collect();
        assert_eq!(down, [None], "hyper-util's hop arrives without a token; reqwest's never comes");
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
        let hyper = ServiceBuilder::new()
            .layer(SetTraceIdLayer::new())
            .layer(layer.clone())
            .layer(RetryWithPreviousKey::layer(&layer))
            .service(pki.hyper_client());
        let reqwest = jocloud_auth::reqwest::client_builder(pki.reqwest_builder(), &layer).unwrap().build();
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
