//! A gateway that holds no customer's secret: credentials accepted by the SHA-256 digest of
//! `id:secret`, as `sha256sum` prints it, from real files (a file of lines, a kubelet-style
//! volume with swaps), in front of a real axum server on loopback, with real clients sending
//! real tokens.
#![cfg(all(feature = "digest", feature = "rotation"))]

mod common;
#[path = "common/kubelet.rs"]
mod kubelet;

use std::{fs, path::Path, process::Command, time::Duration};

use axum::{routing::post, Router};
use bytes::Bytes;
use common::{bounded, serve_axum, Server};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use jocloud_auth::{
    validate::{AuthenticatedId, Rejection, RetiringKey, ValidateTokenLayer},
    AcceptedCredential, CredentialSetSource, Credentials, FollowOptions, FollowProblem, InvalidCredentials,
    LiveCredentialSet, LoadProblem, Scheme, TOKEN_HEADER,
};
use kubelet::SecretVolume;

/// `id:{SHA256}<hex>`, the hex as `printf '%s' 'id:secret' | sha256sum` prints it.
fn digest_line(id: &str, secret: &str) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg("printf '%s' \"$1\" | sha256sum")
        .arg("sh")
        .arg(format!("{id}:{secret}"))
        .output()
        .expect("sha256sum runs");
    let text = String::from_utf8(output.stdout).unwrap();
    let hex = text.split_whitespace().next().expect("sha256sum prints the digest");
    format!("{id}:{{SHA256}}{hex}")
}

/// An axum route behind `layer` that answers with the caller, and whether its key retires.
async fn gateway(layer: ValidateTokenLayer) -> Server {
    let handler = post(|request: Request<axum::body::Body>| {
        let caller = request.extensions().get::<AuthenticatedId>().cloned();
        let retiring = request.extensions().get::<RetiringKey>().copied();
        let rejection = request.extensions().get::<Rejection>().copied();
        async move {
            match (caller, rejection) {
                (Some(caller), _) => {
                    format!("{caller}{}", if retiring.is_some() { " (retiring)" } else { "" })
                }
                (None, Some(rejection)) => format!("report-only: {rejection}"),
                (None, None) => "nobody".to_owned(),
            }
        }
    });
    serve_axum(Router::new().route("/app/{appid}/v1/image/sync", handler).route_layer(layer)).await
}

/// What the gateway answers a real client sending `id`'s token with `secret`.
async fn call(server: &Server, id: &str, secret: &str) -> (StatusCode, String) {
    let token = Credentials::new(id, secret).unwrap().header_value(Scheme::Base);
    let request = Request::post(server.url("/app/1/v1/image/sync"))
        .header(TOKEN_HEADER, token)
        .body(Full::<Bytes>::default())
        .unwrap();
    let response = common::http_client().request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn replace(path: &Path, text: &str) {
    let staged = path.with_extension("tmp");
    fs::write(&staged, text).unwrap();
    fs::rename(&staged, path).unwrap();
}

#[tokio::test]
async fn a_digest_made_by_sha256sum_is_accepted_and_a_wrong_secret_refused() {
    bounded(async {
        let held: AcceptedCredential =
            digest_line("cust000001", "s3cr3t-generated-128-bits").parse().unwrap();
        assert!(held.is_digest());
        let server = gateway(ValidateTokenLayer::any_of([&held])).await;
        assert_eq!(
            call(&server, "cust000001", "s3cr3t-generated-128-bits").await,
            (StatusCode::OK, "cust000001".into())
        );
        for (id, secret) in
            [("cust000001", "s3cr3t-generated-128-bitz"), ("cust000002", "s3cr3t-generated-128-bits")]
        {
            assert_eq!(call(&server, id, secret).await.0, StatusCode::UNAUTHORIZED, "{id}:{secret}");
        }
        // The digest's own hex is no secret to send: sent as a secret, it is refused.
        let hex = digest_line("cust000001", "s3cr3t-generated-128-bits").split_off("cust000001:".len());
        assert_eq!(call(&server, "cust000001", &hex).await.0, StatusCode::UNAUTHORIZED);
    })
    .await;
}

/// Secrets and digests in one set, for different customers and for one customer's two keys.
#[tokio::test]
async fn a_set_mixes_secrets_and_digests() {
    bounded(async {
        let accepted: Vec<AcceptedCredential> = [
            digest_line("cust000001", "one"),
            "cust000002:two".to_owned(),
            digest_line("cust000003", "three-new"),
            "cust000003:three-old".to_owned(),
        ]
        .iter()
        .map(|line| line.parse().unwrap())
        .collect();
        let server = gateway(ValidateTokenLayer::any_of(&accepted)).await;
        for (id, secret) in [
            ("cust000001", "one"),
            ("cust000002", "two"),
            ("cust000003", "three-new"),
            ("cust000003", "three-old"),
        ] {
            assert_eq!(call(&server, id, secret).await, (StatusCode::OK, id.to_owned()), "{id}:{secret}");
        }
        for (id, secret) in [("cust000001", "two"), ("cust000002", "one"), ("cust000003", "three")] {
            assert_eq!(call(&server, id, secret).await.0, StatusCode::UNAUTHORIZED, "{id}:{secret}");
        }
    })
    .await;
}

/// A file of lines with digest entries, followed: a replaced digest stays accepted for the
/// grace period, marked retiring; a customer gone is refused at once; a bad line changes
/// nothing and is named by its number; report-only lets a refused request through.
#[tokio::test]
async fn a_followed_file_of_digest_lines() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("customers");
        replace(
            &path,
            &format!("{}\n{}\n", digest_line("cust000001", "one"), digest_line("cust000002", "two")),
        );
        let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let reported = errors.clone();
        let options = FollowOptions::default()
            .interval(Duration::from_millis(10))
            .grace(Duration::from_secs(3600))
            .on_error(move |problem| reported.lock().unwrap().push(problem.clone()));
        let set = LiveCredentialSet::follow(CredentialSetSource::lines(&path), options).unwrap();
        let server = gateway(ValidateTokenLayer::live(&set)).await;
        assert_eq!(call(&server, "cust000001", "one").await.0, StatusCode::OK);

        // cust000001 gets a new secret, cust000002 is gone.
        replace(&path, &format!("{}\n", digest_line("cust000001", "one-v2")));
        common::wait_until_async("the new digest accepted", async || {
            call(&server, "cust000001", "one-v2").await.0 == StatusCode::OK
        })
        .await;
        assert_eq!(
            call(&server, "cust000001", "one").await,
            (StatusCode::OK, "cust000001 (retiring)".into())
        );
        assert_eq!(call(&server, "cust000001", "one-v2").await, (StatusCode::OK, "cust000001".into()));
        assert_eq!(
            call(&server, "cust000002", "two").await.0,
            StatusCode::UNAUTHORIZED,
            "gone, refused at once"
        );
        assert_eq!(set.ids(), ["cust000001"]);

        // A bad digest line: refused whole, named by its number.
        replace(&path, &format!("{}\ncust000003:{{SHA256}}not-hex\n", digest_line("cust000001", "one-v3")));
        common::wait_until("the bad line reported", || !errors.lock().unwrap().is_empty());
        let bad_line = LoadProblem::InvalidLine { line: 2, invalid: InvalidCredentials::MalformedDigest };
        let reported = errors.lock().unwrap()[0].clone();
        assert!(
            matches!(&reported, FollowProblem::Load(error) if *error.problem() == bad_line),
            "{reported}"
        );
        assert_eq!(call(&server, "cust000001", "one-v2").await.0, StatusCode::OK, "the last good set stays");

        let report_only = gateway(ValidateTokenLayer::live(&set).report_only()).await;
        assert_eq!(
            call(&report_only, "cust000001", "wrong").await,
            (StatusCode::OK, "report-only: unknown_credential".into())
        );
    })
    .await;
}

/// A kubelet volume with a file per customer holding a digest, swapped as the kubelet does.
#[tokio::test]
async fn a_followed_volume_of_digests() {
    bounded(async {
        let digest = |id: &str, secret: &str| digest_line(id, secret).split_off(id.len() + 1);
        let mut volume = SecretVolume::with_keys(&[
            ("cust000001", &digest("cust000001", "one")),
            ("cust000002", "two-in-clear"),
        ]);
        let options =
            FollowOptions::default().interval(Duration::from_millis(10)).grace(Duration::from_secs(3600));
        let set = LiveCredentialSet::follow(CredentialSetSource::dir(volume.path()), options).unwrap();
        let server = gateway(ValidateTokenLayer::live(&set)).await;
        assert_eq!(call(&server, "cust000001", "one").await.0, StatusCode::OK);
        assert_eq!(
            call(&server, "cust000002", "two-in-clear").await.0,
            StatusCode::OK,
            "a secret beside digests"
        );

        volume.update_keys(&[("cust000001", &digest("cust000001", "one-v2"))]);
        common::wait_until_async("the swap published", async || {
            call(&server, "cust000001", "one-v2").await.0 == StatusCode::OK
        })
        .await;
        assert_eq!(
            call(&server, "cust000001", "one").await,
            (StatusCode::OK, "cust000001 (retiring)".into())
        );
        assert_eq!(call(&server, "cust000002", "two-in-clear").await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(set.remove_id("cust000001"), 2, "revoked by hand, the retiring digest with it");
        assert_eq!(call(&server, "cust000001", "one").await.0, StatusCode::UNAUTHORIZED);
    })
    .await;
}

/// What the gateway keeps holds no secret: its files hold digests, and neither the set's nor
/// the layer's `Debug` shows a secret or a digest. (The rejection's tracing event, which names
/// a known ID and nothing of the token, is checked in `tests/redaction.rs`: callsites there are
/// hit by no test without a subscriber, which older `tracing` would cache as uninterested.)
#[test]
fn no_secret_anywhere_the_gateway_keeps_anything() {
    let secret = "Zq7-digest-secret-probe";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("customers");
    let line = digest_line("cust000001", secret);
    fs::write(&path, format!("{line}\n")).unwrap();
    assert!(!fs::read_to_string(&path).unwrap().contains(secret));
    let set = LiveCredentialSet::follow(CredentialSetSource::lines(&path), FollowOptions::default()).unwrap();
    let layer = ValidateTokenLayer::live(&set);
    let accepted: AcceptedCredential = line.parse().unwrap();
    let shown = format!("{set:?} {layer:?} {accepted:?}");
    assert!(shown.contains("cust000001") && !shown.contains(secret), "{shown}");
    assert!(!shown.contains(&line[line.len() - 64..]), "nor the digest: {shown}");
}

/// The crate's own digest line is the one `sha256sum` makes.
#[test]
fn digest_of_agrees_with_sha256sum() {
    let credentials = Credentials::new("cust000001", "s3cr3t-generated-128-bits").unwrap();
    let line = AcceptedCredential::digest_of(&credentials).unwrap().digest_line().unwrap();
    assert_eq!(line, digest_line("cust000001", "s3cr3t-generated-128-bits"));
    assert_eq!(AcceptedCredential::from(credentials).digest_line(), None, "a secret is never shown");
}

#[test]
fn a_malformed_digest_is_refused_with_its_reason() {
    for line in
        ["cust000001:{SHA256}", "cust000001:{SHA256}abc", &format!("cust000001:{{SHA256}}{}", "g".repeat(64))]
    {
        let refused = line.parse::<AcceptedCredential>().map(|_| ()).unwrap_err();
        assert_eq!(refused, InvalidCredentials::MalformedDigest, "{line}");
    }
    let upper = digest_line("cust000001", "one").to_uppercase().replacen("CUST000001", "cust000001", 1);
    assert!(upper.parse::<AcceptedCredential>().is_ok(), "hex digits in either case: {upper}");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("cust000001"), "{SHA256}short\n").unwrap();
    let error = CredentialSetSource::dir(dir.path()).load().unwrap_err();
    assert_eq!(*error.problem(), LoadProblem::Invalid(InvalidCredentials::MalformedDigest));
}

/// A digest line written slightly wrong is never taken as a secret: the marker is read in any
/// case, 64 hex digits without it are refused (the hex itself would let anyone in), and so is
/// any other marker or one cut short. In a file, the bad line is named by its number.
#[tokio::test]
async fn a_digest_line_written_slightly_wrong_is_never_a_secret() {
    bounded(async {
        let line = digest_line("cust000001", "s3cr3t-generated-128-bits");
        let hex = line["cust000001:{SHA256}".len()..].to_owned();
        let lower: AcceptedCredential = format!("cust000001:{{sha256}}{hex}").parse().unwrap();
        assert!(lower.is_digest(), "the marker in any case");
        let server = gateway(ValidateTokenLayer::any_of([&lower])).await;
        assert_eq!(call(&server, "cust000001", "s3cr3t-generated-128-bits").await.0, StatusCode::OK);
        assert_eq!(call(&server, "cust000001", &hex).await.0, StatusCode::UNAUTHORIZED);

        for (value, refused) in [
            (hex.clone(), InvalidCredentials::DigestWithoutMarker),
            (hex.to_uppercase(), InvalidCredentials::DigestWithoutMarker),
            (format!("{{SHA-256}}{hex}"), InvalidCredentials::UnknownMarker),
            ("{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=".to_owned(), InvalidCredentials::UnknownMarker),
            ("{SHA2".to_owned(), InvalidCredentials::UnknownMarker),
            ("{".to_owned(), InvalidCredentials::UnknownMarker),
        ] {
            let error = AcceptedCredential::new("cust000001", value.clone()).map(|_| ()).unwrap_err();
            assert_eq!(error, refused, "{value}");
            assert!(value.len() < 8 || !error.to_string().contains(&value), "names no value: {error}");
        }

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("customers");
        fs::write(&file, format!("cust000002:two\ncust000001:{hex}\n")).unwrap();
        let error = CredentialSetSource::lines(&file).load().unwrap_err();
        let expected = LoadProblem::InvalidLine { line: 2, invalid: InvalidCredentials::DigestWithoutMarker };
        assert_eq!(*error.problem(), expected);
        assert!(
            error.to_string().contains("line 2") && error.to_string().contains("{SHA256}<hex>"),
            "{error}"
        );
    })
    .await;
}

/// A source told to hold digests only refuses a secret, naming its line or file: loading
/// fails, and a follower keeps the last good set and reports the line once.
#[tokio::test]
async fn a_source_of_digests_only_refuses_a_secret() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("customers");
        let good = format!("{}\n{}\n", digest_line("cust000001", "one"), digest_line("cust000002", "two"));
        fs::write(&file, &good).unwrap();
        let source = CredentialSetSource::lines(&file).digests_only();
        assert_eq!(source.load().unwrap().len(), 2);

        let reports = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = reports.clone();
        let options = FollowOptions::default()
            .interval(Duration::from_millis(5))
            .on_error(move |problem| record.lock().unwrap().push(problem.clone()));
        let set = LiveCredentialSet::follow(source.clone(), options).unwrap();
        let server = gateway(ValidateTokenLayer::live(&set)).await;
        replace(&file, &format!("{}cust000003:three\n", good));
        let not_a_digest = LoadProblem::InvalidLine { line: 3, invalid: InvalidCredentials::NotADigest };
        common::wait_until_async("the secret line is reported", async || {
            reports.lock().unwrap().iter().any(|problem| match problem {
                FollowProblem::Load(error) => *error.problem() == not_a_digest,
                _ => false,
            })
        })
        .await;
        assert_eq!(set.ids(), ["cust000001", "cust000002"], "the last good set is kept");
        assert_eq!(call(&server, "cust000003", "three").await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(call(&server, "cust000001", "one").await.0, StatusCode::OK);

        let files = tempfile::tempdir().unwrap();
        fs::write(files.path().join("cust000001"), "{SHA256}".to_owned() + &"0".repeat(64)).unwrap();
        fs::write(files.path().join("cust000002"), "two\n").unwrap();
        let error = CredentialSetSource::dir(files.path()).digests_only().load().unwrap_err();
        assert_eq!(*error.problem(), LoadProblem::Invalid(InvalidCredentials::NotADigest));
        assert!(error.to_string().contains("cust000002"), "names the file: {error}");
        let one = CredentialSetSource::from(jocloud_auth::CredentialsSource::file(files.path().join("pair")));
        fs::write(files.path().join("pair"), "cust000001:one\n").unwrap();
        let error = one.digests_only().load().unwrap_err();
        assert_eq!(*error.problem(), LoadProblem::Invalid(InvalidCredentials::NotADigest));
        assert!(CredentialSetSource::dir(files.path()).load().is_ok(), "without digests_only, a mix");
    })
    .await;
}
