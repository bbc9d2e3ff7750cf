//! Instruction counts per request for every client and server variant, under callgrind:
//! repeatable where wall-clock times on a shared machine are not.
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
        let variants =
            if group == "client" { support::client_variants() } else { support::server_variants() };
        let variant = variants.iter().find(|variant| variant.id == id).expect("a known variant");
        let mut step = (variant.make)();
        for _ in 0..iterations {
            step();
        }
        return ExitCode::SUCCESS;
    }
    if args.iter().any(|arg| arg == "--list" || arg == "--test") {
        return ExitCode::SUCCESS; // `cargo test --benches` and friends: nothing to run here
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("valgrind not found: install it to count instructions (apt-get install valgrind)");
        return ExitCode::SUCCESS;
    }

    let me = std::env::current_exe().expect("the path of this benchmark binary");
    for (group, variants, references) in [
        ("client", support::client_variants(), ["map_request_closure", "set_request_header"]),
        ("server", support::server_variants(), ["custom_eq_1_accept", "custom_eq_4_accept"]),
    ] {
        let mut per_request = Vec::new();
        for variant in &variants {
            let count = |iterations: u64| -> f64 {
                let output = Command::new("valgrind")
                    .args(["--tool=callgrind", "--callgrind-out-file=/dev/null"])
                    .arg(&me)
                    .args(["--measure", group, variant.id, &iterations.to_string()])
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
            per_request.push((variant.id, per));
        }
        let heading = format!("{group}: instructions per request (callgrind); overhead = variant - baseline");
        support::print_table(&heading, "instructions", &per_request, &references);
    }
    ExitCode::SUCCESS
}
