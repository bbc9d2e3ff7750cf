//! Real TLS on loopback, for the tests of the default scope: a certificate authority and a
//! certificate for jocloud's names, made in the test; an HTTPS server; and a hyper-util client
//! (over hyper-rustls) and a reqwest client (rustls) that trust only that authority and
//! resolve every name to `127.0.0.1`, so `https://ai.jocloud.com:<port>/` is a server of the
//! test. One crypto provider for all of it: aws-lc-rs, reqwest's own.
#![allow(dead_code)] // each test binary uses its own subset

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::{TokioExecutor, TokioIo},
    service::TowerToHyperService,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

use crate::common::{Loopback, Server};

/// The names the certificate holds: jocloud's hosts, and others that are none of them.
pub const NAMES: [&str; 6] = [
    "ai.jocloud.com",
    "api.jocloud.com",
    "api-oversea.jocloud.com",
    "example.com",
    "evil.example",
    "ai.jocloud.com.evil.example",
];

/// A certificate authority of the test's own and a server certificate it signed for [`NAMES`].
pub struct Pki {
    pub authority: CertificateDer<'static>,
    server: Arc<rustls::ServerConfig>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl Pki {
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

        let mut authority = CertificateParams::new(Vec::<String>::new()).unwrap();
        authority.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        authority.distinguished_name.push(DnType::CommonName, "jocloud-auth test authority");
        let authority = CertifiedIssuer::self_signed(authority, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(NAMES.map(String::from).to_vec()).unwrap();
        let leaf = leaf.signed_by(&key, &authority).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .unwrap();
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self { authority: authority.der().clone(), server: Arc::new(server) }
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
        let acceptor = tokio_rustls::TlsAcceptor::from(self.server.clone());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, service) = (acceptor.clone(), TowerToHyperService::new(service.clone()));
                connections.spawn(async move {
                    // A client that refuses the certificate ends its handshake: nothing to serve.
                    let Ok(stream) = acceptor.accept(stream).await else { return };
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server::new(addr, task)
    }

    fn client_config(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.authority.clone()).unwrap();
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// A hyper-util client over hyper-rustls: `https` with this authority only, `http` as it is.
    pub fn hyper_client(&self) -> HttpsClient {
        let mut http = HttpConnector::new_with_resolver(Loopback);
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(self.client_config())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Client::builder(TokioExecutor::new()).build(https)
    }

    /// A reqwest builder trusting this authority only, with jocloud's names on loopback.
    /// reqwest's `resolve` ignores the port it is given: the URL names the server's.
    pub fn reqwest_builder(&self) -> reqwest::ClientBuilder {
        let authority = reqwest::Certificate::from_der(&self.authority).unwrap();
        let mut builder = reqwest::Client::builder().tls_certs_only([authority]);
        for name in NAMES {
            builder = builder.resolve(name, SocketAddr::from(([127, 0, 0, 1], 0)));
        }
        builder
    }
}

pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector<Loopback>>, Full<Bytes>>;
