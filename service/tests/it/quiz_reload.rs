//! The quiz is all data: an operator adds a category to the bank file and reloads it
//! with SIGHUP (`systemctl reload kakaobot`), on the real binary, while requests keep
//! coming. A valid bank serves from the next message on; an invalid one is refused with
//! the reason in the log, and the bank in use stays.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::task::JoinSet;

const HISTORY_ONLY: &str = r#"
[[category]]
id = "history"
label = "역사 퀴즈"

[[question]]
id = "h1"
category = "history"
text = "훈민정음을 만든 왕은?"
choices = ["세종", "태조"]
answer = "세종"
explanation = "1443년, 세종입니다."

[[question]]
id = "h2"
category = "history"
text = "임진왜란이 일어난 해는?"
choices = ["1592", "1950"]
answer = "1592"
explanation = "1592년입니다."
"#;

/// History loses both questions above and gains one; art is new.
const HISTORY_AND_ART: &str = r#"
[[category]]
id = "history"
label = "역사 퀴즈"

[[category]]
id = "art"
label = "미술 퀴즈"

[[question]]
id = "h3"
category = "history"
text = "고려를 세운 사람은?"
choices = ["왕건", "이성계"]
answer = "왕건"
explanation = "918년, 왕건입니다."

[[question]]
id = "a1"
category = "art"
text = "모나리자를 그린 사람은?"
choices = ["다빈치", "고흐"]
answer = "다빈치"
explanation = "레오나르도 다빈치입니다."
"#;

/// The real binary, in memory mode, on a free port, with its log in a file.
struct Service {
    child: Child,
    base: String,
    log: tempfile::NamedTempFile,
    client: reqwest::Client,
}

impl Service {
    async fn start(bank: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kakaobot"))
            .arg("serve")
            .env_clear()
            .env("KAKAOBOT_LISTEN", format!("127.0.0.1:{port}"))
            .env("KAKAOBOT_QUESTION_BANK", bank)
            .env("RUST_LOG", "info")
            .stdout(log.reopen().unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("the kakaobot binary runs");
        let service = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::new(),
        };
        let started = Instant::now();
        while service
            .client
            .get(format!("{}/health", service.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the service did not start:\n{}",
                service.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        service
    }

    fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn keyboard(&self) -> Vec<String> {
        let body: Value = self
            .client
            .get(format!("{}/quiz/keyboard", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        serde_json::from_value(body["buttons"].clone()).unwrap()
    }

    async fn say(&self, user: &str, text: &str) -> String {
        let body: Value = self
            .client
            .post(format!("{}/quiz/message", self.base))
            .json(&json!({"user_key": user, "type": "text", "content": text}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["message"]["text"].as_str().unwrap().to_owned()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(file: &tempfile::NamedTempFile, text: &str) {
    // Replace the file whole, as an editor or a deploy would.
    let mut next = tempfile::NamedTempFile::new_in(file.path().parent().unwrap()).unwrap();
    next.write_all(text.as_bytes()).unwrap();
    next.persist(file.path()).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_category_added_to_the_file_appears_on_reload_without_dropping_a_request() {
    let bank = tempfile::NamedTempFile::new().unwrap();
    write(&bank, HISTORY_ONLY);
    let service = Service::start(bank.path()).await;
    assert_eq!(service.keyboard().await, ["역사 퀴즈", "내 점수"]);
    let asked = service.say("reload_user1", "역사 퀴즈").await;
    assert!(asked.starts_with("[역사 퀴즈]"), "{asked}");

    // A bounded stream of messages while the bank is swapped under it.
    let mut stream = JoinSet::new();
    for worker in 0..4 {
        let (client, url) = (
            service.client.clone(),
            format!("{}/quiz/message", service.base),
        );
        stream.spawn(async move {
            let until = Instant::now() + Duration::from_millis(1500);
            let mut statuses = Vec::new();
            while Instant::now() < until {
                let resp = client
                    .post(&url)
                    .json(&json!({"user_key": format!("stream_{worker}"), "type": "text", "content": "내 점수"}))
                    .send()
                    .await
                    .expect("answered");
                statuses.push(resp.status());
            }
            statuses
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    write(&bank, HISTORY_AND_ART);
    service.hang_up();

    let mut answered = 0;
    while let Some(statuses) = stream.join_next().await {
        for status in statuses.unwrap() {
            assert_eq!(status, StatusCode::OK);
            answered += 1;
        }
    }
    assert!(answered > 0);
    let started = Instant::now();
    while service.keyboard().await != ["역사 퀴즈", "미술 퀴즈", "내 점수"] {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not reloaded:\n{}",
            service.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(service.log_text().contains("question bank reloaded"));
    eprintln!("{answered} messages answered with 200 across the reload");

    // The question this user was answering is gone from the new bank.
    let answer = service.say("reload_user1", "세종").await;
    assert!(answer.contains("풀던 문제가 빠졌어요"), "{answer}");
    let art = service.say("reload_user1", "미술 퀴즈").await;
    assert!(art.starts_with("[미술 퀴즈] 모나리자"), "{art}");
    assert!(service
        .say("reload_user1", "다빈치")
        .await
        .starts_with("정답"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_bank_on_reload_is_refused_with_the_reason_and_the_old_one_stays() {
    let bank = tempfile::NamedTempFile::new().unwrap();
    write(&bank, HISTORY_AND_ART);
    let service = Service::start(bank.path()).await;

    write(
        &bank,
        &HISTORY_AND_ART.replacen("category = \"art\"", "category = \"music\"", 1),
    );
    service.hang_up();

    let started = Instant::now();
    while !service.log_text().contains("question bank not reloaded") {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no refusal logged:\n{}",
            service.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        service
            .log_text()
            .contains("category 'music' is not one of"),
        "{}",
        service.log_text()
    );
    assert_eq!(
        service.keyboard().await,
        ["역사 퀴즈", "미술 퀴즈", "내 점수"]
    );
    assert!(service
        .say("stays_user1", "미술 퀴즈")
        .await
        .starts_with("[미술 퀴즈]"));
}

/// A reload whose bank never arrives (its path a FIFO nobody writes, as a hung mount
/// would behave) must not stop requests, even with a single runtime worker thread
/// (`TOKIO_WORKER_THREADS=1`, as on a one-CPU t2.micro), where a read that blocks the
/// worker would stall every request.
#[test]
fn a_reload_that_never_finishes_reading_leaves_requests_answered_on_one_worker_thread() {
    let dir = tempfile::tempdir().unwrap();
    let bank = dir.path().join("quiz.toml");
    std::fs::write(&bank, HISTORY_ONLY).unwrap();
    let service = crate::helpers::Service::start(&[
        ("KAKAOBOT_QUESTION_BANK", bank.to_str().unwrap()),
        ("TOKIO_WORKER_THREADS", "1"),
    ]);
    std::fs::remove_file(&bank).unwrap();
    let made = Command::new("mkfifo")
        .arg(&bank)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", bank.display());

    service.hang_up();
    service.wait_for_log_within("SIGHUP: reloading", Duration::from_secs(10));
    // The read starts right after that line; a second is a generous head start.
    std::thread::sleep(Duration::from_secs(1));

    let health = service.request("GET", "/health", None);
    assert_eq!(
        health.map(|h| h.0),
        Some(200),
        "/health during the stuck read"
    );
    service.wait_for_log_within(
        "question bank read has not finished",
        kakaobot::startup::RELOAD_WITHIN + Duration::from_secs(10),
    );
    let body = crate::helpers::skill_payload("hangup_user", "역사 퀴즈").to_string();
    let (status, answer) = service
        .request("POST", "/quiz/skill", Some(&body))
        .expect("a skill answer while the read hangs");
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.contains("[역사 퀴즈]"),
        "the bank in use stays: {answer}"
    );
}
