//! Shared helpers for the integration tests: real hyper servers on loopback and real
//! hyper-util clients. Every server task ends when its `Server` handle is dropped.
#![allow(dead_code)] // each test binary uses its own subset

use std::{
    convert::Infallible,
    future::{ready, Future, Ready},
    net::SocketAddr,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use bytes::Bytes;
use http::HeaderValue;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::{TokioExecutor, TokioIo},
    service::TowerToHyperService,
};
use jocloud_auth::{token_auth::TokenAuth, Credentials};
use tokio::{net::TcpListener, task::JoinHandle};
use tower::Service;

/// The vendor's example credentials, from its Java and Python samples.
pub fn vendor_credentials() -> Credentials {
    Credentials::new("qawsedrftg", "abcdefghijk").expect("the vendor's credentials are valid")
}

/// What the vendor's Python sample prints for [`vendor_credentials`].
pub const VENDOR_TOKEN: &str = "Base cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==";
pub const VENDOR_PAYLOAD: &str = "cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==";

/// Upper bound for any single network test; every test ends by itself well before it.
pub const TEST_DEADLINE: Duration = Duration::from_secs(60);

/// How long a wait for a condition may last: generous for a loaded 2-core machine, and no
/// bound on how long anything takes, as each wait ends as soon as its condition holds.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Blocks until `done`, polling every millisecond, at most [`LIMIT`]'s worth of polls; then
/// panics saying `what`.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..LIMIT.as_millis() {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("never happened: {what}");
}

/// [`wait_until`] for a condition that awaits, polling every 5 ms.
pub async fn wait_until_async(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let condition = async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(LIMIT, condition).await.unwrap_or_else(|_| panic!("never happened: {what}"));
}

/// Runs `future` to its end on a runtime of its own, for a test without one.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}

/// A hyper 1 HTTP/1 server on `127.0.0.1:0`, aborted (with its connections) on drop.
pub struct Server {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    pub fn new(addr: SocketAddr, task: JoinHandle<()>) -> Self {
        Self { addr, task }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// `scheme://host:<this server's port>path`: a name the clients resolve to loopback.
    pub fn url_as(&self, scheme: &str, host: &str, path_and_query: &str) -> String {
        format!("{scheme}://{host}:{}{path_and_query}", self.addr.port())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `service` (any tower service over hyper's `Incoming` body) on a fresh loopback port.
pub async fn serve<S, B>(service: S) -> Server
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
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(service.clone());
            connections.spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Server { addr, task }
}

/// Serves an axum router on a fresh loopback port.
pub async fn serve_axum(router: axum::Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Server { addr, task }
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A hyper-util legacy client over plain HTTP.
pub fn http_client() -> HttpClient {
    http_client_for()
}

/// A hyper-util legacy client over plain HTTP sending bodies of type `B`.
pub fn http_client_for<B>() -> Client<HttpConnector, B>
where
    B: http_body::Body + Send + 'static + Unpin,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    Client::builder(TokioExecutor::new()).build_http()
}

/// Runs `test` under [`TEST_DEADLINE`].
pub async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(TEST_DEADLINE, test).await.expect("test finished within its deadline")
}

/// A handler response with a text body.
pub fn text(body: impl Into<Bytes>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(body.into())))
}

/// Polls a future that the test knows to be ready at once, as every service here without I/O is.
pub fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("this future was expected to complete at once"),
    }
}

/// An inner service that answers with the request it was sent as the body, allocating
/// nothing itself.
pub type Echo<B> = tower::util::ServiceFn<fn(Request<B>) -> Ready<Result<Response<Request<B>>, Infallible>>>;

pub fn echo<B>() -> Echo<B> {
    tower::service_fn(|request| ready(Ok(Response::new(request))))
}

/// What `TokenAuth` sends for `credentials`, with the default scheme.
pub fn token_of(credentials: &Credentials) -> HeaderValue {
    let mut client = TokenAuth::new(echo(), credentials);
    let request = Request::get("https://ai.jocloud.com/").body(()).unwrap();
    now(client.call(request)).unwrap().into_body().headers()["token"].clone()
}

/// A request carrying `credentials`' token, as `TokenAuth` would send it.
pub fn request_with(credentials: &Credentials) -> Request<()> {
    Request::builder().header("token", token_of(credentials)).body(()).unwrap()
}

/// The whole body of `response`, as text.
pub async fn body_text<B>(response: Response<B>) -> String
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt;
    let bytes = response.into_body().collect().await.expect("the body arrives").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("a UTF-8 body")
}

/// An inner service that is not ready at first, then fails: a layer must forward both.
#[derive(Clone)]
pub struct Unready(pub u8);

impl<R> Service<R> for Unready {
    type Response = Response<Bytes>;
    type Error = &'static str;
    type Future = Ready<Result<Response<Bytes>, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0 += 1;
        match self.0 {
            1 => Poll::Pending,
            _ => Poll::Ready(Err("inner failed")),
        }
    }

    fn call(&mut self, _: R) -> Self::Future {
        ready(Ok(Response::new(Bytes::new())))
    }
}

/// `layer` scoped to the loopback servers these tests run: `127.0.0.1`, any port, plain HTTP.
pub fn on_loopback(
    layer: jocloud_auth::token_auth::TokenAuthLayer,
) -> jocloud_auth::token_auth::TokenAuthLayer {
    layer.for_host("127.0.0.1".parse().unwrap()).allow_http()
}

/// A writer that appends everything written to one buffer, shared by its clones.
#[derive(Clone, Default)]
pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every event and span at `TRACE` and above, written to a buffer, on this thread until the
/// guard drops: a current-thread runtime runs client and server tasks on this thread.
pub fn capture_traces() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}
