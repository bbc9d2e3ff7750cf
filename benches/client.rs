//! Client side: no layer, a `MapRequest` closure, tower-http's `SetRequestHeader`, and each
//! `TokenAuthLayer` variant, on one thread and on two threads sharing one service's clones.
//!
//! `cargo bench --bench client` ends with the overhead tables: criterion's medians, then the
//! rotated-rounds table README.md quotes.

mod support;

use std::{
    sync::Barrier,
    time::{Duration, Instant, SystemTime},
};

use criterion::Criterion;
use support::Variant;

/// Runs `iters` iterations on each of two threads at once, each over its own clone of the
/// variant's service; returns the slower thread's time.
fn two_threads(variant: &Variant, iters: u64) -> Duration {
    let start = Barrier::new(2);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let mut step = (variant.make)();
                let start = &start;
                scope.spawn(move || {
                    start.wait();
                    let began = Instant::now();
                    for _ in 0..iters {
                        step();
                    }
                    began.elapsed()
                })
            })
            .collect();
        threads.into_iter().map(|thread| thread.join().unwrap()).max().unwrap_or_default()
    })
}

fn main() {
    let started = SystemTime::now();
    let mut criterion = Criterion::default().configure_from_args();
    let variants = support::client_variants();

    support::bench_group(&mut criterion, "client", &variants);

    const SHARED: [&str; 5] =
        ["baseline", "map_request_closure", "set_request_header", "token_auth", "token_auth_live"];
    let mut group = criterion.benchmark_group("client_2_threads");
    for variant in variants.iter().filter(|variant| SHARED.contains(&variant.id)) {
        group.bench_function(variant.id, |b| b.iter_custom(|iters| two_threads(variant, iters)));
    }
    group.finish();

    criterion.final_summary();
    if !support::listing_only() {
        support::print_round_table("client", &variants, &["map_request_closure", "set_request_header"]);
    }
    let ids: Vec<&str> = variants.iter().map(|variant| variant.id).collect();
    support::print_overhead_table("client", &ids, &["map_request_closure", "set_request_header"], started);
    support::print_overhead_table(
        "client_2_threads",
        &SHARED,
        &["map_request_closure", "set_request_header"],
        started,
    );
}
