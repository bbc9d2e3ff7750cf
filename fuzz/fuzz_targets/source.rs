//! Loading credentials from file contents: exactly what `Credentials::from_str` accepts after
//! one trailing newline is stripped; errors name the file, never the content.
#![no_main]

use std::io::Write;

use jocloud_auth::{Credentials, CredentialsSource, InvalidCredentials, LoadError, LoadProblem, Scheme};
use libfuzzer_sys::fuzz_target;

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
        (Err(LoadError::File { problem: LoadProblem::TooLarge { .. }, .. }), _) => {
            assert!(contents.len() > 16 * 1024)
        }
        (loaded, expected) => panic!("loaded {loaded:?}, expected {expected:?}"),
    }
    let _ = std::fs::remove_file(&file.0);
});

/// A fresh file in the temporary directory, named for this process.
fn tempfile_path() -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("jocloud-auth-fuzz-source-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    (path, file)
}
