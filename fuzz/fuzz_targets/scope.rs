//! The client's scope, for arbitrary URIs and a token header already on the request: the
//! token leaves only for `https` requests to jocloud's hosts (the default scope) or to a named
//! host and port, as `http` reads the URI, and no token header at all leaves for any other. A
//! host must be a DNS name (a trailing dot allowed): RFC 3986 lets a URI's host hold `(`, `,`
//! and more, which no name that resolves can, and the layer sends such a request nothing.
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
        std::future::ready(Ok::<_, std::convert::Infallible>(request))
    });
    let sent = common::now(layer.layer(echo).oneshot(request)).unwrap();

    // The reference: `http`'s own reading of the host and port.
    let host = uri.host().unwrap_or("").to_ascii_lowercase();
    let host = host.strip_suffix('.').unwrap_or(&host);
    let port = uri.port_u16().or((uri.scheme_str() == Some("https")).then_some(443));
    let label = |label: &str| {
        !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let host_ok = host.split('.').all(label)
        && if named {
            host == "ai.jocloud.com" && port == Some(8443)
        } else {
            host == "jocloud.com" || host.ends_with(".jocloud.com")
        };
    let in_scope = uri.scheme_str() == Some("https") && host_ok;
    let tokens: Vec<_> = sent.headers().get_all("token").iter().collect();
    if in_scope {
        let expected = if carried && if_missing {
            "Base carried".parse().unwrap()
        } else {
            credentials.header_value(Scheme::Base)
        };
        assert_eq!(tokens, [&expected], "{uri}");
    } else {
        assert!(tokens.is_empty(), "a token header left for {uri}");
    }
});
