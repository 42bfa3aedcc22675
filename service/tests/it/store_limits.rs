//! Bounded growth over HTTP: group creation and join-code guessing are limited per
//! user, and a user who creates group after group leaves only the last one behind.

use kakaobot::bots::lunch::{MAX_GROUPS_PER_HOUR, MAX_JOIN_ATTEMPTS_PER_HOUR};

use crate::helpers::{spawn_app, RedisServer};

const LUNCH: &str = "/lunch";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_may_create_only_so_many_groups_an_hour() {
    let app = spawn_app("create_limit", None).await;
    for _ in 0..MAX_GROUPS_PER_HOUR {
        app.post_message(LUNCH, "maker", "그룹 만들기")
            .await
            .assert_says("새 그룹을 만들었어요");
    }

    let refused = app.post_message(LUNCH, "maker", "그룹 만들기").await;

    refused.assert_says(&format!("한 시간에 {MAX_GROUPS_PER_HOUR}번까지"));
    app.post_message(LUNCH, "someone-else", "그룹 만들기")
        .await
        .assert_says("새 그룹을 만들었어요");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_codes_tried_past_the_hourly_budget_are_refused_even_when_right() {
    let redis = RedisServer::start();
    let app = spawn_app("join_limit", Some(&redis)).await;
    let created = app.post_message(LUNCH, "owner", "그룹 만들기").await;
    let code: String = created
        .text
        .split_once("참여 코드: ")
        .expect("a join code")
        .1
        .chars()
        .take(6)
        .collect();
    app.post_message(LUNCH, "guesser", "그룹 참여").await;
    for n in 0..MAX_JOIN_ATTEMPTS_PER_HOUR {
        let wrong = format!("ZZ{n:04}");
        app.post_message(LUNCH, "guesser", &wrong)
            .await
            .assert_says("찾지 못했어요");
    }

    let refused = app.post_message(LUNCH, "guesser", &code).await;

    refused.assert_says("너무 많이 입력했어요");
    app.post_message(LUNCH, "friend", "그룹 참여").await;
    app.post_message(LUNCH, "friend", &code)
        .await
        .assert_says("그룹에 참여했어요");
}
