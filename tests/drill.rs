//! The rotation drill: an axum server and two clients (reqwest-middleware, and hyper-util under
//! `RetryWithPreviousKey`), each following its own kubelet-style Secret volume, as separate pods
//! do. The key changes on one side, and once that side has published it and both clients have
//! sent requests in that mixed state, on the other; in both orders, while both clients send
//! requests: every request gets a `200`.
//!
//! Each step waits for a condition, never for a time, and the grace period outlasts any wait, so
//! a starved machine can make the drill slow but not fail it. When a grace period ends is
//! unit-tested with an injected clock (`follow_set`, `previous_key`); here it is ended by hand.
#![cfg(all(feature = "rotation", feature = "tower", feature = "reqwest"))]

mod common;
#[path = "common/kubelet.rs"]
mod kubelet;

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{routing::post, Router};
use bytes::Bytes;
use common::{serve_axum, token_of};
use http::{Request, StatusCode};
use http_body_util::Full;
use jocloud_auth::{
    retry::RetryWithPreviousKey, token_auth::TokenAuthLayer, validate::ValidateTokenLayer, Credentials,
    CredentialsSource, FollowOptions, LiveCredentialSet, LiveCredentials,
};
use kubelet::SecretVolume;
use tower::{ServiceBuilder, ServiceExt};

/// The old key's ID and the new one's: a client that has read the new key says so by its ID.
const BEFORE: &str = "drill-before";
const AFTER: &str = "drill-after";
/// Longer than any test may take: no grace period ends by itself during the drill.
const GRACE: Duration = Duration::from_secs(3600);
/// Requests each client sends in each state, at least.
const REQUESTS_PER_STATE: usize = 200;

fn options() -> FollowOptions {
    FollowOptions::default().interval(Duration::from_millis(20)).grace(GRACE)
}

/// Which side reads the new key first.
#[derive(Clone, Copy, Debug)]
enum First {
    Client,
    Server,
}

/// Statuses one client saw: all of them, and those that were not `200`.
#[derive(Default)]
struct Counts {
    sent: AtomicUsize,
    not_ok: AtomicUsize,
}

impl Counts {
    fn record(&self, status: StatusCode) {
        self.sent.fetch_add(1, Ordering::SeqCst);
        if status != StatusCode::OK {
            self.not_ok.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn drill(first: First) {
    let mut server_volume = SecretVolume::new(BEFORE, "before");
    let mut reqwest_volume = SecretVolume::new(BEFORE, "before");
    let mut hyper_volume = SecretVolume::new(BEFORE, "before");
    let follow_set =
        |volume: &SecretVolume| LiveCredentialSet::follow(CredentialsSource::dir(volume.path()), options());
    let follow =
        |volume: &SecretVolume| LiveCredentials::follow(CredentialsSource::dir(volume.path()), options());

    let accepted = follow_set(&server_volume).unwrap();
    let router = Router::new()
        .route("/app/{appid}/v1/image/sync", post(|| async { "ok" }))
        .route_layer(ValidateTokenLayer::live(&accepted));
    let server = serve_axum(router).await;
    let url = server.url("/app/123456/v1/image/sync");

    let (reqwest_credentials, hyper_credentials) =
        (follow(&reqwest_volume).unwrap(), follow(&hyper_volume).unwrap());
    let reqwest_client = {
        let token = common::on_loopback(TokenAuthLayer::live(&reqwest_credentials));
        jocloud_auth::reqwest::client_builder(reqwest::Client::builder(), &token).unwrap().build()
    };
    let hyper_client = {
        let token = common::on_loopback(TokenAuthLayer::live(&hyper_credentials));
        ServiceBuilder::new()
            .layer(token.clone())
            .layer(RetryWithPreviousKey::layer(&token))
            .service(common::http_client())
    };

    let stop = Arc::new(AtomicBool::new(false));
    let (reqwest_counts, hyper_counts) = (Arc::new(Counts::default()), Arc::new(Counts::default()));
    let mut senders = tokio::task::JoinSet::new();
    {
        let (stop, counts, url) = (stop.clone(), reqwest_counts.clone(), url.clone());
        senders.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let response = reqwest_client.post(&url).body("{}").send().await.unwrap();
                counts.record(response.status());
            }
        });
    }
    {
        let (stop, counts, url) = (stop.clone(), hyper_counts.clone(), url.clone());
        senders.spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let request = Request::post(&url).body(Full::new(Bytes::from("{}"))).unwrap();
                let response = hyper_client.clone().oneshot(request).await.unwrap();
                counts.record(response.status());
            }
        });
    }
    let sent = |counts: &Counts| counts.sent.load(Ordering::SeqCst);
    // Both clients send this many more requests in the present state.
    let in_this_state = async |what: &str| {
        let (reqwest_then, hyper_then) = (sent(&reqwest_counts), sent(&hyper_counts));
        common::wait_until_async(what, async || {
            sent(&reqwest_counts) >= reqwest_then + REQUESTS_PER_STATE
                && sent(&hyper_counts) >= hyper_then + REQUESTS_PER_STATE
        })
        .await;
    };
    let (before, after) = (token_of(&key(BEFORE, "before")), token_of(&key(AFTER, "after")));
    let status_with = |token: http::HeaderValue| {
        let request = Request::post(&url).header("token", token).body(Full::<Bytes>::default()).unwrap();
        let client = common::http_client();
        async move { client.oneshot(request).await.unwrap().status() }
    };
    let server_read = async || status_with(after.clone()).await == StatusCode::OK;
    let clients_read = async || &*reqwest_credentials.id() == AFTER && &*hyper_credentials.id() == AFTER;

    in_this_state("requests under the old key").await;
    let mut update_server = || server_volume.update(AFTER, "after");
    let mut update_clients = || {
        reqwest_volume.update(AFTER, "after");
        hyper_volume.update(AFTER, "after");
    };
    match first {
        First::Client => {
            update_clients();
            common::wait_until_async("the clients reading the new key", clients_read).await;
            in_this_state("requests with the new key to a server that knows only the old").await;
            update_server();
            common::wait_until_async("the server accepting the new key", server_read).await;
        }
        First::Server => {
            update_server();
            common::wait_until_async("the server accepting the new key", server_read).await;
            in_this_state("requests with the old key to a server that knows both").await;
            update_clients();
            common::wait_until_async("the clients reading the new key", clients_read).await;
        }
    }
    in_this_state("requests with the new key").await;
    stop.store(true, Ordering::SeqCst);
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }

    for (path, counts) in [("reqwest-middleware", &reqwest_counts), ("hyper-util", &hyper_counts)] {
        let (sent, not_ok) = (sent(counts), counts.not_ok.load(Ordering::SeqCst));
        println!("{first:?} first: {path}: {not_ok} non-200 of {sent}");
        assert_eq!(not_ok, 0, "{first:?} first: {path} got {not_ok} non-200 of {sent}");
    }
    // The old key in its grace period, until the grace is ended by hand.
    assert_eq!(status_with(before.clone()).await, StatusCode::OK);
    assert_eq!(accepted.remove_id(BEFORE), 1);
    assert_eq!(status_with(before).await, StatusCode::UNAUTHORIZED);
    assert_eq!(status_with(after).await, StatusCode::OK);
}

fn key(id: &str, secret: &str) -> Credentials {
    Credentials::new(id, secret).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reads_the_new_key_first() {
    common::bounded(drill(First::Client)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reads_the_new_key_first() {
    common::bounded(drill(First::Server)).await;
}
