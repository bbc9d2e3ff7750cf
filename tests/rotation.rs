//! Live rotation under load: senders on many tasks, a rotator on another, a loopback server
//! recording every token it receives.
#![cfg(feature = "rotation")]

mod common;

use std::{
    collections::HashMap,
    future::ready,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use common::{bounded, http_client, serve, serve_axum, text};
use http::{Request, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use jocloud_auth::{
    token_auth::TokenAuthLayer, validate::ValidateTokenLayer, Credentials, LiveCredentialSet, LiveCredentials,
};
use tower::{service_fn, Layer, Service, ServiceExt};

const SENDERS: usize = 16;
const REQUESTS_PER_SENDER: usize = 150;
const ROTATIONS: usize = 20;

/// Key `n` of a certificate whose secret is rotated: same ID, new secret.
fn key(n: usize) -> Credentials {
    Credentials::new("rotating-id", format!("secret-generation-{n}")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_carries_exactly_one_valid_token_and_never_goes_back() {
    bounded(async {
        let mut generation_of = HashMap::new();
        for n in 0..=ROTATIONS {
            generation_of.insert(common::token_of(&key(n)).as_bytes().to_vec(), n);
        }

        // (sender, sequence number, every token header on the request)
        type Seen = Vec<(usize, usize, Vec<Vec<u8>>)>;
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let recorder = seen.clone();
        let server = serve(service_fn(move |request: Request<Incoming>| {
            let header = |name| request.headers()[name].to_str().unwrap().parse::<usize>().unwrap();
            let tokens = request.headers().get_all("token").iter().map(|v| v.as_bytes().to_vec()).collect();
            recorder.lock().unwrap().push((header("x-sender"), header("x-seq"), tokens));
            ready(text("ok"))
        }))
        .await;

        let live = LiveCredentials::new(&key(0));
        let client = common::on_loopback(TokenAuthLayer::live(&live)).layer(http_client());
        let url = server.url("/app/1/v1/image/sync");

        let mut senders = tokio::task::JoinSet::new();
        for sender in 0..SENDERS {
            let (client, url) = (client.clone(), url.clone());
            senders.spawn(async move {
                // Half the senders keep one service clone; half clone per request, as many
                // stacks do, which starts each clone from the template's cached snapshot.
                let mut own = client.clone();
                for seq in 0..REQUESTS_PER_SENDER {
                    let request = Request::post(url.as_str())
                        .header("x-sender", sender)
                        .header("x-seq", seq)
                        .body(Full::<Bytes>::default())
                        .unwrap();
                    let response = if sender % 2 == 0 {
                        own.ready().await.unwrap().call(request).await
                    } else {
                        client.clone().oneshot(request).await
                    };
                    assert_eq!(response.unwrap().status(), StatusCode::OK);
                }
            });
        }
        let rotator = {
            let live = live.clone();
            tokio::spawn(async move {
                for n in 1..=ROTATIONS {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    live.rotate(&key(n));
                }
            })
        };
        while let Some(done) = senders.join_next().await {
            done.unwrap();
        }
        rotator.await.unwrap();

        // After the last rotation, every clone sends the newest key.
        let last = common::token_of(&key(ROTATIONS));
        for sender in 0..4 {
            let request = Request::post(url.as_str())
                .header("x-sender", 1000 + sender)
                .header("x-seq", 0)
                .body(Full::<Bytes>::default())
                .unwrap();
            client.clone().oneshot(request).await.unwrap();
        }

        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), SENDERS * REQUESTS_PER_SENDER + 4);
        let mut last_generation = HashMap::new();
        let mut generations_seen = std::collections::BTreeSet::new();
        let mut ordered: Vec<_> = seen.iter().collect();
        ordered.sort_by_key(|(sender, seq, _)| (*sender, *seq));
        for (sender, seq, tokens) in ordered {
            assert_eq!(tokens.len(), 1, "sender {sender} request {seq}: exactly one token header");
            let generation = *generation_of
                .get(&tokens[0])
                .unwrap_or_else(|| panic!("sender {sender} request {seq}: not a valid token"));
            generations_seen.insert(generation);
            if *sender >= 1000 {
                assert_eq!(tokens[0], last.as_bytes(), "after the rotations, only the newest key");
            }
            let previous = last_generation.insert(*sender, generation).unwrap_or(0);
            assert!(generation >= previous, "sender {sender} went back from key {previous} to {generation}");
        }
        println!("generations seen by the server: {generations_seen:?}");
        assert!(generations_seen.len() > 2, "rotations happened while requests were in flight");
    })
    .await;
}

#[tokio::test]
async fn the_server_adds_the_new_key_then_drops_the_old() {
    bounded(async {
        let (old, new) = (key(0), key(1));
        let accepted = LiveCredentialSet::new([&old]);
        let router = axum::Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .layer(ValidateTokenLayer::live(&accepted));
        let server = serve_axum(router).await;

        let status = |credentials: &Credentials| {
            let client = common::on_loopback(TokenAuthLayer::new(credentials)).layer(http_client());
            let request = Request::get(server.url("/")).body(Full::<Bytes>::default()).unwrap();
            async move { client.oneshot(request).await.unwrap().status() }
        };
        assert_eq!(status(&old).await, StatusCode::OK);
        assert_eq!(status(&new).await, StatusCode::UNAUTHORIZED);

        assert!(accepted.insert(&new));
        assert!(!accepted.insert(&new), "inserting twice is reported");
        assert_eq!(status(&old).await, StatusCode::OK);
        assert_eq!(status(&new).await, StatusCode::OK);

        assert!(accepted.remove(&old));
        assert!(!accepted.remove(&old), "removing twice is reported");
        assert_eq!(status(&old).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(&new).await, StatusCode::OK);

        assert_eq!(accepted.remove_id("rotating-id"), 1);
        assert_eq!(status(&new).await, StatusCode::UNAUTHORIZED);
        assert!(accepted.ids().is_empty());
    })
    .await;
}
