//! Instruction counts per request for every client and server variant, and for a whole
//! exchange over loopback with and without the layers, under callgrind: repeatable where
//! wall-clock times on a shared machine are not. (Callgrind counts user-space instructions
//! only; the kernel's share of a loopback exchange is not in the end-to-end figures, which
//! makes the layers' share of them an upper bound.)
//!
//! `cargo bench --bench instructions` runs this binary under
//! `valgrind --tool=callgrind` twice per variant, with `SHORT` and `LONG` iterations, and takes
//! the difference divided by `LONG - SHORT`: the cost of one request with start-up, set-up and
//! warm-up cancelled out. Needs valgrind; without it, says so and exits successfully.

mod support;

use std::process::{Command, ExitCode};

const SHORT: u64 = 2_000;
const LONG: u64 = 12_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Re-executed under callgrind: `--measure <group> <variant> <iterations>`.
    if let Some(at) = args.iter().position(|arg| arg == "--measure") {
        let (group, id, iterations) = (&args[at + 1], &args[at + 2], args[at + 3].parse::<u64>().unwrap());
        if group == "end_to_end" {
            // One thread, so that the count does not depend on how work lands on threads.
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let id = if id == "baseline" { "no_layers" } else { id.as_str() };
                let mode = support::loopback::Mode::ALL
                    .iter()
                    .find(|(name, _)| *name == id)
                    .expect("a known mode")
                    .1;
                let setup = support::loopback::setup(mode).await;
                support::loopback::drive(&setup, iterations).await;
            });
            return ExitCode::SUCCESS;
        }
        let variants =
            if group == "client" { support::client_variants() } else { support::server_variants() };
        let variant = variants.iter().find(|variant| variant.id == id).expect("a known variant");
        let mut step = (variant.make)();
        for _ in 0..iterations {
            step();
        }
        return ExitCode::SUCCESS;
    }
    if support::listing_only() {
        return ExitCode::SUCCESS; // `cargo test --benches` and friends: nothing to run here
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("valgrind not found: install it to count instructions (apt-get install valgrind)");
        return ExitCode::SUCCESS;
    }

    let me = std::env::current_exe().expect("the path of this benchmark binary");
    let ids = |variants: Vec<support::Variant>| variants.iter().map(|variant| variant.id).collect::<Vec<_>>();
    for (group, variants, references) in [
        ("client", ids(support::client_variants()), &["map_request_closure", "set_request_header"][..]),
        ("server", ids(support::server_variants()), &["custom_eq_1_accept", "custom_eq_4_accept"]),
        ("end_to_end", vec!["baseline", "header_only", "token_auth_and_validate_token"], &["header_only"]),
    ] {
        let mut per_request = Vec::new();
        for id in variants {
            let count = |iterations: u64| -> f64 {
                let output = Command::new("valgrind")
                    .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
                    .arg(&me)
                    .args(["--measure", group, id, &iterations.to_string()])
                    .output()
                    .expect("valgrind runs");
                let stderr = String::from_utf8_lossy(&output.stderr);
                stderr
                    .lines()
                    .find_map(|line| line.split("Collected :").nth(1))
                    .and_then(|count| count.trim().parse::<f64>().ok())
                    .unwrap_or_else(|| panic!("no instruction count from callgrind:\n{stderr}"))
            };
            let per = (count(LONG) - count(SHORT)) / (LONG - SHORT) as f64;
            per_request.push((id, per));
        }
        let heading = format!("{group}: instructions per request (callgrind); overhead = variant - baseline");
        support::print_table(&heading, "instructions", &per_request, references);
        if let [(_, plain), (_, header_only), (_, layers)] = per_request[..] {
            // Throughput goes as the inverse of the work per request.
            println!(
                "throughput from user-space instructions, with layers / without: {:.4}; \
                 with layers / header only: {:.4}",
                plain / layers,
                header_only / layers
            );
        }
    }
    ExitCode::SUCCESS
}
