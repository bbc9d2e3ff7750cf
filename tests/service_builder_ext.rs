//! The `ServiceBuilderExt` methods build the same stacks as `.layer(..)`, end to end.
#![cfg(all(feature = "tower", feature = "rotation", feature = "trace-id"))]

mod common;

use std::{future::ready, time::Duration};

use bytes::Bytes;
use common::{bounded, http_client, serve, text};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use jocloud_auth::{
    token_auth::TokenAuthLayer, validate::AuthenticatedId, Credentials, LiveCredentialSet, LiveCredentials,
    ServiceBuilderExt, TOKEN_HEADER,
};
use tower::{service_fn, ServiceBuilder, ServiceExt};

#[tokio::test]
async fn one_chain_on_each_side() {
    bounded(async {
        let credentials = common::vendor_credentials();
        let rotated = Credentials::new("rotated-id", "rotated-secret").unwrap();

        // Server: a static validator in front of a live one, each method from the extension.
        let accepted = LiveCredentialSet::new([&credentials, &rotated]);
        let handler = service_fn(|request: Request<Incoming>| {
            let caller = request.extensions().get::<AuthenticatedId>().map(AuthenticatedId::to_string);
            let query = request.uri().query().unwrap_or_default().to_owned();
            // The validator removed the token before the handler.
            assert!(!request.headers().contains_key(TOKEN_HEADER));
            ready(text(format!("{} {query}", caller.unwrap_or_default())))
        });
        let server =
            serve(ServiceBuilder::new().jocloud_validate_live_token(&accepted).service(handler)).await;

        let live = LiveCredentials::new(&credentials);
        let client = ServiceBuilder::new()
            .jocloud_trace_id()
            .layer(tower_http::trace::TraceLayer::new_for_http())
            .layer(tower::timeout::TimeoutLayer::new(Duration::from_secs(10)))
            .layer(common::on_loopback(TokenAuthLayer::live(&live)))
            .service(http_client());
        let send = || {
            let request =
                Request::post(server.url("/app/1/v1/image/sync")).body(Full::<Bytes>::default()).unwrap();
            let client = client.clone();
            async move {
                let response = client.oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                let body = response.into_body().collect().await.unwrap().to_bytes();
                String::from_utf8(body.to_vec()).unwrap()
            }
        };
        let first = send().await;
        assert!(first.starts_with("qawsedrftg traceId="), "{first}");

        live.rotate(&rotated);
        let second = send().await;
        assert!(second.starts_with("rotated-id traceId="), "the rotated key is sent: {second}");

        // The client methods give the default scope, HTTPS to jocloud: in-process pairs.
        let caller = || {
            service_fn(|request: Request<()>| {
                let caller = request.extensions().get::<AuthenticatedId>().map(AuthenticatedId::to_string);
                let body = http_body_util::Full::<bytes::Bytes>::from(caller.unwrap_or_default());
                ready(Ok::<_, std::convert::Infallible>(http::Response::new(body)))
            })
        };
        let static_pair = ServiceBuilder::new()
            .jocloud_token(&credentials)
            .jocloud_validate_token(&credentials)
            .service(caller());
        let live_pair = ServiceBuilder::new()
            .jocloud_live_token(&live)
            .jocloud_validate_live_token(&accepted)
            .service(caller());
        let to = |uri: &str| Request::get(uri).body(()).unwrap();
        let response = static_pair.clone().oneshot(to("https://ai.jocloud.com/")).await.unwrap();
        assert_eq!(common::body_text(response).await, "qawsedrftg");
        let response = live_pair.clone().oneshot(to("https://ai.jocloud.com/")).await.unwrap();
        assert_eq!(common::body_text(response).await, "rotated-id");
        for pair_status in [
            static_pair.oneshot(to("http://127.0.0.1/")).await,
            live_pair.oneshot(to("http://127.0.0.1/")).await,
        ] {
            assert_eq!(pair_status.unwrap().status(), StatusCode::UNAUTHORIZED, "out of the default scope");
        }
    })
    .await;
}
