//! Following credentials files while services run: a kubelet `..data` swap, `mv` of a temp
//! file, truncate-and-rewrite, torn and bad content; the server's grace period; and a loopback
//! drill of a gateway and a client following the same volume with zero non-200 responses.
#![cfg(feature = "rotation")]

mod common;
#[path = "common/kubelet.rs"]
mod kubelet;

use std::{
    fs,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use http::{HeaderValue, Request};
use jocloud_auth::{
    token_auth::TokenAuthLayer, Credentials, CredentialsError, CredentialsSource, FollowOptions, Following,
    LiveCredentialSet, LiveCredentials,
};
use kubelet::SecretVolume;
use tower::{Layer, ServiceExt};

const ID: &str = "qawsedrftg";

fn key(secret: &str) -> Credentials {
    Credentials::new(ID, secret).unwrap()
}

/// What a service built from `credentials` sends right now.
fn sent(credentials: &LiveCredentials) -> HeaderValue {
    let request =
        common::now(TokenAuthLayer::live(credentials).layer(common::echo()).oneshot(Request::new(())));
    request.unwrap().headers()["token"].clone()
}

/// Waits, polling every millisecond for at most `limit`, until `done`; returns how long it took.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[test]
fn a_kubelet_swap_is_live_within_two_seconds_by_default() {
    let mut volume = SecretVolume::new(ID, "first-secret");
    let (credentials, _following) =
        LiveCredentials::follow(CredentialsSource::dir(volume.path()), FollowOptions::default()).unwrap();
    assert_eq!(sent(&credentials), common::token_of(&key("first-secret")));

    volume.update(ID, "second-secret");
    let expected = common::token_of(&key("second-secret"));
    let latency =
        wait_until(Duration::from_secs(5), || sent(&credentials) == expected).expect("the change went live");
    println!("change-to-live latency with the default options: {latency:?}");
    assert!(latency < Duration::from_secs(2), "{latency:?}");
}

#[test]
fn mv_of_a_temp_file_and_a_truncate_and_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jocloud");
    fs::write(&path, format!("{ID}:first-secret\n")).unwrap();
    let options = FollowOptions::default().interval(Duration::from_millis(20));
    let (credentials, _following) = LiveCredentials::follow(CredentialsSource::file(&path), options).unwrap();

    // A temp file moved into place.
    let staged = dir.path().join(".jocloud.tmp");
    fs::write(&staged, format!("{ID}:second-secret\n")).unwrap();
    fs::rename(&staged, &path).unwrap();
    let second = common::token_of(&key("second-secret"));
    wait_until(Duration::from_secs(5), || sent(&credentials) == second).expect("the moved file went live");

    // An editor truncating and rewriting in two writes: the half-written state never goes live.
    let third = common::token_of(&key("third-secret-long"));
    let half = common::token_of(&key("third-sec"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watching = {
        let (credentials, seen) = (credentials.clone(), seen.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < Duration::from_millis(400) {
                seen.lock().unwrap().push(sent(&credentials));
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    {
        use std::io::Write;
        let mut file = fs::File::create(&path).unwrap(); // truncates
        file.write_all(format!("{ID}:third-sec").as_bytes()).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        file.write_all(b"ret-long\n").unwrap();
    }
    watching.join().unwrap();
    let seen = seen.lock().unwrap();
    assert!(!seen.contains(&half), "a half-written key went live");
    assert_eq!(seen.last(), Some(&third));
}

/// The kubelet swapping `..data` between two versions as fast as it can while a follower reads
/// every 2 ms: the ID of one version never goes out with the secret of the other.
#[test]
fn a_read_torn_between_two_versions_is_never_published() {
    let versions = [("id-one", "secret-one"), ("id-two", "secret-two")];
    let mut volume = SecretVolume::new(versions[0].0, versions[0].1);
    let options = FollowOptions::default().interval(Duration::from_millis(2));
    let (credentials, _following) =
        LiveCredentials::follow(CredentialsSource::dir(volume.path()), options).unwrap();
    let consistent: Vec<HeaderValue> = versions
        .iter()
        .map(|(id, secret)| common::token_of(&Credentials::new(*id, *secret).unwrap()))
        .collect();

    let start = Instant::now();
    let (mut checks, mut round) = (0, 0);
    while start.elapsed() < Duration::from_millis(600) {
        round += 1;
        let (id, secret) = versions[round % 2];
        volume.update(id, secret);
        for _ in 0..20 {
            assert!(consistent.contains(&sent(&credentials)), "a torn key was published");
            checks += 1;
        }
        std::thread::sleep(Duration::from_micros(100 * (round as u64 % 30)));
    }
    assert!(checks > 1000, "{checks}");
}

/// Two plain files rewritten one after the other: the torn moment between the writes is
/// shorter than an interval, and a follower publishes only what two reads agree on.
#[test]
fn a_moment_torn_between_two_plain_files_is_never_published() {
    let dir = tempfile::tempdir().unwrap();
    let (id, secret) = (dir.path().join("id"), dir.path().join("secret"));
    let versions = [("id-one", "secret-one"), ("id-two", "secret-two")];
    fs::write(&id, versions[0].0).unwrap();
    fs::write(&secret, versions[0].1).unwrap();
    let options = FollowOptions::default().interval(Duration::from_millis(20));
    let (credentials, _following) =
        LiveCredentials::follow(CredentialsSource::files(&id, &secret), options).unwrap();
    let consistent: Vec<HeaderValue> = versions
        .iter()
        .map(|(id, secret)| common::token_of(&Credentials::new(*id, *secret).unwrap()))
        .collect();
    for round in 1..=12 {
        let (next_id, next_secret) = versions[round % 2];
        fs::write(&id, next_id).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        fs::write(&secret, next_secret).unwrap();
        let settled = Instant::now();
        while settled.elapsed() < Duration::from_millis(60) {
            assert!(consistent.contains(&sent(&credentials)), "a torn key was published");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn bad_content_keeps_the_last_good_key_and_is_reported_once() {
    let mut volume = SecretVolume::new(ID, "good-secret");
    let reports = Arc::new(Mutex::new(Vec::<CredentialsError>::new()));
    let options = {
        let reports = reports.clone();
        FollowOptions::default()
            .interval(Duration::from_millis(10))
            .on_error(move |error| reports.lock().unwrap().push(error.clone()))
    };
    let (credentials, _following) =
        LiveCredentials::follow(CredentialsSource::dir(volume.path()), options).unwrap();
    let good = common::token_of(&key("good-secret"));

    // Invalid content, an empty file, then the whole directory gone.
    let data = volume.data_dir();
    fs::write(data.join("secret"), "hunter2 invalid\u{feff}\n").unwrap();
    wait_until(Duration::from_secs(5), || !reports.lock().unwrap().is_empty()).expect("reported");
    fs::write(data.join("secret"), "").unwrap();
    wait_until(Duration::from_secs(5), || reports.lock().unwrap().len() >= 2).expect("reported");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(reports.lock().unwrap().len(), 2, "each problem is reported once, not at every poll");
    assert_eq!(sent(&credentials), good);

    let kept = tempfile::tempdir().unwrap();
    let moved = kept.path().join("volume");
    fs::rename(volume.path(), &moved).unwrap();
    wait_until(Duration::from_secs(5), || {
        reports
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, CredentialsError::Io { kind: std::io::ErrorKind::NotFound, .. }))
    })
    .expect("the missing directory is reported");
    assert_eq!(sent(&credentials), good);
    for error in reports.lock().unwrap().iter() {
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    // Back, with a new key: it goes live.
    fs::rename(&moved, volume.path()).unwrap();
    volume.update(ID, "new-secret");
    let new = common::token_of(&key("new-secret"));
    wait_until(Duration::from_secs(5), || sent(&credentials) == new).expect("the new key went live");
}

#[test]
fn a_bad_first_read_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let error =
        LiveCredentials::follow(CredentialsSource::dir(dir.path()), FollowOptions::default()).unwrap_err();
    assert_eq!(
        error,
        CredentialsError::Io { path: dir.path().join("id"), kind: std::io::ErrorKind::NotFound }
    );
    let error =
        LiveCredentialSet::follow(CredentialsSource::dir(dir.path()), FollowOptions::default()).unwrap_err();
    assert!(matches!(error, CredentialsError::Io { .. }), "{error}");
}

#[test]
fn dropping_the_guard_stops_following() {
    let mut volume = SecretVolume::new(ID, "first-secret");
    let options = FollowOptions::default().interval(Duration::from_millis(5));
    let (credentials, following) =
        LiveCredentials::follow(CredentialsSource::dir(volume.path()), options).unwrap();
    let started = Instant::now();
    drop(following); // returns once the thread has ended
    assert!(started.elapsed() < Duration::from_secs(1));
    volume.update(ID, "second-secret");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(sent(&credentials), common::token_of(&key("first-secret")));
}

/// Dropping the guard waits for the thread to end, even in the middle of a read: here the
/// source is a FIFO, and the follower's read waits for the test to write.
#[cfg(target_os = "linux")]
#[test]
fn dropping_the_guard_waits_for_a_read_under_way() {
    use std::{io::Write, os::unix::fs::OpenOptionsExt, sync::mpsc};
    const O_NONBLOCK: i32 = 0o4000;

    let dir = tempfile::tempdir().unwrap();
    let pair = dir.path().join("pair");
    fs::write(&pair, format!("{ID}:first-secret\n")).unwrap();
    let options = FollowOptions::default().interval(Duration::from_millis(5));
    let (_credentials, following) = LiveCredentials::follow(CredentialsSource::file(&pair), options).unwrap();
    assert_eq!(format!("{following:?}"), "Following { .. }");

    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    fs::rename(&fifo, &pair).unwrap();
    // A non-blocking open for writing succeeds only once the follower is opening the FIFO to
    // read it; from then on its read waits for what this writer sends.
    let open_writer = || fs::OpenOptions::new().write(true).custom_flags(O_NONBLOCK).open(&pair).ok();
    let mut writer = None;
    wait_until(Duration::from_secs(10), || {
        writer = open_writer();
        writer.is_some()
    })
    .expect("the follower reads the FIFO");

    let (dropped, done) = mpsc::channel();
    let dropper = std::thread::spawn(move || {
        drop(following);
        dropped.send(()).unwrap();
    });
    assert_eq!(
        done.recv_timeout(Duration::from_millis(200)),
        Err(mpsc::RecvTimeoutError::Timeout),
        "drop returned while the follower's read was under way"
    );
    let mut writer = writer.unwrap();
    writer.write_all(format!("{ID}:second-secret\n").as_bytes()).unwrap();
    drop(writer);
    done.recv_timeout(Duration::from_secs(10)).expect("drop returns once the read is done");
    dropper.join().unwrap();
}

/// A server following `volume`, keeping a previous key for `grace`; and the status a request
/// signed with `secret` gets from it.
fn followed_server(volume: &SecretVolume, grace: Duration) -> (Following, impl Fn(&str) -> u16) {
    use jocloud_auth::validate::ValidateTokenLayer;

    let options = FollowOptions::default().interval(Duration::from_millis(10)).grace(grace);
    let (set, following) = LiveCredentialSet::follow(CredentialsSource::dir(volume.path()), options).unwrap();
    let server = ValidateTokenLayer::live(&set).layer(tower::service_fn(|_: Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    }));
    let status = move |secret: &str| {
        common::now(server.clone().oneshot(common::request_with(&key(secret)))).unwrap().status().as_u16()
    };
    (following, status)
}

/// The server keeps the previous key for the grace period, then drops it; A -> B -> A works.
#[test]
fn the_server_accepts_the_previous_key_for_the_grace_period() {
    let mut volume = SecretVolume::new(ID, "key-a");
    let grace = Duration::from_millis(400);
    let (_following, status) = followed_server(&volume, grace);

    volume.update(ID, "key-b");
    wait_until(Duration::from_secs(5), || status("key-b") == 200).expect("B accepted");
    assert_eq!(status("key-a"), 200, "A is still accepted during the grace period");
    wait_until(Duration::from_secs(5), || status("key-a") == 401).expect("A dropped after the grace period");
    assert_eq!(status("key-b"), 200);

    // B -> A again: A comes back as current and B retires.
    volume.update(ID, "key-a");
    wait_until(Duration::from_secs(5), || status("key-a") == 200).expect("A accepted again");
    assert_eq!(status("key-b"), 200);
    std::thread::sleep(grace + Duration::from_millis(200));
    assert_eq!((status("key-a"), status("key-b")), (200, 401));
}

/// Two changes within one grace period: both old keys retire when their time is up, and the
/// newest stays.
#[test]
fn two_changes_within_a_grace_period_retire_both_old_keys() {
    let mut volume = SecretVolume::new(ID, "key-a");
    let (_following, status) = followed_server(&volume, Duration::from_secs(1));

    volume.update(ID, "key-b");
    wait_until(Duration::from_secs(5), || status("key-b") == 200).expect("B accepted");
    volume.update(ID, "key-c");
    wait_until(Duration::from_secs(5), || status("key-c") == 200).expect("C accepted");
    wait_until(Duration::from_secs(10), || status("key-a") == 401 && status("key-b") == 401)
        .expect("A and B retire after the grace period");
    assert_eq!(status("key-c"), 200);
}

/// A client retries a `401` once with its previous key, and only while the grace period for
/// that key runs: never without a previous key, never after.
#[cfg(feature = "tower")]
#[tokio::test]
async fn the_client_retries_with_its_previous_key_during_the_grace_period_only() {
    use jocloud_auth::RetryWithPreviousKey;
    use tower::ServiceBuilder;

    let mut volume = SecretVolume::new(ID, "key-a");
    let grace = Duration::from_secs(1);
    let options = FollowOptions::default().interval(Duration::from_millis(10)).grace(grace);
    let (credentials, _following) =
        LiveCredentials::follow(CredentialsSource::dir(volume.path()), options).unwrap();
    // A server that answers `status` and records the token of each attempt.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let status = Arc::new(std::sync::atomic::AtomicU16::new(401));
    let (recorder, answer) = (seen.clone(), status.clone());
    let client = ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(RetryWithPreviousKey::new(&credentials)))
        .layer(TokenAuthLayer::live(&credentials))
        .service(tower::service_fn(move |request: Request<()>| {
            recorder.lock().unwrap().push(request.headers()["token"].clone());
            let status = answer.load(std::sync::atomic::Ordering::Relaxed);
            std::future::ready(Ok::<_, std::convert::Infallible>(
                http::Response::builder().status(status).body(()).unwrap(),
            ))
        }));
    let attempts = || async {
        seen.lock().unwrap().clear();
        client.clone().oneshot(Request::new(())).await.unwrap();
        seen.lock().unwrap().clone()
    };
    let (a, b) = (common::token_of(&key("key-a")), common::token_of(&key("key-b")));

    assert_eq!(attempts().await, std::slice::from_ref(&a), "no previous key, no retry");
    volume.update(ID, "key-b");
    wait_until(Duration::from_secs(5), || sent(&credentials) == b).expect("B went live");
    assert_eq!(attempts().await, [b.clone(), a], "within the grace period: B, then A once");
    status.store(200, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(attempts().await, std::slice::from_ref(&b), "a success is not retried");
    status.store(401, std::sync::atomic::Ordering::Relaxed);
    // The follower's thread forgets the previous key at its first read after the grace period.
    let deadline = Instant::now() + grace + Duration::from_secs(5);
    let mut after = attempts().await;
    while after.len() > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        after = attempts().await;
    }
    assert_eq!(after, [b], "after the grace period, no retry");
}

/// A gateway and a client on loopback, both following one Secret volume; the volume swaps while
/// requests flow. Whichever side reads the new key first, no request gets anything but 200:
/// the gateway keeps accepting the old key, and the client retries a 401 once with its
/// previous key. After the grace period, the old key gets 401 and the new one 200.
#[cfg(feature = "tower")]
#[tokio::test]
async fn a_swap_during_traffic_gives_no_401_whichever_side_reads_it_first() {
    for (gateway_interval, client_interval) in [(10, 300), (300, 10)] {
        let counts =
            drill(Duration::from_millis(gateway_interval), Duration::from_millis(client_interval)).await;
        println!("gateway every {gateway_interval} ms, client every {client_interval} ms: {counts:?}");
    }
}

#[cfg(feature = "tower")]
async fn drill(
    gateway_interval: Duration,
    client_interval: Duration,
) -> std::collections::BTreeMap<u16, usize> {
    use axum::{routing::post, Extension, Router};
    use bytes::Bytes;
    use http_body_util::Full;
    use jocloud_auth::{validate::ValidateTokenLayer, RetryWithPreviousKey};
    use tower::ServiceBuilder;

    let mut volume = SecretVolume::new(ID, "before-rotation");
    let grace = Duration::from_secs(1);
    let source = CredentialsSource::dir(volume.path());
    let (accepted, _gateway_following) = LiveCredentialSet::follow(
        source.clone(),
        FollowOptions::default().interval(gateway_interval).grace(grace),
    )
    .unwrap();
    let app = Router::new()
        .route(
            "/app/{appid}/v1/image/sync",
            post(|Extension(id): Extension<jocloud_auth::validate::AuthenticatedId>| async move {
                id.to_string()
            }),
        )
        .route_layer(ValidateTokenLayer::live(&accepted));
    let gateway = common::serve_axum(app).await;

    let (credentials, _client_following) =
        LiveCredentials::follow(source, FollowOptions::default().interval(client_interval).grace(grace))
            .unwrap();
    let client = ServiceBuilder::new()
        .layer(tower::retry::RetryLayer::new(RetryWithPreviousKey::new(&credentials)))
        .layer(TokenAuthLayer::live(&credentials))
        .service(common::http_client());
    let url = gateway.url("/app/123456/v1/image/sync");
    let mut counts = std::collections::BTreeMap::new();
    common::bounded(async {
        let start = Instant::now();
        let mut swapped = false;
        while start.elapsed() < Duration::from_millis(1500) {
            if !swapped && start.elapsed() > Duration::from_millis(200) {
                volume.update(ID, "after-rotation");
                swapped = true;
            }
            let request = Request::post(&url).body(Full::<Bytes>::default()).unwrap();
            let status = client.clone().oneshot(request).await.unwrap().status().as_u16();
            *counts.entry(status).or_insert(0) += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert_eq!(counts.keys().copied().collect::<Vec<_>>(), [200], "{counts:?}");

    // After the grace period: the old key is refused, the new one accepted.
    tokio::time::sleep(grace + gateway_interval * 3).await;
    let with = |secret: &str| {
        Request::post(&url)
            .header("token", common::token_of(&key(secret)))
            .body(Full::<Bytes>::default())
            .unwrap()
    };
    let http = common::http_client();
    assert_eq!(http.request(with("before-rotation")).await.unwrap().status(), 401);
    assert_eq!(http.request(with("after-rotation")).await.unwrap().status(), 200);
    counts
}
