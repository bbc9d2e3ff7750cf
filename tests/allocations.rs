//! `TokenAuth::call` allocates nothing when the request's header map has room for the token.
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

use http::{uri::Authority, HeaderMap, HeaderValue, Request};
use jocloud_auth::{Credentials, InsertPolicy, TokenAuthLayer};
use tower::{Layer, Service};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator may run while thread-locals are being torn down.
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        }
    });
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
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

/// An inner service that hands the request straight back, allocating nothing itself.
#[derive(Clone)]
struct Echo;

impl Service<Request<()>> for Echo {
    type Response = Request<()>;
    type Error = Infallible;
    type Future = Ready<Result<Request<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<()>) -> Self::Future {
        ready(Ok(request))
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
    S: Service<Request<()>, Response = Request<()>, Future = Ready<Result<Request<()>, Infallible>>>,
{
    // Several calls, the first included: nothing may be deferred to a first request either.
    for attempt in 0..5 {
        let request = request();
        let (allocations, future) = allocations_in(|| service.call(request));
        assert_eq!(allocations, 0, "{what}: call #{attempt} allocated");
        let sent = future.into_inner().unwrap();
        assert!(sent.headers().contains_key("token"), "{what}: the token was added");
    }
}

#[test]
fn token_auth_call_does_not_allocate() {
    let credentials = Credentials::new("qawsedrftg", "abcdefghijk").unwrap();
    let layer = TokenAuthLayer::new(&credentials);
    assert_calls_allocate_nothing("default", layer.layer(Echo));
    assert_calls_allocate_nothing("if-missing", layer.clone().policy(InsertPolicy::IfMissing).layer(Echo));
    assert_calls_allocate_nothing(
        "scoped",
        layer.clone().https_only().for_host(Authority::from_static("ai.jocloud.com")).layer(Echo),
    );
    assert_calls_allocate_nothing("service constructor", jocloud_auth::TokenAuth::new(Echo, &credentials));

    #[cfg(feature = "rotation")]
    {
        let live = jocloud_auth::LiveCredentials::new(&credentials);
        assert_calls_allocate_nothing("live", TokenAuthLayer::live(&live).layer(Echo));
    }

    // The counter works: a call that must allocate is seen.
    let (allocations, _) = allocations_in(|| Box::new(1u8));
    assert_eq!(allocations, 1);
}
