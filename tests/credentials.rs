//! `Credentials`: encoding vectors, parsing, every `InvalidCredentials`, the environment.

mod common;

use jocloud_auth::{Credentials, InvalidCredentials, LoadError, LoadProblem, Part, Scheme};

#[test]
fn vendor_vector() {
    let credentials = common::vendor_credentials();
    assert_eq!(common::token_of(&credentials), common::VENDOR_TOKEN);
    assert_eq!(credentials.header_value(Scheme::Base), common::VENDOR_TOKEN);
    assert_eq!(credentials.header_value(Scheme::Basic), "Basic cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==");
    assert!(credentials.header_value(Scheme::Base).is_sensitive());
}

#[test]
fn non_ascii_vector() {
    // Expected value computed independently, with both
    //   python3 -c "import base64; print(base64.b64encode('证书-Сертификат:s/e+c=ré'.encode()).decode())"
    //   printf '%s' '证书-Сертификат:s/e+c=ré' | base64
    // which agree.
    let credentials = Credentials::new("证书-Сертификат", "s/e+c=r\u{e9}").unwrap();
    assert_eq!(common::token_of(&credentials), "Base 6K+B5LmmLdCh0LXRgNGC0LjRhNC40LrQsNGCOnMvZStjPXLDqQ==");
}

#[test]
fn parses_id_colon_secret_at_the_first_colon() {
    let credentials: Credentials = "id:se:cret".parse().unwrap();
    assert_eq!(credentials.id(), "id");
    assert_eq!(
        credentials.header_value(Scheme::Base),
        Credentials::new("id", "se:cret").unwrap().header_value(Scheme::Base)
    );
}

#[test]
fn schemes_parse_from_their_words() {
    assert_eq!("Base".parse::<Scheme>(), Ok(Scheme::Base));
    assert_eq!("Basic".parse::<Scheme>(), Ok(Scheme::Basic));
    for word in ["base", "BASIC", "Bearer", "", "Base "] {
        let error = word.parse::<Scheme>().unwrap_err();
        assert_eq!(error.to_string(), "unknown jocloud token scheme: expected `Base` or `Basic`");
    }
    assert_eq!(Scheme::Basic.to_string(), "Basic");
}

#[test]
fn every_credentials_error() {
    use InvalidCredentials::*;
    use Part::{Id, Secret};
    let long = "x".repeat(16 << 20);
    let cases: Vec<(Result<Credentials, InvalidCredentials>, InvalidCredentials, &str)> = vec![
        (Credentials::new("", "hunter2-XYZ"), Empty(Id), "the certificate ID is empty"),
        (Credentials::new("id", ""), Empty(Secret), "the secret key is empty"),
        (Credentials::new("a:b", "hunter2-XYZ"), IdContainsColon, "the certificate ID contains ':'"),
        (
            Credentials::new(" id", "hunter2-XYZ"),
            SurroundingWhitespace(Id),
            "ID starts or ends with whitespace",
        ),
        (
            Credentials::new("id\n", "hunter2-XYZ"),
            SurroundingWhitespace(Id),
            "ID starts or ends with whitespace",
        ),
        (
            Credentials::new("id", "hunter2-XYZ "),
            SurroundingWhitespace(Secret),
            "key starts or ends with whitespace",
        ),
        (
            Credentials::new("id", "\thunter2-XYZ"),
            SurroundingWhitespace(Secret),
            "key starts or ends with whitespace",
        ),
        (
            Credentials::new("i\0d", "hunter2-XYZ"),
            ControlCharacter(Id),
            "the certificate ID contains a control character",
        ),
        (
            Credentials::new("id", "hunter2\n-XYZ"),
            ControlCharacter(Secret),
            "the secret key contains a control character",
        ),
        (
            Credentials::new("id", "hunter2\u{7}-XYZ"),
            ControlCharacter(Secret),
            "the secret key contains a control",
        ),
        (
            Credentials::new("id", "hunter2\u{85}-XYZ"),
            ControlCharacter(Secret),
            "the secret key contains a control",
        ),
        (
            Credentials::new("\u{feff}id", "hunter2-XYZ"),
            InvisibleCharacter(Id),
            "the certificate ID contains an invisible",
        ),
        (
            Credentials::new("id", "hunter2\u{200b}-XYZ"),
            InvisibleCharacter(Secret),
            "the secret key contains an invisible",
        ),
        (
            Credentials::new("id", "hunter2\u{200d}-XYZ"),
            InvisibleCharacter(Secret),
            "the secret key contains an invisible",
        ),
        (
            Credentials::new("id", "hunter2\u{2060}-XYZ"),
            InvisibleCharacter(Secret),
            "the secret key contains an invisible",
        ),
        (
            Credentials::new("id", "hunter2-XYZ\u{feff}"),
            InvisibleCharacter(Secret),
            "the secret key contains an invisible",
        ),
        (
            Credentials::new("id", format!("hunter2-XYZ{long}")),
            TooLong { max_header_bytes: 8192 },
            "8192-byte header limit",
        ),
        ("no-separator".parse(), MissingSeparator, "expected \"<id>:<secret>\", found no ':'"),
        (":hunter2-XYZ".parse(), Empty(Id), "the certificate ID is empty"),
        ("id:".parse(), Empty(Secret), "the secret key is empty"),
    ];
    for (result, expected, message) in cases {
        let error = result.unwrap_err();
        assert_eq!(error, expected);
        let shown = error.to_string();
        assert_eq!(
            shown,
            format!(
                "invalid jocloud credentials: {}",
                shown.trim_start_matches("invalid jocloud credentials: ")
            )
        );
        assert!(shown.contains(message), "{shown:?} should contain {message:?}");
        assert!(!shown.contains("hunter2") && !format!("{error:?}").contains("hunter2"), "{shown}");
    }
    // Inner spaces are fine: only leading or trailing whitespace is a likely paste error.
    assert!(Credentials::new("my id", "my secret").is_ok());
}

#[test]
fn the_header_limit_is_eight_kibibytes_with_the_longer_scheme() {
    // A 4 KiB secret, as long as any console issues, is well inside it.
    assert!(Credentials::new("qawsedrftg", "s".repeat(4096)).is_ok());
    // "Basic " + base64 of id ":" secret: 6 + 4 * ceil(n / 3) bytes. 6138 bytes of payload
    // give exactly 8190, 6139 give 8194.
    let secret = |payload: usize| "s".repeat(payload - "qawsedrftg:".len());
    let longest = Credentials::new("qawsedrftg", secret(6138)).unwrap();
    assert_eq!(longest.header_value(Scheme::Basic).len(), 8190);
    assert_eq!(
        Credentials::new("qawsedrftg", secret(6139)).unwrap_err(),
        InvalidCredentials::TooLong { max_header_bytes: 8192 }
    );
}

#[test]
fn environment_variables() {
    // The only test in this binary that touches the environment, so nothing races it.
    const ID: &str = Credentials::ID_VAR;
    const SECRET: &str = Credentials::SECRET_VAR;
    std::env::remove_var(ID);
    std::env::remove_var(SECRET);
    let error = Credentials::from_env().unwrap_err();
    assert_eq!(error, LoadError::EnvVar { name: "JOCLOUD_SECRET_ID", problem: LoadProblem::NotSet });
    assert_eq!(
        error.to_string(),
        "cannot load jocloud credentials from environment variable JOCLOUD_SECRET_ID: not set"
    );

    std::env::set_var(ID, "qawsedrftg");
    assert_eq!(
        Credentials::from_env().unwrap_err(),
        LoadError::EnvVar { name: "JOCLOUD_SECRET_KEY", problem: LoadProblem::NotSet }
    );

    #[cfg(unix)]
    {
        use std::{ffi::OsStr, os::unix::ffi::OsStrExt};
        std::env::set_var(SECRET, OsStr::from_bytes(b"abc\xffdef"));
        let error = Credentials::from_env().unwrap_err();
        assert_eq!(error, LoadError::EnvVar { name: "JOCLOUD_SECRET_KEY", problem: LoadProblem::NotUnicode });
        assert_eq!(
            error.to_string(),
            "cannot load jocloud credentials from environment variable JOCLOUD_SECRET_KEY: not valid UTF-8"
        );
    }

    std::env::set_var(SECRET, "abcdefghijk ");
    assert_eq!(
        Credentials::from_env().unwrap_err(),
        LoadError::EnvVar {
            name: "JOCLOUD_SECRET_KEY",
            problem: LoadProblem::Invalid(InvalidCredentials::SurroundingWhitespace(Part::Secret))
        }
    );
    std::env::set_var(SECRET, "abcdefghijk");
    std::env::set_var(ID, "qaws:edrftg");
    assert_eq!(
        Credentials::from_env().unwrap_err(),
        LoadError::EnvVar {
            name: "JOCLOUD_SECRET_ID",
            problem: LoadProblem::Invalid(InvalidCredentials::IdContainsColon)
        }
    );
    std::env::set_var(ID, "qawsedrftg");

    std::env::set_var(SECRET, "abcdefghijk");
    assert_eq!(Credentials::from_env().unwrap().header_value(Scheme::Base), common::VENDOR_TOKEN);
    std::env::remove_var(ID);
    std::env::remove_var(SECRET);
}
