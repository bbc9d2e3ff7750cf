//! `TokenAuthLayer` options: scheme, header name, insert policy, and the scope, outside which no
//! token header leaves.

mod common;

use common::{echo, now, VENDOR_TOKEN};
use http::{uri::Authority, HeaderName, HeaderValue, Request};
use jocloud_auth::{
    token_auth::{InsertPolicy, TokenAuth, TokenAuthLayer},
    Credentials, Scheme, TOKEN_HEADER,
};
use tower::{Layer, Service, ServiceExt};

/// Sends `request` through `layer`; returns every value of `header` it left with.
fn sent(layer: &TokenAuthLayer, request: Request<()>, header: &HeaderName) -> Vec<HeaderValue> {
    let request = now(layer.layer(echo()).oneshot(request)).unwrap();
    request.headers().get_all(header).iter().cloned().collect()
}

fn layer() -> TokenAuthLayer {
    TokenAuthLayer::new(&common::vendor_credentials())
}

fn carrying(uri: &str, token: &'static str) -> Request<()> {
    Request::get(uri).header(TOKEN_HEADER, token).body(()).unwrap()
}

#[test]
fn the_token_is_sensitive_and_the_scheme_configurable() {
    let base = sent(&layer(), Request::new(()), &TOKEN_HEADER);
    assert_eq!(base, [VENDOR_TOKEN]);
    assert!(base[0].is_sensitive());
    let basic = sent(&layer().scheme(Scheme::Basic), Request::new(()), &TOKEN_HEADER);
    assert_eq!(basic, ["Basic cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw=="]);
    assert!(basic[0].is_sensitive());
    assert_eq!(
        sent(&layer().scheme(Scheme::Basic).scheme(Scheme::Base), Request::new(()), &TOKEN_HEADER),
        [VENDOR_TOKEN]
    );
}

#[test]
fn override_policy_replaces_every_caller_header() {
    let mut request = carrying("/", "Base caller");
    request.headers_mut().append(TOKEN_HEADER, HeaderValue::from_static("Base second"));
    assert_eq!(sent(&layer(), request, &TOKEN_HEADER), [VENDOR_TOKEN]);
}

#[test]
fn if_missing_policy_keeps_a_callers_header() {
    let if_missing = layer().policy(InsertPolicy::IfMissing);
    assert_eq!(sent(&if_missing, carrying("/", "Base caller"), &TOKEN_HEADER), ["Base caller"]);
    assert_eq!(sent(&if_missing, Request::new(()), &TOKEN_HEADER), [VENDOR_TOKEN]);
    let back = if_missing.policy(InsertPolicy::Override);
    assert_eq!(sent(&back, carrying("/", "Base caller"), &TOKEN_HEADER), [VENDOR_TOKEN]);
}

#[test]
fn custom_header_name() {
    let name = HeaderName::from_static("x-jocloud-token");
    let custom = layer().header_name(name.clone());
    assert_eq!(sent(&custom, Request::new(()), &name), [VENDOR_TOKEN]);
    assert!(sent(&custom, Request::new(()), &TOKEN_HEADER).is_empty());
    let if_missing = custom.policy(InsertPolicy::IfMissing);
    let request = Request::builder().header(&name, "Base caller").body(()).unwrap();
    assert_eq!(sent(&if_missing, request, &name), ["Base caller"]);
}

#[test]
fn scope_limits_which_requests_get_the_token() {
    let scoped = layer().https_only().for_host(Authority::from_static("ai.jocloud.com"));
    for (uri, expected) in [
        ("https://ai.jocloud.com/app/1/v1/image/sync", true),
        ("https://AI.JOCLOUD.com:8443/x", true), // no port in the rule: any port
        ("https://user@ai.jocloud.com/x", true),
        ("http://ai.jocloud.com/x", false),
        ("https://evil.example/x", false),
        ("https://ai.jocloud.com.evil.example/x", false),
        ("/relative", false),
    ] {
        let got = sent(&scoped, Request::get(uri).body(()).unwrap(), &TOKEN_HEADER);
        assert_eq!(!got.is_empty(), expected, "{uri}");
    }

    let with_port = layer().for_host(Authority::from_static("api.example:443"));
    for (uri, expected) in [
        ("https://api.example/x", true),
        ("https://api.example:443/x", true),
        ("http://api.example:443/x", true),
        ("http://api.example/x", false),
        ("https://api.example:8443/x", false),
        ("/relative", false),
    ] {
        let got = sent(&with_port, Request::get(uri).body(()).unwrap(), &TOKEN_HEADER);
        assert_eq!(!got.is_empty(), expected, "{uri}");
    }
    let http_port = layer().for_host(Authority::from_static("api.example:80"));
    assert_eq!(
        sent(&http_port, Request::get("http://api.example/x").body(()).unwrap(), &TOKEN_HEADER).len(),
        1
    );

    let two_hosts =
        layer().for_host(Authority::from_static("a.example")).for_host(Authority::from_static("b.example"));
    for uri in ["https://a.example/", "http://b.example/"] {
        assert_eq!(sent(&two_hosts, Request::get(uri).body(()).unwrap(), &TOKEN_HEADER).len(), 1, "{uri}");
    }
}

/// Whoever put a token header on a request (the caller, under `IfMissing`, or a redirect-following
/// layer replaying an earlier hop), it does not leave for a host outside the scope.
#[test]
fn out_of_scope_requests_leave_with_no_token_header() {
    for policy in [InsertPolicy::Override, InsertPolicy::IfMissing] {
        let scoped = layer().policy(policy).https_only().for_host(Authority::from_static("ai.jocloud.com"));
        for uri in ["https://elsewhere.example/", "http://ai.jocloud.com/", "/relative"] {
            let mut request = carrying(uri, "Base carried");
            request.headers_mut().append(TOKEN_HEADER, HeaderValue::from_static("Base another"));
            assert_eq!(sent(&scoped, request, &TOKEN_HEADER), Vec::<HeaderValue>::new(), "{uri}, {policy:?}");
        }
        // In scope, the policy decides as usual.
        let kept = sent(&scoped, carrying("https://ai.jocloud.com/", "Base caller"), &TOKEN_HEADER);
        let expected = if policy == InsertPolicy::IfMissing { "Base caller" } else { VENDOR_TOKEN };
        assert_eq!(kept, [expected]);
    }
    let name = HeaderName::from_static("x-jocloud-token");
    let custom = layer().header_name(name.clone()).https_only();
    let request = Request::get("http://h/").header(&name, "Base carried").body(()).unwrap();
    assert!(sent(&custom, request, &name).is_empty());
}

#[test]
fn service_constructors_match_the_layer() {
    let credentials = common::vendor_credentials();
    let service = TokenAuth::new(echo::<()>(), &credentials)
        .scheme(Scheme::Basic)
        .header_name(HeaderName::from_static("x-token"))
        .policy(InsertPolicy::IfMissing)
        .https_only()
        .for_host(Authority::from_static("ai.jocloud.com:443"));
    assert_eq!(format!("{:?}", service.clone().into_inner()), format!("{:?}", echo::<()>()),);
    let shown = format!("{service:?}");
    assert!(shown.starts_with("TokenAuth { inner: "), "{shown}");
    assert!(shown.ends_with(r#"layer: TokenAuthLayer { id: "qawsedrftg", scheme: Basic, header_name: "x-token", policy: IfMissing, scope: Scope { https_only: true, hosts: ["ai.jocloud.com:443"] }, .. } }"#), "{shown}");
    let request = Request::get("https://ai.jocloud.com/").body(()).unwrap();
    let request = now(service.oneshot(request)).unwrap();
    assert_eq!(request.headers()["x-token"], "Basic cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==");

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<TokenAuthLayer>();
    assert_send_sync_clone::<TokenAuth<common::HttpClient>>();
    assert_send_sync_clone::<Credentials>();
}

#[test]
fn poll_ready_forwards_readiness_and_errors() {
    let mut service = layer().layer(common::Unready(0));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(service.poll_ready(&mut cx).is_pending());
    assert_eq!(service.poll_ready(&mut cx), std::task::Poll::Ready(Err("inner failed")));
    assert_eq!(service.get_ref().0, 2);
    service.get_mut().0 = 0;
    assert!(service.poll_ready(&mut cx).is_pending());
}
