//! No redirect takes the token out of the layer's scope, whichever way a client follows it,
//! over real TLS on loopback: tower-http's `FollowRedirect` (0.6 and 0.7) outside the layer,
//! inside it with the layer's `redirect_policy()`, and the reqwest client. Inside it without
//! that policy, the first response of a redirect that left the scope panics with the fix.
//!
//! Every redirect status (301, 302, 303, 307, 308) of a `POST` with a body, from jocloud's
//! name to the same host, another port of it, another host, and plain HTTP on the same name;
//! with a layer pinned to one port (where the other port is outside the scope) and with the
//! default layer (where it is inside).
#![cfg(all(feature = "reqwest", feature = "tower-http-06", feature = "tower-http-07"))]

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::{
    convert::Infallible,
    future::Future,
    sync::{Arc, Mutex},
};

use bytes::Bytes;
use common::{bounded, Server};
use http::{header::LOCATION, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use jocloud_auth::token_auth::TokenAuthLayer;
use tls::Pki;
use tower::{service_fn, ServiceBuilder, ServiceExt};

const STATUSES: [StatusCode; 5] = [
    StatusCode::MOVED_PERMANENTLY,
    StatusCode::FOUND,
    StatusCode::SEE_OTHER,
    StatusCode::TEMPORARY_REDIRECT,
    StatusCode::PERMANENT_REDIRECT,
];

/// One request a server of the test saw: which server, and whether the token came.
#[derive(Clone, Debug, PartialEq)]
struct Hop {
    server: &'static str,
    token: bool,
}

type Log = Arc<Mutex<Vec<Hop>>>;

/// A server that records every request; `/start/<status>?to=<url>` answers with that redirect,
/// anything else `200`.
async fn server(name: &'static str, pki: Option<&Pki>, log: &Log) -> Server {
    let log = log.clone();
    let service = service_fn(move |request: Request<Incoming>| {
        let log = log.clone();
        async move {
            let (parts, body) = request.into_parts();
            // Read to the end, so that a body sent is a body received.
            body.collect().await.unwrap();
            log.lock().unwrap().push(Hop { server: name, token: parts.headers.contains_key("token") });
            let mut response = Response::new(Full::<Bytes>::default());
            let redirect = parts.uri.path().strip_prefix("/start/").zip(parts.uri.query());
            if let Some((status, query)) = redirect {
                *response.status_mut() = StatusCode::from_bytes(status.as_bytes()).unwrap();
                let location = query.strip_prefix("to=").unwrap();
                response.headers_mut().insert(LOCATION, location.parse().unwrap());
            }
            Ok::<_, Infallible>(response)
        }
    });
    match pki {
        Some(pki) => pki.serve(service).await,
        None => common::serve(service).await,
    }
}

/// Where a redirect from `https://ai.jocloud.com:<a>/` goes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Destination {
    SameHost,
    OtherPort,
    OtherHost,
    PlainHttp,
}

const DESTINATIONS: [Destination; 4] =
    [Destination::SameHost, Destination::OtherPort, Destination::OtherHost, Destination::PlainHttp];

/// The servers: `a`, jocloud's name over HTTPS, where every request starts; `b`, another
/// HTTPS server; `c`, plain HTTP.
struct Servers {
    a: Server,
    b: Server,
    c: Server,
    log: Log,
}

impl Servers {
    async fn new(pki: &Pki) -> Self {
        let log = Log::default();
        let a = server("a", Some(pki), &log).await;
        let b = server("b", Some(pki), &log).await;
        let c = server("c", None, &log).await;
        Self { a, b, c, log }
    }

    fn start(&self, status: StatusCode, to: Destination) -> String {
        let to = match to {
            Destination::SameHost => self.a.url_as("https", "ai.jocloud.com", "/landing"),
            Destination::OtherPort => self.b.url_as("https", "ai.jocloud.com", "/landing"),
            Destination::OtherHost => self.b.url_as("https", "example.com", "/landing"),
            Destination::PlainHttp => self.c.url_as("http", "ai.jocloud.com", "/landing"),
        };
        self.a.url_as("https", "ai.jocloud.com", &format!("/start/{}?to={to}", status.as_u16()))
    }

    fn hops(&self) -> Vec<Hop> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

/// The two layers: one pinned to `a`'s port, and the default one.
fn layers(servers: &Servers) -> [(&'static str, TokenAuthLayer); 2] {
    let credentials = common::vendor_credentials();
    let pinned = format!("ai.jocloud.com:{}", servers.a.addr.port()).parse().unwrap();
    [
        ("pinned", TokenAuthLayer::new(&credentials).for_host(pinned)),
        ("default", TokenAuthLayer::new(&credentials)),
    ]
}

/// Whether the layer named `layer` sends the token to `to`.
fn in_scope(layer: &str, to: Destination) -> bool {
    match to {
        Destination::SameHost => true,
        Destination::OtherPort => layer == "default",
        Destination::OtherHost | Destination::PlainHttp => false,
    }
}

/// How one request ended.
#[derive(Debug)]
enum Outcome {
    Status(StatusCode),
    Failed,
    Panicked(String),
}

async fn outcome<F, B, E>(future: F) -> Outcome
where
    F: Future<Output = Result<Response<B>, E>> + Send + 'static,
    B: Send + 'static,
    E: Send + 'static,
{
    match tokio::spawn(future).await {
        Ok(Ok(response)) => Outcome::Status(response.status()),
        Ok(Err(_)) => Outcome::Failed,
        Err(join) => {
            let panic = join.into_panic();
            Outcome::Panicked(panic.downcast_ref::<String>().cloned().unwrap_or_default())
        }
    }
}

/// How a client follows redirects.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Order {
    /// `FollowRedirect` outside the layer, as README shows.
    Outside,
    /// `FollowRedirect` inside the layer, with the layer's `redirect_policy()`.
    InsideWithPolicy,
    /// `FollowRedirect` inside the layer with tower-http's own policy: the wrong order.
    InsideWithout,
    /// The reqwest client of `jocloud_auth::reqwest::client_builder`.
    Reqwest,
}

fn post(url: &str) -> Request<Full<Bytes>> {
    Request::post(url).body(Full::from("{\"body\":1}")).unwrap()
}

/// Sends `POST url` through `layer` and tower-http's `FollowRedirect` of one version.
macro_rules! through_tower_http {
    ($tower_http:ident, $order:expr, $layer:expr, $pki:expr, $url:expr) => {{
        use $tower_http::follow_redirect::{
            policy::{clone_body_fn, PolicyExt, Standard},
            FollowRedirectLayer,
        };
        type Error = hyper_util::client::legacy::Error;
        let clone = || clone_body_fn(|body: &Full<Bytes>| Some(body.clone()));
        let (layer, client, request) = ($layer.clone(), $pki.hyper_client(), post($url));
        match $order {
            Order::Outside => {
                let policy = Standard::default().and::<_, _, Error>(clone());
                let client = ServiceBuilder::new()
                    .layer(FollowRedirectLayer::with_policy(policy))
                    .layer(layer)
                    .service(client);
                outcome(client.oneshot(request)).await
            }
            Order::InsideWithPolicy => {
                let policy = layer.redirect_policy().and::<_, Full<Bytes>, Error>(clone());
                let client = ServiceBuilder::new()
                    .layer(layer)
                    .layer(FollowRedirectLayer::with_policy(policy))
                    .service(client);
                outcome(client.oneshot(request)).await
            }
            Order::InsideWithout => {
                let policy = Standard::default().and::<_, _, Error>(clone());
                let client = ServiceBuilder::new()
                    .layer(layer)
                    .layer(FollowRedirectLayer::with_policy(policy))
                    .service(client);
                outcome(client.oneshot(request)).await
            }
            Order::Reqwest => unreachable!(),
        }
    }};
}

async fn send(version: &str, order: Order, layer: &TokenAuthLayer, pki: &Pki, url: &str) -> Outcome {
    match (order, version) {
        (Order::Reqwest, _) => {
            let client = jocloud_auth::reqwest::client_builder(pki.reqwest_builder(), layer).unwrap().build();
            let request = client.request(Method::POST, url).body("{\"body\":1}");
            let status =
                |response: reqwest::Response| Response::builder().status(response.status()).body(()).unwrap();
            outcome(async move { request.send().await.map(status) }).await
        }
        (_, "0.6") => through_tower_http!(tower_http, order, layer, pki, url),
        _ => through_tower_http!(tower_http_07, order, layer, pki, url),
    }
}

#[tokio::test]
async fn no_redirect_takes_the_token_out_of_the_scope_on_any_path() {
    bounded(async {
        let pki = Pki::new();
        let servers = Servers::new(&pki).await;
        for (version, orders) in [
            ("0.6", &[Order::Outside, Order::InsideWithPolicy, Order::InsideWithout][..]),
            ("0.7", &[Order::Outside, Order::InsideWithPolicy, Order::InsideWithout]),
            ("reqwest", &[Order::Reqwest]),
        ] {
            for &order in orders {
                for (name, layer) in layers(&servers) {
                    for status in STATUSES {
                        for to in DESTINATIONS {
                            let case = format!("{version} {order:?}, {name} layer, {status} to {to:?}");
                            let outcome =
                                send(version, order, &layer, &pki, &servers.start(status, to)).await;
                            check(&case, order, in_scope(name, to), to, outcome, servers.hops());
                        }
                    }
                }
            }
        }
    })
    .await;
}

/// What each order must do with a redirect to `to`, and what the servers must have seen.
fn check(case: &str, order: Order, in_scope: bool, to: Destination, outcome: Outcome, hops: Vec<Hop>) {
    let start = Hop { server: "a", token: true };
    let landing = Hop {
        server: match to {
            Destination::SameHost => "a",
            Destination::OtherPort | Destination::OtherHost => "b",
            Destination::PlainHttp => "c",
        },
        token: in_scope,
    };
    match (order, in_scope) {
        // In the scope every client follows, and the token goes along.
        (_, true) => {
            assert!(matches!(outcome, Outcome::Status(StatusCode::OK)), "{case}: {outcome:?}");
            assert_eq!(hops, [start, landing], "{case}");
        }
        // Outside the layer, tower-http follows; the layer takes the token off the hop (or
        // sends plain HTTP to jocloud's name over HTTPS, which the plain server cannot speak).
        (Order::Outside, false) => {
            let tokens: Vec<bool> = hops.iter().skip(1).map(|hop| hop.token).collect();
            assert!(!tokens.contains(&true), "{case}: {hops:?}");
            assert_eq!(hops.first(), Some(&start), "{case}");
            assert!(
                matches!(outcome, Outcome::Status(StatusCode::OK) | Outcome::Failed),
                "{case}: {outcome:?}"
            );
        }
        // The policy and the reqwest client do not follow: the redirect comes back.
        (Order::InsideWithPolicy | Order::Reqwest, false) => {
            assert!(
                matches!(outcome, Outcome::Status(status) if status.is_redirection()),
                "{case}: {outcome:?}"
            );
            assert_eq!(hops, [start], "{case}");
        }
        // The wrong order leaks, and says so loudly with both fixes.
        (Order::InsideWithout, false) => {
            let Outcome::Panicked(message) = outcome else { panic!("{case}: no panic but {outcome:?}") };
            assert!(message.contains("redirect_policy()") && message.contains("inside"), "{case}: {message}");
        }
    }
}
