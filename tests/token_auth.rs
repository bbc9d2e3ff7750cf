//! `TokenAuthLayer` options: scheme, header name, insert policy, cloud recording's `AppID`, and
//! the scope (HTTPS to jocloud's hosts by default), outside which neither header leaves.

mod common;

use common::{echo, now, VENDOR_TOKEN};
use http::{HeaderName, HeaderValue, Request};
use jocloud_auth::{
    token_auth::{InsertPolicy, TokenAuth, TokenAuthLayer},
    Credentials, Scheme, TOKEN_HEADER,
};
use tower::{Layer, ServiceExt};

/// Sends `request` through `layer`; returns every value of `header` it left with.
fn sent(layer: &TokenAuthLayer, request: Request<()>, header: &HeaderName) -> Vec<HeaderValue> {
    let request = now(layer.layer(echo()).oneshot(request)).unwrap().into_body();
    request.headers().get_all(header).iter().cloned().collect()
}

fn layer() -> TokenAuthLayer {
    TokenAuthLayer::new(&common::vendor_credentials())
}

/// A request the default scope takes in.
const JOCLOUD: &str = "https://ai.jocloud.com/app/123456/v1/image/sync";

fn to(uri: &str) -> Request<()> {
    Request::get(uri).body(()).unwrap()
}

fn carrying(uri: &str, token: &'static str) -> Request<()> {
    Request::get(uri).header(TOKEN_HEADER, token).body(()).unwrap()
}

#[test]
fn the_token_is_sensitive_and_the_scheme_configurable() {
    let base = sent(&layer(), to(JOCLOUD), &TOKEN_HEADER);
    assert_eq!(base, [VENDOR_TOKEN]);
    assert!(base[0].is_sensitive());
    let basic = sent(&layer().scheme(Scheme::Basic), to(JOCLOUD), &TOKEN_HEADER);
    assert_eq!(basic, ["Basic cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw=="]);
    assert!(basic[0].is_sensitive());
    assert_eq!(
        sent(&layer().scheme(Scheme::Basic).scheme(Scheme::Base), to(JOCLOUD), &TOKEN_HEADER),
        [VENDOR_TOKEN]
    );
}

#[test]
fn override_policy_replaces_every_caller_header() {
    let mut request = carrying(JOCLOUD, "Base caller");
    request.headers_mut().append(TOKEN_HEADER, HeaderValue::from_static("Base second"));
    assert_eq!(sent(&layer(), request, &TOKEN_HEADER), [VENDOR_TOKEN]);
}

#[test]
fn if_missing_policy_keeps_a_callers_header() {
    let if_missing = layer().policy(InsertPolicy::IfMissing);
    assert_eq!(sent(&if_missing, carrying(JOCLOUD, "Base caller"), &TOKEN_HEADER), ["Base caller"]);
    assert_eq!(sent(&if_missing, to(JOCLOUD), &TOKEN_HEADER), [VENDOR_TOKEN]);
    let back = if_missing.policy(InsertPolicy::Override);
    assert_eq!(sent(&back, carrying(JOCLOUD, "Base caller"), &TOKEN_HEADER), [VENDOR_TOKEN]);
}

#[test]
fn custom_header_name() {
    let name = HeaderName::from_static("x-jocloud-token");
    let custom = layer().header_name(name.clone());
    assert_eq!(sent(&custom, to(JOCLOUD), &name), [VENDOR_TOKEN]);
    assert!(sent(&custom, to(JOCLOUD), &TOKEN_HEADER).is_empty());
    let if_missing = custom.policy(InsertPolicy::IfMissing);
    let request = Request::get(JOCLOUD).header(&name, "Base caller").body(()).unwrap();
    assert_eq!(sent(&if_missing, request, &name), ["Base caller"]);
}

/// Whether a request to `uri` leaves with the token.
fn gets_token(layer: &TokenAuthLayer, uri: &str) -> bool {
    !sent(layer, to(uri), &TOKEN_HEADER).is_empty()
}

/// Where a request to `uri` leaves for.
fn sent_to(layer: &TokenAuthLayer, uri: &str) -> String {
    now(layer.layer(echo()).oneshot(to(uri))).unwrap().into_body().uri().to_string()
}

/// Plain HTTP to a host the scope reaches over HTTPS leaves over HTTPS, with the token, its
/// method, headers and body as they were: to the port the URI names, or 443 for none or 80.
/// Elsewhere, or with `allow_http`, the URI is left as it is.
#[test]
fn plain_http_into_the_scope_leaves_over_https() {
    for (uri, expected) in [
        (
            "http://ai.jocloud.com/app/1/v1/image/sync?traceId=x",
            "https://ai.jocloud.com/app/1/v1/image/sync?traceId=x",
        ),
        ("http://ai.jocloud.com:80/p", "https://ai.jocloud.com/p"),
        ("http://ai.jocloud.com:8080/p", "https://ai.jocloud.com:8080/p"),
        ("http://example.com/p", "http://example.com/p"),
        ("https://ai.jocloud.com/p", "https://ai.jocloud.com/p"),
    ] {
        assert_eq!(sent_to(&layer(), uri), expected, "{uri}");
    }
    let request = Request::post("http://ai.jocloud.com/p").header("content-type", "application/json");
    let request = request.body("{}").unwrap();
    let sent = now(layer().layer(echo()).oneshot(request)).unwrap().into_body();
    assert_eq!(
        (sent.method(), sent.uri().scheme_str(), *sent.body()),
        (&http::Method::POST, Some("https"), "{}")
    );
    assert_eq!(sent.headers()[TOKEN_HEADER], VENDOR_TOKEN);
    assert_eq!(sent.headers()["content-type"], "application/json");
    assert_eq!(sent_to(&layer().allow_http(), "http://ai.jocloud.com/p"), "http://ai.jocloud.com/p");
    let recording = layer().cloud_recording(7);
    assert_eq!(sent_to(&recording, "http://api.jocloud.com/p"), "https://api.jocloud.com/p");
    assert_eq!(sent_to(&recording, "http://ai.jocloud.com/p"), "http://ai.jocloud.com/p", "not its host");
}

#[test]
fn by_default_the_token_goes_over_https_to_jocloud_only() {
    for (uri, expected) in [
        ("https://ai.jocloud.com/app/1/v1/image/sync", true),
        ("https://api-oversea.jocloud.com/app/1/v1/recordoss/applyrecord", true),
        ("https://AI.JOCLOUD.com:8443/x", true),
        ("https://user@ai.jocloud.com/x", true),
        ("http://127.0.0.1/", false),
        ("http://ai.jocloud.com/x", true),
        ("https://example.com/", false),
        ("https://ai.jocloud.com.evil.example/", false),
        ("https://evil.example/?u=ai.jocloud.com", false),
        ("https://ai.jocloud.com@evil.example/", false),
        ("https://notjocloud.com/", false),
        ("/relative", false),
    ] {
        assert_eq!(gets_token(&layer(), uri), expected, "{uri}");
    }
}

#[test]
fn hosts_of_your_own_replace_jocloud_and_http_is_allowed_only_when_asked() {
    let mock = layer().for_host("127.0.0.1:8080".parse().unwrap());
    assert!(gets_token(&mock, "https://127.0.0.1:8080/"));
    assert_eq!(sent_to(&mock, "http://127.0.0.1:8080/"), "https://127.0.0.1:8080/", "not over plain HTTP");
    assert!(!gets_token(&mock, "https://127.0.0.1:8081/"), "the port was named");
    assert!(!gets_token(&mock, JOCLOUD), "named hosts replace jocloud's");

    let mock = mock.allow_http();
    assert!(gets_token(&mock, "http://127.0.0.1:8080/"));
    assert_eq!(sent_to(&mock, "http://127.0.0.1:8080/"), "http://127.0.0.1:8080/", "as it is");
    assert!(!gets_token(&mock, "ftp://127.0.0.1:8080/"));

    let domain = layer().for_host("*.example.com".parse().unwrap()).for_host("[::1]".parse().unwrap());
    for (uri, expected) in [
        ("https://example.com/", true),
        ("https://a.b.EXAMPLE.com/", true),
        ("https://[::1]:9/", true),
        ("https://example.community/", false),
        ("https://example.com.evil.example/", false),
    ] {
        assert_eq!(gets_token(&domain, uri), expected, "{uri}");
    }
}

/// Whoever put a token header on a request (the caller, under `IfMissing`, or a redirect-following
/// layer replaying an earlier hop), it does not leave for a host outside the scope.
#[test]
fn out_of_scope_requests_leave_with_no_token_header() {
    for policy in [InsertPolicy::Override, InsertPolicy::IfMissing] {
        let scoped = layer().policy(policy);
        for uri in ["https://elsewhere.example/", "http://elsewhere.example/", "/relative"] {
            let mut request = carrying(uri, "Base carried");
            request.headers_mut().append(TOKEN_HEADER, HeaderValue::from_static("Base another"));
            assert_eq!(sent(&scoped, request, &TOKEN_HEADER), Vec::<HeaderValue>::new(), "{uri}, {policy:?}");
        }
        // In scope, the policy decides as usual.
        let kept = sent(&scoped, carrying(JOCLOUD, "Base caller"), &TOKEN_HEADER);
        let expected = if policy == InsertPolicy::IfMissing { "Base caller" } else { VENDOR_TOKEN };
        assert_eq!(kept, [expected]);
    }
    let name = HeaderName::from_static("x-jocloud-token");
    let custom = layer().header_name(name.clone());
    let request = Request::get("http://h/").header(&name, "Base carried").body(()).unwrap();
    assert!(sent(&custom, request, &name).is_empty());
}

/// Both headers of cloud recording, in its scope and out of it, with static and live keys; the
/// options given before or after it still win.
#[test]
fn cloud_recording_sends_app_id_and_basic_to_its_hosts_only() {
    let app_id = HeaderName::from_static("appid");
    let basic = "Basic cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==";
    let recording = layer().cloud_recording(10034);
    for host in ["api.jocloud.com", "api-oversea.jocloud.com"] {
        let uri = format!("https://{host}/app/10034/v1/recordoss/applyrecord");
        assert_eq!(sent(&recording, to(&uri), &TOKEN_HEADER), [basic], "{uri}");
        assert_eq!(sent(&recording, to(&uri), &app_id), ["10034"], "{uri}");
    }
    for uri in [JOCLOUD, "http://example.com/", "https://example.com/"] {
        let request =
            Request::get(uri).header(&app_id, "10034").header(TOKEN_HEADER, basic).body(()).unwrap();
        let request = now(recording.layer(echo()).oneshot(request)).unwrap().into_body();
        assert!(
            request.headers().get(&app_id).is_none() && request.headers().get(TOKEN_HEADER).is_none(),
            "{uri}"
        );
    }

    let before =
        layer().scheme(Scheme::Base).for_host("127.0.0.1".parse().unwrap()).allow_http().cloud_recording(7);
    let after =
        layer().cloud_recording(7).scheme(Scheme::Base).for_host("127.0.0.1".parse().unwrap()).allow_http();
    for layer in [before, after] {
        assert_eq!(sent(&layer, to("http://127.0.0.1/"), &TOKEN_HEADER), [VENDOR_TOKEN]);
        assert_eq!(sent(&layer, to("http://127.0.0.1/"), &app_id), ["7"]);
        assert!(sent(&layer, to("https://api.jocloud.com/"), &app_id).is_empty());
    }

    let if_missing = layer().cloud_recording(7).policy(InsertPolicy::IfMissing);
    let callers = || Request::get("https://api.jocloud.com/").header(&app_id, "8").body(()).unwrap();
    assert_eq!(sent(&if_missing, callers(), &app_id), ["8"], "the policy applies to AppID too");
    assert_eq!(sent(&layer().cloud_recording(7), callers(), &app_id), ["7"], "overridden by default");

    #[cfg(feature = "rotation")]
    {
        let live = jocloud_auth::LiveCredentials::new(&common::vendor_credentials());
        let recording = TokenAuthLayer::live(&live).cloud_recording(10034);
        assert_eq!(sent(&recording, to("https://api.jocloud.com/"), &TOKEN_HEADER), [basic]);
        assert_eq!(sent(&recording, to("https://api.jocloud.com/"), &app_id), ["10034"]);
        assert!(sent(&recording, to(JOCLOUD), &app_id).is_empty());
    }
}

/// `TokenAuth`'s builder methods do what the layer's do.
/// `TokenAuth::new` is the layer's default; a configured layer, called in any order, gives the
/// same service.
#[test]
fn service_constructors_match_the_layer() {
    let credentials = common::vendor_credentials();
    let from_layer = TokenAuthLayer::new(&credentials).layer(echo::<()>());
    let from_service = TokenAuth::new(echo::<()>(), &credentials);
    for uri in ["http://127.0.0.1:443/", "https://127.0.0.1/", JOCLOUD] {
        let through = |service: &TokenAuth<common::Echo<()>>| {
            let request = now(service.clone().oneshot(to(uri))).unwrap().into_body();
            request.headers().get("token").cloned()
        };
        assert_eq!(through(&from_service), through(&from_layer), "{uri}");
    }

    let name = HeaderName::from_static("x-token");
    let one_order = TokenAuthLayer::new(&credentials)
        .scheme(Scheme::Basic)
        .header_name(name.clone())
        .policy(InsertPolicy::IfMissing)
        .for_host("127.0.0.1:443".parse().unwrap())
        .allow_http()
        .cloud_recording(5)
        .layer(echo::<()>());
    let other_order = TokenAuthLayer::new(&credentials)
        .cloud_recording(5)
        .allow_http()
        .for_host("127.0.0.1:443".parse().unwrap())
        .policy(InsertPolicy::IfMissing)
        .header_name(name.clone())
        .scheme(Scheme::Basic)
        .layer(echo::<()>());
    for uri in ["http://127.0.0.1:443/", "https://127.0.0.1/", "https://127.0.0.1:80/", JOCLOUD] {
        let through = |service: &TokenAuth<common::Echo<()>>| {
            let request = now(service.clone().oneshot(to(uri))).unwrap().into_body();
            (request.headers().get(&name).cloned(), request.headers().get("appid").cloned())
        };
        assert_eq!(through(&one_order), through(&other_order), "{uri}");
    }
    let request = now(one_order.oneshot(to("https://127.0.0.1/"))).unwrap().into_body();
    assert_eq!(request.headers()["x-token"], "Basic cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==");

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<TokenAuthLayer>();
    assert_send_sync_clone::<TokenAuth<common::HttpClient>>();
    assert_send_sync_clone::<Credentials>();
}
