//! Instruction counts, by callgrind: with `tracing` compiled in and no subscriber, a wrong
//! guess costs the same whether or not its certificate ID is known, so that timing does not
//! tell a caller which IDs exist.
//!
//! The test runs this binary again under `valgrind --tool=callgrind`, once per guess and
//! count, and compares what one more check costs: `(Ir(2n) - Ir(n)) / n`, which leaves out
//! everything the process does besides the checks. Counts are repeatable, whatever else the
//! machine does. It needs valgrind on the `PATH`, as every machine of this project has.
#![cfg(feature = "tracing")]

mod common;

use std::{convert::Infallible, path::Path, process::Command};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use jocloud_auth::{validate::ValidateTokenLayer, Credentials};
use tower::{service_fn, Layer, Service};

/// Set in the runs under callgrind: which guess, and how many checks.
const RUN: &str = "JOCLOUD_AUTH_INSTRUCTIONS_RUN";
const CHECKS: usize = 1000;

/// The accepted credential, and two wrong guesses of the same length: one for its ID, one for
/// an ID the server does not know.
fn guess(known: bool) -> Credentials {
    let id = if known { "visible-id" } else { "unknown-id" };
    Credentials::new(id, "a-wrong-guess-of-the-secret").unwrap()
}

/// In a run under callgrind: `checks` wrong guesses through a validator, no subscriber set.
fn checks(known: bool, checks: usize) {
    let accepted = Credentials::new("visible-id", "the-real-secret-of-the-id").unwrap();
    let mut server = ValidateTokenLayer::new(&accepted)
        .layer(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(Bytes::new())) }));
    let token = common::token_of(&guess(known));
    let requests: Vec<Request<()>> =
        (0..checks).map(|_| Request::builder().header("token", token.clone()).body(()).unwrap()).collect();
    for request in requests {
        let response = common::now(server.call(request)).unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

/// The instructions this binary executes under callgrind for `checks` guesses.
fn instructions(known: bool, checks: usize, dir: &Path) -> u64 {
    let out = dir.join(format!("callgrind.{known}.{checks}"));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "a_wrong_guess_costs_the_same_whether_its_id_is_known", "--test-threads=1"])
        .env(RUN, format!("{known}:{checks}"))
        .output()
        .expect("valgrind runs: install it (Debian: apt-get install valgrind)");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let total =
        text.lines().find_map(|line| line.strip_prefix("summary: ").or(line.strip_prefix("totals: ")));
    total.and_then(|total| total.trim().parse().ok()).expect("callgrind writes a total")
}

#[test]
fn a_wrong_guess_costs_the_same_whether_its_id_is_known() {
    if let Ok(run) = std::env::var(RUN) {
        let (known, count) = run.split_once(':').unwrap();
        return checks(known == "true", count.parse().unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let per_check = |known: bool| {
        let (once, twice) =
            (instructions(known, CHECKS, dir.path()), instructions(known, 2 * CHECKS, dir.path()));
        (twice - once) as f64 / CHECKS as f64
    };
    let (known, unknown) = (per_check(true), per_check(false));
    assert!(unknown > 1000.0, "the count measures the checks: {unknown} instructions each");
    // Runs differ by a few hundred instructions in all (the allocator, the harness), a fraction
    // of one per check; a look-up of the ID costs thousands.
    let what =
        format!("a wrong secret for a known ID costs {known} instructions, for an unknown ID {unknown}");
    assert!((known - unknown).abs() < 10.0, "{what}");
    eprintln!("{what}");
}
