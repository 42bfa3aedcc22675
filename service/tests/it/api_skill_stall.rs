//! Skills with a callback URL while Redis stalls (its process stopped with SIGSTOP,
//! its sockets open): the answer called back is the one the request's single change
//! produced, and a stall does not pile up work.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    skill_payload, spawn_app_with, CallbackReceiver, Plain, RedisServer, SkillAnswer, TestApp,
};

const USER: &str = "00000000000000000000000000000000000000000000000000000073_74616c6c";
/// How long Redis stays stopped: several response timeouts (500 ms) and callback
/// retry pauses (0.25–2 s), well inside the callback deadline (50 s).
const STALL: Duration = Duration::from_secs(4);
/// Generous: the answer is due shortly after Redis resumes, on a loaded machine.
const DELIVERED_WITHIN: Duration = Duration::from_secs(20);

/// The service with callbacks to `receiver` allowed, on `redis`, with `env`.
async fn app_calling_back(
    name: &str,
    redis: &RedisServer,
    receiver: &CallbackReceiver,
    env: &[(&str, &str)],
) -> TestApp {
    let mut all = vec![("KAKAOBOT_CALLBACK_ALLOWED_HOSTS", receiver.host.as_str())];
    all.extend_from_slice(env);
    spawn_app_with(name, Some(redis), &all, |_| {}).await
}

/// `user` taps the first choice of `question`, with `callback_url` when given.
fn tap_first_choice(user: &str, question: &SkillAnswer, callback_url: Option<&str>) -> Value {
    let choice = &question.tappables()[0];
    let mut body = skill_payload(user, &choice.message_text);
    body["action"]["clientExtra"] = choice.extra.clone();
    if let Some(url) = callback_url {
        body["userRequest"]["callbackUrl"] = json!(url);
    }
    body
}

fn callback_text(body: &Value) -> &str {
    body["template"]["outputs"][0]["simpleText"]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no simpleText in the callback: {body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_sent_during_a_stall_is_judged_once_and_called_back_as_judged() {
    let redis = RedisServer::start();
    let mut receiver = CallbackReceiver::start().await;
    let app = app_calling_back("stall_judged", &redis, &receiver, &[]).await;
    // What judging an answer costs Redis when nothing stalls, once Redis knows the
    // scripts (the first run of each is an EVALSHA refused and an EVAL).
    let mut judging_costs = 0;
    for _ in 0..2 {
        let question = app.skill("/quiz", USER, "웹 퀴즈").await;
        let before = redis.scripts_run().await;
        let tap = tap_first_choice(USER, &question, None);
        SkillAnswer::from(&app.skill_raw("/quiz", &tap).await);
        judging_costs = redis.scripts_run().await - before;
    }
    let question = app.skill("/quiz", USER, "웹 퀴즈").await;
    let before = redis.scripts_run().await;

    redis.freeze();
    let ack = app
        .skill_raw(
            "/quiz",
            &tap_first_choice(USER, &question, Some(&receiver.url("token-stall"))),
        )
        .await;
    assert_eq!(ack.json()["useCallback"], true, "{}", ack.json());
    tokio::time::sleep(STALL).await;
    redis.thaw();

    let (_, body) = receiver
        .next(DELIVERED_WITHIN)
        .await
        .expect("the judged answer is called back once Redis resumes");
    let text = callback_text(&body);
    assert!(
        text.contains("정답입니다") || text.contains("오답입니다"),
        "the answer as judged, not \"already judged\": {text}"
    );
    assert!(text.contains("지금까지 3문제 중"), "{text}");
    assert!(
        receiver.next(Duration::from_secs(2)).await.is_none(),
        "a callback URL is used once"
    );
    assert_eq!(
        redis.scripts_run().await - before,
        judging_costs,
        "the stalled answer ran as many scripts as one answer does: no stale retry ran"
    );
    app.skill("/quiz", USER, "내 점수")
        .await
        .assert_says("지금까지 3문제 중");
}

/// Skill requests from `count` users at once, each with its own callback URL: the
/// answers' JSON bodies.
async fn many_at_once(app: &TestApp, receiver: &CallbackReceiver, count: usize) -> Vec<Value> {
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..count {
        let mut body = skill_payload(&format!("{n:064x}"), "웹 퀴즈");
        body["userRequest"]["callbackUrl"] = json!(receiver.url(&format!("token-{n}")));
        let (client, url) = (app.client.clone(), app.url("/quiz/skill"));
        requests.spawn(async move {
            let response = client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("an answer");
            Plain::from(response).await.json()
        });
    }
    requests.join_all().await
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_pending_budget_a_stall_gets_the_plain_answer_and_callbacks_leave_paced() {
    const BUDGET: usize = 12;
    const REQUESTS: usize = 20;
    let redis = RedisServer::start();
    // Each POST is answered after 300 ms, so callbacks sent together would overlap.
    let mut receiver = CallbackReceiver::start_holding(Duration::from_millis(300)).await;
    let app = app_calling_back(
        "stall_budget",
        &redis,
        &receiver,
        &[("KAKAOBOT_CALLBACK_MAX_PENDING", &BUDGET.to_string())],
    )
    .await;
    app.skill("/quiz", USER, "내 점수").await;

    redis.freeze();
    let answers = many_at_once(&app, &receiver, REQUESTS).await;
    let waiting = answers.iter().filter(|a| a["useCallback"] == true).count();
    let plain = answers
        .iter()
        .filter(|a| {
            SkillAnswer::text_of(a).is_some_and(|t| t.contains("잠시 후 다시 시도해 주세요"))
        })
        .count();
    assert_eq!(waiting, BUDGET, "callbacks promised: {answers:?}");
    assert_eq!(
        plain,
        REQUESTS - BUDGET,
        "\"try again\" answers: {answers:?}"
    );
    tokio::time::sleep(STALL).await;
    redis.thaw();

    let mut delivered = 0;
    while let Some((_, body)) = receiver.next(DELIVERED_WITHIN).await {
        assert!(callback_text(&body).starts_with("[웹 퀴즈]"), "{body}");
        delivered += 1;
        if delivered == BUDGET {
            break;
        }
    }
    assert_eq!(delivered, BUDGET, "every promised callback is delivered");
    assert!(receiver.next(Duration::from_secs(2)).await.is_none());
    assert!(
        receiver.most_at_once() <= kakaobot::callback::POSTS_AT_ONCE,
        "{} callback POSTs at once",
        receiver.most_at_once()
    );
    eprintln!(
        "{REQUESTS} requests during a stall, budget {BUDGET}: {waiting} callbacks, {plain} plain answers; at most {} POSTs at once",
        receiver.most_at_once()
    );
}
