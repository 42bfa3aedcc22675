//! Failover under load: a primary of a six-node cluster is killed while a bounded
//! stream of messages runs. Every request still gets HTTP 200 (the "try again" reply
//! while the slot has no primary), none gets a 5xx, and normal replies are back within
//! 5 s of the replica's promotion.

use std::time::{Duration, Instant};

use kakaobot::store::{slot, Keys};
use kakaobot::user::UserKey;

use crate::helpers::{spawn_app_with, unique_prefix, RedisCluster};

const QUIZ: &str = "/quiz";
const FALLBACK: &str = "일시적인 문제로 답을 드리지 못했어요";
/// Longest the stream runs, and most requests it sends, whatever happens.
const STREAM_LIMIT: Duration = Duration::from_secs(40);
const MAX_REQUESTS: usize = 50_000;
/// Normal replies must be back this soon after the promotion.
const RECOVERY: Duration = Duration::from_secs(5);

/// One answered request of the stream.
struct Sent {
    at: Instant,
    status: u16,
    fallback: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_primary_under_load_costs_only_fallback_replies_until_the_promotion() {
    let mut cluster = RedisCluster::start();
    let prefix = unique_prefix("failover");
    let app = spawn_app_with(
        "failover",
        None,
        &[
            ("KAKAOBOT_REDIS_CLUSTER", &cluster.seeds()),
            ("KAKAOBOT_KEY_PREFIX", &prefix),
        ],
        |_| {},
    )
    .await;
    let user = "failover-user";
    let user_slot = slot(&Keys::new(&prefix).quiz_score(&UserKey::parse(user).unwrap()));
    let doomed = cluster.primary_for_slot(user_slot);
    let body = serde_json::json!({"user_key": user, "type": "text", "content": "내 점수"});
    let url = app.url(&format!("{QUIZ}/message"));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let send = || async {
        let resp = client.post(&url).json(&body).send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        Sent {
            at: Instant::now(),
            status,
            fallback: text.contains(FALLBACK),
        }
    };

    // Arrange: the stream runs normally for a moment.
    let started = Instant::now();
    let mut sent = Vec::new();
    while started.elapsed() < Duration::from_millis(500) {
        sent.push(send().await);
    }
    assert!(sent.iter().all(|s| s.status == 200 && !s.fallback));

    // Act: kill the user's primary; keep sending while the cluster promotes its replica.
    cluster.kill(doomed);
    let killed = Instant::now();
    let mut promoted: Option<Instant> = None;
    let mut last_check = Instant::now();
    while started.elapsed() < STREAM_LIMIT && sent.len() < MAX_REQUESTS {
        sent.push(send().await);
        if promoted.is_none() && last_check.elapsed() > Duration::from_millis(100) {
            last_check = Instant::now();
            // While the old primary is only suspected, no node names a primary.
            if cluster
                .find_primary(user_slot)
                .is_some_and(|port| port != doomed)
            {
                promoted = Some(Instant::now());
            }
        }
        if let Some(at) = promoted {
            if at.elapsed() > RECOVERY + Duration::from_secs(1) {
                break;
            }
        }
    }

    // Assert.
    let promoted = promoted.expect("the replica was promoted within the stream's limit");
    let statuses: Vec<u16> = sent.iter().map(|s| s.status).collect();
    assert!(
        statuses.iter().all(|&s| s == 200),
        "every request gets 200: {statuses:?}"
    );
    let fallbacks = sent.iter().filter(|s| s.fallback).count();
    let last_fallback = sent.iter().filter(|s| s.fallback).map(|s| s.at).max();
    let recovered_after = last_fallback.map(|at| at.saturating_duration_since(promoted));
    eprintln!(
        "{} requests; promotion {:?} after the kill; {fallbacks} fallback replies; \
         the last one {recovered_after:?} after the promotion",
        sent.len(),
        promoted - killed
    );
    if let Some(after) = recovered_after {
        assert!(
            after <= RECOVERY,
            "normal replies were back only {after:?} after the promotion"
        );
    }
    assert!(
        sent.iter()
            .rev()
            .take_while(|s| s.at > promoted + RECOVERY)
            .all(|s| !s.fallback),
        "replies after the recovery window are normal"
    );
    assert!(
        sent.last().is_some_and(|s| !s.fallback),
        "the stream ends with normal replies"
    );
}
