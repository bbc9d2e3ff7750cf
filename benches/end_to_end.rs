//! End to end over loopback: a real hyper server and a hyper-util client, with no layers and
//! with `TokenAuthLayer` + `ValidateTokenLayer`, 16 requests in flight.
//!
//! `cargo bench --bench end_to_end` runs the criterion group (requests per second for each),
//! then measures the two setups back to back in many short rounds, alternating which goes
//! first, and prints the median of the per-round throughput ratios: on a shared machine, load
//! drifts between two criterion groups run one after the other by more than the ~1% being
//! measured, but much less within one round. Bounded: a fixed number of rounds and requests.

mod support;

use std::time::Duration;

use criterion::{Criterion, Throughput};
use support::loopback::{drive, setup, Mode, Setup, IN_FLIGHT};
use tokio::runtime::Runtime;

const ROUNDS: usize = 31;
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

    // `--list`, `--test` and filters that exclude the group: skip the interleaved rounds too.
    if std::env::args().any(|arg| arg == "--list" || arg == "--test") {
        return;
    }
    let setups: Vec<Setup> = Mode::ALL.iter().map(|(_, mode)| runtime.block_on(setup(*mode))).collect();
    for setup in &setups {
        runtime.block_on(drive(setup, 1_000));
    }
    // rates[m][r]: requests per second of mode m in round r.
    let mut rates = vec![Vec::with_capacity(ROUNDS); setups.len()];
    for round in 0..ROUNDS {
        // Rotate which goes first, so that none always runs on a warmer (or busier) machine.
        for offset in 0..setups.len() {
            let mode = (round + offset) % setups.len();
            let elapsed = runtime.block_on(drive(&setups[mode], REQUESTS_PER_ROUND));
            rates[mode].push(REQUESTS_PER_ROUND as f64 / elapsed.as_secs_f64());
        }
    }
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
        let mut sorted = rates.clone();
        sorted.sort_by(f64::total_cmp);
        println!("| {id} | {:.0} |", sorted[sorted.len() / 2]);
    }
    println!("with layers / no layers, per round: {}", quartiles(ratios(0)));
    println!("with layers / header only, per round: {}", quartiles(ratios(1)));
}
