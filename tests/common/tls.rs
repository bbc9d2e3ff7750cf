//! Real TLS on loopback, for the tests of the default scope: the fixtures' authority with a
//! certificate for jocloud's names, an HTTPS server, and a hyper-util client (over
//! hyper-rustls) and a reqwest client (rustls) that trust only that authority and resolve every
//! name to `127.0.0.1`, so `https://ai.jocloud.com:<port>/` is a server of the test.
#![allow(dead_code)] // each test binary uses its own subset

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use jocloud_auth_fixtures::Loopback;
use tokio::net::TcpListener;

use crate::common::Server;

/// The names the certificate holds: jocloud's hosts, and others that are none of them.
pub const NAMES: [&str; 6] = [
    "ai.jocloud.com",
    "api.jocloud.com",
    "api-oversea.jocloud.com",
    "example.com",
    "evil.example",
    "ai.jocloud.com.evil.example",
];

/// The fixtures' authority, with a server certificate for [`NAMES`].
pub struct Pki(jocloud_auth_fixtures::Pki);

impl Pki {
    pub fn new() -> Self {
        Self(jocloud_auth_fixtures::Pki::new(&NAMES).expect("a certificate for the test's names"))
    }

    /// Serves `service` over HTTPS on a fresh loopback port.
    pub async fn serve<S, B>(&self, service: S) -> Server
    where
        S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: std::error::Error + Send + Sync + 'static,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        Server::new(addr, tokio::spawn(self.0.serve(listener, service)))
    }

    /// A hyper-util client over hyper-rustls: `https` with this authority only, `http` as it is.
    pub fn hyper_client(&self) -> HttpsClient {
        Client::builder(TokioExecutor::new()).build(self.0.mixed_connector())
    }

    /// A reqwest builder trusting this authority only, with jocloud's names on loopback.
    /// reqwest's `resolve` ignores the port it is given: the URL names the server's.
    pub fn reqwest_builder(&self) -> reqwest::ClientBuilder {
        let authority = reqwest::Certificate::from_der(self.0.authority()).unwrap();
        let mut builder = reqwest::Client::builder().tls_certs_only([authority]);
        for name in NAMES {
            builder = builder.resolve(name, SocketAddr::from(([127, 0, 0, 1], 0)));
        }
        builder
    }
}

pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector<Loopback>>, Full<Bytes>>;
