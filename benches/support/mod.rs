//! What the benchmarks share: a realistic request, the inner services, every variant under
//! comparison, and the overhead table printed from criterion's results.
#![allow(dead_code)] // each bench binary uses its own subset

pub mod loopback;

use std::{
    convert::Infallible,
    future::{ready, Future, Ready},
    hint::black_box,
    path::PathBuf,
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::{Instant, SystemTime},
};

use bytes::Bytes;
use http::{
    header::{ACCEPT, CONTENT_TYPE, USER_AGENT},
    uri::Authority,
    HeaderValue, Method, Request, Response, StatusCode, Uri,
};
use jocloud_auth::{
    Credentials, InsertPolicy, LiveCredentialSet, LiveCredentials, TokenAuthLayer, ValidateTokenLayer,
    TOKEN_HEADER,
};
use tower::{Layer, Service};

pub const URI: &str =
    "https://ai.jocloud.com/app/123456/v1/image/sync?traceId=bd526528-c0d7-4aa4-803b-f5a3fdc05805";
const BODY: &[u8] = br#"{"data":{"url":"https://example.com/cat.png"}}"#;

/// One thing to measure: `make` gives a fresh closure (over a clone of one prototype service)
/// that builds a request, sends it through, and drops what comes back.
pub struct Variant {
    pub id: &'static str,
    pub make: Box<dyn Fn() -> Box<dyn FnMut() + Send> + Send + Sync>,
}

/// Whether the bench binary was started to list or test its benches (`cargo test --benches`,
/// `--list`) rather than to measure them.
pub fn listing_only() -> bool {
    std::env::args().any(|arg| arg == "--list" || arg == "--test")
}

/// One criterion group with a benchmark per variant.
pub fn bench_group(criterion: &mut criterion::Criterion, name: &str, variants: &[Variant]) {
    let mut group = criterion.benchmark_group(name);
    for variant in variants {
        let mut step = (variant.make)();
        group.bench_function(variant.id, |b| b.iter(&mut step));
    }
    group.finish();
}

/// Rounds of the rotated-rounds tables.
pub const ROUNDS: usize = 31;

/// Runs `measure` on each of `items` once per round, for [`ROUNDS`] rounds, rotating which goes
/// first, so that a burst of load from elsewhere lands on all of one round rather than on one
/// item's whole run. Returns `results[item][round]`.
pub fn rotated_rounds<T>(items: &mut [T], mut measure: impl FnMut(&mut T) -> f64) -> Vec<Vec<f64>> {
    let mut results = vec![Vec::with_capacity(ROUNDS); items.len()];
    for round in 0..ROUNDS {
        for offset in 0..items.len() {
            let index = (round + offset) % items.len();
            results[index].push(measure(&mut items[index]));
        }
    }
    results
}

/// The median (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Polls a future that completes at once: every service here does.
pub fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the benchmarked services never wait"),
    }
}

/// The client-side request: an absolute jocloud URI, three headers already set, a small body.
pub fn client_request(uri: &Uri) -> Request<Bytes> {
    let mut request = Request::new(Bytes::from_static(BODY));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static("jocloud-auth-bench/0.1"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    request
}

/// The inner client service: hands the request back inside a response (whose own empty header
/// map and extensions cost no allocation), so dropping the response drops the request.
#[derive(Clone)]
pub struct Echo;

impl Service<Request<Bytes>> for Echo {
    type Response = Response<Request<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Request<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        ready(Ok(Response::new(request)))
    }
}

/// The inner server service: `200` with an empty body.
#[derive(Clone)]
pub struct Ok200;

impl Service<Request<Bytes>> for Ok200 {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        drop(black_box(request));
        ready(Ok(Response::new(())))
    }
}

fn variant<S, R>(
    id: &'static str,
    service: S,
    request: impl Fn() -> Request<Bytes> + Clone + Send + Sync + 'static,
) -> Variant
where
    S: Service<Request<Bytes>, Response = R> + Clone + Send + Sync + 'static,
    S::Error: std::fmt::Debug,
    R: 'static,
{
    Variant {
        id,
        make: Box::new(move || {
            let mut service = service.clone();
            let request = request.clone();
            Box::new(move || {
                let response = now(service.call(request()));
                drop(black_box(response));
            })
        }),
    }
}

pub fn credentials() -> Credentials {
    Credentials::new("qawsedrftg", "abcdefghijk").unwrap()
}

pub fn token() -> HeaderValue {
    credentials().header_value(jocloud_auth::Scheme::Base)
}

/// Every client-side variant, the baseline first.
pub fn client_variants() -> Vec<Variant> {
    let credentials = credentials();
    let uri = Uri::from_static(URI);
    let request = move || client_request(&uri);
    let value = token();
    let closure_value = value.clone();
    let live = LiveCredentials::new(&credentials);
    vec![
        variant("baseline", Echo, request.clone()),
        variant(
            "map_request_closure",
            tower::util::MapRequestLayer::new(move |mut request: Request<Bytes>| {
                request.headers_mut().insert(TOKEN_HEADER, closure_value.clone());
                request
            })
            .layer(Echo),
            request.clone(),
        ),
        variant(
            "set_request_header",
            tower_http_07::set_header::SetRequestHeaderLayer::overriding(TOKEN_HEADER, value).layer(Echo),
            request.clone(),
        ),
        variant("token_auth", TokenAuthLayer::new(&credentials).layer(Echo), request.clone()),
        variant(
            "token_auth_if_missing",
            TokenAuthLayer::new(&credentials).policy(InsertPolicy::IfMissing).layer(Echo),
            request.clone(),
        ),
        variant(
            "token_auth_scoped",
            TokenAuthLayer::new(&credentials)
                .https_only()
                .for_host(Authority::from_static("ai.jocloud.com"))
                .layer(Echo),
            request.clone(),
        ),
        variant("token_auth_live", TokenAuthLayer::live(&live).layer(Echo), request),
    ]
}

/// `n` distinct credentials, the benchmark's own last.
fn accepted(n: usize) -> Vec<Credentials> {
    let mut all: Vec<Credentials> = (1..n)
        .map(|i| Credentials::new(format!("other-id-{i}"), format!("other-secret-{i}")).unwrap())
        .collect();
    all.push(credentials());
    all
}

/// A plain `==` over the accepted values and an `Arc<str>` extension: what a hand-written
/// tower-http `ValidateRequestHeaderLayer::custom` validator does, minus constant time.
fn plain_eq_validator(
    accepted: &[Credentials],
) -> impl FnMut(&mut Request<Bytes>) -> Result<(), Response<()>> + Clone + Send + Sync + 'static {
    let table: Arc<[(HeaderValue, Arc<str>)]> =
        accepted.iter().map(|c| (c.header_value(jocloud_auth::Scheme::Base), Arc::from(c.id()))).collect();
    move |request: &mut Request<Bytes>| {
        let found = request
            .headers()
            .get(TOKEN_HEADER)
            .and_then(|value| table.iter().find(|(token, _)| token == value))
            .map(|(_, id)| id.clone());
        match found {
            Some(id) => {
                request.extensions_mut().insert(id);
                Ok(())
            }
            None => {
                let mut response = Response::new(());
                *response.status_mut() = StatusCode::UNAUTHORIZED;
                Err(response)
            }
        }
    }
}

/// The server-side request: as the client sends it, token included. The token is a static
/// value so that building the request costs the same for every variant.
fn server_request(token: &'static str) -> impl Fn() -> Request<Bytes> + Clone + Send + Sync + 'static {
    let uri = Uri::from_static("/app/123456/v1/image/sync?traceId=bd526528-c0d7-4aa4-803b-f5a3fdc05805");
    move || {
        let mut request = client_request(&uri);
        request.headers_mut().insert(TOKEN_HEADER, HeaderValue::from_static(token));
        request
    }
}

/// Every server-side variant, the baseline first. The accepted request matches the last of
/// the accepted credentials (the worst case for an early-exit search); the rejected one has a
/// token of the same length.
pub fn server_variants() -> Vec<Variant> {
    let good: &'static str = token().to_str().unwrap().to_owned().leak();
    let bad: &'static str = "Base cWF3c2VkcmZ0ZzphYmNkZWZnaGlqAA==";
    assert_eq!(good.len(), bad.len());
    let (one, four) = (accepted(1), accepted(4));
    let live = LiveCredentialSet::new(&four);
    let validate = |accepted: &[Credentials]| ValidateTokenLayer::any_of(accepted).layer(Ok200);
    let custom = |accepted: &[Credentials]| {
        tower_http_07::validate_request::ValidateRequestHeaderLayer::custom(plain_eq_validator(accepted))
            .layer(Ok200)
    };
    vec![
        variant("baseline", Ok200, server_request(good)),
        variant("validate_token_1_accept", validate(&one), server_request(good)),
        variant("validate_token_4_accept", validate(&four), server_request(good)),
        variant("validate_token_1_reject", validate(&one), server_request(bad)),
        variant("validate_token_4_reject", validate(&four), server_request(bad)),
        variant(
            "validate_token_live_4_accept",
            ValidateTokenLayer::live(&live).layer(Ok200),
            server_request(good),
        ),
        variant("custom_eq_1_accept", custom(&one), server_request(good)),
        variant("custom_eq_4_accept", custom(&four), server_request(good)),
        variant("custom_eq_1_reject", custom(&one), server_request(bad)),
        variant("custom_eq_4_reject", custom(&four), server_request(bad)),
        variant(
            "has_header_value_accept",
            tower_http_07::validate_request::ValidateRequestHeaderLayer::<
                tower_http_07::validate_request::RequiredHeaderValue<()>,
            >::has_header_value("token", good)
            .unwrap()
            .layer(Ok200),
            server_request(good),
        ),
    ]
}

/// Where criterion keeps its results (the rules criterion itself follows).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("criterion")
}

/// The median time per iteration, in ns, that criterion recorded for `group/id` in this run
/// (`None` if it was not measured since `since`, e.g. filtered out).
pub fn median_ns(group: &str, id: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir().join(group).join(id).join("new").join("estimates.json");
    let modified = std::fs::metadata(&path).ok()?.modified().ok()?;
    if modified < since {
        return None;
    }
    let estimates: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

/// Prints, for each variant of `group` measured in this run, its time, its overhead over the
/// group's baseline, and that overhead as a multiple of each reference variant's overhead.
pub fn print_overhead_table(group: &str, variants: &[&str], references: &[&str], since: SystemTime) {
    let measured: Vec<(&str, f64)> =
        variants.iter().filter_map(|id| Some((*id, median_ns(group, id, since)?))).collect();
    let heading = format!("{group}: median ns per request; overhead = variant - baseline, same run");
    print_table(&heading, "ns", &measured, references);
}

/// Prints `values` (per request, in `unit`) as a Markdown table: each value, its overhead over
/// `baseline`, and that overhead divided by each reference's. Prints nothing without a baseline.
pub fn print_table(heading: &str, unit: &str, values: &[(&str, f64)], references: &[&str]) {
    let value = |id: &str| values.iter().find(|(name, _)| *name == id).map(|(_, value)| *value);
    let Some(baseline) = value("baseline") else {
        return;
    };
    println!("\n{heading}");
    print!("| {:<30} | {unit:>12} | {:>8} |", "variant", "overhead");
    for reference in references {
        print!(" ÷ {reference:<22} |");
    }
    print!("\n|{:-<32}|{:->14}|{:->10}|", "", "", "");
    for _ in references {
        print!("{:-<26}|", "");
    }
    println!();
    for &(id, per_request) in values {
        print!("| {id:<30} | {per_request:>12.1} | {:>8.1} |", per_request - baseline);
        for reference in references {
            match value(reference) {
                Some(theirs) if id != "baseline" && theirs > baseline => {
                    print!(" {:<24.2} |", (per_request - baseline) / (theirs - baseline))
                }
                _ => print!(" {:<24} |", ""),
            }
        }
        println!();
    }
}

/// Iterations of each variant per round of [`print_round_table`].
const ITERATIONS_PER_ROUND: u32 = 20_000;

/// Measures every variant back to back in short rounds, rotating their order, and prints the
/// median over rounds of each variant's time, overhead and overhead ratios. A burst of load
/// from elsewhere on the machine then lands on all variants of one round instead of on one
/// variant's whole criterion run, and the median discards it.
pub fn print_round_table(group: &str, variants: &[Variant], references: &[&str]) {
    let mut steps: Vec<_> = variants.iter().map(|variant| (variant.make)()).collect();
    for step in &mut steps {
        (0..ITERATIONS_PER_ROUND).for_each(|_| step()); // warm up
    }
    // ns[v][r]: variant v's mean time per request in round r.
    let ns = rotated_rounds(&mut steps, |step| {
        let started = Instant::now();
        (0..ITERATIONS_PER_ROUND).for_each(|_| step());
        started.elapsed().as_nanos() as f64 / f64::from(ITERATIONS_PER_ROUND)
    });
    let position = |id: &str| variants.iter().position(|variant| variant.id == id);
    let baseline = position("baseline").expect("every group has a baseline");
    let overheads = |v: usize| -> Vec<f64> { ns[v].iter().zip(&ns[baseline]).map(|(a, b)| a - b).collect() };
    println!(
        "\n{group}: {ROUNDS} rounds of {ITERATIONS_PER_ROUND} requests per variant, order rotated; \
         medians over rounds of ns per request, overhead = variant - baseline, and the ratios"
    );
    print!("| variant | ns | overhead |");
    for reference in references {
        print!(" ÷ {reference} |");
    }
    print!("\n|---|---|---|");
    for _ in references {
        print!("---|");
    }
    println!();
    for (v, variant) in variants.iter().enumerate() {
        print!("| {} | {:.1} | {:.1} |", variant.id, median(ns[v].clone()), median(overheads(v)));
        for reference in references.iter().filter_map(|id| position(id)) {
            if v == baseline {
                print!(" |");
            } else {
                let ratios = overheads(v).iter().zip(overheads(reference)).map(|(a, b)| a / b).collect();
                print!(" {:.2} |", median(ratios));
            }
        }
        println!();
    }
}
