//! Loading credentials from file contents: exactly what `Credentials::from_str` accepts after
//! one trailing newline is stripped; errors name the file, never the content. The same contents
//! as a file of lines: every line that is not blank or a comment is loaded, or the first that is
//! not valid is named by its number.
#![no_main]

use std::io::Write;

use jocloud_auth::{
    CredentialSetSource, Credentials, CredentialsSource, InvalidCredentials, LoadError, LoadProblem, Scheme,
};
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
    check_lines(&file.0, &contents);
    let _ = std::fs::remove_file(&file.0);
});

fn check_lines(path: &std::path::Path, contents: &[u8]) {
    let wanted = |line: &&str| !line.trim().is_empty() && !line.trim_start().starts_with('#');
    let value = |credentials: &Credentials| credentials.header_value(Scheme::Base);
    match (CredentialSetSource::lines(path).load(), std::str::from_utf8(contents)) {
        (Ok(set), Ok(text)) => {
            let lines: Vec<Credentials> =
                text.lines().filter(wanted).map(|line| line.parse().unwrap()).collect();
            assert!(!set.is_empty() && set.len() <= lines.len());
            assert!(lines.iter().all(|line| set.iter().any(|loaded| value(loaded) == value(line))));
            assert!(set
                .windows(2)
                .all(|pair| pair[0].id() <= pair[1].id() && value(&pair[0]) != value(&pair[1])));
        }
        (Err(LoadError::File { problem: LoadProblem::InvalidLine { line, invalid }, .. }), Ok(text)) => {
            let numbered: Vec<(usize, &str)> =
                (1..).zip(text.lines()).filter(|(_, line)| wanted(line)).collect();
            let first_bad = numbered.iter().find(|(_, line)| line.parse::<Credentials>().is_err()).unwrap();
            assert_eq!(first_bad.0, line);
            assert_eq!(first_bad.1.parse::<Credentials>().unwrap_err(), invalid);
        }
        (Err(LoadError::File { problem: LoadProblem::NoCredentials, .. }), Ok(text)) => {
            assert_eq!(text.lines().filter(wanted).count(), 0)
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
