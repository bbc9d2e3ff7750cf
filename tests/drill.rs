//! The rotation drill: an axum server and two clients (reqwest-middleware, and hyper-util under
//! `RetryWithPreviousKey`), each following its own kubelet-style Secret volume, as separate pods
//! do. The key changes on one side 2 s before the other, in both orders, while both clients send
//! requests: every request gets a `200`, and once the grace period is over the old key is
//! refused.
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

const ID: &str = "drill-id";
const LAG: Duration = Duration::from_secs(2);
/// Several times the lag, so that a loaded machine cannot make the lagging side late.
const GRACE: Duration = Duration::from_secs(8);
const REQUESTS_PER_CLIENT: usize = 1_000;
const LIMIT: Duration = Duration::from_secs(60);

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

/// Waits for `done`, giving up after [`LIMIT`]: a bound on the wait, not on how long it takes.
async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let condition = async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(LIMIT, condition).await.unwrap_or_else(|_| panic!("never happened: {what}"));
}

async fn drill(first: First) {
    let mut server_volume = SecretVolume::new(ID, "before");
    let mut reqwest_volume = SecretVolume::new(ID, "before");
    let mut hyper_volume = SecretVolume::new(ID, "before");
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

    let reqwest_client = {
        let token = common::on_loopback(TokenAuthLayer::live(&follow(&reqwest_volume).unwrap()));
        jocloud_auth::reqwest::client_builder(reqwest::Client::builder(), &token).unwrap().build()
    };
    let hyper_client = {
        let token = common::on_loopback(TokenAuthLayer::live(&follow(&hyper_volume).unwrap()));
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
    wait_until("requests under the old key", async || {
        sent(&reqwest_counts) > 100 && sent(&hyper_counts) > 100
    })
    .await;

    let mut update_server = || server_volume.update(ID, "after");
    let mut update_clients = || {
        reqwest_volume.update(ID, "after");
        hyper_volume.update(ID, "after");
    };
    match first {
        First::Client => update_clients(),
        First::Server => update_server(),
    }
    tokio::time::sleep(LAG).await;
    match first {
        First::Client => update_server(),
        First::Server => update_clients(),
    }
    let (before, after) = (token_of(&key("before")), token_of(&key("after")));
    let status_with = |token: http::HeaderValue| {
        let request = Request::post(&url).header("token", token).body(Full::<Bytes>::default()).unwrap();
        let client = common::http_client();
        async move { client.oneshot(request).await.unwrap().status() }
    };
    wait_until("the server accepting the new key", async || {
        status_with(after.clone()).await == StatusCode::OK
    })
    .await;
    // Both clients past the lagging side's update, and at least the drill's number of requests.
    let (reqwest_then, hyper_then) = (sent(&reqwest_counts), sent(&hyper_counts));
    wait_until("the drill's requests", async || {
        sent(&reqwest_counts) >= REQUESTS_PER_CLIENT.max(reqwest_then + 100)
            && sent(&hyper_counts) >= REQUESTS_PER_CLIENT.max(hyper_then + 100)
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }

    for (path, counts) in [("reqwest-middleware", &reqwest_counts), ("hyper-util", &hyper_counts)] {
        let (sent, not_ok) = (sent(counts), counts.not_ok.load(Ordering::SeqCst));
        println!("{first:?} first, {} lag: {path}: {not_ok} non-200 of {sent}", LAG.as_secs());
        assert_eq!(not_ok, 0, "{first:?} first: {path} got {not_ok} non-200 of {sent}");
    }
    wait_until("the old key refused after the grace", async || {
        status_with(before.clone()).await == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(status_with(after.clone()).await, StatusCode::OK);
}

fn key(secret: &str) -> Credentials {
    Credentials::new(ID, secret).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reads_the_new_key_2_s_before_the_server() {
    common::bounded(drill(First::Client)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reads_the_new_key_2_s_before_the_client() {
    common::bounded(drill(First::Server)).await;
}
