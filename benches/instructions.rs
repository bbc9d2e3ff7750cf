//! Instruction counts (callgrind, through gungraun) for every client and server variant:
//! repeatable where wall-clock times on a shared machine are not.
//!
//! Each benchmark sends `CALLS` requests, built beforehand, through one variant after a warm-up
//! call; the per-request overhead of a layer is `(variant - baseline) / CALLS`.
//!
//! ```text
//! cargo install gungraun-runner --version 0.20.0   # once, the version of the gungraun library
//! cargo bench -p jocloud-auth-benches --bench instructions
//! ```

use std::hint::black_box;

use bytes::Bytes;
use gungraun::{library_benchmark, library_benchmark_group, main};
use http::Request;
use jocloud_auth_benches::{client_request, server_request, Runner, Variant, CLIENT, SERVER};

/// Requests per benchmark.
const CALLS: usize = 1000;

fn prepare(variants: &[Variant], id: &str, request: fn() -> Request<Bytes>) -> (Runner, Vec<Request<Bytes>>) {
    let variant = variants.iter().find(|variant| variant.id == id).expect("a known variant");
    let mut run = (variant.make)();
    run(request()); // first-call work (thread-local set-up, say) stays out of the count
    (run, (0..CALLS).map(|_| request()).collect())
}

#[library_benchmark(setup = prepare)]
#[bench::client_baseline(CLIENT, "baseline", client_request)]
#[bench::client_map_request_closure(CLIENT, "map_request_closure", client_request)]
#[bench::client_set_request_header(CLIENT, "set_request_header", client_request)]
#[bench::client_token_auth(CLIENT, "token_auth", client_request)]
#[bench::client_token_auth_if_missing(CLIENT, "token_auth_if_missing", client_request)]
#[bench::client_token_auth_named_host(CLIENT, "token_auth_named_host", client_request)]
#[bench::client_token_auth_live(CLIENT, "token_auth_live", client_request)]
#[bench::server_baseline(SERVER, "baseline", server_request)]
#[bench::server_validate_token_1_accept(SERVER, "validate_token_1_accept", server_request)]
#[bench::server_validate_token_4_accept(SERVER, "validate_token_4_accept", server_request)]
#[bench::server_validate_token_100_accept(SERVER, "validate_token_100_accept", server_request)]
#[bench::server_validate_token_10000_accept(SERVER, "validate_token_10000_accept", server_request)]
#[bench::server_validate_token_100000_accept(SERVER, "validate_token_100000_accept", server_request)]
#[bench::server_validate_token_1_keep_accept(SERVER, "validate_token_1_keep_accept", server_request)]
#[bench::server_validate_token_1_reject(SERVER, "validate_token_1_reject", server_request)]
#[bench::server_validate_token_live_4_accept(SERVER, "validate_token_live_4_accept", server_request)]
#[bench::server_custom_eq_1_accept(SERVER, "custom_eq_1_accept", server_request)]
#[bench::server_custom_eq_4_accept(SERVER, "custom_eq_4_accept", server_request)]
#[bench::server_custom_eq_1_reject(SERVER, "custom_eq_1_reject", server_request)]
#[bench::server_custom_ct_1_accept(SERVER, "custom_ct_1_accept", server_request)]
#[bench::server_custom_ct_10000_accept(SERVER, "custom_ct_10000_accept", server_request)]
fn requests((mut run, requests): (Runner, Vec<Request<Bytes>>)) {
    for request in requests {
        run(black_box(request));
    }
    // Dropping the service (a set of 100,000 credentials, say) is teardown, not request cost.
    std::mem::forget(run);
}

// What a host pattern costs to parse, where the check against the Public Suffix List is the
// part that `psl` adds: once per `for_host`, never per request.
#[library_benchmark]
#[bench::wildcard("*.jocloud.com")]
#[bench::host("api.jocloud.com")]
#[bench::host_and_port("ai.jocloud.com:8443")]
#[bench::ip_and_port("127.0.0.1:8080")]
fn host_pattern(pattern: &str) -> jocloud_auth::token_auth::HostPattern {
    black_box(pattern).parse().unwrap()
}

// The Public Suffix List's look-up alone, as a pattern's check makes it.
#[library_benchmark]
#[bench::wildcard("jocloud.com")]
#[bench::host("api.jocloud.com")]
fn public_suffix(host: &str) -> Option<usize> {
    use psl::Psl as _;
    psl::List.suffix(black_box(host).as_bytes()).map(|suffix| suffix.as_bytes().len())
}

library_benchmark_group!(name = layers; benchmarks = requests);
library_benchmark_group!(name = scope; benchmarks = host_pattern, public_suffix);

main!(library_benchmark_groups = layers, scope);
