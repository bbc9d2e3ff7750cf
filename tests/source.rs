//! `CredentialsSource`: a Secret volume, a Docker-style secret file, an `id:secret` file; what
//! is stripped, and errors that name the file and the problem, never the content.

mod common;
#[path = "common/kubelet.rs"]
mod kubelet;

use std::{fs, io::ErrorKind};

use jocloud_auth::{
    Credentials, CredentialsSource, InvalidCredentials, LoadError, LoadProblem, Part, Scheme,
};

fn token(credentials: &Credentials) -> String {
    credentials.header_value(Scheme::Base).to_str().unwrap().to_owned()
}

#[test]
fn a_kubelet_secret_volume() {
    let volume = kubelet::SecretVolume::new("qawsedrftg", "abcdefghijk");
    let credentials = CredentialsSource::dir(volume.path()).load().unwrap();
    assert_eq!(token(&credentials), common::VENDOR_TOKEN);
}

#[test]
fn one_trailing_newline_is_stripped_and_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let (id, secret, pair) = (dir.path().join("id"), dir.path().join("secret"), dir.path().join("pair"));
    let dir_source = CredentialsSource::dir(dir.path());
    for (id_text, secret_text) in [("qawsedrftg", "abcdefghijk"), ("qawsedrftg\n", "abcdefghijk\r\n")] {
        fs::write(&id, id_text).unwrap();
        fs::write(&secret, secret_text).unwrap();
        assert_eq!(token(&dir_source.load().unwrap()), common::VENDOR_TOKEN, "{id_text:?} {secret_text:?}");
    }
    fs::write(&pair, "qawsedrftg:abcdefghijk\n").unwrap();
    assert_eq!(token(&CredentialsSource::file(&pair).load().unwrap()), common::VENDOR_TOKEN);

    for (secret_text, problem) in [
        ("abcdefghijk\n\n", InvalidCredentials::SurroundingWhitespace(Part::Secret)),
        ("abcdefghijk \n", InvalidCredentials::SurroundingWhitespace(Part::Secret)),
        ("\n", InvalidCredentials::Empty(Part::Secret)),
        ("abcdefghijk\r", InvalidCredentials::SurroundingWhitespace(Part::Secret)),
        ("abcdef\nghijk\n", InvalidCredentials::ControlCharacter(Part::Secret)),
    ] {
        fs::write(&secret, secret_text).unwrap();
        let error = dir_source.load().unwrap_err();
        assert_eq!(
            error,
            LoadError::File { path: secret.clone(), problem: LoadProblem::Invalid(problem) },
            "{secret_text:?}"
        );
    }
    fs::write(&id, " qawsedrftg\n").unwrap();
    fs::write(&secret, "abcdefghijk\n").unwrap();
    let error = dir_source.load().unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "cannot load jocloud credentials from {}: the certificate ID starts or ends with whitespace",
            id.display()
        )
    );
}

#[test]
fn errors_name_the_file_and_never_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let (id, secret) = (dir.path().join("id"), dir.path().join("secret"));
    let source = CredentialsSource::files(&id, &secret);

    assert_eq!(
        source.load().unwrap_err(),
        LoadError::File { path: id.clone(), problem: LoadProblem::Io(ErrorKind::NotFound) }
    );
    fs::write(&id, "qawsedrftg").unwrap();
    let missing = source.load().unwrap_err();
    assert_eq!(
        missing.to_string(),
        format!("cannot load jocloud credentials from {}: entity not found", secret.display())
    );

    fs::write(&secret, b"hunter2\xff\xfe").unwrap();
    assert_eq!(
        source.load().unwrap_err(),
        LoadError::File { path: secret.clone(), problem: LoadProblem::NotUnicode }
    );

    fs::write(&secret, "hunter2".repeat(4000)).unwrap();
    let too_large = source.load().unwrap_err();
    assert_eq!(
        too_large,
        LoadError::File { path: secret.clone(), problem: LoadProblem::TooLarge { max_bytes: 16 * 1024 } }
    );
    // 16 KiB exactly is read, and then refused for what it holds.
    fs::write(&secret, "s".repeat(16 * 1024)).unwrap();
    let read = source.load().unwrap_err();
    assert!(matches!(read.problem(), LoadProblem::Invalid(InvalidCredentials::TooLong { .. })), "{read:?}");

    fs::write(&secret, "hunter2\u{200b}").unwrap();
    let invisible = source.load().unwrap_err();
    for shown in [invisible.to_string(), format!("{invisible:?}")] {
        assert!(shown.contains(&*secret.to_string_lossy()), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    let pair = dir.path().join("pair");
    fs::write(&pair, "no-separator-hunter2\n").unwrap();
    let error = CredentialsSource::file(&pair).load().unwrap_err();
    assert_eq!(
        error,
        LoadError::File { path: pair, problem: LoadProblem::Invalid(InvalidCredentials::MissingSeparator) }
    );
    assert!(!error.to_string().contains("hunter2"), "{error}");
    for empty in ["", "\n", "\r\n"] {
        fs::write(dir.path().join("pair"), empty).unwrap();
        let error = CredentialsSource::file(dir.path().join("pair")).load().unwrap_err();
        assert_eq!(*error.problem(), LoadProblem::EmptyFile, "{empty:?}");
        assert!(error.to_string().ends_with("the file is empty"), "{error}");
    }

    assert_eq!(CredentialsSource::ID_FILE, "id");
    assert_eq!(CredentialsSource::SECRET_FILE, "secret");
}

/// In a kubelet volume both files are read from the version `..data` points to. Here the
/// top-level `secret` link is left pointing into an older version, which is what a read that
/// straddled an update would see: the load still pairs the current ID with the current secret.
#[test]
fn a_kubelet_volume_is_read_from_one_version() {
    let mut volume = kubelet::SecretVolume::new("id-one", "secret-one");
    let old = volume.data_dir();
    let kept_old = tempfile::tempdir().unwrap();
    std::fs::rename(&old, kept_old.path().join("old")).unwrap();
    volume.update("id-two", "secret-two");
    let old_again = volume.path().join("..2026_11_26_20_59_59.old");
    std::fs::rename(kept_old.path().join("old"), &old_again).unwrap();
    std::fs::remove_file(volume.path().join("secret")).unwrap();
    std::os::unix::fs::symlink(old_again.join("secret"), volume.path().join("secret")).unwrap();

    let credentials = CredentialsSource::dir(volume.path()).load().unwrap();
    assert_eq!(token(&credentials), token(&Credentials::new("id-two", "secret-two").unwrap()));
}

/// A volume's file that cannot be read in the current version is an error, named as given: the
/// top-level path (here replaced with a good file) is not read instead, as it would be for a
/// file the version does not have.
#[test]
fn a_volume_file_unreadable_in_its_version_is_an_error() {
    let volume = kubelet::SecretVolume::new("qawsedrftg", "abcdefghijk");
    fs::write(volume.data_dir().join("secret"), b"\xff\xfe").unwrap();
    let secret = volume.path().join("secret");
    fs::remove_file(&secret).unwrap();
    fs::write(&secret, "abcdefghijk\n").unwrap();

    let error = CredentialsSource::dir(volume.path()).load().unwrap_err();
    assert_eq!(error, LoadError::File { path: secret, problem: LoadProblem::NotUnicode });
}

/// Files of other names beside a kubelet volume are read as they are.
#[test]
fn files_beside_a_kubelet_volume_are_read_directly() {
    let volume = kubelet::SecretVolume::new("volume-id", "volume-secret");
    let (id, secret) = (volume.path().join("my-id"), volume.path().join("my-secret"));
    std::fs::write(&id, "qawsedrftg\n").unwrap();
    std::fs::write(&secret, "abcdefghijk\n").unwrap();
    let credentials = CredentialsSource::files(&id, &secret).load().unwrap();
    assert_eq!(token(&credentials), common::VENDOR_TOKEN);

    // One file of the volume and one beside it, either way round: both as they are.
    let volume = kubelet::SecretVolume::new("qawsedrftg", "volume-secret");
    let (volume_id, volume_secret) = (volume.path().join("id"), volume.path().join("secret"));
    std::fs::write(volume.path().join("my-id"), "qawsedrftg\n").unwrap();
    std::fs::write(volume.path().join("my-secret"), "abcdefghijk\n").unwrap();
    let credentials = CredentialsSource::files(&volume_id, volume.path().join("my-secret")).load().unwrap();
    assert_eq!(token(&credentials), common::VENDOR_TOKEN);
    let credentials = CredentialsSource::files(volume.path().join("my-id"), &volume_secret).load().unwrap();
    assert_eq!(token(&credentials), token(&Credentials::new("qawsedrftg", "volume-secret").unwrap()));
}

/// Loads `source` on a thread of its own and waits for the answer, so that a load that blocks
/// fails this test instead of hanging it.
fn load_unblocked(source: CredentialsSource) -> Result<Credentials, LoadError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(source.load()));
    receiver.recv_timeout(std::time::Duration::from_secs(30)).expect("the load returned without blocking")
}

/// Something other than a regular file at either credentials path, directly or through a
/// symlink: a FIFO (whose plain `open` blocks until a writer comes), a device, a socket, a
/// directory. Each is refused unread, naming the path.
#[test]
fn what_is_not_a_regular_file_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let socket = dir.path().join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let directory = dir.path().join("directory");
    fs::create_dir(&directory).unwrap();
    let device = dir.path().join("device");
    std::os::unix::fs::symlink("/dev/zero", &device).unwrap();
    let good = dir.path().join("good");
    fs::write(&good, "qawsedrftg\n").unwrap();

    for hostile in [&fifo, &socket, &directory, &device] {
        let not_a_file = |path: &std::path::Path| LoadError::File {
            path: path.to_owned(),
            problem: LoadProblem::NotAFile,
        };
        assert_eq!(
            load_unblocked(CredentialsSource::files(hostile, &good)).unwrap_err(),
            not_a_file(hostile)
        );
        assert_eq!(
            load_unblocked(CredentialsSource::files(&good, hostile)).unwrap_err(),
            not_a_file(hostile)
        );
        assert_eq!(load_unblocked(CredentialsSource::file(hostile)).unwrap_err(), not_a_file(hostile));
        let message = not_a_file(hostile).to_string();
        assert!(
            message.contains(&*hostile.to_string_lossy()) && message.contains("not a regular file"),
            "{message}"
        );
    }
}

/// A file whose content is not the length it had when opened was changed while it was read
/// (or, as a `/proc` file, reports no length at all): refused, never read in part.
#[cfg(target_os = "linux")]
#[test]
fn a_file_longer_than_it_said_is_refused_as_changed() {
    let path = std::path::Path::new("/proc/self/status");
    assert_eq!(std::fs::metadata(path).unwrap().len(), 0, "a /proc file reports no length");
    assert_eq!(
        CredentialsSource::file(path).load().unwrap_err(),
        LoadError::File { path: path.to_owned(), problem: LoadProblem::Changed }
    );
}
