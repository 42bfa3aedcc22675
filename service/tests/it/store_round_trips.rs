//! Round trips to Redis per message, counted by Redis itself.
//!
//! What is counted: the growth of `total_reads_processed` in `INFO stats` on a
//! `redis-server` of the test's own, around each message, minus the one read of the
//! second `INFO` itself. Each conversation runs twice, with different users, and the
//! second run is counted: the first loads the Lua scripts into Redis (`EVALSHA`,
//! `NOSCRIPT`, `SCRIPT LOAD`, `EVALSHA`: two extra reads, once per script for the
//! life of the Redis process). Redis counts one read per `read()` on a client socket, so
//! commands the service sends back to back in one write are one read, and two
//! commands sent concurrently (a user's step and a group's step) are one or two reads,
//! depending on whether they left in one write. The service talks to Redis over one
//! multiplexed connection, and nothing else talks to this server during a message.
//!
//! The limits per path:
//! - 1 read where a message touches one user's keys only: every quiz path (ask,
//!   typed and tapped answer, score) and the lunch paths of a user without a group.
//! - 2 reads (one round trip of latency: the user's step and the group's step issued
//!   together) where a member's message reads or changes the group: settings, choose,
//!   results, prompts, a typed or tapped vote, adding a restaurant. (They are measured
//!   at 1: the two leave in one write.)
//! - 3 reads (one round trip of latency: the user's step, the new group's step and the
//!   old group's step issued together) for creating or joining a group: the allowance,
//!   the pointer, the group and leaving the old one all go with the load. 2 when the
//!   user had no group.
//! - A join with a code no group has takes one more round trip, to take back what went
//!   ahead (the pointer, the leave): 5 reads at most, 2 round trips.

use redis::aio::MultiplexedConnection;
use serde_json::Value;

use crate::helpers::{spawn_app, RedisServer, TestApp};

const QUIZ: &str = "/quiz";
const LUNCH: &str = "/lunch";

/// `total_reads_processed` of the server, read with `INFO stats`.
async fn reads(admin: &mut MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(admin)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("total_reads_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no total_reads_processed in INFO stats:\n{info}"))
}

/// Records the reads each message cost.
struct Counter {
    admin: MultiplexedConnection,
    seen: Vec<(String, u64, u64)>,
}

impl Counter {
    async fn new(redis: &RedisServer) -> Self {
        let mut admin = redis::Client::open(redis.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        // A new connection's set-up commands (CLIENT SETINFO) must not land inside
        // the first message's count.
        reads(&mut admin).await;
        Self {
            admin,
            seen: Vec::new(),
        }
    }

    /// Runs one message, counts its reads and remembers them with their limit.
    async fn count<T>(
        &mut self,
        path: &str,
        limit: u64,
        message: impl std::future::Future<Output = T>,
    ) -> T {
        let before = reads(&mut self.admin).await;
        let answer = message.await;
        // The second INFO's own read is counted in its answer.
        let spent = reads(&mut self.admin).await - before - 1;
        self.seen.push((path.to_owned(), spent, limit));
        answer
    }

    fn assert_within_limits(&self) {
        let table: Vec<String> = self
            .seen
            .iter()
            .map(|(path, spent, limit)| format!("{spent} (limit {limit})  {path}"))
            .collect();
        eprintln!("reads per message:\n{}", table.join("\n"));
        for (path, spent, limit) in &self.seen {
            assert!(
                spent <= limit,
                "{path} cost {spent} reads, more than {limit}:\n{}",
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
    // The first call opens the connection (HELLO, CLIENT SETINFO): not a message's cost.
    assert_eq!(app.ready().await, reqwest::StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_quiz_message_costs_one_round_trip_on_both_wire_formats() {
    let redis = RedisServer::start();
    let app = spawn_app("rt_quiz", Some(&redis)).await;
    warm_up(&app).await;
    quiz_conversation(&app, &mut Counter::new(&redis).await, "warm").await;

    let mut c = Counter::new(&redis).await;
    quiz_conversation(&app, &mut c, "counted").await;

    c.assert_within_limits();
}

async fn quiz_conversation(app: &TestApp, c: &mut Counter, run: &str) {
    let (q, qs) = (format!("rt-q-{run}"), format!("rt-qs-{run}"));
    let (q, qs) = (q.as_str(), qs.as_str());

    let asked = c
        .count(
            "quiz /message ask",
            1,
            app.post_message(QUIZ, q, "파이썬 퀴즈"),
        )
        .await;
    let choice = first_button(&asked.json);
    c.count(
        "quiz /message typed answer",
        1,
        app.post_message(QUIZ, q, &choice),
    )
    .await
    .assert_says("지금까지 1문제 중");
    c.count(
        "quiz /message ask again",
        1,
        app.post_message(QUIZ, q, "웹 퀴즈"),
    )
    .await;
    c.count(
        "quiz /message score",
        1,
        app.post_message(QUIZ, q, "내 점수"),
    )
    .await
    .assert_says("1문제 중");

    let asked = c
        .count("quiz /skill ask", 1, app.skill(QUIZ, qs, "컴퓨터 퀴즈"))
        .await;
    let tap = asked
        .tappables()
        .into_iter()
        .next()
        .expect("a choice to tap");
    c.count("quiz /skill tapped answer", 1, app.tap(QUIZ, qs, &tap))
        .await
        .assert_says("지금까지 1문제 중");
    c.count("quiz /skill tapped twice", 1, app.tap(QUIZ, qs, &tap))
        .await;
    c.count("quiz /skill score", 1, app.skill(QUIZ, qs, "내 점수"))
        .await
        .assert_says("1문제 중");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lunch_messages_cost_one_round_trip_creating_and_joining_a_group_included() {
    let redis = RedisServer::start();
    let app = spawn_app("rt_lunch", Some(&redis)).await;
    warm_up(&app).await;
    lunch_conversation(&app, &mut Counter::new(&redis).await, "warm").await;

    let mut c = Counter::new(&redis).await;
    lunch_conversation(&app, &mut c, "counted").await;

    c.assert_within_limits();
}

async fn lunch_conversation(app: &TestApp, c: &mut Counter, run: &str) {
    let (a, b) = (format!("rt-a-{run}"), format!("rt-b-{run}"));
    let (a, b) = (a.as_str(), b.as_str());

    // Over /message: a newcomer creates a group, lists a restaurant and votes.
    c.count(
        "lunch /message settings, no group",
        1,
        app.post_message(LUNCH, a, "#설정"),
    )
    .await;
    let created = c
        .count(
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
        "lunch /message add prompt",
        2,
        app.post_message(LUNCH, a, "식당 추가"),
    )
    .await;
    c.count(
        "lunch /message add restaurant",
        2,
        app.post_message(LUNCH, a, "김밥"),
    )
    .await
    .assert_says("추가했어요");
    c.count(
        "lunch /message choose",
        2,
        app.post_message(LUNCH, a, "#점심 선택"),
    )
    .await;
    c.count(
        "lunch /message typed vote",
        2,
        app.post_message(LUNCH, a, "김밥"),
    )
    .await
    .assert_says("투표했어요");
    c.count(
        "lunch /message results",
        2,
        app.post_message(LUNCH, a, "#결과 보기"),
    )
    .await
    .assert_says("김밥 1표");
    c.count(
        "lunch /message settings, member",
        2,
        app.post_message(LUNCH, a, "#설정"),
    )
    .await;

    // Over /skill: another user joins with the code and votes by tapping.
    c.count(
        "lunch /skill join prompt",
        1,
        app.skill(LUNCH, b, "그룹 참여"),
    )
    .await;
    c.count(
        "lunch /skill join with the code, no group before",
        2,
        app.skill(LUNCH, b, &code),
    )
    .await
    .assert_says("참여했어요");
    let list = c
        .count("lunch /skill choose", 2, app.skill(LUNCH, b, "#점심 선택"))
        .await;
    let kimbap = list.tappable("김밥");
    c.count("lunch /skill tapped vote", 2, app.tap(LUNCH, b, &kimbap))
        .await
        .assert_says("투표했어요");
    c.count("lunch /skill results", 2, app.skill(LUNCH, b, "#결과 보기"))
        .await
        .assert_says("김밥 2표");

    // Moving between groups: b creates a group of their own, then comes back.
    c.count(
        "lunch /skill create group, leaving one",
        3,
        app.skill(LUNCH, b, "그룹 만들기"),
    )
    .await
    .assert_says("새 그룹을 만들었어요");
    c.count(
        "lunch /skill join prompt, member",
        2,
        app.skill(LUNCH, b, "그룹 참여"),
    )
    .await;
    c.count(
        "lunch /skill join with a code nobody has",
        5,
        app.skill(LUNCH, b, "ZZZZZZ"),
    )
    .await
    .assert_says("찾지 못했어요");
    c.count(
        "lunch /skill join with the code, leaving one",
        3,
        app.skill(LUNCH, b, &code),
    )
    .await
    .assert_says("참여했어요");
    c.count(
        "lunch /skill results again",
        2,
        app.skill(LUNCH, b, "#결과 보기"),
    )
    .await
    .assert_says("김밥 2표");
}
