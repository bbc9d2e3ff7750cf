//! A gateway's 100,000 credentials, as `LiveCredentialSet::follow` reads them from a file of
//! lines and from a kubelet-style directory with a file per customer: how long the first load
//! takes, how soon a change to one customer is live, and the memory each accepted credential
//! takes. Wall clock for times (milliseconds, far above this machine's noise at this size) and a
//! counting allocator for memory.
//!
//! ```text
//! cargo bench -p jocloud-auth-benches --bench scale
//! ```

use std::{
    alloc::{GlobalAlloc, Layout, System},
    collections::HashMap,
    convert::Infallible,
    fs,
    future::{ready, Future},
    path::{Path, PathBuf},
    pin::pin,
    sync::{
        atomic::{AtomicIsize, Ordering},
        Arc,
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use http::{Request, Response, StatusCode};
use jocloud_auth::{
    validate::ValidateTokenLayer, AcceptedCredential, CredentialSetSource, Credentials, FollowOptions,
    LiveCredentialSet, Scheme, TOKEN_HEADER,
};
use tower::{Layer, ServiceExt};

const CUSTOMERS: usize = 100_000;
const INTERVAL: Duration = Duration::from_millis(100);

/// Counts the bytes allocated and not yet freed, over every thread.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only a counter is kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn secret(n: usize, version: usize) -> String {
    format!("secret-{n:06}-v{version}-abcdefghijklmnop")
}

fn id(n: usize) -> String {
    format!("cust{n:06}")
}

fn lines(versions: &[usize]) -> String {
    versions.iter().enumerate().map(|(n, &version)| format!("{}:{}\n", id(n), secret(n, version))).collect()
}

/// Replaces the file whole, as Vault Agent does; when the change is there to read.
fn write_lines(path: &Path, versions: &[usize]) -> Instant {
    let staged = path.with_extension("tmp");
    fs::write(&staged, lines(versions)).unwrap();
    fs::rename(&staged, path).unwrap();
    Instant::now()
}

/// A new version directory and a `..data` swap, as the kubelet does; when the change is there
/// to read.
fn write_volume(dir: &Path, trash: &Path, versions: &[usize], version: usize) -> Instant {
    let name = format!("..2026_12_01_00_00_00.{version:04}");
    fs::create_dir(dir.join(&name)).unwrap();
    for (n, &version) in versions.iter().enumerate() {
        fs::write(dir.join(&name).join(id(n)), secret(n, version) + "\n").unwrap();
    }
    // Written back before the swap, so that the writeback does not compete with the read.
    assert!(std::process::Command::new("sync").status().unwrap().success());
    let staged = dir.join("..data_tmp");
    std::os::unix::fs::symlink(&name, &staged).unwrap();
    let previous = fs::read_link(dir.join("..data")).ok();
    fs::rename(&staged, dir.join("..data")).unwrap();
    let swapped = Instant::now();
    // Removed only once the change is measured (the kubelet removes it at once), so that the
    // removal of 100,000 files does not compete with the follower's read.
    if let Some(previous) = previous {
        fs::rename(dir.join(&previous), trash.join(previous)).unwrap();
    }
    swapped
}

fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the validator answers at once"),
    }
}

/// Whether a validator of `set` accepts customer `n`'s key at `version`.
fn accepts(set: &LiveCredentialSet, n: usize, version: usize) -> bool {
    let credentials = Credentials::new(id(n), secret(n, version)).unwrap();
    let request =
        Request::get("/").header(TOKEN_HEADER, credentials.header_value(Scheme::Base)).body(()).unwrap();
    let service = ValidateTokenLayer::live(set).layer(tower::service_fn(|_: Request<()>| {
        ready(Ok::<_, Infallible>(Response::new(bytes::Bytes::new())))
    }));
    now(service.oneshot(request)).unwrap().status() == StatusCode::OK
}

fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// The median of five runs of `f`.
fn median_time(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[2]
}

/// Changes one customer at a time and waits until the new key is accepted: the time from the
/// write to then. The change is read at the first poll after the write and published at the
/// next, so the smallest of these is about one interval plus the time to read, compare and
/// publish.
fn change_latency(
    set: &LiveCredentialSet,
    versions: &mut [usize],
    changes: usize,
    mut write: impl FnMut(&[usize]) -> Instant,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    for change in 0..changes {
        let n = 1 + change * 997 % (CUSTOMERS - 1);
        versions[n] += 1;
        // At a different point of the follower's cycle each time, so that the smallest
        // latency is one where the change was read at once.
        std::thread::sleep(INTERVAL * (change as u32 * 7 % changes as u32) / changes as u32);
        let start = write(versions);
        while !accepts(set, n, versions[n]) {
            assert!(start.elapsed() < Duration::from_secs(60), "a change was not published within a minute");
            std::thread::sleep(Duration::from_micros(200));
        }
        latencies.push(start.elapsed());
        assert!(accepts(set, n, versions[n] - 1), "the old key, in its grace period");
    }
    latencies.sort();
    latencies
}

/// The latencies, and what the smallest leaves beyond one interval and one full read (`load`,
/// a median): about the time from the end of the read that sees a change to its publication,
/// beyond the interval, for a change read at once (negative when that read was faster than
/// the median).
fn report_latency(what: &str, latencies: &[Duration], load: Duration) {
    let (min, median, max) = (latencies[0], latencies[latencies.len() / 2], latencies[latencies.len() - 1]);
    println!(
        "{what}: change live after the write: min {}, median {}, max {} over {} changes (interval {}); \
         min - interval - load = {:.1} ms",
        millis(min),
        millis(median),
        millis(max),
        latencies.len(),
        millis(INTERVAL),
        (min.as_secs_f64() - INTERVAL.as_secs_f64() - load.as_secs_f64()) * 1000.0,
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jocloud-auth-scale-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Bytes per credential of `any_of` beside what a careful user would hold by hand: a map from
/// the payload the client sends to the ID and the secret. IDs of 10 bytes, secrets of 24.
fn memory_beside_by_hand(count: usize) -> (isize, isize) {
    let credentials: Vec<Credentials> =
        (0..count).map(|n| Credentials::new(id(n), format!("s{n:06}-abcdefghijklmnopq")).unwrap()).collect();
    let before = LIVE.load(Ordering::Relaxed);
    let layer = ValidateTokenLayer::any_of(&credentials);
    let set = LIVE.load(Ordering::Relaxed) - before;
    drop(layer);
    let payloads: Vec<(String, Arc<str>, Vec<u8>)> = credentials
        .iter()
        .enumerate()
        .map(|(n, credentials)| {
            let value = credentials.header_value(Scheme::Base);
            let payload = value.to_str().unwrap().trim_start_matches("Base ").to_owned();
            (payload, Arc::from(credentials.id()), format!("s{n:06}-abcdefghijklmnopq").into_bytes())
        })
        .collect();
    let before = LIVE.load(Ordering::Relaxed);
    let by_hand: HashMap<String, (Arc<str>, Vec<u8>)> = payloads
        .iter()
        .map(|(payload, id, secret)| (payload.clone(), (id.clone(), secret.clone())))
        .collect();
    // The IDs are shared with `payloads`: count their allocations as the map's own.
    let by_hand_bytes = LIVE.load(Ordering::Relaxed) - before + (count * (16 + id(0).len())) as isize;
    drop(by_hand);
    (set / count as isize, by_hand_bytes / count as isize)
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (such as a filter) is ignored.
    let options = || FollowOptions::default().interval(INTERVAL).grace(Duration::from_secs(3600));
    let mut versions = vec![1; CUSTOMERS];

    for count in [5, 10_000, CUSTOMERS] {
        let (set, by_hand) = memory_beside_by_hand(count);
        println!(
            "memory, {count} credentials (ID 10 bytes, secret 24): accepted set {set} bytes per credential, \
             a HashMap<String, (Arc<str>, Vec<u8>)> by payload {by_hand} ({:.2}x)",
            set as f64 / by_hand as f64
        );
    }

    // Memory: the set alone (a static validator), and a followed set with its follower's copy.
    let credentials: Vec<Credentials> =
        (0..CUSTOMERS).map(|n| Credentials::new(id(n), secret(n, 1)).unwrap()).collect();
    let before = LIVE.load(Ordering::Relaxed);
    let layer = ValidateTokenLayer::any_of(&credentials);
    let set_bytes = LIVE.load(Ordering::Relaxed) - before;
    drop(layer);
    let credentials_bytes = {
        let before = LIVE.load(Ordering::Relaxed);
        let copy = credentials.clone();
        let bytes = LIVE.load(Ordering::Relaxed) - before;
        drop(copy);
        bytes
    };
    let digests: Vec<AcceptedCredential> =
        credentials.iter().map(|credentials| AcceptedCredential::digest_of(credentials).unwrap()).collect();
    drop(credentials);
    let before = LIVE.load(Ordering::Relaxed);
    let layer = ValidateTokenLayer::any_of(&digests);
    let digest_set_bytes = LIVE.load(Ordering::Relaxed) - before;
    drop((layer, digests));
    println!(
        "memory: accepted set {} bytes per credential ({} per credential held by digest); a followed \
         set also keeps the version it read, {} bytes per credential (ID {} and secret {} bytes long)",
        set_bytes / CUSTOMERS as isize,
        digest_set_bytes / CUSTOMERS as isize,
        credentials_bytes / CUSTOMERS as isize,
        id(0).len(),
        secret(0, 1).len(),
    );

    // A file of lines.
    let dir = scratch("lines");
    let path = dir.join("customers");
    write_lines(&path, &versions);
    let source = CredentialSetSource::lines(&path);
    // First, before any other follower runs (each frees its copy at its own next poll).
    let before = LIVE.load(Ordering::Relaxed);
    let set = LiveCredentialSet::follow(source.clone(), options()).unwrap();
    println!(
        "file of lines: a followed set and its follower hold {} bytes per credential",
        (LIVE.load(Ordering::Relaxed) - before) / CUSTOMERS as isize
    );
    let load = median_time(|| drop(source.load().unwrap()));
    let follow = median_time(|| drop(LiveCredentialSet::follow(source.clone(), options()).unwrap()));
    println!("file of lines: load {}, follow (load and build the set) {}", millis(load), millis(follow));
    let latencies = change_latency(&set, &mut versions, 20, |versions| write_lines(&path, versions));
    report_latency("file of lines", &latencies, load);
    drop(set);
    fs::remove_dir_all(&dir).unwrap();

    // A kubelet-style directory.
    let (dir, trash) = (scratch("volume"), scratch("volume-old"));
    let mut version = 1;
    write_volume(&dir, &trash, &versions, version);
    let source = CredentialSetSource::dir(&dir);
    let load = median_time(|| drop(source.load().unwrap()));
    let follow = median_time(|| drop(LiveCredentialSet::follow(source.clone(), options()).unwrap()));
    println!("kubelet directory: load {}, follow (load and build the set) {}", millis(load), millis(follow));
    let set = LiveCredentialSet::follow(source, options()).unwrap();
    let latencies = change_latency(&set, &mut versions, 10, |versions| {
        version += 1;
        write_volume(&dir, &trash, versions, version)
    });
    report_latency("kubelet directory", &latencies, load);
    drop(set);
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&trash).unwrap();
}
