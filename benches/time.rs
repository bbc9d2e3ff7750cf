//! Wall-clock times by criterion, client and server side: no layer, the alternatives (a
//! `MapRequest` closure, tower-http's `SetRequestHeader` and `ValidateRequestHeader`), and each
//! variant of this crate's layers. Times on a shared machine swing by several times between
//! runs; `--bench instructions` counts instructions instead, repeatably.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::Request;
use jocloud_auth_benches::{client_request, server_request, Variant, CLIENT, SERVER};

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

criterion_group!(benches, layers);
criterion_main!(benches);
