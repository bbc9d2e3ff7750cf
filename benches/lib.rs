//! The variants the benches compare, each a [`Runner`] that sends one request through a
//! service whose inner service answers at once, so that only the layer's own work differs.

use std::{
    convert::Infallible,
    future::{ready, Future, Ready},
    hint::black_box,
    pin::pin,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use http::{
    header::{ACCEPT, CONTENT_TYPE, USER_AGENT},
    HeaderValue, Method, Request, Response, StatusCode, Uri,
};
use jocloud_auth::{
    token_auth::{InsertPolicy, TokenAuthLayer},
    validate::ValidateTokenLayer,
    Credentials, LiveCredentialSet, LiveCredentials, Scheme, TOKEN_HEADER,
};
use tower::{Layer, Service};

/// Sends one request through a variant's service and drops the result.
pub type Runner = Box<dyn FnMut(Request<Bytes>) + Send>;

/// A variant: its name and how to build a fresh [`Runner`] for it.
pub struct Variant {
    pub id: &'static str,
    pub make: fn() -> Runner,
}

/// The client-side variants, the baseline (no layer) first.
pub const CLIENT: &[Variant] = &[
    Variant { id: "baseline", make: || runner(Echo) },
    Variant { id: "map_request_closure", make: map_request_closure },
    Variant {
        id: "set_request_header",
        make: || {
            let layer = tower_http::set_header::SetRequestHeaderLayer::overriding(TOKEN_HEADER, token());
            runner(layer.layer(Echo))
        },
    },
    Variant { id: "token_auth", make: || runner(TokenAuthLayer::new(&credentials()).layer(Echo)) },
    Variant {
        id: "token_auth_if_missing",
        make: || runner(TokenAuthLayer::new(&credentials()).policy(InsertPolicy::IfMissing).layer(Echo)),
    },
    Variant {
        id: "token_auth_named_host",
        make: || {
            runner(
                TokenAuthLayer::new(&credentials()).for_host("ai.jocloud.com".parse().unwrap()).layer(Echo),
            )
        },
    },
    Variant {
        id: "token_auth_live",
        make: || runner(TokenAuthLayer::live(&LiveCredentials::new(&credentials())).layer(Echo)),
    },
];

/// The practical limit: a hand-written closure that inserts the same precomputed value.
fn map_request_closure() -> Runner {
    let value = token();
    runner(
        tower::util::MapRequestLayer::new(move |mut request: Request<Bytes>| {
            request.headers_mut().insert(TOKEN_HEADER, value.clone());
            request
        })
        .layer(Echo),
    )
}

/// The server-side variants, the baseline (no layer) first. Each accepting variant is sent
/// the token of the last accepted credential; each rejecting one a wrong token of the same
/// length.
pub const SERVER: &[Variant] = &[
    Variant { id: "baseline", make: || runner(Ok200) },
    Variant {
        id: "validate_token_1_accept",
        make: || runner(ValidateTokenLayer::any_of(accepted(1)).layer(Ok200)),
    },
    Variant {
        id: "validate_token_4_accept",
        make: || runner(ValidateTokenLayer::any_of(accepted(4)).layer(Ok200)),
    },
    Variant {
        id: "validate_token_100_accept",
        make: || runner(ValidateTokenLayer::any_of(accepted(100)).layer(Ok200)),
    },
    Variant {
        id: "validate_token_10000_accept",
        make: || runner(ValidateTokenLayer::any_of(accepted(10_000)).layer(Ok200)),
    },
    Variant {
        id: "validate_token_100000_accept",
        make: || runner(ValidateTokenLayer::any_of(accepted(100_000)).layer(Ok200)),
    },
    Variant {
        id: "validate_token_1_keep_accept",
        make: || runner(ValidateTokenLayer::any_of(accepted(1)).keep_token_header().layer(Ok200)),
    },
    Variant {
        id: "validate_token_1_reject",
        make: || rejecting(runner(ValidateTokenLayer::any_of(accepted(1)).layer(Ok200))),
    },
    Variant {
        id: "validate_token_live_4_accept",
        make: || runner(ValidateTokenLayer::live(&LiveCredentialSet::new(accepted(4))).layer(Ok200)),
    },
    Variant { id: "custom_eq_1_accept", make: || runner(custom::<false>(&accepted(1))) },
    Variant { id: "custom_eq_4_accept", make: || runner(custom::<false>(&accepted(4))) },
    Variant { id: "custom_eq_1_reject", make: || rejecting(runner(custom::<false>(&accepted(1)))) },
    Variant { id: "custom_ct_1_accept", make: || runner(custom::<true>(&accepted(1))) },
    Variant { id: "custom_ct_10000_accept", make: || runner(custom::<true>(&accepted(10_000))) },
];

/// tower-http's `ValidateRequestHeaderLayer::custom` over the accepted values, with an
/// `Arc<str>` extension: what a hand-written validator does. With `CONSTANT_TIME` false, a plain
/// `==` that stops at the first match; with it true, a constant-time comparison with every
/// accepted value, as one must do without an index to hide how close a guess came.
fn custom<const CONSTANT_TIME: bool>(
    accepted: &[Credentials],
) -> tower_http::validate_request::ValidateRequestHeader<Ok200, Custom<CONSTANT_TIME>> {
    let table = accepted.iter().map(|c| (c.header_value(Scheme::Base), Arc::from(c.id()))).collect();
    tower_http::validate_request::ValidateRequestHeaderLayer::custom(Custom(Arc::new(table))).layer(Ok200)
}

#[derive(Clone)]
pub struct Custom<const CONSTANT_TIME: bool>(Arc<Vec<(HeaderValue, Arc<str>)>>);

impl<const CONSTANT_TIME: bool> tower_http::validate_request::ValidateRequest<Bytes>
    for Custom<CONSTANT_TIME>
{
    type ResponseBody = Bytes;

    fn validate(&mut self, request: &mut Request<Bytes>) -> Result<(), Response<Bytes>> {
        let found = request.headers().get(TOKEN_HEADER).and_then(|value| {
            if CONSTANT_TIME {
                let mut found = None;
                for (token, id) in self.0.iter() {
                    if constant_time_eq::constant_time_eq(token.as_bytes(), value.as_bytes()) {
                        found = Some(id);
                    }
                }
                found
            } else {
                self.0.iter().find(|(token, _)| token == value).map(|(_, id)| id)
            }
        });
        accept_or_refuse(request, found)
    }
}

/// What the hand-written validators do with what they found: the caller's ID as an extension,
/// or a bare `401`, in the shape tower-http's `validate` returns.
#[allow(clippy::result_large_err)]
pub fn accept_or_refuse<B, R: Default>(
    request: &mut Request<B>,
    id: Option<&Arc<str>>,
) -> Result<(), Response<R>> {
    match id {
        Some(id) => {
            request.extensions_mut().insert(id.clone());
            Ok(())
        }
        None => {
            let mut response = Response::new(R::default());
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Err(response)
        }
    }
}

/// Turns an accepting runner into one that is sent a wrong token of the same length.
fn rejecting(mut run: Runner) -> Runner {
    Box::new(move |mut request: Request<Bytes>| {
        request.headers_mut().insert(TOKEN_HEADER, HeaderValue::from_static(WRONG_TOKEN));
        run(request)
    })
}

/// The vendor's token with one character changed.
const WRONG_TOKEN: &str = "Base cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaA==";

pub fn credentials() -> Credentials {
    Credentials::new("qawsedrftg", "abcdefghijk").unwrap()
}

pub fn token() -> HeaderValue {
    credentials().header_value(Scheme::Base)
}

/// `n` distinct credentials, the vendor's last: the worst case for a search that stops early.
pub fn accepted(n: usize) -> Vec<Credentials> {
    let mut all: Vec<Credentials> = (1..n)
        .map(|i| Credentials::new(format!("other-id-{i}"), format!("other-secret-{i}")).unwrap())
        .collect();
    all.push(credentials());
    all
}

/// What a client sends to jocloud: an absolute URI, three headers, a small JSON body.
pub fn client_request() -> Request<Bytes> {
    let mut request = Request::new(Bytes::from_static(br#"{"data":{"url":"https://example.com/cat.png"}}"#));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = Uri::from_static("https://ai.jocloud.com/app/123456/v1/image/sync?traceId=bd526528");
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static("jocloud-auth-bench/0.1"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    request
}

/// What a server receives: the same request, the vendor's token on it.
pub fn server_request() -> Request<Bytes> {
    let mut request = client_request();
    request
        .headers_mut()
        .insert(TOKEN_HEADER, HeaderValue::from_static("Base cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw=="));
    request
}

fn runner<S, R>(mut service: S) -> Runner
where
    S: Service<Request<Bytes>, Response = R, Error = Infallible> + Send + 'static,
{
    Box::new(move |request| drop(black_box(now(service.call(request)))))
}

/// Polls a future that completes at once: every service here does.
fn now<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("the benchmarked services never wait"),
    }
}

/// The inner client service: hands the request back inside a response (whose own empty
/// header map costs no allocation), so dropping the response drops the request.
#[derive(Clone, Default)]
pub struct Echo;

impl Service<Request<Bytes>> for Echo {
    type Response = Response<Request<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Request<Bytes>>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    // Never inlined, like a real client's `call`, so that whether it inlines into a layer's
    // `call` does not decide the comparison.
    #[inline(never)]
    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        ready(Ok(Response::new(request)))
    }
}

/// The inner server service: `200` with an empty body.
#[derive(Clone, Default)]
pub struct Ok200;

impl Service<Request<Bytes>> for Ok200 {
    type Response = Response<Bytes>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Bytes>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    // Never inlined, like a real handler, for the reason given on `Echo::call`.
    #[inline(never)]
    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        drop(black_box(request));
        ready(Ok(Response::new(Bytes::new())))
    }
}
