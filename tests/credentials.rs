//! Token encoding vectors, every `CredentialsError`, and the insert policies.

mod common;

use std::convert::Infallible;

use http::{HeaderName, HeaderValue, Request, Response};
use jocloud_auth::{
    Credentials, CredentialsError, InsertPolicy, Scheme, TokenAuth, TokenAuthLayer, TOKEN_HEADER,
};
use tower::{service_fn, Layer, ServiceExt};

/// Sends one request through `layer` and returns every `token`-named header it arrived with.
async fn headers_sent(layer: TokenAuthLayer, request: Request<()>, header: &HeaderName) -> Vec<HeaderValue> {
    let header = header.clone();
    let echo = service_fn(move |request: Request<()>| {
        let values = request.headers().get_all(&header).iter().cloned().collect::<Vec<_>>();
        async move { Ok::<_, Infallible>(Response::new(values)) }
    });
    layer.layer(echo).oneshot(request).await.unwrap().into_body()
}

async fn token_for(credentials: &Credentials, scheme: Scheme) -> String {
    let layer = TokenAuthLayer::new(credentials).scheme(scheme);
    let sent = headers_sent(layer, Request::new(()), &TOKEN_HEADER).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].is_sensitive(), "the token header is marked sensitive");
    sent[0].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn vendor_vector() {
    let credentials = common::vendor_credentials();
    assert_eq!(token_for(&credentials, Scheme::Base).await, common::VENDOR_TOKEN);
    assert_eq!(token_for(&credentials, Scheme::Basic).await, "Basic cWF3c2VkcmZ0ZzphYmNkZWZnaGlqaw==");
    // Switching back and forth re-derives the value from the payload alone.
    let layer = TokenAuthLayer::new(&credentials).scheme(Scheme::Basic).scheme(Scheme::Base);
    assert_eq!(headers_sent(layer, Request::new(()), &TOKEN_HEADER).await, [common::VENDOR_TOKEN]);
}

#[tokio::test]
async fn non_ascii_vector() {
    // Expected value computed independently, with both
    //   python3 -c "import base64; print(base64.b64encode('证书-Сертификат:s/e+c=ré'.encode()).decode())"
    //   printf '%s' '证书-Сертификат:s/e+c=ré' | base64
    // which agree.
    let credentials = Credentials::new("证书-Сертификат", "s/e+c=r\u{e9}").unwrap();
    assert_eq!(
        token_for(&credentials, Scheme::Base).await,
        "Base 6K+B5LmmLdCh0LXRgNGC0LjRhNC40LrQsNGCOnMvZStjPXLDqQ=="
    );
}

#[test]
fn parses_id_colon_secret_at_the_first_colon() {
    let credentials: Credentials = "id:se:cret".parse().unwrap();
    assert_eq!(credentials.id(), "id");
    let copy = Credentials::new("id", "se:cret").unwrap();
    assert_eq!(format!("{credentials:?}"), format!("{copy:?}"));
}

#[test]
fn every_credentials_error() {
    use CredentialsError::*;
    let cases: [(Result<Credentials, CredentialsError>, CredentialsError, &str); 10] = [
        (Credentials::new("", "hunter2-XYZ"), EmptyId, "the certificate ID is empty"),
        (Credentials::new("id", ""), EmptySecret, "the secret key is empty"),
        (Credentials::new("a:b", "hunter2-XYZ"), IdContainsColon, "contains ':'"),
        (Credentials::new(" id", "hunter2-XYZ"), IdSurroundingWhitespace, "certificate ID starts or ends"),
        (Credentials::new("id\n", "hunter2-XYZ"), IdSurroundingWhitespace, "certificate ID starts or ends"),
        (Credentials::new("id", "hunter2-XYZ "), SecretSurroundingWhitespace, "secret key starts or ends"),
        (Credentials::new("id", "\thunter2-XYZ"), SecretSurroundingWhitespace, "secret key starts or ends"),
        ("no-separator".parse(), MissingSeparator, "found no ':'"),
        (":hunter2-XYZ".parse(), EmptyId, "the certificate ID is empty"),
        ("id:".parse(), EmptySecret, "the secret key is empty"),
    ];
    for (result, expected, message) in cases {
        let error = result.unwrap_err();
        assert_eq!(error, expected);
        let shown = error.to_string();
        assert!(shown.starts_with("invalid jocloud credentials: "), "{shown}");
        assert!(shown.contains(message), "{shown:?} should contain {message:?}");
        assert!(!shown.contains("hunter2") && !format!("{error:?}").contains("hunter2"), "{shown}");
    }
    // Inner whitespace is fine: only leading or trailing whitespace is a likely paste error.
    assert!(Credentials::new("my id", "my secret").is_ok());
}

#[test]
fn environment_variables() {
    // The only test in this binary that touches the environment, so nothing races it.
    const ID: &str = Credentials::ID_VAR;
    const SECRET: &str = Credentials::SECRET_VAR;
    std::env::remove_var(ID);
    std::env::remove_var(SECRET);
    let error = Credentials::from_env().unwrap_err();
    assert_eq!(error, CredentialsError::MissingEnvVar("JOCLOUD_SECRET_ID"));
    assert!(error.to_string().contains("JOCLOUD_SECRET_ID is not set"), "{error}");

    std::env::set_var(ID, "qawsedrftg");
    let error = Credentials::from_env().unwrap_err();
    assert_eq!(error, CredentialsError::MissingEnvVar("JOCLOUD_SECRET_KEY"));

    #[cfg(unix)]
    {
        use std::{ffi::OsStr, os::unix::ffi::OsStrExt};
        std::env::set_var(SECRET, OsStr::from_bytes(b"abc\xffdef"));
        let error = Credentials::from_env().unwrap_err();
        assert_eq!(error, CredentialsError::NotUnicodeEnvVar("JOCLOUD_SECRET_KEY"));
        assert!(error.to_string().contains("JOCLOUD_SECRET_KEY is not valid Unicode"), "{error}");
        assert!(!error.to_string().contains("abc"), "{error}");
    }

    std::env::set_var(SECRET, "abcdefghijk ");
    assert_eq!(Credentials::from_env().unwrap_err(), CredentialsError::SecretSurroundingWhitespace);

    std::env::set_var(SECRET, "abcdefghijk");
    assert_eq!(Credentials::from_env().unwrap().id(), "qawsedrftg");
    std::env::remove_var(ID);
    std::env::remove_var(SECRET);
}

#[tokio::test]
async fn override_policy_replaces_a_callers_header() {
    let request = Request::builder().header("token", "Base caller").body(()).unwrap();
    let sent = headers_sent(TokenAuthLayer::new(&common::vendor_credentials()), request, &TOKEN_HEADER).await;
    assert_eq!(sent, [common::VENDOR_TOKEN]);
}

#[tokio::test]
async fn if_missing_policy_keeps_a_callers_header() {
    let layer = || TokenAuthLayer::new(&common::vendor_credentials()).policy(InsertPolicy::IfMissing);
    let request = Request::builder().header("token", "Base caller").body(()).unwrap();
    assert_eq!(headers_sent(layer(), request, &TOKEN_HEADER).await, ["Base caller"]);
    assert_eq!(headers_sent(layer(), Request::new(()), &TOKEN_HEADER).await, [common::VENDOR_TOKEN]);
}

/// The layer works out its fast path when configured: each later call must undo the earlier.
#[tokio::test]
async fn reconfiguring_a_layer_takes_the_last_setting() {
    let custom = HeaderName::from_static("x-jocloud-token");
    let base = TokenAuthLayer::new(&common::vendor_credentials());
    let caller = || Request::builder().header("token", "Base caller").body(()).unwrap();

    let back_to_override = base.clone().policy(InsertPolicy::IfMissing).policy(InsertPolicy::Override);
    assert_eq!(headers_sent(back_to_override, caller(), &TOKEN_HEADER).await, [common::VENDOR_TOKEN]);

    let back_to_token = base.clone().header_name(custom.clone()).header_name(TOKEN_HEADER);
    assert_eq!(headers_sent(back_to_token, Request::new(()), &TOKEN_HEADER).await, [common::VENDOR_TOKEN]);

    let if_missing_then_custom = base.policy(InsertPolicy::IfMissing).header_name(custom.clone());
    let request = Request::builder().header(&custom, "Base caller").body(()).unwrap();
    assert_eq!(headers_sent(if_missing_then_custom, request, &custom).await, ["Base caller"]);
}

#[tokio::test]
async fn custom_header_name() {
    let name = HeaderName::from_static("x-jocloud-token");
    let layer = TokenAuthLayer::new(&common::vendor_credentials()).header_name(name.clone());
    let request = Request::new(());
    assert_eq!(headers_sent(layer.clone(), request, &name).await, [common::VENDOR_TOKEN]);
    assert!(headers_sent(layer, Request::new(()), &TOKEN_HEADER).await.is_empty());
}

#[tokio::test]
async fn scope_limits_which_requests_get_the_token() {
    let jocloud = http::uri::Authority::from_static("ai.jocloud.com");
    let layer = TokenAuthLayer::new(&common::vendor_credentials()).https_only().for_host(jocloud);
    let to = |uri: &str| Request::get(uri).body(()).unwrap();
    for (uri, expected) in [
        ("https://ai.jocloud.com/app/1/v1/image/sync", true),
        ("https://AI.JOCLOUD.com:8443/x", true), // no port in the rule: any port
        ("http://ai.jocloud.com/x", false),
        ("https://evil.example/x", false),
        ("https://ai.jocloud.com.evil.example/x", false),
        ("/relative", false),
    ] {
        let sent = headers_sent(layer.clone(), to(uri), &TOKEN_HEADER).await;
        assert_eq!(!sent.is_empty(), expected, "{uri}");
    }

    let with_port = TokenAuthLayer::new(&common::vendor_credentials())
        .for_host(http::uri::Authority::from_static("api.example:443"));
    for (uri, expected) in [
        ("https://api.example/x", true),
        ("https://api.example:443/x", true),
        ("http://api.example/x", false),
        ("https://api.example:8443/x", false),
    ] {
        let sent = headers_sent(with_port.clone(), to(uri), &TOKEN_HEADER).await;
        assert_eq!(!sent.is_empty(), expected, "{uri}");
    }
}

#[test]
fn service_constructors_match_the_layer() {
    let credentials = common::vendor_credentials();
    let service =
        TokenAuth::new(service_fn(|_: Request<()>| async { Ok::<_, Infallible>(()) }), &credentials)
            .scheme(Scheme::Basic)
            .policy(InsertPolicy::IfMissing)
            .https_only();
    let debug = format!("{service:?}");
    assert!(debug.contains("IfMissing") && debug.contains("https_only: true"), "{debug}");
    let _layer: TokenAuthLayer = TokenAuth::<()>::layer(&credentials);

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
    assert_send_sync_clone::<TokenAuthLayer>();
    assert_send_sync_clone::<TokenAuth<common::HttpClient>>();
    assert_send_sync_clone::<Credentials>();
}
