//! `TokenAuth::call` allocates nothing when the request's header map has room for the token, and
//! nothing the crate holds keeps a rotated-out key alive.
//!
//! A counting global allocator, counting only on the thread under test, so the test harness's
//! own threads cannot disturb the count.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    convert::Infallible,
    future::{ready, Ready},
    task::{Context, Poll},
};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use jocloud_auth::{
    token_auth::{InsertPolicy, TokenAuth, TokenAuthLayer},
    Credentials,
};
use tower::{Layer, Service};

mod common;

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Bytes allocated minus bytes freed on this thread, always counted.
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn note(allocated: usize, freed: usize) {
    // `try_with`: the allocator may run while thread-locals are being torn down.
    let _ = LIVE_BYTES.try_with(|live| live.set(live.get() + allocated as isize - freed as isize));
    if allocated > 0 {
        let _ = COUNTING.try_with(|counting| {
            if counting.get() {
                let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
            }
        });
    }
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size(), 0);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size, layout.size());
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[cfg(feature = "rotation")]
fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made on this thread while `f` runs.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (usize, R) {
    ALLOCATIONS.with(|count| count.set(0));
    COUNTING.with(|counting| counting.set(true));
    let result = f();
    COUNTING.with(|counting| counting.set(false));
    (ALLOCATIONS.with(Cell::get), result)
}

/// An inner service that answers with the request as the body, allocating nothing itself.
#[derive(Clone)]
struct Echo;

impl Service<Request<()>> for Echo {
    type Response = Response<Request<()>>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Request<()>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        ready(Ok(Response::new(request)))
    }
}

/// A realistic request whose header map has spare room.
fn request() -> Request<()> {
    let mut headers = HeaderMap::with_capacity(8);
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("user-agent", HeaderValue::from_static("jocloud-auth-test"));
    let mut request =
        Request::post("https://ai.jocloud.com/app/123456/v1/image/sync?traceId=x").body(()).unwrap();
    *request.headers_mut() = headers;
    request
}

fn assert_calls_allocate_nothing<S>(what: &str, mut service: S)
where
    S: Service<Request<()>, Response = Response<Request<()>>, Error = Infallible>,
{
    // Several calls, the first included, each polled to its end: nothing may be deferred to a
    // first request, or to the response, either.
    for attempt in 0..5 {
        let request = request();
        let (allocations, sent) = allocations_in(|| common::now(service.call(request)));
        assert_eq!(allocations, 0, "{what}: call #{attempt} allocated");
        let sent = sent.unwrap().into_body();
        let added = ["token", "x-token"].iter().any(|name| sent.headers().contains_key(*name));
        assert!(added, "{what}: the token was added");
    }
}

#[test]
fn token_auth_call_does_not_allocate() {
    let credentials = Credentials::new("qawsedrftg", "abcdefghijk").unwrap();
    let layer = TokenAuthLayer::new(&credentials);
    assert_calls_allocate_nothing("default", layer.layer(Echo));
    assert_calls_allocate_nothing("if-missing", layer.clone().policy(InsertPolicy::IfMissing).layer(Echo));
    let named =
        layer.clone().for_host("ai.jocloud.com".parse().unwrap()).for_host("*.example.com".parse().unwrap());
    assert_calls_allocate_nothing("named hosts", named.layer(Echo));
    assert_calls_allocate_nothing(
        "custom header name",
        layer.clone().header_name(HeaderName::from_bytes(b"x-token").unwrap()).layer(Echo),
    );
    assert_calls_allocate_nothing(
        "cloud recording",
        layer.clone().cloud_recording(10034).for_host("ai.jocloud.com".parse().unwrap()).layer(Echo),
    );
    assert_calls_allocate_nothing("service constructor", TokenAuth::new(Echo, &credentials));

    #[cfg(feature = "rotation")]
    {
        let live = jocloud_auth::LiveCredentials::new(&credentials);
        // arc-swap registers a thread on its first load of any live value, once per thread:
        // an allocation unless a thread that ended left its slot free. That is not per
        // request; do it before counting, as any earlier request on the thread would have.
        drop(live.id());
        assert_calls_allocate_nothing("live", TokenAuthLayer::live(&live).layer(Echo));
    }

    // The counter works: a call that must allocate is seen.
    let (allocations, _) = allocations_in(|| Box::new(1u8));
    assert_eq!(allocations, 1);
}

/// A key of 5,000 bytes: large enough that keeping one alive shows plainly in the live bytes.
#[cfg(feature = "rotation")]
fn big_key(fill: u8) -> Credentials {
    Credentials::new("qawsedrftg", String::from_utf8(vec![fill; 5000]).unwrap()).unwrap()
}

/// A template service, as axum and `oneshot(service.clone())` keep one and clone it per request,
/// holds no snapshot of its own: after two rotations, the first key is freed at once, and the
/// second (kept for the retry during its grace period) once the grace ends.
#[cfg(feature = "rotation")]
#[test]
fn a_rotated_out_client_key_is_freed() {
    use jocloud_auth::LiveCredentials;

    let live = LiveCredentials::new(&big_key(b'a'));
    let mut template = TokenAuthLayer::live(&live).layer(Echo);
    common::now(template.call(request())).unwrap();
    common::now(template.clone().call(request())).unwrap();
    let before = live_bytes();

    let send = |template: &mut jocloud_auth::token_auth::TokenAuth<Echo>| {
        for _ in 0..3 {
            let sent = common::now(template.clone().call(request())).unwrap().into_body();
            assert!(sent.headers()["token"].as_bytes().len() > 5000);
        }
    };
    live.rotate(&big_key(b'b'));
    live.rotate(&big_key(b'c'));
    send(&mut template);
    // One key encodes to two header values of about 6,700 bytes each: two keys are live.
    let grown = live_bytes() - before;
    assert!(grown < 14_000, "{grown} bytes more are live after two rotations: the first key is kept");
    live.forget_previous();
    send(&mut template);
    let grown = live_bytes() - before;
    assert!(grown < 1000, "{grown} bytes more are live once the grace ended: an old key is kept");
}

/// The same for the server: a removed key is freed once no request is being checked.
#[cfg(feature = "rotation")]
#[test]
fn a_removed_server_key_is_freed() {
    use jocloud_auth::{validate::ValidateTokenLayer, LiveCredentialSet};

    let accept = |_: Request<()>| std::future::ready(Ok::<_, Infallible>(Response::new(bytes::Bytes::new())));
    let set = LiveCredentialSet::new([&big_key(b'a')]);
    let mut template = ValidateTokenLayer::live(&set).layer(tower::service_fn(accept));
    let with_key = |key: &Credentials| common::request_with(key);
    assert_eq!(common::now(template.call(with_key(&big_key(b'a')))).unwrap().status(), 200);
    let before = live_bytes();

    set.insert(big_key(b'b'));
    set.remove(big_key(b'a'));
    set.insert(big_key(b'a'));
    set.remove(big_key(b'b'));
    for _ in 0..3 {
        let response = common::now(template.clone().call(with_key(&big_key(b'a')))).unwrap();
        assert_eq!(response.status(), 200);
    }
    let grown = live_bytes() - before;
    assert!(grown < 1000, "{grown} bytes more are live after a key was removed: it is kept");
}
