//! Round trips to Redis per message, counted by the service itself.
//!
//! What is counted: the growth of `kakaobot_redis_command_duration_seconds_count`,
//! summed over its series, around each message. The store records that histogram once
//! for every command, pipeline or script it sends and awaits (one request and its
//! reply: a round trip), after the reply came, so the count is the same however the
//! kernel splits the bytes and however busy the machine is. (Redis's own
//! `total_reads_processed` counts `read()` calls, which a busy machine splits: it
//! failed this test under load.) The service runs as a child process, so the counter
//! is its own and no other test's calls land in it. Each conversation runs twice,
//! with different users, and the second run is counted: the first loads the Lua
//! scripts into Redis (`EVALSHA`, `NOSCRIPT`, `SCRIPT LOAD`, `EVALSHA`: two extra
//! calls, once per script for the life of the Redis process).
//!
//! The limits per path, in calls:
//! - 1 where a message touches one user's keys only: every quiz path (ask, typed and
//!   tapped answer, score) and the lunch paths of a user without a group.
//! - 2 (one round trip of latency: the user's step and the group's step issued
//!   together with `tokio::join!`) where a member's message reads or changes the
//!   group: settings, choose, results, prompts, a typed or tapped vote, adding a
//!   restaurant.
//! - 3 (one round trip of latency: the user's step, the new group's step and the old
//!   group's step issued together) for creating or joining a group: the allowance,
//!   the pointer, the group and leaving the old one all go with the read. 2 when the
//!   user had no group.
//! - A join with a code no group has takes one more round trip, to take back what went
//!   ahead (the pointer, the leave): 5 calls at most, 2 round trips.

use serde_json::Value;

use crate::helpers::{unique_prefix, RedisServer, Service, TestApp};

const QUIZ: &str = "/quiz";
const LUNCH: &str = "/lunch";
const REDIS_CALLS: &str = "kakaobot_redis_command_duration_seconds_count";

/// The service as a child process on `redis`, with metrics on, and a client for it.
fn start_service(test_name: &str, redis: &RedisServer) -> (Service, TestApp) {
    let prefix = unique_prefix(test_name);
    let service = Service::start(&[
        ("KAKAOBOT_REDIS_URL", &redis.url()),
        ("KAKAOBOT_KEY_PREFIX", &prefix),
        ("KAKAOBOT_METRICS_LISTEN", "127.0.0.1:0"),
        // Generous: on a loaded machine a late reply would be a fallback, not a count.
        ("KAKAOBOT_REPLY_BUDGET_MS", "4000"),
    ]);
    let app = TestApp::of_process(&service, &prefix);
    (service, app)
}

/// Redis calls the service made so far: the sum of the histogram's counts.
async fn calls(app: &TestApp, metrics_port: u16) -> u64 {
    let text = app
        .client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("a scrape")
        .text()
        .await
        .expect("the metrics text");
    text.lines()
        .filter(|line| line.starts_with(REDIS_CALLS))
        .map(|line| {
            line.rsplit(' ')
                .next()
                .and_then(|n| n.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no count in {line:?}")) as u64
        })
        .sum()
}

/// Records the calls each message cost.
struct Counter {
    metrics_port: u16,
    seen: Vec<(String, u64, u64)>,
}

impl Counter {
    fn new(service: &Service) -> Self {
        Self {
            metrics_port: service.metrics_port.expect("metrics are on"),
            seen: Vec::new(),
        }
    }

    /// Runs one message, counts its calls and remembers them with their limit.
    async fn count<T>(
        &mut self,
        app: &TestApp,
        path: &str,
        limit: u64,
        message: impl std::future::Future<Output = T>,
    ) -> T {
        let before = calls(app, self.metrics_port).await;
        let answer = message.await;
        let spent = calls(app, self.metrics_port).await - before;
        self.seen.push((path.to_owned(), spent, limit));
        answer
    }

    fn assert_within_limits(&self) {
        let table: Vec<String> = self
            .seen
            .iter()
            .map(|(path, spent, limit)| format!("{spent} (limit {limit})  {path}"))
            .collect();
        eprintln!("Redis calls per message:\n{}", table.join("\n"));
        for (path, spent, limit) in &self.seen {
            assert!(
                spent <= limit,
                "{path} cost {spent} Redis calls, more than {limit}:\n{}",
                table.join("\n")
            );
        }
    }
}

fn first_button(json: &Value) -> String {
    json["keyboard"]["buttons"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no button in {json}"))
        .to_owned()
}

async fn warm_up(app: &TestApp) {
    // The first call opens the connection: not a message's cost.
    assert_eq!(app.ready().await, reqwest::StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_quiz_message_costs_one_round_trip_on_both_wire_formats() {
    let redis = RedisServer::start();
    let (service, app) = start_service("rt_quiz", &redis);
    warm_up(&app).await;
    quiz_conversation(&app, &mut Counter::new(&service), "warm").await;

    let mut c = Counter::new(&service);
    quiz_conversation(&app, &mut c, "counted").await;

    c.assert_within_limits();
}

async fn quiz_conversation(app: &TestApp, c: &mut Counter, run: &str) {
    let (q, qs) = (format!("rt-q-{run}"), format!("rt-qs-{run}"));
    let (q, qs) = (q.as_str(), qs.as_str());

    let asked = c
        .count(
            app,
            "quiz /message ask",
            1,
            app.post_message(QUIZ, q, "파이썬 퀴즈"),
        )
        .await;
    let choice = first_button(&asked.json);
    c.count(
        app,
        "quiz /message typed answer",
        1,
        app.post_message(QUIZ, q, &choice),
    )
    .await
    .assert_says("지금까지 1문제 중");
    c.count(
        app,
        "quiz /message ask again",
        1,
        app.post_message(QUIZ, q, "웹 퀴즈"),
    )
    .await;
    c.count(
        app,
        "quiz /message score",
        1,
        app.post_message(QUIZ, q, "내 점수"),
    )
    .await
    .assert_says("1문제 중");

    let asked = c
        .count(
            app,
            "quiz /skill ask",
            1,
            app.skill(QUIZ, qs, "컴퓨터 퀴즈"),
        )
        .await;
    let tap = asked
        .tappables()
        .into_iter()
        .next()
        .expect("a choice to tap");
    c.count(app, "quiz /skill tapped answer", 1, app.tap(QUIZ, qs, &tap))
        .await
        .assert_says("지금까지 1문제 중");
    c.count(app, "quiz /skill tapped twice", 1, app.tap(QUIZ, qs, &tap))
        .await;
    c.count(app, "quiz /skill score", 1, app.skill(QUIZ, qs, "내 점수"))
        .await
        .assert_says("1문제 중");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lunch_messages_cost_one_round_trip_creating_and_joining_a_group_included() {
    let redis = RedisServer::start();
    let (service, app) = start_service("rt_lunch", &redis);
    warm_up(&app).await;
    lunch_conversation(&app, &mut Counter::new(&service), "warm").await;

    let mut c = Counter::new(&service);
    lunch_conversation(&app, &mut c, "counted").await;

    c.assert_within_limits();
}

async fn lunch_conversation(app: &TestApp, c: &mut Counter, run: &str) {
    let (a, b) = (format!("rt-a-{run}"), format!("rt-b-{run}"));
    let (a, b) = (a.as_str(), b.as_str());

    // Over /message: a newcomer creates a group, lists a restaurant and votes.
    c.count(
        app,
        "lunch /message settings, no group",
        1,
        app.post_message(LUNCH, a, "#설정"),
    )
    .await;
    let created = c
        .count(
            app,
            "lunch /message create group, no group before",
            2,
            app.post_message(LUNCH, a, "그룹 만들기"),
        )
        .await;
    let code: String = created
        .text
        .split_once("참여 코드: ")
        .expect("a join code")
        .1
        .chars()
        .take(6)
        .collect();
    c.count(
        app,
        "lunch /message add prompt",
        2,
        app.post_message(LUNCH, a, "식당 추가"),
    )
    .await;
    c.count(
        app,
        "lunch /message add restaurant",
        2,
        app.post_message(LUNCH, a, "김밥"),
    )
    .await
    .assert_says("추가했어요");
    c.count(
        app,
        "lunch /message choose",
        2,
        app.post_message(LUNCH, a, "#점심 선택"),
    )
    .await;
    c.count(
        app,
        "lunch /message typed vote",
        2,
        app.post_message(LUNCH, a, "김밥"),
    )
    .await
    .assert_says("투표했어요");
    c.count(
        app,
        "lunch /message results",
        2,
        app.post_message(LUNCH, a, "#결과 보기"),
    )
    .await
    .assert_says("김밥 1표");
    c.count(
        app,
        "lunch /message settings, member",
        2,
        app.post_message(LUNCH, a, "#설정"),
    )
    .await;

    // Over /skill: another user joins with the code and votes by tapping.
    c.count(
        app,
        "lunch /skill join prompt",
        1,
        app.skill(LUNCH, b, "그룹 참여"),
    )
    .await;
    c.count(
        app,
        "lunch /skill join with the code, no group before",
        2,
        app.skill(LUNCH, b, &code),
    )
    .await
    .assert_says("참여했어요");
    let list = c
        .count(
            app,
            "lunch /skill choose",
            2,
            app.skill(LUNCH, b, "#점심 선택"),
        )
        .await;
    let kimbap = list.tappable("김밥");
    c.count(
        app,
        "lunch /skill tapped vote",
        2,
        app.tap(LUNCH, b, &kimbap),
    )
    .await
    .assert_says("투표했어요");
    c.count(
        app,
        "lunch /skill results",
        2,
        app.skill(LUNCH, b, "#결과 보기"),
    )
    .await
    .assert_says("김밥 2표");

    // Moving between groups: b creates a group of their own, then comes back.
    c.count(
        app,
        "lunch /skill create group, leaving one",
        3,
        app.skill(LUNCH, b, "그룹 만들기"),
    )
    .await
    .assert_says("새 그룹을 만들었어요");
    c.count(
        app,
        "lunch /skill join prompt, member",
        2,
        app.skill(LUNCH, b, "그룹 참여"),
    )
    .await;
    c.count(
        app,
        "lunch /skill join with a code nobody has",
        5,
        app.skill(LUNCH, b, "ZZZZZZ"),
    )
    .await
    .assert_says("찾지 못했어요");
    c.count(
        app,
        "lunch /skill join with the code, leaving one",
        3,
        app.skill(LUNCH, b, &code),
    )
    .await
    .assert_says("참여했어요");
    c.count(
        app,
        "lunch /skill results again",
        2,
        app.skill(LUNCH, b, "#결과 보기"),
    )
    .await
    // b's vote left the group with b: back in it, b has not voted today.
    .assert_says("김밥 1표");
}
