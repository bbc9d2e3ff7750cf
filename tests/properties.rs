//! Property tests: what `TokenAuth` sends, `ValidateToken` accepts with the right ID, and
//! nothing else; every rejection has its reason.

mod common;

use std::{
    convert::Infallible,
    future::{ready, Ready},
};

use bytes::Bytes;
use common::{now, token_of};
use http::{HeaderValue, Request, Response, StatusCode};
use jocloud_auth::{
    validate::{AuthenticatedId, Rejection, ValidateToken},
    Credentials,
};
use proptest::prelude::*;
use tower::{service_fn, Service};

/// Cases per property in CI; each case is a few microseconds.
const CASES: u32 = 1024;

/// The inner service: reports the ID the validator attached as its body.
type Inner = tower::util::ServiceFn<fn(Request<()>) -> Ready<Result<Response<Bytes>, Infallible>>>;

fn inner() -> Inner {
    service_fn(|request: Request<()>| {
        let id = request.extensions().get::<AuthenticatedId>().map(AuthenticatedId::to_string);
        ready(Ok(Response::new(Bytes::from(id.expect("the inner service is reached only with an ID")))))
    })
}

/// The status, the ID the inner service saw, and the rejection reason.
fn validate(
    validator: &mut ValidateToken<Inner>,
    tokens: &[HeaderValue],
) -> (StatusCode, Option<String>, Option<Rejection>) {
    let mut request = Request::new(());
    for token in tokens {
        request.headers_mut().append("token", token.clone());
    }
    let response = now(validator.call(request)).unwrap();
    let (status, rejection) = (response.status(), response.extensions().get::<Rejection>().copied());
    let body = response.into_body();
    let caller = (status == StatusCode::OK).then(|| String::from_utf8(body.to_vec()).unwrap());
    (status, caller, rejection)
}

/// Valid credentials, generated directly (no filtering): letters and digits of any script,
/// inner spaces and the punctuation consoles use; the secret may contain `:`.
fn credentials_strategy() -> impl Strategy<Value = Credentials> {
    let id = "[\\p{L}\\p{N}._/+=-]([\\p{L}\\p{N} ._/+=-]{0,22}[\\p{L}\\p{N}._/+=-])?";
    let secret = "[\\p{L}\\p{N}._/+=:-]([\\p{L}\\p{N} ._/+=:-]{0,38}[\\p{L}\\p{N}._/+=:-])?";
    (id, secret).prop_map(|(id, secret)| Credentials::new(id, secret).expect("generated valid"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn what_token_auth_sends_is_accepted_with_its_id(credentials in credentials_strategy(), other in credentials_strategy()) {
        let mut validator = ValidateToken::any_of(inner(), [&other, &credentials]);
        let (status, caller, rejection) = validate(&mut validator, &[token_of(&credentials)]);
        prop_assert_eq!(status, StatusCode::OK);
        prop_assert_eq!(caller.as_deref(), Some(credentials.id()));
        prop_assert_eq!(rejection, None);
        prop_assert!(token_of(&credentials).is_sensitive());
    }

    #[test]
    fn arbitrary_header_bytes_are_accepted_only_when_equal(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
        let credentials = common::vendor_credentials();
        let mut validator = ValidateToken::new(inner(), &credentials);
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let (status, _, rejection) = validate(&mut validator, std::slice::from_ref(&value));
            if value == token_of(&credentials) {
                prop_assert_eq!(status, StatusCode::OK);
            } else {
                prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
                let expected = if bytes.starts_with(b"Base ") { Rejection::UnknownCredential } else { Rejection::Malformed };
                prop_assert_eq!(rejection, Some(expected));
            }
        }
    }

    #[test]
    fn near_misses_are_rejected(
        credentials in credentials_strategy(),
        position in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
        cut in any::<prop::sample::Index>(),
        extra in proptest::collection::vec(0x21u8..0x7f, 1..8),
    ) {
        let token = token_of(&credentials);
        let bytes = token.as_bytes();
        let mut validator = ValidateToken::new(inner(), &credentials);
        let mut changed = bytes.to_vec();
        let at = position.index(changed.len());
        changed[at] = replacement;
        let mut extended = bytes.to_vec();
        extended.extend_from_slice(&extra);
        for candidate in [changed, bytes[..cut.index(bytes.len())].to_vec(), extended] {
            if let Ok(value) = HeaderValue::from_bytes(&candidate) {
                let expected = if candidate == bytes { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
                prop_assert_eq!(validate(&mut validator, &[value]).0, expected);
            }
        }
        // Several headers are refused even when each alone would pass.
        let (status, _, rejection) = validate(&mut validator, &[token.clone(), token]);
        prop_assert_eq!(status, StatusCode::UNAUTHORIZED);
        prop_assert_eq!(rejection, Some(Rejection::SeveralHeaders));
    }
}
