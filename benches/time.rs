//! Wall-clock times by criterion, client and server side: no layer, the alternatives (a
//! `MapRequest` closure, tower-http's `SetRequestHeader` and `ValidateRequestHeader`), and each
//! variant of this crate's layers. Times on a shared machine swing by several times between
//! runs; `--bench instructions` counts instructions instead, repeatably.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::Request;
use jocloud_auth::{Credentials, LiveCredentialSet};
use jocloud_auth_benches::{accepted, client_request, server_request, Variant, CLIENT, SERVER};

fn group(c: &mut Criterion, name: &str, variants: &[Variant], request: fn() -> Request<Bytes>) {
    let mut group = c.benchmark_group(name);
    for variant in variants {
        let mut run = (variant.make)();
        group.bench_function(variant.id, |b| b.iter_batched(request, &mut run, BatchSize::SmallInput));
    }
    group.finish();
}

fn layers(c: &mut Criterion) {
    group(c, "client", CLIENT, client_request);
    group(c, "server", SERVER, server_request);
}

/// A change to a live set of 100,000 credentials: requests never wait for it, but it should
/// stay quick (the issue asks for well under 50 ms).
fn live_set_changes(c: &mut Criterion) {
    let set = LiveCredentialSet::new(accepted(100_000));
    let newcomer = Credentials::new("newcomer", "newcomer-secret").unwrap();
    let mut group = c.benchmark_group("live_set_100000");
    group.sample_size(10);
    group.bench_function("insert_then_remove", |b| {
        b.iter(|| {
            set.insert(&newcomer);
            set.remove(&newcomer);
        })
    });
    group.finish();
}

criterion_group!(benches, layers, live_set_changes);
criterion_main!(benches);
