//! Every middleware forwards its inner service's readiness and errors, on every request type
//! it serves.

mod common;

use std::task::{Context, Poll, Waker};

use common::Unready;
use http::Request;
use jocloud_auth::{token_auth::TokenAuthLayer, validate::ValidateTokenLayer};
use tower::{Layer, Service};

/// Polls `service` (over an [`Unready`]) twice: pending, then the inner error.
fn assert_forwards<R, S: Service<R, Error = &'static str>>(
    what: &str,
    mut service: S,
    inner: impl Fn(&S) -> u8,
) {
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_pending(), "{what}");
    assert_eq!(service.poll_ready(&mut cx), Poll::Ready(Err("inner failed")), "{what}");
    assert_eq!(inner(&service), 2, "{what}: the inner service was polled each time");
}

#[test]
fn every_middleware_forwards_readiness_and_errors() {
    let credentials = common::vendor_credentials();
    let token = TokenAuthLayer::new(&credentials);
    assert_forwards::<Request<()>, _>("TokenAuth", token.layer(Unready(0)), |s| s.get_ref().0);
    let validate = ValidateTokenLayer::new(&credentials);
    assert_forwards::<Request<()>, _>("ValidateToken", validate.layer(Unready(0)), |s| s.get_ref().0);
    #[cfg(feature = "trace-id")]
    {
        let trace = jocloud_auth::trace_id::SetTraceId::new(Unready(0));
        assert_forwards::<Request<()>, _>("SetTraceId", trace, |s| s.get_ref().0);
    }
}
