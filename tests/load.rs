//! Load over loopback: a hyper server behind `ValidateTokenLayer`, a hyper-util client behind
//! `TokenAuthLayer`, 10,000 requests with 64 in flight.

mod common;

use std::{
    collections::BTreeMap,
    future::ready,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

use bytes::Bytes;
use common::{bounded, http_client, serve, text};
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use jocloud_auth::{token_auth::TokenAuthLayer, validate::ValidateTokenLayer, Credentials};
use tower::{service_fn, Layer, ServiceBuilder, ServiceExt};

const REQUESTS: usize = 10_000;
const IN_FLIGHT: usize = 64;

struct Run {
    /// Responses by status code, as the client saw them.
    statuses: BTreeMap<u16, usize>,
    /// Requests the handler behind the validator saw.
    handled: usize,
    /// Requests that failed without a response.
    errors: usize,
    /// The most requests the client had outstanding at once.
    peak_in_flight: usize,
}

async fn run(server_accepts: &Credentials, client_sends: &Credentials) -> Run {
    let handled = Arc::new(AtomicUsize::new(0));
    let counted = handled.clone();
    let handler = service_fn(move |_: Request<Incoming>| {
        counted.fetch_add(1, Ordering::Relaxed);
        ready(text("ok"))
    });
    let server =
        serve(ServiceBuilder::new().layer(ValidateTokenLayer::new(server_accepts)).service(handler)).await;

    let client = common::on_loopback(TokenAuthLayer::new(client_sends)).layer(http_client());
    let uri: http::Uri = server.url("/app/123456/v1/image/sync").parse().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));

    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (client, uri, next) = (client.clone(), uri.clone(), next.clone());
        let (in_flight, peak) = (in_flight.clone(), peak.clone());
        workers.spawn(async move {
            let mut statuses = BTreeMap::new();
            let mut errors = 0;
            // Each worker claims request numbers until all are taken: at most REQUESTS in all.
            while next.fetch_add(1, Ordering::Relaxed) < REQUESTS {
                let request = Request::post(uri.clone())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(b"{}")))
                    .unwrap();
                peak.fetch_max(in_flight.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                let result = client.clone().oneshot(request).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                match result {
                    Ok(response) => {
                        *statuses.entry(response.status().as_u16()).or_insert(0) += 1;
                        let _ = response.into_body().collect().await;
                    }
                    Err(_) => errors += 1,
                }
            }
            (statuses, errors)
        });
    }
    let mut total = Run { statuses: BTreeMap::new(), handled: 0, errors: 0, peak_in_flight: 0 };
    while let Some(done) = workers.join_next().await {
        let (statuses, errors) = done.unwrap();
        for (status, count) in statuses {
            *total.statuses.entry(status).or_insert(0) += count;
        }
        total.errors += errors;
    }
    total.handled = handled.load(Ordering::Relaxed);
    total.peak_in_flight = peak.load(Ordering::SeqCst);
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_sixty_four_in_flight() {
    bounded(async {
        let credentials = common::vendor_credentials();
        let started = std::time::Instant::now();
        let good = run(&credentials, &credentials).await;
        let elapsed = started.elapsed();
        println!(
            "valid credentials: {REQUESTS} requests, peak {} in flight, statuses {:?}, errors {}, handled {}, {:.2?}",
            good.peak_in_flight, good.statuses, good.errors, good.handled, elapsed
        );
        assert!(good.peak_in_flight <= IN_FLIGHT);
        assert_eq!(good.errors, 0);
        assert_eq!(good.statuses, BTreeMap::from([(200, REQUESTS)]));
        assert_eq!(good.handled, REQUESTS, "the server handled exactly what the client saw succeed");

        let wrong = Credentials::new("qawsedrftg", "not-the-secret").unwrap();
        let bad = run(&credentials, &wrong).await;
        println!(
            "wrong credentials: {REQUESTS} requests, peak {} in flight, statuses {:?}, errors {}, handled {}",
            bad.peak_in_flight, bad.statuses, bad.errors, bad.handled
        );
        assert_eq!(bad.errors, 0);
        assert_eq!(bad.statuses, BTreeMap::from([(401, REQUESTS)]));
        assert_eq!(bad.handled, 0, "the handler is never reached");
    })
    .await;
}
