//! End to end over loopback: a real hyper server and a hyper-util client, with no layers and
//! with `TokenAuthLayer` + `ValidateTokenLayer`, 16 requests in flight.
//!
//! `cargo bench --bench end_to_end` runs the criterion group (requests per second for each),
//! then alternates the two setups for several rounds and prints the throughput ratio from the
//! rounds' medians, which drifts less on a shared machine than two groups run one after the
//! other. Bounded: a fixed number of requests per round and a fixed number of rounds.

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
use criterion::{Criterion, Throughput};
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::Client,
    rt::{TokioExecutor, TokioIo},
    service::TowerToHyperService,
};
use jocloud_auth::{Credentials, TokenAuthLayer, ValidateTokenLayer};
use tokio::{net::TcpListener, runtime::Runtime, task::JoinSet};
use tower::{service_fn, util::BoxCloneSyncService, Layer, Service, ServiceExt};

const IN_FLIGHT: u64 = 16;
const ROUNDS: usize = 7;
const REQUESTS_PER_ROUND: u64 = 4_000;

/// Either client behind one type (both pay the same boxing).
type AnyClient =
    BoxCloneSyncService<Request<Full<Bytes>>, Response<Incoming>, hyper_util::client::legacy::Error>;

struct Setup {
    client: AnyClient,
    uri: Uri,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A loopback server and a client for it, with the token layers or without.
async fn setup(with_layers: bool) -> Setup {
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
            if with_layers {
                let service = TowerToHyperService::new(validated.clone());
                connections.spawn(async move { connection.serve_connection(io, service).await });
            } else {
                let service = TowerToHyperService::new(handler);
                connections.spawn(async move { connection.serve_connection(io, service).await });
            }
        }
    });
    let http = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let client = if with_layers {
        BoxCloneSyncService::new(TokenAuthLayer::new(&credentials).layer(http))
    } else {
        BoxCloneSyncService::new(http)
    };
    Setup { client, uri, server }
}

/// Sends `requests` requests, `IN_FLIGHT` at a time; returns the wall time.
async fn drive(setup: &Setup, requests: u64) -> Duration {
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

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let runtime = runtime();

    let mut group = criterion.benchmark_group("end_to_end");
    group.throughput(Throughput::Elements(1)).sample_size(20).measurement_time(Duration::from_secs(8));
    for (id, with_layers) in [("no_layers", false), ("token_auth_and_validate_token", true)] {
        let setup = runtime.block_on(setup(with_layers));
        group.bench_function(id, |b| b.iter_custom(|iters| runtime.block_on(drive(&setup, iters))));
    }
    group.finish();
    criterion.final_summary();

    // `--list`, `--test` and filters that exclude the group: skip the interleaved rounds too.
    if std::env::args().any(|arg| arg == "--list" || arg == "--test") {
        return;
    }
    let (plain, layered) = runtime.block_on(async { (setup(false).await, setup(true).await) });
    runtime.block_on(drive(&plain, 1_000));
    runtime.block_on(drive(&layered, 1_000));
    let mut rates = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (rate, setup) in rates.iter_mut().zip([&plain, &layered]) {
            let elapsed = runtime.block_on(drive(setup, REQUESTS_PER_ROUND));
            rate.push(REQUESTS_PER_ROUND as f64 / elapsed.as_secs_f64());
        }
    }
    let median = |rates: &mut Vec<f64>| {
        rates.sort_by(f64::total_cmp);
        rates[rates.len() / 2]
    };
    let (without, with) = (median(&mut rates[0]), median(&mut rates[1]));
    println!(
        "\nend_to_end, {ROUNDS} alternating rounds of {REQUESTS_PER_ROUND} requests, {IN_FLIGHT} in flight:\n\
         | setup | requests/s (median) |\n|---|---|\n\
         | no layers | {without:.0} |\n| TokenAuthLayer + ValidateTokenLayer | {with:.0} |\n\
         with layers / without: {:.3}",
        with / without
    );
}
