//! Instructions per whole request, end to end: a hyper-util client and an axum server on
//! loopback in one current-thread runtime, HTTP/1.1 keep-alive, through each setup README
//! documents and its peers, built as README builds them (a `ServiceBuilder` stack over the
//! client, used with `clone().oneshot(..)`; no boxing that would hide a layer's own cost).
//! Counted by callgrind over the whole process, for 1,000 and for 3,000 requests:
//! `(Ir(3000) - Ir(1000)) / 2000` is the cost of one request, with start-up and teardown
//! cancelled out. Each count is the mean of four runs whose stacks start 16 bytes apart: where
//! the stack starts (which moves with the size of the environment and of the arguments) decides
//! which of `memcpy`'s paths runs for the requests' copies, about 36 instructions a request
//! between them; over four starts, every alignment to 64 bytes counts once, so the figures are
//! the same whatever environment the bench runs in.
//!
//! ```text
//! cargo bench -p jocloud-auth-benches --bench end_to_end             # every setup (needs valgrind)
//! cargo bench -p jocloud-auth-benches --bench end_to_end -- client_token_auth   # the names given
//! ```
//!
//! Each measurement runs this program again under valgrind as `end_to_end run <setup> <n>`.

use std::{collections::HashMap, process::Command, sync::Arc};

use axum::{body::Body, routing::post, Router};
use bytes::Bytes;
use http::{header::CONTENT_TYPE, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use jocloud_auth::{
    token_auth::TokenAuthLayer, validate::ValidateTokenLayer, AcceptedCredential, Credentials,
    LiveCredentials, Scheme, TOKEN_HEADER,
};
use jocloud_auth_benches::{accept_or_refuse, accepted, credentials, token};
use jocloud_auth_fixtures::{Loopback, Pki};
use tower::{Service, ServiceBuilder, ServiceExt};

/// The setups, each group's baseline first: client-side ones against a server without
/// validation, server-side ones with a client that sends the token by hand; the `tls_` ones
/// over a real TLS connection (keep-alive, one connection), as against jocloud.
const SETUPS: &[&str] = &[
    "client_baseline",
    "client_map_request_closure",
    "client_set_request_header",
    "client_token_auth",
    "client_token_auth_named_host",
    "client_token_auth_live",
    "client_set_request_header_port_in_uri",
    "client_token_auth_port_in_uri",
    "server_baseline",
    "server_route_layer_1",
    "server_route_layer_5",
    "server_route_layer_10000",
    "server_route_layer_100000",
    "server_tower_http_custom_1",
    "server_tower_http_hashmap_1",
    "server_tower_http_hashmap_10000",
    "server_route_layer_digest_1",
    "server_route_layer_digest_5",
    "server_route_layer_digest_100000",
    "server_digest_miss_first_byte",
    "server_digest_miss_last_byte",
    "server_around_router_1",
    "server_tower_http_custom_around_router_1",
    "tls_client_baseline",
    "tls_client_token_auth",
    "tls_server_baseline",
    "tls_server_route_layer_1",
];

const FEW: u64 = 1000;
const MANY: u64 = 3000;

/// The stack starts each run is counted from, 16 bytes apart (the stack's own alignment).
const STACK_STARTS: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| arg != "--bench").collect();
    if let [run, setup, requests] = &args[..] {
        if run == "run" {
            return run_setup(setup, requests.parse().expect("a number of requests"));
        }
    }
    let chosen: Vec<&str> =
        SETUPS.iter().copied().filter(|s| args.is_empty() || args.iter().any(|a| a == s)).collect();
    println!("| setup | instructions per request | overhead over its baseline |");
    println!("|---|---|---|");
    let mut baseline = 0.0;
    for setup in chosen {
        let per_request = (instructions(setup, MANY) - instructions(setup, FEW)) / (MANY - FEW) as f64;
        if setup.ends_with("_baseline") {
            baseline = per_request;
        }
        println!("| `{setup}` | {per_request:.1} | {:+.1} |", per_request - baseline);
    }
}

/// Instructions callgrind counts for a whole run of `setup` with `requests` requests: the mean
/// over [`STACK_STARTS`] starts of the stack.
fn instructions(setup: &str, requests: u64) -> f64 {
    let counts = (0..STACK_STARTS).map(|start| instructions_from(setup, requests, start));
    counts.sum::<u64>() as f64 / STACK_STARTS as f64
}

/// Instructions for one run, its stack moved by `16 * start` bytes of environment.
fn instructions_from(setup: &str, requests: u64, start: usize) -> u64 {
    let out = std::env::temp_dir().join(format!("jocloud-e2e-{}-{setup}-{requests}.out", std::process::id()));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().expect("this program's path"))
        .args(["run", setup, &requests.to_string()])
        .env("JOCLOUD_E2E_STACK_START", "x".repeat(16 * start))
        .output()
        .expect("valgrind runs (apt-get install valgrind)");
    let _ = std::fs::remove_file(&out);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{setup} failed under valgrind:\n{stderr}");
    let collected = stderr.lines().find_map(|line| line.split("Collected : ").nth(1));
    collected.and_then(|n| n.trim().parse().ok()).unwrap_or_else(|| panic!("no count in:\n{stderr}"))
}

/// The request every setup sends (the `_port_in_uri` ones with a port added): jocloud's own URI.
const URL: &str = "https://ai.jocloud.com/app/123456/v1/image/sync?traceId=bd526528";

type HttpClient = Client<HttpConnector<Loopback>, Full<Bytes>>;
type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector<Loopback>>, Full<Bytes>>;

/// The client as README builds it, over plain TCP: every name to the server (at its port where
/// the URI names none, so that the URI is jocloud's own), `https` URIs as they are.
fn http_client(port: u16) -> HttpClient {
    let mut connector = HttpConnector::new_with_resolver(Loopback(port));
    connector.enforce_http(false);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Sends `requests` requests through `setup`'s client stack, each a concrete type of its own.
async fn run_client(setup: &str, port: u16, requests: u64) {
    // The `_port_in_uri` variants name the server's port in the URI, as jocloud's URIs do not.
    let (setup, url) = match setup.strip_suffix("_port_in_uri") {
        Some(setup) => (setup, URL.replacen("ai.jocloud.com", &format!("ai.jocloud.com:{port}"), 1)),
        None => (setup, URL.to_owned()),
    };
    let url = url.as_str();
    let value = token();
    let by_hand = tower::util::MapRequestLayer::new(move |mut request: Request<Full<Bytes>>| {
        request.headers_mut().insert(TOKEN_HEADER, value.clone());
        request
    });
    let stack = ServiceBuilder::new();
    match setup {
        "client_baseline" => drive(stack.service(http_client(port)), setup, url, requests).await,
        "client_map_request_closure" => {
            drive(stack.layer(by_hand).service(http_client(port)), setup, url, requests).await
        }
        "client_set_request_header" => {
            let layer = tower_http::set_header::SetRequestHeaderLayer::overriding(TOKEN_HEADER, token());
            drive(stack.layer(layer).service(http_client(port)), setup, url, requests).await
        }
        "client_token_auth" => {
            let layer = TokenAuthLayer::new(&credentials());
            drive(stack.layer(layer).service(http_client(port)), setup, url, requests).await
        }
        "client_token_auth_named_host" => {
            let layer = TokenAuthLayer::new(&credentials()).for_host("ai.jocloud.com".parse().unwrap());
            drive(stack.layer(layer).service(http_client(port)), setup, url, requests).await
        }
        "client_token_auth_live" => {
            let layer = TokenAuthLayer::live(&LiveCredentials::new(&credentials()));
            drive(stack.layer(layer).service(http_client(port)), setup, url, requests).await
        }
        // The server-side setups: the token set by hand, at the least cost.
        _ => drive(stack.layer(by_hand).service(http_client(port)), setup, url, requests).await,
    }
}

/// `requests` moderation requests through `client`, each answered `200` and read to its end.
async fn drive<S>(client: S, setup: &str, url: &str, requests: u64)
where
    S: Service<Request<Full<Bytes>>, Response = Response<hyper::body::Incoming>> + Clone,
    S::Error: std::fmt::Debug,
{
    // The digest setups that miss on purpose are refused, every other is accepted: decided once,
    // as a search of the name per request would count in each setup's cost, more for some names.
    let expected = if setup.contains("_miss_") { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    for _ in 0..requests {
        let request = Request::post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(br#"{"data":{"url":"https://example.com/cat.png"}}"#)))
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), expected, "{setup}");
        response.into_body().collect().await.unwrap();
    }
}

fn server(setup: &str) -> Router {
    let routes = || Router::new().route("/app/{appid}/v1/image/sync", post(|| async { "ok" }));
    let one = [credentials()];
    match setup {
        "server_route_layer_1" => routes().route_layer(ValidateTokenLayer::new(&credentials())),
        "server_route_layer_5" => routes().route_layer(ValidateTokenLayer::any_of(accepted(5))),
        "server_route_layer_10000" => routes().route_layer(ValidateTokenLayer::any_of(accepted(10_000))),
        "server_route_layer_100000" => routes().route_layer(ValidateTokenLayer::any_of(accepted(100_000))),
        "server_route_layer_digest_1" => routes().route_layer(ValidateTokenLayer::any_of(by_digest(1))),
        "server_route_layer_digest_5" => routes().route_layer(ValidateTokenLayer::any_of(by_digest(5))),
        "server_route_layer_digest_100000" => {
            routes().route_layer(ValidateTokenLayer::any_of(by_digest(100_000)))
        }
        "server_digest_miss_first_byte" => {
            routes().route_layer(ValidateTokenLayer::any_of([digest_off_by(0)]))
        }
        "server_digest_miss_last_byte" => {
            routes().route_layer(ValidateTokenLayer::any_of([digest_off_by(31)]))
        }
        "server_tower_http_custom_1" => routes().route_layer(custom(&one)),
        "server_tower_http_hashmap_1" => routes().route_layer(indexed(&one)),
        "server_tower_http_hashmap_10000" => routes().route_layer(indexed(&accepted(10_000))),
        "server_around_router_1" => routes().layer(ValidateTokenLayer::new(&credentials())),
        "server_tower_http_custom_around_router_1" => routes().layer(custom(&one)),
        _ => routes(),
    }
}

fn run_setup(setup: &str, requests: u64) {
    assert!(SETUPS.contains(&setup), "unknown setup {setup}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let Some(tls_setup) = setup.strip_prefix("tls_") else {
            tokio::spawn(std::future::IntoFuture::into_future(axum::serve(listener, server(setup))));
            return run_client(setup, port, requests).await;
        };
        // A certificate for `ai.jocloud.com` from an authority made at start; the client README
        // shows (hyper-rustls, HTTPS only), trusting that authority only.
        let pki = Pki::new(&["ai.jocloud.com"]).unwrap();
        tokio::spawn(pki.serve(listener, server(tls_setup)));
        let inner: HttpsClient = Client::builder(TokioExecutor::new()).build(pki.https_connector(port));
        let stack = ServiceBuilder::new();
        match tls_setup {
            "client_baseline" => drive(stack.service(inner), setup, URL, requests).await,
            "client_token_auth" => {
                drive(stack.layer(TokenAuthLayer::new(&credentials())).service(inner), setup, URL, requests)
                    .await
            }
            // The server setups: the token set by hand.
            _ => {
                let by_hand =
                    tower_http::set_header::SetRequestHeaderLayer::overriding(TOKEN_HEADER, token());
                drive(stack.layer(by_hand).service(inner), setup, URL, requests).await
            }
        }
    });
}

/// `accepted(n)`, each held by its digest only.
fn by_digest(n: usize) -> Vec<AcceptedCredential> {
    accepted(n).iter().map(|credentials| AcceptedCredential::digest_of(credentials).unwrap()).collect()
}

/// The vendor's credential held by a digest one bit off in byte `at`: the token's digest
/// differs from it there only.
fn digest_off_by(at: usize) -> AcceptedCredential {
    let line = AcceptedCredential::digest_of(&credentials()).unwrap().digest_line().unwrap();
    let (id, hex) = line.split_once(":{SHA256}").unwrap();
    let mut bytes: Vec<u8> =
        (0..32).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
    bytes[at] ^= 1;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{id}:{{SHA256}}{hex}").parse().unwrap()
}

/// tower-http's `ValidateRequestHeaderLayer::custom`: `==` against each accepted value, the
/// caller's ID as an `Arc<str>` extension, a bare `401` otherwise.
fn custom(accepted: &[Credentials]) -> tower_http::validate_request::ValidateRequestHeaderLayer<Custom> {
    let table = accepted.iter().map(|c| (c.header_value(Scheme::Base), Arc::from(c.id()))).collect();
    tower_http::validate_request::ValidateRequestHeaderLayer::custom(Custom(Arc::new(table)))
}

#[derive(Clone)]
struct Custom(Arc<Vec<(HeaderValue, Arc<str>)>>);

impl<B> tower_http::validate_request::ValidateRequest<B> for Custom {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<Body>> {
        let value = request.headers().get(TOKEN_HEADER);
        let found = value.and_then(|value| self.0.iter().find(|(token, _)| token == value));
        accept_or_refuse(request, found.map(|(_, id)| id))
    }
}

/// The same over a `HashMap` of the accepted values, as one would write it for many customers
/// (std's SipHash, then `==`): to compare what holding 10,000 credentials costs another validator.
fn indexed(accepted: &[Credentials]) -> tower_http::validate_request::ValidateRequestHeaderLayer<Indexed> {
    let table = accepted.iter().map(|c| (c.header_value(Scheme::Base), Arc::from(c.id()))).collect();
    tower_http::validate_request::ValidateRequestHeaderLayer::custom(Indexed(Arc::new(table)))
}

#[derive(Clone)]
struct Indexed(Arc<HashMap<HeaderValue, Arc<str>>>);

impl<B> tower_http::validate_request::ValidateRequest<B> for Indexed {
    type ResponseBody = Body;

    fn validate(&mut self, request: &mut Request<B>) -> Result<(), Response<Body>> {
        let found = request.headers().get(TOKEN_HEADER).and_then(|value| self.0.get(value));
        accept_or_refuse(request, found)
    }
}
