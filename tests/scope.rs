//! The default scope through real clients over real TLS on loopback: a hyper-util client over
//! hyper-rustls and the reqwest client of `reqwest::client_builder`, whose resolvers map every
//! name the test certificate holds to loopback. A URL in the scope gets the token, over HTTPS
//! (plain HTTP to jocloud's name going over HTTPS instead); any other gets none, even when the
//! caller set one. Redirects: tests/redirects.rs.
#![cfg(feature = "reqwest")]

mod common;
#[path = "common/tls.rs"]
mod tls;

use std::future::ready;

use common::{bounded, text, Server, VENDOR_TOKEN};
use http::Request;
use http_body_util::Full;
use hyper::body::Incoming;
use jocloud_auth::token_auth::TokenAuthLayer;
use tls::Pki;
use tower::{service_fn, Layer, ServiceExt};

/// URLs (with `{tls}` for the HTTPS server's port and `{plain}` for the plain one's) and
/// whether the default layer sends the token there.
const CASES: &[(&str, bool)] = &[
    ("http://127.0.0.1:{plain}/", false),
    ("https://example.com:{tls}/", false),
    ("https://ai.jocloud.com:{tls}/app/1/v1/image/sync", true),
    ("https://api-oversea.jocloud.com:{tls}/app/1/v1/recordoss/applyrecord", true),
    ("https://AI.JOCLOUD.COM:{tls}/", true),
    ("http://ai.jocloud.com:{tls}/", true),
    ("http://example.com:{plain}/", false),
    ("https://ai.jocloud.com.evil.example:{tls}/", false),
    ("https://evil.example:{tls}/?u=ai.jocloud.com", false),
    ("https://ai.jocloud.com@evil.example:{tls}/", false),
];

/// A server answering with the token it got, or "no token"; over HTTPS with `pki`.
async fn echo_token(pki: Option<&Pki>) -> Server {
    let service = service_fn(|request: Request<Incoming>| {
        let token = request.headers().get("token").map(|v| v.to_str().unwrap().to_owned());
        ready(text(token.unwrap_or_else(|| "no token".into())))
    });
    match pki {
        Some(pki) => pki.serve(service).await,
        None => common::serve(service).await,
    }
}

fn urls(tls: &Server, plain: &Server) -> Vec<(String, bool)> {
    let ports = |url: &str| {
        url.replace("{tls}", &tls.addr.port().to_string()).replace("{plain}", &plain.addr.port().to_string())
    };
    CASES.iter().map(|(url, expected)| (ports(url), *expected)).collect()
}

#[tokio::test]
async fn the_default_scope_through_a_hyper_util_client() {
    bounded(async {
        let pki = Pki::new();
        let (tls, plain) = (echo_token(Some(&pki)).await, echo_token(None).await);
        let client = TokenAuthLayer::new(&common::vendor_credentials()).layer(pki.hyper_client());
        for (url, expected) in urls(&tls, &plain) {
            let request = Request::get(&url).header("token", "Base carried").body(Full::default()).unwrap();
            let got = common::body_text(client.clone().oneshot(request).await.unwrap()).await;
            assert_eq!(got, if expected { VENDOR_TOKEN } else { "no token" }, "{url}");
        }
    })
    .await;
}

#[tokio::test]
async fn the_default_scope_through_a_reqwest_middleware_client() {
    bounded(async {
        let pki = Pki::new();
        let (tls, plain) = (echo_token(Some(&pki)).await, echo_token(None).await);
        let token = TokenAuthLayer::new(&common::vendor_credentials());
        let client = jocloud_auth::reqwest::client_builder(pki.reqwest_builder(), &token).unwrap().build();
        for (url, expected) in urls(&tls, &plain) {
            let got = client.get(&url).header("token", "Base carried").send().await.unwrap();
            assert_eq!(got.text().await.unwrap(), if expected { VENDOR_TOKEN } else { "no token" }, "{url}");
        }
    })
    .await;
}
