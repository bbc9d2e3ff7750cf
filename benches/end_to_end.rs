//! End to end over loopback: a real hyper server and a hyper-util client, with no layers and
//! with `TokenAuthLayer` + `ValidateTokenLayer`, 16 requests in flight.
//!
//! `cargo bench --bench end_to_end` runs the criterion group (requests per second for each),
//! then measures the setups back to back in many short rounds, rotating which goes first,
//! and prints the median of the per-round throughput ratios: on a shared machine, load
//! drifts between two criterion groups run one after the other by more than the ~1% being
//! measured, but much less within one round. Bounded: a fixed number of rounds and requests.

mod support;

use std::time::Duration;

use criterion::{Criterion, Throughput};
use support::{
    loopback::{drive, setup, Mode, Setup, IN_FLIGHT},
    median, rotated_rounds, ROUNDS,
};
use tokio::runtime::Runtime;

const REQUESTS_PER_ROUND: u64 = 4_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    let runtime = runtime();

    let mut group = criterion.benchmark_group("end_to_end");
    group.throughput(Throughput::Elements(1)).sample_size(20).measurement_time(Duration::from_secs(8));
    for (id, mode) in Mode::ALL {
        let setup = runtime.block_on(setup(mode));
        group.bench_function(id, |b| b.iter_custom(|iters| runtime.block_on(drive(&setup, iters))));
    }
    group.finish();
    criterion.final_summary();

    if support::listing_only() {
        return;
    }
    let mut setups: Vec<Setup> = Mode::ALL.iter().map(|(_, mode)| runtime.block_on(setup(*mode))).collect();
    for setup in &setups {
        runtime.block_on(drive(setup, 1_000));
    }
    // rates[m][r]: requests per second of mode m in round r.
    let rates = rotated_rounds(&mut setups, |setup| {
        REQUESTS_PER_ROUND as f64 / runtime.block_on(drive(setup, REQUESTS_PER_ROUND)).as_secs_f64()
    });
    let ratios = |over: usize| -> Vec<f64> {
        rates[2].iter().zip(&rates[over]).map(|(with, base)| with / base).collect()
    };
    let quartiles = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let at = |q: usize| values[(values.len() - 1) * q / 4];
        format!("{:.3} ({:.3} to {:.3})", at(2), at(1), at(3))
    };
    println!(
        "\nend_to_end: {ROUNDS} rounds of {REQUESTS_PER_ROUND} requests per setup, {IN_FLIGHT} in flight, back to \
         back; median and interquartile range of the per-round ratios\n\
         | setup | requests/s, median |\n|---|---|"
    );
    for ((id, _), rates) in Mode::ALL.iter().zip(&rates) {
        println!("| {id} | {:.0} |", median(rates.clone()));
    }
    println!("with layers / no layers, per round: {}", quartiles(ratios(0)));
    println!("with layers / header only, per round: {}", quartiles(ratios(1)));
}
