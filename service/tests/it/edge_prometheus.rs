//! The monitoring as an operator runs it: a real Prometheus server, with
//! `deploy/prometheus/kakaobot.rules.yml` loaded, scrapes the real kakaobot binary on
//! a real Redis through a short conversation and a Redis outage. Then every recording
//! rule, every alert and every query of `deploy/grafana/kakaobot.json` is evaluated
//! through Prometheus's HTTP API. Any query error fails the test, and so does an empty
//! result where the conversation must have left data. Run with `--nocapture` to see
//! the transcript of queries and results.
//!
//! Nothing here waits a fixed time: each step polls Prometheus until the data it needs
//! has been scraped, with a generous deadline ([`SCRAPED_WITHIN`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::prometheus::{Prometheus, QueryResult};
use crate::helpers::{skill_payload, unique_prefix, CallbackReceiver, RedisServer, Service};

/// How long Prometheus may take to have scraped, or evaluated, what a step needs. It
/// scrapes and evaluates every second; the margin is for a loaded CI machine.
const SCRAPED_WITHIN: Duration = Duration::from_secs(60);
/// How long the late answer may take to reach the callback receiver once Redis is
/// back: the service retries for up to 50 s (Kakao's callback deadline).
const CALLED_BACK_WITHIN: Duration = Duration::from_secs(60);
const SECRET: &str = "monitoring-test-secret";
const USER: &str = "000000000000000000000000000000000000000000000000006d6f6e69746f72";
/// TLS is off in this test, so the certificate metrics (recorded by the HTTPS
/// listener only) never exist: exactly the queries reading them may be empty.
const CERTIFICATE_METRICS: [&str; 2] = [
    "kakaobot_tls_certificate_expiry_timestamp_seconds",
    "kakaobot_acme_failures_total",
];

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// The service's public routes, over a client of its own.
struct Kakao {
    base: String,
    client: reqwest::Client,
}

impl Kakao {
    async fn skill(&self, bot: &str, body: &Value, secret: Option<&str>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(format!("{}/{bot}/skill", self.base))
            .json(body);
        if let Some(secret) = secret {
            request = request.header("X-Kakaobot-Skill-Secret", secret);
        }
        let response = request.send().await.expect("the skill answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn says(&self, bot: &str, utterance: &str) -> Value {
        let (status, body) = self
            .skill(bot, &skill_payload(USER, utterance), Some(SECRET))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn message(&self, bot: &str, content: &str) -> Value {
        let response = self
            .client
            .post(format!("{}/{bot}/message", self.base))
            .json(&json!({"user_key": USER, "type": "text", "content": content}))
            .send()
            .await
            .expect("the message is answered");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn ready(&self) -> StatusCode {
        let response = self.client.get(format!("{}/ready", self.base)).send();
        response.await.expect("/ready answers").status()
    }
}

/// Polls `query` until its result's total is at least `at_least`.
async fn wait_for(prometheus: &Prometheus, query: &str, at_least: f64, why: &str) {
    let started = Instant::now();
    loop {
        let total: f64 = match prometheus.query(query).await {
            Ok(result) => result
                .series
                .iter()
                .filter_map(|s| s["value"][1].as_str()?.parse::<f64>().ok())
                .sum(),
            Err(e) => panic!("{query}: {e}"),
        };
        if total >= at_least {
            return;
        }
        assert!(
            started.elapsed() < SCRAPED_WITHIN,
            "Prometheus did not see {why} within {SCRAPED_WITHIN:?}: {query} is {total}, \
             expected at least {at_least}; its log:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until Prometheus has evaluated every loaded rule at least once, and returns
/// the groups.
async fn evaluated_rules(prometheus: &Prometheus) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let groups = prometheus.rules().await;
        let rules: Vec<&Value> = groups
            .iter()
            .flat_map(|g| g["rules"].as_array().into_iter().flatten())
            .collect();
        if !rules.is_empty() && rules.iter().all(|r| r["health"] != "unknown") {
            return groups;
        }
        assert!(
            started.elapsed() < SCRAPED_WITHIN,
            "Prometheus did not evaluate every rule within {SCRAPED_WITHIN:?}: {groups:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One query of the transcript: evaluates it, prints it with its result, and fails on
/// an error, or on an empty result unless `may_be_empty` says why it may be. A result whose every value
/// is NaN (a ratio of rates that did not move) counts as empty.
async fn evaluate(
    prometheus: &Prometheus,
    what: &str,
    query: &str,
    may_be_empty: Option<&str>,
) -> QueryResult {
    let result = prometheus
        .query(query)
        .await
        .unwrap_or_else(|e| panic!("{what}: the query failed: {e}\n    {query}"));
    println!("[{what}]\n    {}", query.replace('\n', "\n    "));
    let has_data = result.series.iter().any(|s| {
        let value = if result.kind == "scalar" {
            &s[1]
        } else {
            &s["value"][1]
        };
        value.as_str().is_some_and(|v| v != "NaN")
    });
    match (has_data, may_be_empty) {
        (true, _) => println!("    => {}", result.describe()),
        (false, Some(why)) => println!("    => no data (allowed: {why})"),
        (false, None) => println!("    => no data"),
    }
    assert!(
        may_be_empty.is_some() || has_data,
        "{what}: no data, but the conversation must have left some:\n    {query}"
    );
    result
}

/// Why `query` may have no data here: it reads a certificate metric.
fn tls_off(query: &str) -> Option<&'static str> {
    CERTIFICATE_METRICS
        .iter()
        .any(|m| query.contains(m))
        .then_some("TLS is off, so no certificate metrics")
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_evaluates_every_rule_and_dashboard_query_over_a_conversation_and_an_outage() {
    let mut redis = RedisServer::start();
    let receiver = CallbackReceiver::start().await;
    let service = Service::start(&[
        ("KAKAOBOT_METRICS_LISTEN", "127.0.0.1:0"),
        ("KAKAOBOT_REDIS_URL", &redis.url()),
        ("KAKAOBOT_KEY_PREFIX", &unique_prefix("prometheus")),
        ("KAKAOBOT_SKILL_SECRET", SECRET),
        ("KAKAOBOT_CALLBACK_ALLOWED_HOSTS", &receiver.host),
    ]);
    let metrics = format!(
        "127.0.0.1:{}",
        service.metrics_port.expect("metrics are on")
    );
    let started = Instant::now();
    let prometheus = Prometheus::start(
        &metrics,
        &[repo_file("deploy/prometheus/kakaobot.rules.yml")],
    )
    .await;
    let kakao = Kakao {
        base: format!("http://127.0.0.1:{}", service.port),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    };

    // Prometheus cannot tell how much a counter grew before its first scrape: talk
    // only once there is one.
    wait_for(&prometheus, r#"up{job="kakaobot"}"#, 1.0, "a first scrape").await;

    // A short conversation: skills and smart-chat answered, a bad request, a call
    // with the wrong secret, readiness checks.
    kakao.says("quiz", "파이썬 퀴즈").await;
    kakao.says("quiz", "내 점수").await;
    kakao.says("lunch", "#점심 선택").await;
    kakao.message("quiz", "내 점수").await;
    let (status, _) = kakao.skill("quiz", &json!({}), Some(SECRET)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = kakao
        .skill("lunch", &skill_payload(USER, "#설정"), Some("wrong"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(kakao.ready().await, StatusCode::OK);
    wait_for(
        &prometheus,
        r#"kakaobot_answers_total{outcome="answered"}"#,
        4.0,
        "the conversation's answers",
    )
    .await;

    // Redis goes away: fallbacks, a late answer by callback, /ready says 503.
    redis.stop();
    kakao.says("quiz", "웹 퀴즈").await;
    kakao.says("lunch", "#결과 보기").await;
    kakao.message("quiz", "컴퓨터 퀴즈").await;
    let mut with_callback = skill_payload(USER, "내 점수");
    with_callback["userRequest"]["callbackUrl"] = json!(receiver.url("token-monitoring"));
    let ack = kakao.skill("quiz", &with_callback, Some(SECRET)).await.1;
    assert_eq!(ack["useCallback"], true, "{ack}");
    assert_eq!(kakao.ready().await, StatusCode::SERVICE_UNAVAILABLE);
    wait_for(
        &prometheus,
        r#"kakaobot_answers_total{outcome="fallback"}"#,
        3.0,
        "the outage's fallback answers",
    )
    .await;

    // Redis returns; the late answer is delivered.
    redis.start_again();
    let mut receiver = receiver;
    assert!(
        receiver.next(CALLED_BACK_WITHIN).await.is_some(),
        "the late answer did not reach the callback URL within {CALLED_BACK_WITHIN:?}"
    );
    wait_for(
        &prometheus,
        r#"kakaobot_skill_callbacks_total{outcome="delivered"}"#,
        1.0,
        "the delivered callback",
    )
    .await;

    println!("\n--- recording rules and alerts, as Prometheus loaded them");
    let groups = evaluated_rules(&prometheus).await;
    for group in &groups {
        for rule in group["rules"].as_array().into_iter().flatten() {
            let name = rule["name"].as_str().unwrap_or_default();
            let query = rule["query"].as_str().unwrap_or_default();
            assert_eq!(
                rule["health"], "ok",
                "Prometheus failed to evaluate {name}: {}",
                rule["lastError"]
            );
            if rule["type"] == "recording" {
                let result =
                    evaluate(&prometheus, &format!("rule {name}"), query, tls_off(query)).await;
                if name == "kakaobot:answers_fallback:ratio_rate5m" {
                    let share = result.value_where("bot", "quiz").unwrap_or_default();
                    assert!(share > 0.0, "no fallback share after the outage: {share}");
                }
            } else {
                // An alert that does not fire is an empty result.
                evaluate(
                    &prometheus,
                    &format!("alert {name}"),
                    query,
                    Some("not firing"),
                )
                .await;
            }
        }
    }

    println!("\n--- the Grafana dashboard's queries");
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_file("deploy/grafana/kakaobot.json"))
            .expect("deploy/grafana/kakaobot.json"),
    )
    .expect("the dashboard is JSON");
    // Grafana's rate window, here the whole test, so every counter has a rate.
    let window = format!("{}s", started.elapsed().as_secs() + 10);
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queries = 0;
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a PromQL expr");
            let query = expr
                .replace("$__rate_interval", &window)
                .replace("$job", crate::helpers::prometheus::JOB);
            let title = panel["title"].as_str().unwrap_or_default();
            let what = format!("panel \"{title}\" {}", target["refId"]);
            evaluate(&prometheus, &what, &query, tls_off(expr)).await;
            queries += 1;
        }
    }
    assert!(queries >= panels.len(), "every panel has a query");
}
