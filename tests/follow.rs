//! Following credentials files while services run: a kubelet `..data` swap, `mv` of a temp
//! file, torn and bad content, hostile files at the path; the server's grace period; the
//! client's retry with its previous key; a follower that ends with its last handle. The timing
//! rules themselves are unit-tested with an injected clock (in `src/follow/`,
//! `src/token_auth/live.rs` and `src/validate/feed.rs`); here every wait is for a condition,
//! under a generous limit. The loopback drills are in `tests/drill.rs`.
#![cfg(feature = "rotation")]

mod common;
#[path = "common/kubelet.rs"]
mod kubelet;

use std::{
    fs,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::wait_until;
use http::{HeaderValue, Request};
use jocloud_auth::{
    token_auth::TokenAuthLayer, Credentials, CredentialsSource, FollowError, FollowOptions, FollowProblem,
    LiveCredentialSet, LiveCredentials, LoadError, LoadProblem,
};
use kubelet::SecretVolume;
use tower::{Layer, ServiceExt};

const ID: &str = "qawsedrftg";

fn key(secret: &str) -> Credentials {
    Credentials::new(ID, secret).unwrap()
}

fn to_jocloud() -> Request<()> {
    Request::get("https://ai.jocloud.com/").body(()).unwrap()
}

/// What a service built from `credentials` sends right now.
fn sent(credentials: &LiveCredentials) -> HeaderValue {
    let request = common::now(TokenAuthLayer::live(credentials).layer(common::echo()).oneshot(to_jocloud()));
    request.unwrap().into_body().headers()["token"].clone()
}

#[test]
fn a_kubelet_swap_goes_live_with_the_default_options() {
    let mut volume = SecretVolume::new(ID, "first-secret");
    let credentials =
        LiveCredentials::follow(CredentialsSource::dir(volume.path()), FollowOptions::default()).unwrap();
    assert_eq!(sent(&credentials), common::token_of(&key("first-secret")));

    volume.update(ID, "second-secret");
    let expected = common::token_of(&key("second-secret"));
    wait_until("the change went live", || sent(&credentials) == expected);
}

#[test]
fn a_temp_file_moved_into_place_goes_live() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jocloud");
    fs::write(&path, format!("{ID}:first-secret\n")).unwrap();
    let options = FollowOptions::default().interval(Duration::from_millis(20));
    let credentials = LiveCredentials::follow(CredentialsSource::file(&path), options).unwrap();

    let staged = dir.path().join(".jocloud.tmp");
    fs::write(&staged, format!("{ID}:second-secret\n")).unwrap();
    fs::rename(&staged, &path).unwrap();
    let second = common::token_of(&key("second-secret"));
    wait_until("the moved file went live", || sent(&credentials) == second);
}

/// The kubelet swapping `..data` between two versions as fast as it can while a follower reads
/// every 2 ms: the ID of one version never goes out with the secret of the other, and the
/// follower still publishes a version once the swapping stops.
#[test]
fn a_read_torn_between_two_versions_is_never_published() {
    let versions = [("id-one", "secret-one"), ("id-two", "secret-two")];
    let mut volume = SecretVolume::new(versions[0].0, versions[0].1);
    let options = FollowOptions::default().interval(Duration::from_millis(2));
    let credentials = LiveCredentials::follow(CredentialsSource::dir(volume.path()), options).unwrap();
    let consistent: Vec<HeaderValue> = versions
        .iter()
        .map(|(id, secret)| common::token_of(&Credentials::new(*id, *secret).unwrap()))
        .collect();

    for round in 1..=300 {
        let (id, secret) = versions[round % 2];
        volume.update(id, secret);
        for _ in 0..20 {
            assert!(consistent.contains(&sent(&credentials)), "a torn key was published");
        }
        std::thread::sleep(Duration::from_micros(100 * (round as u64 % 30)));
    }
    // Left at the first version: the second, written once more, goes live.
    volume.update(versions[1].0, versions[1].1);
    wait_until("the last version went live", || {
        let sent = sent(&credentials);
        assert!(consistent.contains(&sent), "a torn key was published");
        sent == consistent[1]
    });
}

/// Bad content keeps the last good key, and each problem is reported as it comes, never with the
/// content. (That a problem standing for many polls is reported once is the follower's unit
/// test, with its clock: here no poll can be waited for.)
#[test]
fn bad_content_keeps_the_last_good_key_and_is_reported() {
    let mut volume = SecretVolume::new(ID, "good-secret");
    let reports = Arc::new(Mutex::new(Vec::<FollowProblem>::new()));
    let options = {
        let reports = reports.clone();
        FollowOptions::default()
            .interval(Duration::from_millis(10))
            .on_error(move |error| reports.lock().unwrap().push(error.clone()))
    };
    let credentials = LiveCredentials::follow(CredentialsSource::dir(volume.path()), options).unwrap();
    let good = common::token_of(&key("good-secret"));

    // Invalid content, an empty file, then the whole directory gone. Each content is written
    // whole, renamed over the last, so that no poll sees a file cut short between the two.
    let data = volume.data_dir();
    let replace = |content: &str| {
        fs::write(data.join(".secret.tmp"), content).unwrap();
        fs::rename(data.join(".secret.tmp"), data.join("secret")).unwrap();
    };
    replace("hunter2 invalid\u{feff}\n");
    wait_until("the invalid secret reported", || !reports.lock().unwrap().is_empty());
    replace("");
    wait_until("the empty file reported", || reports.lock().unwrap().len() >= 2);
    {
        let reports = reports.lock().unwrap();
        assert_eq!(reports.len(), 2, "one report per problem: {reports:?}");
        assert_ne!(reports[0], reports[1]);
    }
    assert_eq!(sent(&credentials), good);

    let kept = tempfile::tempdir().unwrap();
    let moved = kept.path().join("volume");
    fs::rename(volume.path(), &moved).unwrap();
    let not_found = |e: &FollowProblem| matches!(e, FollowProblem::Load(e) if *e.problem() == LoadProblem::Io(std::io::ErrorKind::NotFound));
    wait_until("the missing directory is reported", || reports.lock().unwrap().iter().any(not_found));
    assert_eq!(sent(&credentials), good);
    for error in reports.lock().unwrap().iter() {
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    // Back, with a new key: it goes live.
    fs::rename(&moved, volume.path()).unwrap();
    volume.update(ID, "new-secret");
    let new = common::token_of(&key("new-secret"));
    wait_until("the new key went live", || sent(&credentials) == new);
}

#[test]
fn a_bad_first_read_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let error =
        LiveCredentials::follow(CredentialsSource::dir(dir.path()), FollowOptions::default()).unwrap_err();
    let expected = LoadError::File {
        path: dir.path().join("id"),
        problem: LoadProblem::Io(std::io::ErrorKind::NotFound),
    };
    assert_eq!(error, FollowError::Load(expected.clone()));
    let error =
        LiveCredentialSet::follow(CredentialsSource::dir(dir.path()), FollowOptions::default()).unwrap_err();
    assert_eq!(error, FollowError::Load(expected));
}

/// The follower's thread ends once the last handle, layer and service are gone: seen here by
/// its options (and the callback in them) being dropped with it.
#[test]
fn the_follower_ends_with_the_last_handle() {
    let volume = SecretVolume::new(ID, "first-secret");
    let alive = Arc::new(());
    let options = {
        let alive = alive.clone();
        FollowOptions::default().interval(Duration::from_millis(5)).on_error(move |_| {
            let _ = &alive;
        })
    };
    let credentials =
        LiveCredentials::follow(CredentialsSource::dir(volume.path()), options.clone()).unwrap();
    let set = LiveCredentialSet::follow(CredentialsSource::dir(volume.path()), options).unwrap();
    let layer = TokenAuthLayer::live(&credentials);
    drop(credentials);
    drop(set);
    // Three: this test's, and one in each follower's thread; the layer keeps one of them going.
    wait_until("the set's follower ended", || Arc::strong_count(&alive) == 2);
    drop(layer);
    wait_until("the client's follower ended", || Arc::strong_count(&alive) == 1);
}

/// Whatever sits at the path for a while (a FIFO, which a plain `open` waits on forever; a
/// device; a socket; a directory) is reported, and a good file put there afterwards goes live.
#[test]
fn a_follower_passes_through_anything_at_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jocloud");
    fs::write(&path, format!("{ID}:first-secret\n")).unwrap();
    let reports = Arc::new(Mutex::new(Vec::<FollowProblem>::new()));
    let options = {
        let reports = reports.clone();
        FollowOptions::default()
            .interval(Duration::from_millis(5))
            .on_error(move |error| reports.lock().unwrap().push(error.clone()))
    };
    let credentials = LiveCredentials::follow(CredentialsSource::file(&path), options).unwrap();
    let not_a_file =
        FollowProblem::Load(LoadError::File { path: path.clone(), problem: LoadProblem::NotAFile });

    type Make = Box<dyn Fn(&std::path::Path)>;
    let hostile: [(&str, Make); 4] = [
        (
            "fifo",
            Box::new(|at| assert!(std::process::Command::new("mkfifo").arg(at).status().unwrap().success())),
        ),
        ("device", Box::new(|at| std::os::unix::fs::symlink("/dev/zero", at).unwrap())),
        ("socket", Box::new(|at| std::mem::forget(std::os::unix::net::UnixListener::bind(at).unwrap()))),
        ("directory", Box::new(|at| fs::create_dir(at).unwrap())),
    ];
    for (what, make) in &hostile {
        let staged = dir.path().join(what);
        make(&staged);
        let before = reports.lock().unwrap().len();
        // A directory cannot be renamed over a file: the follower may also see the path missing.
        if staged.is_dir() {
            fs::remove_file(&path).unwrap();
        }
        fs::rename(&staged, &path).unwrap();
        wait_until(&format!("the {what} reported as not a file"), || {
            reports.lock().unwrap()[before..].contains(&not_a_file)
        });

        // Then a good file with a new key: the follower was never stuck.
        if path.is_dir() {
            fs::remove_dir(&path).unwrap();
        }
        let good = dir.path().join("good");
        let secret = format!("secret-after-{what}");
        fs::write(&good, format!("{ID}:{secret}\n")).unwrap();
        fs::rename(&good, &path).unwrap();
        let expected = common::token_of(&key(&secret));
        wait_until("the good file after it went live", || sent(&credentials) == expected);
    }
}

/// A server following `volume`, keeping a previous key for `grace`; and the status a request
/// signed with `secret` gets from it.
fn followed_server(volume: &SecretVolume, grace: Duration) -> (LiveCredentialSet, impl Fn(&str) -> u16) {
    use jocloud_auth::validate::ValidateTokenLayer;

    let options = FollowOptions::default().interval(Duration::from_millis(10)).grace(grace);
    let set = LiveCredentialSet::follow(CredentialsSource::dir(volume.path()), options).unwrap();
    let server = ValidateTokenLayer::live(&set).layer(tower::service_fn(|_: Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(bytes::Bytes::new()))
    }));
    let status = move |secret: &str| {
        common::now(server.clone().oneshot(common::request_with(&key(secret)))).unwrap().status().as_u16()
    };
    (set, status)
}

/// The server keeps the previous key for the grace period (long here, so that the check cannot
/// come too late on a loaded machine), then drops it; A -> B -> A works.
#[test]
fn the_server_accepts_the_previous_key_for_the_grace_period() {
    let mut volume = SecretVolume::new(ID, "key-a");
    let (_set, status) = followed_server(&volume, Duration::from_secs(600));
    volume.update(ID, "key-b");
    wait_until("B accepted", || status("key-b") == 200);
    assert_eq!(status("key-a"), 200, "A is still accepted during the grace period");
    volume.update(ID, "key-a");
    wait_until("A current again", || status("key-a") == 200 && status("key-b") == 200);
}

/// After a short grace period, the old keys are refused, and the current one kept. (That two
/// changes within one grace retire both old keys is the feed's unit test, with its clock: here
/// a loaded machine may take longer than the grace between the two.)
#[test]
fn after_the_grace_period_old_keys_are_refused() {
    let mut volume = SecretVolume::new(ID, "key-a");
    let (_set, status) = followed_server(&volume, Duration::from_millis(300));
    volume.update(ID, "key-b");
    wait_until("B accepted", || status("key-b") == 200);
    volume.update(ID, "key-c");
    wait_until("C accepted", || status("key-c") == 200);
    wait_until("A and B retire", || status("key-a") == 401 && status("key-b") == 401);
    assert_eq!(status("key-c"), 200);
}

/// A client retries a `401` once with its previous key, inside the token layer, and only while
/// a previous key is usable: never without one, not after a success, not once it is forgotten
/// or its grace period is over.
#[cfg(feature = "tower")]
#[tokio::test]
async fn the_client_retries_with_its_previous_key_during_the_grace_period_only() {
    use jocloud_auth::retry::RetryWithPreviousKey;
    use tower::ServiceBuilder;

    for grace in [Duration::from_secs(600), Duration::from_millis(300)] {
        let mut volume = SecretVolume::new(ID, "key-a");
        let options = FollowOptions::default().interval(Duration::from_millis(10)).grace(grace);
        let credentials = LiveCredentials::follow(CredentialsSource::dir(volume.path()), options).unwrap();
        // A server that answers `status` and records the token of each attempt.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let status = Arc::new(std::sync::atomic::AtomicU16::new(401));
        let (recorder, answer) = (seen.clone(), status.clone());
        let token = TokenAuthLayer::live(&credentials);
        let client = ServiceBuilder::new()
            .layer(token.clone())
            .layer(RetryWithPreviousKey::layer(&token))
            .service(tower::service_fn(move |request: Request<()>| {
                recorder.lock().unwrap().push(request.headers()["token"].clone());
                let status = answer.load(std::sync::atomic::Ordering::Relaxed);
                std::future::ready(Ok::<_, std::convert::Infallible>(
                    http::Response::builder().status(status).body(()).unwrap(),
                ))
            }));
        let attempts = || async {
            seen.lock().unwrap().clear();
            client.clone().oneshot(to_jocloud()).await.unwrap();
            seen.lock().unwrap().clone()
        };
        let (a, b) = (common::token_of(&key("key-a")), common::token_of(&key("key-b")));

        assert_eq!(attempts().await, std::slice::from_ref(&a), "no previous key, no retry");
        volume.update(ID, "key-b");
        wait_until("B went live", || sent(&credentials) == b);
        if grace > common::LIMIT {
            assert_eq!(attempts().await, [b.clone(), a.clone()], "within the grace period: B, then A once");
            status.store(200, std::sync::atomic::Ordering::Relaxed);
            assert_eq!(attempts().await, std::slice::from_ref(&b), "a success is not retried");
            status.store(401, std::sync::atomic::Ordering::Relaxed);
            credentials.forget_previous();
            assert_eq!(attempts().await, std::slice::from_ref(&b), "a forgotten key is not retried");
        } else {
            common::wait_until_async("no retry after the grace period", async || attempts().await.len() == 1)
                .await;
            assert_eq!(attempts().await, [b], "after the grace period, no retry");
        }
    }
}
