//! No buffer this crate frees still holds a secret: every block freed while a secret is in use
//! is searched for it.
//!
//! A global allocator searches each block as it is freed, and makes every reallocation a move
//! (allocate, copy, free the old block), so that a buffer that grew and left its old contents
//! behind is caught too, whatever the system allocator would have done. The secret is a marker
//! no other code writes, searched for as it is and in base64 (the token's form): the crate's own
//! buffers hold neither once freed. The header values `http` holds carry the token, and cannot
//! be zeroized, as the crate documents: each scenario's count of those is exact.
//!
//! One test function, so that no other test of this binary frees memory while it searches.

mod common;

#[cfg(feature = "rotation")]
use std::time::{Duration, Instant};
use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};

use jocloud_auth::{
    token_auth::TokenAuthLayer, validate::ValidateTokenLayer, CredentialSetSource, Credentials,
    CredentialsSource,
};

/// The secret every scenario uses, and what the allocator looks for.
const MARKER: &[u8] = b"Zq7-freed-memory-probe-Xw4";

static SEARCHING: AtomicBool = AtomicBool::new(false);
static FOUND: AtomicUsize = AtomicUsize::new(0);
static FOUND_BASE64: AtomicUsize = AtomicUsize::new(0);

/// The marker in base64, for each of the three places it can start in a 3-byte group: the
/// whole 4-character groups of each, which any base64 of a text holding the marker contains.
static BASE64_FORMS: std::sync::LazyLock<[Vec<u8>; 3]> = std::sync::LazyLock::new(|| {
    use base64::Engine as _;
    [0, 1, 2].map(|skip| {
        let aligned = &MARKER[skip..skip + (MARKER.len() - skip) / 3 * 3];
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(aligned).into_bytes()
    })
});

struct SearchingAllocator;

fn search(ptr: *mut u8, size: usize) {
    if !SEARCHING.load(Ordering::Relaxed) || size < MARKER.len() {
        return;
    }
    // SAFETY: the block is allocated, `size` bytes long, and not yet freed.
    let block = unsafe { std::slice::from_raw_parts(ptr, size) };
    let holds = |needle: &[u8]| block.windows(needle.len()).any(|window| window == needle);
    if holds(MARKER) {
        FOUND.fetch_add(1, Ordering::Relaxed);
    }
    if BASE64_FORMS.iter().any(|form| holds(form)) {
        FOUND_BASE64.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for SearchingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        search(ptr, layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` is valid for `layout.align()`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { System.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are at least the smaller size and do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            search(ptr, layout.size());
            unsafe { System.dealloc(ptr, layout) };
        }
        new
    }
}

#[global_allocator]
static GLOBAL: SearchingAllocator = SearchingAllocator;

/// How many freed blocks held the marker while `scenario` ran: as it is, and in base64.
fn freed_copies(scenario: impl FnOnce()) -> (usize, usize) {
    std::sync::LazyLock::force(&BASE64_FORMS);
    FOUND.store(0, Ordering::Relaxed);
    FOUND_BASE64.store(0, Ordering::Relaxed);
    SEARCHING.store(true, Ordering::Relaxed);
    scenario();
    SEARCHING.store(false, Ordering::Relaxed);
    (FOUND.load(Ordering::Relaxed), FOUND_BASE64.load(Ordering::Relaxed))
}

fn secret() -> String {
    String::from_utf8(MARKER.to_vec()).unwrap()
}

#[test]
fn no_freed_buffer_holds_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| CredentialsSource::file(dir.path().join(name));
    std::fs::write(dir.path().join("pair"), format!("qawsedrftg:{}\n", secret())).unwrap();
    std::fs::write(dir.path().join("id"), "qawsedrftg\n").unwrap();
    std::fs::write(dir.path().join("secret"), format!("{}\r\n", secret())).unwrap();
    // Longer than any first read buffer, so a growing buffer would have to move.
    std::fs::write(dir.path().join("long"), format!("qawsedrftg:{}{}\n", "s".repeat(3000), secret()))
        .unwrap();
    // Over the 16 KiB a file may hold, the secret first: read to one byte past the limit and
    // refused, and a buffer that had to grow for that byte would leave the secret behind.
    std::fs::write(dir.path().join("huge"), [MARKER, &[b's'; 16 * 1024][..]].concat()).unwrap();
    std::fs::write(dir.path().join("bad"), format!("qawsedrftg:{}\u{1}\n", secret())).unwrap();
    std::fs::write(dir.path().join("binary"), [MARKER, b"\xff\xfe"].concat()).unwrap();
    // What the scenarios pass in is made before the search and freed after it: the test's own
    // strings are not the crate's to zeroize. (Setting a variable copies it, too.)
    let (mut owned, mut refused) = (Some(secret()), Some(secret() + "\n"));
    let text = format!("qawsedrftg:{}", secret());

    let mut leaks = Vec::new();
    // `header_values`: the `HeaderValue`s a scenario makes and frees, each one block holding
    // the token (a client's key has two, `Base` and `Basic`); none of the crate's own.
    let mut check = |name: &'static str, header_values: usize, scenario: &mut dyn FnMut()| {
        let (copies, base64) = freed_copies(scenario);
        if copies > 0 || base64 != header_values {
            leaks.push((name, copies, base64));
        }
    };
    check("Credentials::new", 0, &mut || {
        drop(Credentials::new("qawsedrftg", owned.take().unwrap()).unwrap())
    });
    check("a refused secret", 0, &mut || {
        let _ = Credentials::new("id", refused.take().unwrap()).unwrap_err();
    });
    check("FromStr", 0, &mut || drop(text.parse::<Credentials>().unwrap()));
    check("one id:secret file", 0, &mut || drop(file("pair").load().unwrap()));
    check("a long file", 0, &mut || drop(file("long").load().unwrap()));
    check("an id and a secret file", 0, &mut || drop(CredentialsSource::dir(dir.path()).load().unwrap()));
    check("a file too large", 0, &mut || drop(file("huge").load().unwrap_err()));
    check("a file with a bad secret", 0, &mut || drop(file("bad").load().unwrap_err()));
    check("a file that is not UTF-8", 0, &mut || drop(file("binary").load().unwrap_err()));
    let customers = dir.path().join("customers");
    std::fs::create_dir(&customers).unwrap();
    std::fs::write(customers.join("cust000001"), format!("{}\n", secret())).unwrap();
    std::fs::write(customers.join("cust000002"), "other\n").unwrap();
    std::fs::write(
        dir.path().join("lines"),
        format!("# customers\ncust000002:other\ncust000001:{0}\ncust000001:{0}\n", secret()),
    )
    .unwrap();
    std::fs::write(dir.path().join("bad-lines"), format!("cust000001:{}\nno separator\n", secret())).unwrap();
    check("a file of lines", 0, &mut || {
        drop(CredentialSetSource::lines(dir.path().join("lines")).load().unwrap())
    });
    check("a bad file of lines", 0, &mut || {
        drop(CredentialSetSource::lines(dir.path().join("bad-lines")).load().unwrap_err())
    });
    check("a directory of customers", 0, &mut || drop(CredentialSetSource::dir(&customers).load().unwrap()));
    check("the layers", 2, &mut || {
        let credentials = text.parse::<Credentials>().unwrap();
        drop((TokenAuthLayer::new(&credentials), ValidateTokenLayer::new(&credentials)));
    });
    // The only test in this binary, so nothing else reads the environment meanwhile.
    std::env::set_var(Credentials::ID_VAR, "qawsedrftg");
    std::env::set_var(Credentials::SECRET_VAR, secret());
    check("from_env", 0, &mut || drop(Credentials::from_env().unwrap()));
    #[cfg(unix)]
    {
        use std::{ffi::OsStr, os::unix::ffi::OsStrExt};
        std::env::set_var(Credentials::SECRET_VAR, OsStr::from_bytes(&[MARKER, b"\xff"].concat()));
        check("from_env, not Unicode", 0, &mut || drop(Credentials::from_env().unwrap_err()));
    }
    #[cfg(feature = "rotation")]
    check("live keys", 2, &mut || {
        use jocloud_auth::{LiveCredentialSet, LiveCredentials};
        let (old, new) = (text.parse::<Credentials>().unwrap(), Credentials::new("new", "other").unwrap());
        let client = LiveCredentials::new(&old);
        client.rotate(&new);
        let server = LiveCredentialSet::new([&old]);
        server.insert(&new);
        server.remove(&old);
        drop((client, server, old));
    });
    #[cfg(feature = "rotation")]
    {
        let rotated = format!("rotated:{}\n", secret());
        check("a follower", 4, &mut || follow(&dir.path().join("pair"), &rotated));
    }
    #[cfg(feature = "digest")]
    {
        // A gateway holding the digest only, and tokens that carry the secret: the right one, a
        // wrong one, and one too long, its base64 broken at the end. Made before the search; the
        // checks decode each (where they may) and free the requests, one header value each.
        use http::{Request, Response};
        use jocloud_auth::AcceptedCredential;
        use tower::{Layer, Service};

        let held = AcceptedCredential::digest_of(&text.parse::<Credentials>().unwrap()).unwrap();
        let mut gateway =
            ValidateTokenLayer::any_of([&held]).layer(tower::service_fn(|_: Request<()>| async {
                Ok::<_, std::convert::Infallible>(Response::new(bytes::Bytes::new()))
            }));
        let token = |plain: String| {
            use base64::Engine as _;
            format!("Base {}", base64::engine::general_purpose::STANDARD.encode(plain))
        };
        // Its last character made one base64 has not: all but the last group decode first.
        let mut broken = token(format!("{text}{}", "x".repeat(300)));
        broken.replace_range(broken.len() - 1.., "!");
        let mut requests: Vec<Request<()>> = [token(text.clone()), token(format!("{text}-wrong")), broken]
            .into_iter()
            .map(|token| Request::builder().header("token", token).body(()).unwrap())
            .collect();
        check("the digest path", 3, &mut || {
            for request in requests.drain(..) {
                drop(common::now(gateway.call(request)).unwrap());
            }
        });
    }
    assert_eq!(leaks, [], "scenarios that freed the secret: blocks as it is, and in base64");
}

/// A follower reads the source on its own thread, again and again, until it sees a new key.
#[cfg(feature = "rotation")]
fn follow(pair: &std::path::Path, rotated: &str) {
    use jocloud_auth::{FollowOptions, LiveCredentials};

    // The options go with the follower's thread: the last of them gone, the thread has ended.
    let alive = std::sync::Arc::new(());
    let held = alive.clone();
    let options = FollowOptions::default().interval(Duration::from_millis(5)).on_error(move |_| {
        let _ = &held;
    });
    let credentials = LiveCredentials::follow(CredentialsSource::file(pair), options).unwrap();
    std::fs::write(pair, rotated).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while &*credentials.id() != "rotated" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(&*credentials.id(), "rotated", "the follower saw the change");
    drop(credentials);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::sync::Arc::strong_count(&alive) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(std::sync::Arc::strong_count(&alive), 1, "the follower's thread ended");
}
