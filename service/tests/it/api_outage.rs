//! Redis going away and coming back: messages are still answered (200, within 1 s,
//! "try again" and the home keyboard), `/ready` says 503, and the service recovers by
//! itself when Redis returns — no restart. Runs with the default timeouts and reply
//! budget, since those are what production gets.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{spawn_app, Answer, RedisServer, TestApp};

const FALLBACK: &str = "잠시 후 다시 시도해 주세요";
const QUIZ_HOME: [&str; 4] = ["파이썬 퀴즈", "웹 퀴즈", "컴퓨터 퀴즈", "내 점수"];
const LUNCH_HOME: [&str; 3] = ["#점심 선택", "#결과 보기", "#설정"];
/// Kakao waits 5 s; the service promises an answer within this.
const WITHIN: Duration = Duration::from_secs(1);
/// How long Redis may take to be seen again after it restarts.
const RECOVERY_WITHIN: Duration = Duration::from_secs(5);

/// Sends a message and returns the answer with how long it took.
async fn timed(app: &TestApp, bot: &str, user: &str, text: &str) -> (Answer, Duration) {
    let started = Instant::now();
    let answer = app.post_message(bot, user, text).await;
    (answer, started.elapsed())
}

/// Polls `/ready` until it says 200, for at most [`RECOVERY_WITHIN`].
async fn wait_until_ready(app: &TestApp) -> Duration {
    let started = Instant::now();
    loop {
        if app.ready().await == StatusCode::OK {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < RECOVERY_WITHIN,
            "/ready still not 200 {RECOVERY_WITHIN:?} after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn when_redis_dies_messages_fall_back_within_a_second_and_recover_when_it_returns() {
    let mut redis = RedisServer::start();
    let app = spawn_app("outage", Some(&redis)).await;
    let asked = app
        .post_message("/quiz", "outage_user1", "파이썬 퀴즈")
        .await;
    assert!(asked.text.starts_with("[파이썬 퀴즈]"), "{}", asked.text);
    assert_eq!(app.ready().await, StatusCode::OK);

    redis.stop();
    let mut slowest = Duration::ZERO;
    for (bot, text, home) in [
        ("/quiz", "append", &QUIZ_HOME[..]),
        ("/quiz", "내 점수", &QUIZ_HOME),
        ("", "웹 퀴즈", &QUIZ_HOME),
        ("/lunch", "#점심 선택", &LUNCH_HOME),
        ("/lunch", "#설정", &LUNCH_HOME),
        ("/quiz", "컴퓨터 퀴즈", &QUIZ_HOME),
    ] {
        let (answer, took) = timed(&app, bot, "outage_user1", text).await;

        answer.assert_says(FALLBACK);
        answer.assert_buttons(home);
        assert!(took < WITHIN, "{bot}/message {text:?} took {took:?}");
        slowest = slowest.max(took);
    }
    let started = Instant::now();
    let ready = app.get("/ready").await;
    let ready_took = started.elapsed();
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.json()["status"], "unavailable");
    assert!(ready_took < WITHIN, "/ready took {ready_took:?}");
    // Notifications are still acknowledged: Kakao would count an error against the bot.
    app.friend_added("/quiz", "outage_user1")
        .await
        .assert_kakao_ok();
    eprintln!(
        "fallback replies during the outage: slowest {slowest:?}; /ready 503 in {ready_took:?}"
    );

    redis.start_again();
    let recovered_in = wait_until_ready(&app).await;
    let (again, took) = timed(&app, "/quiz", "outage_user1", "파이썬 퀴즈").await;

    assert!(again.text.starts_with("[파이썬 퀴즈]"), "{}", again.text);
    assert!(took < WITHIN);
    app.post_message("/lunch", "outage_user1", "#점심 선택")
        .await
        .assert_says("아직 참여한 그룹이 없어요");
    eprintln!("ready again {recovered_in:?} after Redis restarted");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_starts_while_redis_is_down_and_serves_once_it_is_up() {
    let mut redis = RedisServer::start();
    redis.stop();
    let app = spawn_app("outage_at_start", Some(&redis)).await;

    let (answer, took) = timed(&app, "/quiz", "early_user_1", "내 점수").await;
    let not_ready = app.ready().await;

    answer.assert_says(FALLBACK);
    assert!(took < WITHIN, "took {took:?}");
    assert_eq!(not_ready, StatusCode::SERVICE_UNAVAILABLE);
    redis.start_again();
    wait_until_ready(&app).await;
    app.post_message("/quiz", "early_user_1", "내 점수")
        .await
        .assert_says("아직 푼 문제가 없어요");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_redis_is_slow_messages_fall_back_within_a_second_and_recover_when_it_answers() {
    let redis = RedisServer::start();
    let app = spawn_app("slow_redis", Some(&redis)).await;
    app.post_message("/quiz", "slow_user_01", "내 점수")
        .await
        .assert_says("아직 푼 문제가 없어요");

    redis.pause(2_500).await;
    let (quiz, quiz_took) = timed(&app, "/quiz", "slow_user_01", "웹 퀴즈").await;
    let (lunch, lunch_took) = timed(&app, "/lunch", "slow_user_01", "#결과 보기").await;
    let not_ready = app.ready().await;

    quiz.assert_says(FALLBACK);
    quiz.assert_buttons(&QUIZ_HOME);
    lunch.assert_says(FALLBACK);
    lunch.assert_buttons(&LUNCH_HOME);
    assert!(quiz_took < WITHIN, "took {quiz_took:?}");
    assert!(lunch_took < WITHIN, "took {lunch_took:?}");
    assert_eq!(not_ready, StatusCode::SERVICE_UNAVAILABLE);
    eprintln!("fallback replies while Redis is paused: {quiz_took:?}, {lunch_took:?}");
    // The pause ends by itself; the service answers normally again, no restart.
    let started = Instant::now();
    loop {
        let answer = app.post_message("/quiz", "slow_user_01", "내 점수").await;
        if !answer.text.contains(FALLBACK) {
            answer.assert_says("아직 푼 문제가 없어요");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2) + RECOVERY_WITHIN,
            "still the fallback after the pause ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.ready().await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_lets_an_in_flight_message_finish_and_then_refuses_connections() {
    let redis = RedisServer::start();
    let app = spawn_app("graceful_stop", Some(&redis)).await;
    let (client, url, port) = (app.client.clone(), app.url("/quiz/message"), app.port);
    app.post_message("/quiz", "stop_user_01", "내 점수").await;
    // A slow store keeps the next message in flight for most of the reply budget.
    redis.pause(2_000).await;
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .json(&json!({"user_key": "stop_user_01", "type": "text", "content": "내 점수"}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.stop().await.expect("the server stops cleanly");
    let answered = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");

    assert_eq!(answered.status(), StatusCode::OK);
    let body: serde_json::Value = answered.json().await.unwrap();
    assert!(body["message"]["text"].as_str().unwrap().contains(FALLBACK));
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "still accepting connections after stopping"
    );
}
