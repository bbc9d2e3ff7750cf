//! Loading credentials from file contents: exactly what `Credentials::from_str` accepts after
//! one trailing newline is stripped, an empty file said to be empty; errors name the file,
//! never the content. The same contents as a file of lines: one whose last line has no ending
//! is refused whole; otherwise every line that is not blank or a comment is loaded (a validator
//! of the set accepts each secret line's token), each once, or the first that is not valid (as
//! `AcceptedCredential::from_str` says: a secret, or a digest entry, which this build refuses)
//! is named by its number.
#![no_main]

mod common;

use std::{collections::BTreeSet, io::Write};

use http::{Request, Response};
use jocloud_auth::{
    validate::ValidateTokenLayer, AcceptedCredential, CredentialSetSource, Credentials, CredentialsSource,
    InvalidCredentials, LoadError, LoadProblem, Scheme, TOKEN_HEADER,
};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt};

fuzz_target!(|contents: Vec<u8>| {
    let mut file = tempfile_path();
    file.1.write_all(&contents).unwrap();
    file.1.flush().unwrap();
    let loaded = CredentialsSource::file(&file.0).load();
    let expected: Option<Result<Credentials, InvalidCredentials>> =
        std::str::from_utf8(&contents).ok().map(|text| {
            let line = text.strip_suffix('\n').map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
            line.parse()
        });
    match (loaded, expected) {
        (Ok(loaded), Some(Ok(expected))) => {
            assert_eq!(loaded.header_value(Scheme::Base), expected.header_value(Scheme::Base));
        }
        (Err(LoadError::File { path, problem: LoadProblem::Invalid(problem) }), Some(Err(expected))) => {
            assert_eq!(path, file.0);
            assert_eq!(problem, expected);
        }
        (Err(LoadError::File { path, problem: LoadProblem::NotUnicode }), None) => assert_eq!(path, file.0),
        (Err(LoadError::File { problem: LoadProblem::EmptyFile, .. }), Some(Err(_))) => {
            assert!(matches!(&contents[..], b"" | b"\n" | b"\r\n"), "{contents:?}")
        }
        (Err(LoadError::File { problem: LoadProblem::TooLarge { .. }, .. }), _) => {
            assert!(contents.len() > 16 * 1024)
        }
        (loaded, expected) => panic!("loaded {loaded:?}, expected {expected:?}"),
    }
    check_lines(&file.0, &contents);
    let _ = std::fs::remove_file(&file.0);
});

fn check_lines(path: &std::path::Path, contents: &[u8]) {
    let wanted = |line: &&str| !line.trim().is_empty() && !line.trim_start().starts_with('#');
    match (CredentialSetSource::lines(path).load(), std::str::from_utf8(contents)) {
        (Ok(set), Ok(text)) => {
            assert!(text.ends_with('\n'), "a file of lines cut short was loaded: {text:?}");
            let lines: Vec<&str> = text.lines().filter(wanted).collect();
            // Each distinct credential once: an ID with the same secret.
            let distinct: BTreeSet<(&str, &str)> =
                lines.iter().map(|line| line.split_once(':').unwrap()).collect();
            assert_eq!(set.len(), distinct.len());
            assert!(set.windows(2).all(|pair| pair[0].id() <= pair[1].id()));
            let validator = ValidateTokenLayer::any_of(&set);
            for line in lines {
                let credentials: Credentials = line.parse().unwrap();
                let request = Request::get("/")
                    .header(TOKEN_HEADER, credentials.header_value(Scheme::Base))
                    .body(())
                    .unwrap();
                let inner = tower::service_fn(|_: Request<()>| {
                    std::future::ready(Ok::<_, std::convert::Infallible>(Response::new(bytes::Bytes::new())))
                });
                let response = common::now(validator.clone().layer(inner).oneshot(request)).unwrap();
                assert_eq!(response.status(), 200, "{line}");
            }
        }
        (Err(LoadError::File { problem: LoadProblem::InvalidLine { line, invalid }, .. }), Ok(text)) => {
            let numbered: Vec<(usize, &str)> =
                (1..).zip(text.lines()).filter(|(_, line)| wanted(line)).collect();
            let parse = |line: &str| line.parse::<AcceptedCredential>().map(drop);
            let first_bad = numbered.iter().find(|(_, line)| parse(line).is_err()).unwrap();
            assert_eq!(first_bad.0, line);
            assert_eq!(parse(first_bad.1).unwrap_err(), invalid);
        }
        (Err(LoadError::File { problem: LoadProblem::NoCredentials, .. }), Ok(text)) => {
            assert_eq!(text.lines().filter(wanted).count(), 0)
        }
        (Err(LoadError::File { problem: LoadProblem::UnendedLastLine, .. }), Ok(text)) => {
            assert!(!text.is_empty() && !text.ends_with('\n'), "{text:?}")
        }
        (Err(LoadError::File { problem: LoadProblem::NotUnicode, .. }), Err(_)) => {}
        (loaded, _) => panic!("as lines: loaded {loaded:?}"),
    }
}

/// A fresh file in the temporary directory, named for this process.
fn tempfile_path() -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("jocloud-auth-fuzz-source-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    (path, file)
}
