//! The client's scope, for arbitrary URIs and a token header already on the request: the
//! token leaves only for `https` requests to the scoped host, and no token header at all
//! leaves for any other.
#![no_main]

mod common;

use http::{Request, Uri};
use jocloud_auth::{
    token_auth::{InsertPolicy, TokenAuthLayer},
    Credentials, Scheme,
};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt};

fuzz_target!(|input: (String, bool, bool)| {
    let (uri, carried, if_missing) = input;
    let Ok(uri) = uri.parse::<Uri>() else { return };
    let credentials = Credentials::new("qawsedrftg", "abcdefghijk").unwrap();
    let policy = if if_missing { InsertPolicy::IfMissing } else { InsertPolicy::Override };
    let layer = TokenAuthLayer::new(&credentials)
        .policy(policy)
        .https_only()
        .for_host(http::uri::Authority::from_static("ai.jocloud.com"));
    let mut request = Request::new(());
    *request.uri_mut() = uri.clone();
    if carried {
        request.headers_mut().insert("token", "Base carried".parse().unwrap());
    }
    let echo = tower::service_fn(|request: Request<()>| {
        std::future::ready(Ok::<_, std::convert::Infallible>(request))
    });
    let sent = common::now(layer.layer(echo).oneshot(request)).unwrap();

    let in_scope = uri.scheme_str() == Some("https")
        && uri.authority().is_some_and(|authority| authority.host().eq_ignore_ascii_case("ai.jocloud.com"));
    let tokens: Vec<_> = sent.headers().get_all("token").iter().collect();
    if in_scope {
        let expected = if carried && if_missing {
            "Base carried".parse().unwrap()
        } else {
            credentials.header_value(Scheme::Base)
        };
        assert_eq!(tokens, [&expected]);
    } else {
        assert!(tokens.is_empty(), "a token header left for {uri}");
    }
});
