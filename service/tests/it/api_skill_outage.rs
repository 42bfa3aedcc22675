//! Skills when Redis is slow or gone: a valid 2.0 answer within 1 s (the "try again"
//! text and the home menu as quick replies), and, when Kakao sent a callback URL,
//! `useCallback` at once and the real answer POSTed to that URL exactly once when the
//! store answers again. Runs with the default timeouts and reply budget.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    kakao_sample, skill_payload, spawn_app, spawn_app_with, CallbackReceiver, RedisServer,
    SkillAnswer, TestApp,
};

const FALLBACK: &str = "잠시 후 다시 시도해 주세요";
const QUIZ_HOME: [&str; 4] = ["파이썬 퀴즈", "웹 퀴즈", "컴퓨터 퀴즈", "내 점수"];
const LUNCH_HOME: [&str; 3] = ["#점심 선택", "#결과 보기", "#설정"];
/// Kakao waits 5 s; the service promises an answer within this.
const WITHIN: Duration = Duration::from_secs(1);
const USER: &str = "0000000000000000000000000000000000000000000000000000006f7574616765";

/// A skill call and how long its answer took.
async fn timed(app: &TestApp, bot: &str, body: &Value) -> (SkillAnswer, Duration) {
    let started = Instant::now();
    let plain = app.skill_raw(bot, body).await;
    (SkillAnswer::from(&plain), started.elapsed())
}

async fn every_skill_falls_back_within_a_second(app: &TestApp) {
    for (bot, utterance, home) in [
        ("/quiz", "웹 퀴즈", &QUIZ_HOME[..]),
        ("/quiz", "내 점수", &QUIZ_HOME),
        ("/lunch", "#점심 선택", &LUNCH_HOME),
        ("/lunch", "#결과 보기", &LUNCH_HOME),
    ] {
        let (answer, took) = timed(app, bot, &skill_payload(USER, utterance)).await;

        answer.assert_says(FALLBACK);
        assert_eq!(answer.quick_labels(), home, "{bot} {utterance}");
        assert!(took < WITHIN, "{bot} {utterance:?} took {took:?}");
    }
    assert_eq!(app.ready().await, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread")]
async fn when_redis_dies_skills_answer_a_valid_fallback_within_a_second() {
    let mut redis = RedisServer::start();
    let app = spawn_app("skill_outage_dead", Some(&redis)).await;
    app.skill("/quiz", USER, "내 점수")
        .await
        .assert_says("아직 푼 문제가 없어요");

    redis.stop();

    every_skill_falls_back_within_a_second(&app).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn when_redis_is_paused_skills_answer_a_valid_fallback_within_a_second() {
    let redis = RedisServer::start();
    let app = spawn_app("skill_outage_paused", Some(&redis)).await;
    app.skill("/quiz", USER, "내 점수").await;

    redis.pause(3_000).await;

    every_skill_falls_back_within_a_second(&app).await;
}

/// A skill request that carries `callback_url`, as an approved AI chatbot's block sends it.
fn with_callback(utterance: &str, callback_url: &str) -> Value {
    let mut body = skill_payload(USER, utterance);
    body["userRequest"]["callbackUrl"] = json!(callback_url);
    body
}

/// The service with callbacks to `receiver` allowed, on `redis`.
async fn app_calling_back(name: &str, redis: &RedisServer, receiver: &CallbackReceiver) -> TestApp {
    spawn_app_with(
        name,
        Some(redis),
        &[("KAKAOBOT_CALLBACK_ALLOWED_HOSTS", receiver.host.as_str())],
        |_| {},
    )
    .await
}

/// Checks an immediate answer is the callback acknowledgement, with the exact keys of
/// Kakao's own example (`openbuilder-samples/…usecallback_ack.json`).
#[track_caller]
fn assert_callback_ack(plain: &crate::helpers::Plain) {
    plain.assert_kakao_ok();
    let ack = plain.json();
    assert_eq!(ack["version"], "2.0", "{ack}");
    assert_eq!(ack["useCallback"], true, "{ack}");
    assert!(
        ack["data"]["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{ack}"
    );
    assert!(ack.get("template").is_none(), "{ack}");
    let sample = kakao_sample("kakaodocs__ai_chatbot_callback_guide__usecallback_ack.json");
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&ack), keys(&sample));
    assert_eq!(keys(&ack["data"]), keys(&sample["data"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn when_redis_is_paused_a_callback_request_is_acknowledged_at_once_and_answered_once_later() {
    let redis = RedisServer::start();
    let mut receiver = CallbackReceiver::start().await;
    let app = app_calling_back("skill_callback_paused", &redis, &receiver).await;
    app.skill("/quiz", USER, "내 점수").await;

    redis.pause(3_000).await;
    let started = Instant::now();
    let ack = app
        .skill_raw(
            "/quiz",
            &with_callback("웹 퀴즈", &receiver.url("token-paused")),
        )
        .await;
    let acked_in = started.elapsed();

    assert_callback_ack(&ack);
    assert!(acked_in < WITHIN, "acknowledged in {acked_in:?}");
    let (path, body) = receiver
        .next(Duration::from_secs(15))
        .await
        .expect("the real answer is POSTed to the callback URL");
    let delivered_in = started.elapsed();
    assert_eq!(
        path,
        "/v1/bots/5ae9b76d7409b11ec845b746!/callback/token-paused"
    );
    assert_eq!(body["version"], "2.0", "{body}");
    let text = body["template"]["outputs"][0]["simpleText"]["text"]
        .as_str()
        .unwrap();
    assert!(
        text.starts_with("[웹 퀴즈]"),
        "the real answer, not the fallback: {body}"
    );
    assert!(
        receiver.next(Duration::from_secs(3)).await.is_none(),
        "a callback URL is used once"
    );
    // The delivered question is the user's pending one: answering it scores.
    let choice = body["template"]["quickReplies"][0].clone();
    let mut tap = skill_payload(USER, choice["messageText"].as_str().unwrap());
    tap["action"]["clientExtra"] = choice["extra"].clone();
    let judged = SkillAnswer::from(&app.skill_raw("/quiz", &tap).await);
    assert!(
        judged.text.contains("정답입니다") || judged.text.contains("오답입니다"),
        "{}",
        judged.text
    );
    eprintln!("callback: acknowledged in {acked_in:?}, answer delivered {delivered_in:?} after the request (Redis paused 3 s)");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_redis_is_down_the_callback_is_delivered_once_it_returns() {
    let mut redis = RedisServer::start();
    let mut receiver = CallbackReceiver::start().await;
    let app = app_calling_back("skill_callback_dead", &redis, &receiver).await;
    app.skill("/lunch", USER, "#결과 보기").await;

    redis.stop();
    let started = Instant::now();
    let ack = app
        .skill_raw(
            "/lunch",
            &with_callback("#설정", &receiver.url("token-dead")),
        )
        .await;
    assert_callback_ack(&ack);
    assert!(started.elapsed() < WITHIN);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        receiver.next(Duration::ZERO).await.is_none(),
        "nothing to deliver while Redis is down"
    );
    redis.start_again();

    let (_, body) = receiver
        .next(Duration::from_secs(15))
        .await
        .expect("delivered once Redis is back");
    let text = body["template"]["outputs"][0]["simpleText"]["text"]
        .as_str()
        .unwrap();
    assert!(text.starts_with("설정 메뉴예요"), "{body}");
    assert!(
        receiver.next(Duration::from_secs(3)).await.is_none(),
        "delivered once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fast_store_answers_directly_even_when_a_callback_url_is_sent() {
    let redis = RedisServer::start();
    let mut receiver = CallbackReceiver::start().await;
    let app = app_calling_back("skill_callback_fast", &redis, &receiver).await;

    let plain = app
        .skill_raw(
            "/quiz",
            &with_callback("내 점수", &receiver.url("token-fast")),
        )
        .await;

    SkillAnswer::from(&plain).assert_says("아직 푼 문제가 없어요");
    assert!(plain.json().get("useCallback").is_none());
    assert!(receiver.next(Duration::from_secs(2)).await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_url_outside_kakao_and_the_allowed_hosts_is_never_called() {
    let redis = RedisServer::start();
    let mut receiver = CallbackReceiver::start().await;
    // No allowed hosts: only https on *.kakao.com may be called back.
    let app = spawn_app("skill_callback_refused", Some(&redis)).await;
    app.skill("/quiz", USER, "내 점수").await;

    redis.pause(2_000).await;
    let (answer, took) = timed(
        &app,
        "/quiz",
        &with_callback("웹 퀴즈", &receiver.url("token-refused")),
    )
    .await;

    answer.assert_says(FALLBACK);
    assert!(answer.json.get("useCallback").is_none());
    assert!(took < WITHIN);
    assert!(
        receiver.next(Duration::from_secs(4)).await.is_none(),
        "called a host it must not"
    );
}
