//! A gateway's many credentials: read from a directory with a file per customer (plain, and as
//! the kubelet mounts a Secret with a key per customer) or from a file with a line per
//! customer; followed while a real axum server on loopback takes requests; one customer rotated
//! under load, one removed, one revoked by hand, a bad version; the marker on a key in its
//! grace period. Every wait is for a condition under a generous limit.
#![cfg(feature = "rotation")]

mod common;
#[path = "common/kubelet.rs"]
mod kubelet;

use std::{
    fs,
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{routing::get, Extension, Router};
use http::{Request, StatusCode};
use http_body_util::Full;
use jocloud_auth::{
    validate::{AuthenticatedId, RetiringKey, ValidateTokenLayer},
    AcceptedCredential, CredentialSetSource, Credentials, CredentialsSource, FollowOptions, FollowProblem,
    LiveCredentialSet, LoadError, LoadProblem, Scheme, TOKEN_HEADER,
};
use kubelet::SecretVolume;

fn customer(n: usize, version: usize) -> Credentials {
    Credentials::new(format!("cust{n:06}"), format!("secret-{n}-v{version}")).unwrap()
}

/// A file of lines for these customers, each at its key's version.
fn lines(customers: &[(usize, usize)]) -> String {
    let mut text = String::from("# id:secret, one customer per line\n");
    for (n, version) in customers {
        text.push_str(&format!("cust{n:06}:secret-{n}-v{version}\n"));
    }
    text
}

/// Replaces `path` whole, as Vault Agent and the external-secrets operator do: a temporary
/// file renamed over it.
fn replace(path: &Path, text: &str) {
    let staged = path.with_extension("tmp");
    fs::write(&staged, text).unwrap();
    fs::rename(&staged, path).unwrap();
}

fn ids(credentials: &[AcceptedCredential]) -> Vec<&str> {
    credentials.iter().map(AcceptedCredential::id).collect()
}

/// Whether a validator of exactly `accepted` takes a token of `id` and `secret`.
fn accepts(accepted: &[AcceptedCredential], id: &str, secret: &str) -> bool {
    use tower::{Layer, ServiceExt};
    let inner = tower::service_fn(|_: Request<()>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(bytes::Bytes::new()))
    });
    let token = Credentials::new(id, secret).unwrap().header_value(Scheme::Base);
    let request = Request::get("/").header(TOKEN_HEADER, token).body(()).unwrap();
    let response = common::now(ValidateTokenLayer::any_of(accepted).layer(inner).oneshot(request)).unwrap();
    response.status() == StatusCode::OK
}

#[test]
fn a_file_of_lines_skips_comments_and_names_a_bad_line_by_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers");
    fs::write(
        &path,
        "# customers\r\n\ncust000002:two\r\n  # indented comment\ncust000001:one\n   \ncust000001:one\n",
    )
    .unwrap();
    let read = CredentialSetSource::lines(&path).load().unwrap();
    assert_eq!(ids(&read), ["cust000001", "cust000002"], "sorted, each once, CRLF accepted");

    fs::write(&path, "cust000001:one\n# fine\ncust000002:sec ret-with-a-trailing-space \n").unwrap();
    let error = CredentialSetSource::lines(&path).load().unwrap_err();
    let expected = LoadProblem::InvalidLine {
        line: 3,
        invalid: jocloud_auth::InvalidCredentials::SurroundingWhitespace(jocloud_auth::Part::Secret),
    };
    assert_eq!(error, LoadError::File { path: path.clone(), problem: expected });
    let message = error.to_string();
    assert!(message.contains("line 3") && message.contains("customers"), "{message}");
    assert!(!message.contains("sec ret") && !message.contains("cust000002"), "no content: {message}");

    for empty in ["", "# nobody yet\n\n"] {
        fs::write(&path, empty).unwrap();
        let error = CredentialSetSource::lines(&path).load().unwrap_err();
        assert_eq!(error, LoadError::File { path: path.clone(), problem: LoadProblem::NoCredentials });
    }
}

#[test]
fn a_directory_holds_a_credential_per_file_and_refuses_what_is_not_one() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("cust000001"), "one\n").unwrap();
    fs::write(dir.path().join("cust000002"), "two").unwrap();
    fs::write(dir.path().join(".hidden"), "not a customer\n").unwrap();
    fs::create_dir(dir.path().join("..2026_11_26_21_00_00.0001")).unwrap();
    let source = CredentialSetSource::dir(dir.path());
    assert_eq!(ids(&source.load().unwrap()), ["cust000001", "cust000002"]);

    let refused = |name: &str, problem: LoadProblem| {
        assert_eq!(
            source.load().unwrap_err(),
            LoadError::File { path: dir.path().join(name), problem },
            "{name}"
        );
    };
    fs::write(dir.path().join("bad:id"), "three\n").unwrap();
    refused("bad:id", LoadProblem::Invalid(jocloud_auth::InvalidCredentials::IdContainsColon));
    fs::remove_file(dir.path().join("bad:id")).unwrap();
    fs::create_dir(dir.path().join("subdir")).unwrap();
    refused("subdir", LoadProblem::NotAFile);
    fs::remove_dir(dir.path().join("subdir")).unwrap();
    // A FIFO is refused unread: reading it would block until a writer came.
    assert!(std::process::Command::new("mkfifo").arg(dir.path().join("fifo")).status().unwrap().success());
    refused("fifo", LoadProblem::NotAFile);
    fs::remove_file(dir.path().join("fifo")).unwrap();
    fs::write(dir.path().join("cust000003"), "\n").unwrap();
    refused(
        "cust000003",
        LoadProblem::Invalid(jocloud_auth::InvalidCredentials::Empty(jocloud_auth::Part::Secret)),
    );
    fs::remove_file(dir.path().join("cust000003")).unwrap();

    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        CredentialSetSource::dir(empty.path()).load().unwrap_err(),
        LoadError::File { path: empty.path().to_owned(), problem: LoadProblem::NoCredentials }
    );
    let one = CredentialSetSource::from(CredentialsSource::file(dir.path().join("missing")));
    assert!(matches!(one.load().unwrap_err().problem(), LoadProblem::Io(std::io::ErrorKind::NotFound)));
}

#[test]
fn a_kubelet_volume_is_read_from_one_version_named_as_mounted() {
    let volume = SecretVolume::with_keys(&[("cust000001", "one"), ("cust000002", "two")]);
    let source = CredentialSetSource::dir(volume.path());
    let read = source.load().unwrap();
    assert_eq!(ids(&read), ["cust000001", "cust000002"]);
    assert!(accepts(&read, "cust000001", "one"));
    // A bad file in the version is named as the user sees it, beside `..data`.
    fs::write(volume.data_dir().join("cust000002"), "\u{feff}two\n").unwrap();
    assert_eq!(
        source.load().unwrap_err(),
        LoadError::File {
            path: volume.path().join("cust000002"),
            problem: LoadProblem::Invalid(jocloud_auth::InvalidCredentials::InvisibleCharacter(
                jocloud_auth::Part::Secret
            )),
        }
    );
}

/// What a request with `credentials` gets from the server: its status, and whether the server
/// saw a key in its grace period.
async fn call(
    client: &common::HttpClient,
    server: &common::Server,
    credentials: &Credentials,
) -> (StatusCode, bool) {
    let request = Request::get(server.url("/"))
        .header(TOKEN_HEADER, credentials.header_value(Scheme::Base))
        .body(Full::default())
        .unwrap();
    let response = client.request(request).await.expect("the loopback server answers");
    let status = response.status();
    (status, common::body_text(response).await == "retiring")
}

/// An axum server that accepts `set`, answering `retiring` for a key in its grace period.
async fn gateway(set: &LiveCredentialSet) -> common::Server {
    let router = Router::new()
        .route(
            "/",
            // The whole request, not `Option<Extension<_>>`: axum 0.8.0, the oldest allowed,
            // has no optional `Extension` extractor.
            get(|Extension(_): Extension<AuthenticatedId>, request: axum::extract::Request| async move {
                if request.extensions().get::<RetiringKey>().is_some() {
                    "retiring"
                } else {
                    "current"
                }
            }),
        )
        .route_layer(ValidateTokenLayer::live(set));
    common::serve_axum(router).await
}

/// Sends requests for `customers` in turn until `stop`, counting what was not a 200.
fn load(
    client: common::HttpClient,
    server: Arc<common::Server>,
    customers: Vec<Credentials>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, usize)> {
    tokio::spawn(async move {
        let (mut sent, mut failed) = (0, 0);
        for credentials in customers.iter().cycle() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            sent += 1;
            if call(&client, &server, credentials).await.0 != StatusCode::OK {
                failed += 1;
            }
        }
        (sent, failed)
    })
}

/// Waits, for at most [`common::LIMIT`], until `condition` holds for what `credentials` get.
async fn wait_for(
    client: &common::HttpClient,
    server: &common::Server,
    credentials: &Credentials,
    condition: impl Fn((StatusCode, bool)) -> bool,
) {
    let waited = tokio::time::timeout(common::LIMIT, async {
        while !condition(call(client, server, credentials).await) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    waited.await.expect("the change was published within the limit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_100000_customers_rotates_under_load_and_another_is_removed() {
    const CUSTOMERS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers");
    let mut customers: Vec<(usize, usize)> = (0..CUSTOMERS).map(|n| (n, 1)).collect();
    replace(&path, &lines(&customers));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let reported = errors.clone();
    let options = FollowOptions::default()
        .interval(Duration::from_millis(100))
        .grace(Duration::from_secs(3600))
        .on_error(move |error| reported.lock().unwrap().push(error.clone()));
    let set = LiveCredentialSet::follow(CredentialSetSource::lines(&path), options).unwrap();
    assert_eq!(set.ids().len(), CUSTOMERS);
    let server = Arc::new(gateway(&set).await);
    let client = common::http_client();

    // Every other customer, under load the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let others: Vec<Credentials> = (2..1002).map(|n| customer(n, 1)).collect();
    let loads: Vec<_> = others
        .chunks(500)
        .map(|chunk| load(client.clone(), server.clone(), chunk.to_vec(), stop.clone()))
        .collect();

    // Customer 0 rotates: its old key keeps working (marked) while the new one goes live.
    let (old, new) = (customer(0, 1), customer(0, 2));
    customers[0] = (0, 2);
    replace(&path, &lines(&customers));
    let old_failures = Arc::new(AtomicUsize::new(0));
    let old_client = {
        let (client, server, old, stop, failures) =
            (client.clone(), server.clone(), old.clone(), stop.clone(), old_failures.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if call(&client, &server, &old).await.0 != StatusCode::OK {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    wait_for(&client, &server, &new, |(status, _)| status == StatusCode::OK).await;
    for _ in 0..50 {
        assert_eq!(
            call(&client, &server, &new).await,
            (StatusCode::OK, false),
            "the new key, once live, stays"
        );
        assert_eq!(
            call(&client, &server, &old).await,
            (StatusCode::OK, true),
            "the old key, in its grace period"
        );
    }

    // Customer 1 is removed: refused from the publication on.
    customers.remove(1);
    let removed = customer(1, 1);
    replace(&path, &lines(&customers));
    wait_for(&client, &server, &removed, |(status, _)| status == StatusCode::UNAUTHORIZED).await;
    for _ in 0..50 {
        assert_eq!(call(&client, &server, &removed).await.0, StatusCode::UNAUTHORIZED);
    }

    stop.store(true, Ordering::Relaxed);
    let mut sent = 0;
    for load in loads {
        let (load_sent, failed) = load.await.unwrap();
        assert_eq!(failed, 0, "requests of untouched customers that failed");
        sent += load_sent;
    }
    old_client.await.unwrap();
    assert_eq!(
        old_failures.load(Ordering::Relaxed),
        0,
        "requests with the old key in its grace period that failed"
    );
    assert!(sent > 0);
    assert_eq!(set.id_count(), CUSTOMERS - 1, "one customer gone; one in its grace period counts once");
    assert_eq!(*errors.lock().unwrap(), Vec::<FollowProblem>::new());
}

/// A version that only adds customers is published like any other: the new customer's key
/// goes live, the others stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_only_adds_a_customer_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers");
    replace(&path, &lines(&[(0, 1)]));
    let options = FollowOptions::default().interval(Duration::from_millis(20));
    let set = LiveCredentialSet::follow(CredentialSetSource::lines(&path), options).unwrap();
    let server = gateway(&set).await;
    let client = common::http_client();
    assert_eq!(call(&client, &server, &customer(1, 1)).await.0, StatusCode::UNAUTHORIZED);

    replace(&path, &lines(&[(0, 1), (1, 1)]));
    wait_for(&client, &server, &customer(1, 1), |(status, _)| status == StatusCode::OK).await;
    assert_eq!(call(&client, &server, &customer(0, 1)).await, (StatusCode::OK, false));
    assert_eq!(set.ids(), ["cust000000", "cust000001"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_version_changes_nothing_and_is_reported_once() {
    let mut volume = SecretVolume::with_keys(&[("cust000001", "one"), ("cust000002", "two")]);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let reported = errors.clone();
    let options = FollowOptions::default()
        .interval(Duration::from_millis(20))
        .on_error(move |error| reported.lock().unwrap().push(error.clone()));
    let set = LiveCredentialSet::follow(CredentialSetSource::dir(volume.path()), options).unwrap();
    let server = gateway(&set).await;
    let client = common::http_client();
    let one = Credentials::new("cust000001", "one").unwrap();
    let two = Credentials::new("cust000002", "two").unwrap();

    // A version that changes customer 1 and has a bad file for customer 2.
    volume.update_keys(&[("cust000001", "one-v2"), ("cust000002", " two")]);
    let waited = tokio::time::timeout(common::LIMIT, async {
        while errors.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    waited.await.expect("the bad version was reported");
    let expected = LoadError::File {
        path: volume.path().join("cust000002"),
        problem: LoadProblem::Invalid(jocloud_auth::InvalidCredentials::SurroundingWhitespace(
            jocloud_auth::Part::Secret,
        )),
    };
    // Several polls later, still the one report and nothing changed.
    for _ in 0..20 {
        assert_eq!(call(&client, &server, &one).await, (StatusCode::OK, false));
        assert_eq!(call(&client, &server, &two).await, (StatusCode::OK, false));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(*errors.lock().unwrap(), [FollowProblem::Load(expected)]);
    let new_one = Credentials::new("cust000001", "one-v2").unwrap();
    assert_eq!(call(&client, &server, &new_one).await.0, StatusCode::UNAUTHORIZED);

    // The next good version applies.
    volume.update_keys(&[("cust000001", "one-v2"), ("cust000002", "two")]);
    wait_for(&client, &server, &new_one, |(status, _)| status == StatusCode::OK).await;
    assert_eq!(call(&client, &server, &one).await, (StatusCode::OK, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_by_hand_in_a_grace_period_refuses_every_key_of_the_customer() {
    let mut volume = SecretVolume::with_keys(&[("cust000001", "one"), ("cust000002", "two")]);
    let options =
        FollowOptions::default().interval(Duration::from_millis(20)).grace(Duration::from_secs(3600));
    let set = LiveCredentialSet::follow(CredentialSetSource::dir(volume.path()), options).unwrap();
    let server = gateway(&set).await;
    let client = common::http_client();
    let (old, new) =
        (Credentials::new("cust000001", "one").unwrap(), Credentials::new("cust000001", "one-v2").unwrap());
    let other = Credentials::new("cust000002", "two").unwrap();

    volume.update_keys(&[("cust000001", "one-v2"), ("cust000002", "two")]);
    wait_for(&client, &server, &new, |(status, _)| status == StatusCode::OK).await;
    assert_eq!(call(&client, &server, &old).await, (StatusCode::OK, true));

    assert_eq!(set.remove_id("cust000001"), 2);
    assert_eq!(call(&client, &server, &old).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&client, &server, &new).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(&client, &server, &other).await, (StatusCode::OK, false));
}

/// From a source of one credential, a replaced key stays accepted for the grace period even
/// when the certificate ID changed with it (a new certificate replacing the old).
#[test]
fn a_source_of_one_keeps_the_replaced_key_when_the_id_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pair");
    replace(&path, "old-id:old-secret\n");
    let options =
        FollowOptions::default().interval(Duration::from_millis(10)).grace(Duration::from_secs(3600));
    let set = LiveCredentialSet::follow(CredentialsSource::file(&path), options).unwrap();
    replace(&path, "new-id:new-secret\n");
    common::wait_until("the change published", || set.ids() != ["old-id"]);
    assert_eq!(set.ids(), ["new-id", "old-id"]);
}

/// A request with a key in its grace period carries the marker every time, and is an `INFO`
/// event naming the caller once per ID per interval, however many requests it sends.
#[cfg(feature = "tracing")]
#[test]
fn a_key_in_its_grace_period_is_one_event_per_caller_and_interval() {
    use tower::{Layer, ServiceExt};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers");
    replace(&path, "cust000001:one\ncust000002:two\n");
    let options = FollowOptions::default().interval(Duration::from_millis(10));
    let set = LiveCredentialSet::follow(CredentialSetSource::lines(&path), options).unwrap();
    let service =
        ValidateTokenLayer::live(&set).layer(tower::service_fn(|request: Request<()>| async move {
            // The marker the inner service saw, handed back in the response.
            let mut response = http::Response::new(bytes::Bytes::new());
            if let Some(marker) = request.extensions().get::<RetiringKey>() {
                response.extensions_mut().insert(*marker);
            }
            Ok::<_, std::convert::Infallible>(response)
        }));
    let send = |id: &str, secret: &str| {
        let credentials = Credentials::new(id, secret).unwrap();
        let request =
            Request::get("/").header(TOKEN_HEADER, credentials.header_value(Scheme::Base)).body(()).unwrap();
        common::now(service.clone().oneshot(request)).unwrap()
    };
    replace(&path, "cust000001:one-v2\ncust000002:two-v2\n");
    common::wait_until("the change published", || send("cust000001", "one-v2").status() == StatusCode::OK);

    let (captured, _traced) = common::capture_traces();
    let retiring = |id, secret| send(id, secret).extensions().get::<RetiringKey>().is_some();
    assert!(!retiring("cust000001", "one-v2"));
    assert!(captured.text().is_empty(), "the current key is no event: {}", captured.text());
    for _ in 0..50 {
        assert!(retiring("cust000001", "one") && retiring("cust000002", "two"));
    }
    let output = captured.text();
    let events: Vec<&str> = output.lines().filter(|line| line.contains("grace period")).collect();
    assert_eq!(events.len(), 2, "one per caller: {output}");
    assert!(events[0].contains("INFO") && events[0].contains("jocloud.caller_id=\"cust000001\""), "{output}");
    assert!(events[1].contains("jocloud.caller_id=\"cust000002\""), "{output}");
    assert!(!output.contains("one-v2") && !output.contains(":one"), "{output}");
}

/// A file of lines caught cut short is refused whole, wherever the cut: in a digest marker, in
/// a secret (which would leave a shorter, valid one), in an ID. So a follower that finds such
/// a file, written in place and left so, however many polls agree on it, keeps the last good
/// set and reports it; the whole file, when it comes, is applied.
#[test]
fn a_file_of_lines_cut_short_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers");
    for partial in ["a:abcdefghijk\nb:{SHA2", "a:abcdefghijk\nb:lmno", "a:abcdefghijk\nb", "a:abc"] {
        fs::write(&path, partial).unwrap();
        let error = CredentialSetSource::lines(&path).load().unwrap_err();
        assert_eq!(*error.problem(), LoadProblem::UnendedLastLine, "{partial:?}");
    }
    let message = CredentialSetSource::lines(&path).load().unwrap_err().to_string();
    assert!(message.contains("no line ending") && message.contains("rename"), "{message}");

    let whole = "a:abcdefghijk\nb:lmnopqrstuv\n";
    fs::write(&path, whole).unwrap();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let record = reports.clone();
    let options = FollowOptions::default()
        .interval(Duration::from_millis(2))
        .on_error(move |problem| record.lock().unwrap().push(problem.clone()));
    let set = LiveCredentialSet::follow(CredentialSetSource::lines(&path), options).unwrap();
    // A slow writer, in place: the new customer's secret cut short, for many polls.
    fs::write(&path, format!("{whole}c:wxyzabc")).unwrap();
    // (A poll between the write's truncation and its bytes may report an empty file first.)
    let cut = |problem: &FollowProblem| matches!(problem, FollowProblem::Load(error) if *error.problem() == LoadProblem::UnendedLastLine);
    common::wait_until("the cut file is reported", || reports.lock().unwrap().iter().any(cut));
    assert_eq!(set.ids(), ["a", "b"], "the last good set is kept");
    fs::write(&path, format!("{whole}c:wxyzabcdefg\n")).unwrap();
    common::wait_until("the whole file is applied", || set.ids() == ["a", "b", "c"]);
}

/// A file of lines of more credentials than a source may hold (a wrong file: a million short
/// lines fit in a few megabytes) is refused before any is parsed, with the limit.
#[test]
fn a_file_of_more_credentials_than_a_source_may_hold_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers");
    let mut text = String::with_capacity(13 * (CredentialSetSource::MAX_CREDENTIALS + 1));
    for n in 0..=CredentialSetSource::MAX_CREDENTIALS {
        text.push_str(&format!("c{n:07}:s\n"));
    }
    fs::write(&path, text).unwrap();
    let error = CredentialSetSource::lines(&path).load().unwrap_err();
    let max = CredentialSetSource::MAX_CREDENTIALS;
    assert_eq!(error, LoadError::File { path, problem: LoadProblem::TooMany { max } });
    assert!(error.to_string().ends_with("holds more than 1000000 credentials"), "{error}");
}
