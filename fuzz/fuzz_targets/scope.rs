//! The client's scope, for arbitrary URIs and a token header already on the request: the
//! token leaves only over HTTPS to jocloud's hosts (the default scope) or to a named host and
//! port, as `http` reads the URI, a plain-HTTP request to one of those going over HTTPS
//! instead (port 80 becoming 443); no token header at all leaves for any other. A host must be
//! a DNS name (a trailing dot allowed): RFC 3986 lets a URI's host hold `(`, `,` and more,
//! which no name that resolves can, and the layer sends such a request nothing.
#![no_main]

mod common;

use http::{Request, Uri};
use jocloud_auth::{
    token_auth::{InsertPolicy, TokenAuthLayer},
    Credentials, Scheme,
};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt};

fuzz_target!(|input: (String, bool, bool, bool)| {
    let (uri, carried, if_missing, named) = input;
    let Ok(uri) = uri.parse::<Uri>() else { return };
    let credentials = Credentials::new("qawsedrftg", "abcdefghijk").unwrap();
    let policy = if if_missing { InsertPolicy::IfMissing } else { InsertPolicy::Override };
    let mut layer = TokenAuthLayer::new(&credentials).policy(policy);
    if named {
        layer = layer.for_host("ai.jocloud.com:8443".parse().unwrap());
    }
    let mut request = Request::new(());
    *request.uri_mut() = uri.clone();
    if carried {
        request.headers_mut().insert("token", "Base carried".parse().unwrap());
    }
    let echo = tower::service_fn(|request: Request<()>| {
        std::future::ready(Ok::<_, std::convert::Infallible>(http::Response::new(request)))
    });
    let sent = common::now(layer.layer(echo).oneshot(request)).unwrap().into_body();

    // The reference: `http`'s own reading of the host and port; plain HTTP is judged as the
    // HTTPS request it would become.
    let host = uri.host().unwrap_or("").to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    let (web, port) = match uri.scheme_str() {
        Some("https") => (true, uri.port_u16().or(Some(443))),
        Some("http") => (true, uri.port_u16().filter(|&port| port != 80).or(Some(443))),
        _ => (false, None),
    };
    let label = |label: &str| {
        !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let host_ok = host.split('.').all(label)
        && if named {
            host == "ai.jocloud.com" && port == Some(8443)
        } else {
            host == "jocloud.com" || host.ends_with(".jocloud.com")
        };
    let in_scope = web && host_ok;
    let tokens: Vec<_> = sent.headers().get_all("token").iter().collect();
    if in_scope {
        assert_eq!(sent.uri().scheme_str(), Some("https"), "{uri}");
        assert_eq!((sent.uri().host(), sent.uri().path_and_query()), (uri.host(), uri.path_and_query()));
        let expected = if carried && if_missing {
            "Base carried".parse().unwrap()
        } else {
            credentials.header_value(Scheme::Base)
        };
        assert_eq!(tokens, [&expected], "{uri}");
    } else {
        assert!(tokens.is_empty(), "a token header left for {uri}");
        assert_eq!(sent.uri(), &uri, "a request outside the scope goes as it is");
    }
});
