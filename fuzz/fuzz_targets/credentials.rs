//! Credentials parsing and encoding against an independent statement of the rules; `Debug`
//! never shows the secret.
#![no_main]

use base64::Engine as _;
use jocloud_auth::{Credentials, Scheme};
use libfuzzer_sys::fuzz_target;

/// The rules, written out again: non-empty, no surrounding whitespace, no control or
/// invisible format character; the ID without `:`; the header value at most 8 KiB.
fn valid(id: &str, secret: &str) -> bool {
    let part = |s: &str| {
        let invisible = |c: char| {
            matches!(c, '\u{ad}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}')
                || matches!(c, '\u{2066}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
        };
        !s.is_empty() && s.trim() == s && !s.chars().any(|c| c.is_control() || invisible(c))
    };
    let header = "Basic ".len() + (id.len() + 1 + secret.len()).div_ceil(3) * 4;
    part(id) && part(secret) && !id.contains(':') && header <= 8192
}

fuzz_target!(|input: (String, String)| {
    let (id, secret) = input;
    match Credentials::new(id.as_str(), secret.as_str()) {
        Ok(credentials) => {
            assert!(valid(&id, &secret), "accepted {id:?} / {secret:?}");
            let value = credentials.header_value(Scheme::Base);
            assert!(value.is_sensitive());
            let payload = value.to_str().unwrap().strip_prefix("Base ").unwrap();
            let decoded = base64::engine::general_purpose::STANDARD.decode(payload).unwrap();
            assert_eq!(decoded, format!("{id}:{secret}").into_bytes());
            assert_eq!(
                format!("{credentials:?}"),
                format!("Credentials {{ id: {id:?}, secret: \"[redacted]\" }}")
            );
            let parsed: Credentials = format!("{id}:{secret}").parse().unwrap();
            assert_eq!(parsed.header_value(Scheme::Base), value);
        }
        Err(error) => {
            assert!(!valid(&id, &secret), "refused {id:?} / {secret:?}: {error}");
            // Error texts are fixed words; a secret with a character none of them uses cannot
            // appear in one by chance, so finding it there would mean it was copied in.
            let unusual = |c: char| !c.is_ascii() || "!#$%&*+=?@[]^{|}~;".contains(c);
            if secret.chars().any(unusual) {
                assert!(!error.to_string().contains(&secret) && !format!("{error:?}").contains(&secret));
            }
        }
    }
});
