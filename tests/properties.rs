//! Property tests: what `TokenAuth` sends, `ValidateToken` accepts, and nothing else.

use std::{
    convert::Infallible,
    future::{ready, Future, Ready},
    pin::pin,
    task::{Context, Poll, Waker},
};

use http::{HeaderValue, Request, Response, StatusCode};
use jocloud_auth::{
    token_auth::TokenAuth,
    validate::{AuthenticatedId, ValidateToken},
    Credentials,
};
use proptest::prelude::*;
use tower::{service_fn, Service};

/// Cases per property in CI; each case is a few microseconds.
const CASES: u32 = 1024;

/// The inner service: reports the ID the validator attached.
type Inner = tower::util::ServiceFn<fn(Request<()>) -> Ready<Result<Response<String>, Infallible>>>;

fn inner() -> Inner {
    service_fn(|request: Request<()>| {
        let id = request.extensions().get::<AuthenticatedId>().map(|id| id.as_str().to_owned());
        ready(Ok(Response::new(id.unwrap_or_default())))
    })
}

/// Polls a future that this test knows to be ready at once (every service here is).
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("every future in these tests completes at once"),
    }
}

fn validate(validator: &mut ValidateToken<Inner>, tokens: &[HeaderValue]) -> Response<String> {
    let mut request = Request::new(());
    for token in tokens {
        request.headers_mut().append("token", token.clone());
    }
    now(validator.call(request)).unwrap()
}

/// What `TokenAuth` sends for `credentials`.
fn token_of(credentials: &Credentials) -> HeaderValue {
    let mut client =
        TokenAuth::new(service_fn(|request: Request<()>| ready(Ok::<_, Infallible>(request))), credentials);
    now(client.call(Request::new(()))).unwrap().headers()["token"].clone()
}

fn credentials_strategy() -> impl Strategy<Value = Credentials> {
    // Anything printable, spaces inside included, that `Credentials::new` accepts.
    ("[^:\\s][^:]{0,24}", "[^\\s]\\PC{0,40}")
        .prop_filter_map("rejected by Credentials::new", |(id, secret)| Credentials::new(id, secret).ok())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn what_token_auth_sends_is_accepted_with_its_id(credentials in credentials_strategy(), other in credentials_strategy()) {
        let mut validator = ValidateToken::any_of(inner(), [&other, &credentials]);
        let response = validate(&mut validator, &[token_of(&credentials)]);
        prop_assert_eq!(response.status(), StatusCode::OK);
        prop_assert_eq!(response.body(), credentials.id());
        let sent = token_of(&credentials);
        prop_assert!(sent.is_sensitive());
    }

    #[test]
    fn arbitrary_header_bytes_are_accepted_only_when_equal(bytes in proptest::collection::vec(any::<u8>(), 0..160)) {
        let credentials = Credentials::new("qawsedrftg", "abcdefghijk").unwrap();
        let mut validator = ValidateToken::new(inner(), &credentials);
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let response = validate(&mut validator, std::slice::from_ref(&value));
            let expected = if value == token_of(&credentials) { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
            prop_assert_eq!(response.status(), expected);
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
                prop_assert_eq!(validate(&mut validator, &[value]).status(), expected);
            }
        }
        // Several headers are refused even when each alone would pass.
        prop_assert_eq!(validate(&mut validator, &[token.clone(), token]).status(), StatusCode::UNAUTHORIZED);
    }
}
