//! A real hyper server and hyper-util client on loopback, with the token layers or without:
//! the end-to-end setup that `end_to_end` times and `instructions` counts.

use std::{
    convert::Infallible,
    future::ready,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::Client,
    rt::{TokioExecutor, TokioIo},
    service::TowerToHyperService,
};
use jocloud_auth::{Credentials, TokenAuthLayer, ValidateTokenLayer};
use tokio::{net::TcpListener, task::JoinSet};
use tower::{service_fn, util::BoxCloneSyncService, Layer, Service, ServiceExt};

pub const IN_FLIGHT: u64 = 16;

/// Either client behind one type (both pay the same boxing).
type AnyClient =
    BoxCloneSyncService<Request<Full<Bytes>>, Response<Incoming>, hyper_util::client::legacy::Error>;

pub struct Setup {
    client: AnyClient,
    uri: Uri,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What the client sends and the server checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No token at all: the baseline.
    Plain,
    /// The token header added by a `MapRequest` closure and never checked: what carrying the
    /// header costs hyper on both ends, with no layer of this crate involved.
    HeaderOnly,
    /// `TokenAuthLayer` on the client, `ValidateTokenLayer` on the server.
    Layers,
}

impl Mode {
    pub const ALL: [(&'static str, Mode); 3] = [
        ("no_layers", Mode::Plain),
        ("header_only", Mode::HeaderOnly),
        ("token_auth_and_validate_token", Mode::Layers),
    ];
}

/// A loopback server and a client for it, set up for `mode`.
pub async fn setup(mode: Mode) -> Setup {
    let credentials = Credentials::new("qawsedrftg", "abcdefghijk").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/app/123456/v1/image/sync", listener.local_addr().unwrap()).parse().unwrap();
    let handler = service_fn(|_: Request<Incoming>| {
        ready(Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))))
    });
    let validated = ValidateTokenLayer::new(&credentials).layer(handler);
    let server = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let io = TokioIo::new(stream);
            let connection = hyper::server::conn::http1::Builder::new();
            if mode == Mode::Layers {
                let service = TowerToHyperService::new(validated.clone());
                connections.spawn(async move { connection.serve_connection(io, service).await });
            } else {
                let service = TowerToHyperService::new(handler);
                connections.spawn(async move { connection.serve_connection(io, service).await });
            }
        }
    });
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let client = match mode {
        Mode::Plain => BoxCloneSyncService::new(http),
        Mode::HeaderOnly => {
            let token = credentials.header_value(jocloud_auth::Scheme::Base);
            BoxCloneSyncService::new(
                tower::util::MapRequestLayer::new(move |mut request: Request<_>| {
                    request.headers_mut().insert(jocloud_auth::TOKEN_HEADER, token.clone());
                    request
                })
                .layer(http),
            )
        }
        Mode::Layers => BoxCloneSyncService::new(TokenAuthLayer::new(&credentials).layer(http)),
    };
    Setup { client, uri, server }
}

/// Sends `requests` requests, `IN_FLIGHT` at a time; returns the wall time.
pub async fn drive(setup: &Setup, requests: u64) -> Duration {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (mut client, uri, next) = (setup.client.clone(), setup.uri.clone(), next.clone());
        workers.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                let request = Request::post(uri.clone())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(b"{}")))
                    .unwrap();
                let response = client.ready().await.unwrap().call(request).await.unwrap();
                assert!(response.status().is_success());
                response.into_body().collect().await.unwrap();
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.unwrap();
    }
    started.elapsed()
}
