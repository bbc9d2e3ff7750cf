//! Any bytes as the token header, against several accepted sets, static and live: accepted if
//! and only if byte-equal to an accepted value, with that credential's ID; otherwise 401 and
//! the inner service never called.
#![no_main]

mod common;

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Mutex,
};

use http::{HeaderValue, Request, Response, StatusCode};
use jocloud_auth::{
    validate::{AuthenticatedId, ValidateTokenLayer},
    Credentials, LiveCredentialSet, Scheme,
};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt};

static CALLS: AtomicUsize = AtomicUsize::new(0);
static LAST_ID: Mutex<Option<String>> = Mutex::new(None);

fn credentials() -> Vec<Credentials> {
    [
        ("qawsedrftg", "abcdefghijk"),
        ("qawsedrftg", "abcdefghijl"),
        ("other", "x"),
        ("id-4", "s".repeat(300).as_str()),
    ]
    .iter()
    .map(|(id, secret)| Credentials::new(*id, *secret).unwrap())
    .collect()
}

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (choice, bytes) = input;
    let all = credentials();
    let accepted: Vec<&Credentials> =
        all.iter().enumerate().filter(|(i, _)| choice & (1 << i) != 0).map(|(_, c)| c).collect();
    let layer = if choice & 0x80 != 0 {
        ValidateTokenLayer::live(&LiveCredentialSet::new(accepted.iter().copied()))
    } else {
        ValidateTokenLayer::any_of(accepted.iter().copied())
    };
    let Ok(value) = HeaderValue::from_bytes(&bytes) else { return };

    let inner = tower::service_fn(|request: Request<()>| {
        CALLS.fetch_add(1, Ordering::SeqCst);
        let id = request.extensions().get::<AuthenticatedId>().expect("an ID").to_string();
        *LAST_ID.lock().unwrap() = Some(id);
        std::future::ready(Ok::<_, std::convert::Infallible>(Response::new(Vec::<u8>::new())))
    });
    let before = CALLS.load(Ordering::SeqCst);
    let request = Request::builder().header("token", value).body(()).unwrap();
    let response = common::now(layer.layer(inner).oneshot(request)).unwrap();
    let called = CALLS.load(Ordering::SeqCst) - before;

    let expected = accepted.iter().find(|c| c.header_value(Scheme::Base).as_bytes() == bytes.as_slice());
    match expected {
        Some(credentials) => {
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(called, 1);
            assert_eq!(LAST_ID.lock().unwrap().take().as_deref(), Some(credentials.id()));
        }
        None => {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(called, 0, "the inner service was called for a rejected token");
        }
    }
});
