//! Instruction counts, by callgrind: with `tracing` compiled in and no subscriber, a wrong
//! guess costs the same whether or not its certificate ID is known, so that timing does not
//! tell a caller which IDs exist; and a token of any length costs no more than a short one.
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

/// Set in the runs under callgrind: which test, which guess, and how many checks.
const RUN: &str = "JOCLOUD_AUTH_INSTRUCTIONS_RUN";
const CHECKS: usize = 1000;

/// The accepted credential, and two wrong guesses of the same length: one for its ID, one for
/// an ID the server does not know.
fn guess(known: bool) -> Credentials {
    let id = if known { "visible-id" } else { "unknown-id" };
    Credentials::new(id, "a-wrong-guess-of-the-secret").unwrap()
}

/// The validator every run checks with: one credential held by its secret and, with the
/// `digest` feature, one by its digest, so that both paths of the check run.
fn server() -> impl Service<Request<()>, Response = Response<Bytes>, Error = Infallible> {
    let accepted = Credentials::new("visible-id", "the-real-secret-of-the-id").unwrap();
    #[allow(unused_mut)]
    let mut set = vec![jocloud_auth::AcceptedCredential::from(&accepted)];
    #[cfg(feature = "digest")]
    {
        let held = Credentials::new("digest-id", "the-real-secret-of-the-id").unwrap();
        set.push(jocloud_auth::AcceptedCredential::digest_of(&held).unwrap());
    }
    ValidateTokenLayer::any_of(&set)
        .layer(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(Bytes::new())) }))
}

/// In a run under callgrind: `checks` requests with `token`, each refused, no subscriber set.
fn checks(token: http::HeaderValue, checks: usize) {
    let mut server = server();
    let requests: Vec<Request<()>> =
        (0..checks).map(|_| Request::builder().header("token", token.clone()).body(()).unwrap()).collect();
    for request in requests {
        let response = common::now(server.call(request)).unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

/// The tokens the runs send, by name.
fn token(name: &str) -> http::HeaderValue {
    match name {
        "known" => common::token_of(&guess(true)),
        "unknown" => common::token_of(&guess(false)),
        // As a client sends a key of 300 KB, which hyper's limits let through.
        _ => http::HeaderValue::from_str(&format!("Base {}", "QUJD".repeat(75_000))).unwrap(),
    }
}

/// The instructions this binary executes under callgrind for `checks` refusals of the token
/// named `name`, when running `test`.
fn instructions(test: &str, name: &str, checks: usize, dir: &Path) -> u64 {
    let out = dir.join(format!("callgrind.{name}.{checks}"));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--test-threads=1"])
        // Of one length for every run: the environment's size moves where the stack starts,
        // and with it which of `memcpy`'s paths runs, a few instructions a check.
        .env(RUN, format!("{name:>8}:{checks:08}"))
        .output()
        .expect("valgrind runs: install it (Debian: apt-get install valgrind)");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let text = std::fs::read_to_string(&out).unwrap();
    let total =
        text.lines().find_map(|line| line.strip_prefix("summary: ").or(line.strip_prefix("totals: ")));
    total.and_then(|total| total.trim().parse().ok()).expect("callgrind writes a total")
}

/// What one more refusal of the token named `name` costs: `(Ir(2n) - Ir(n)) / n`. In a run
/// under callgrind (`RUN` set), makes the refusals instead, and returns `None`.
fn per_check(test: &str, name: &str, count: usize) -> Option<f64> {
    if let Ok(run) = std::env::var(RUN) {
        let (name, count) = run.split_once(':').unwrap();
        checks(token(name.trim_start()), count.parse().unwrap());
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (once, twice) =
        (instructions(test, name, count, dir.path()), instructions(test, name, 2 * count, dir.path()));
    Some((twice - once) as f64 / count as f64)
}

#[test]
fn a_wrong_guess_costs_the_same_whether_its_id_is_known() {
    let test = "a_wrong_guess_costs_the_same_whether_its_id_is_known";
    let Some(known) = per_check(test, "known", CHECKS) else { return };
    let unknown = per_check(test, "unknown", CHECKS).unwrap();
    assert!(unknown > 1000.0, "the count measures the checks: {unknown} instructions each");
    // Runs differ by a few hundred instructions in all (the allocator, the harness), a fraction
    // of one per check; a look-up of the ID costs thousands.
    let what =
        format!("a wrong secret for a known ID costs {known} instructions, for an unknown ID {unknown}");
    assert!((known - unknown).abs() < 10.0, "{what}");
    eprintln!("{what}");
}

/// A token of 300 KB is refused before it is hashed or decoded: it costs no more than a short
/// wrong one (it cost hundreds of times as much when both were read).
#[test]
fn a_token_of_any_length_costs_no_more_than_a_short_one() {
    let test = "a_token_of_any_length_costs_no_more_than_a_short_one";
    let Some(long) = per_check(test, "long", CHECKS / 10) else { return };
    let short = per_check(test, "unknown", CHECKS / 10).unwrap();
    let what = format!("a check of a 300 KB token costs {long} instructions, of a short wrong one {short}");
    assert!(long < short * 1.5, "{what}");
    eprintln!("{what}");
}
