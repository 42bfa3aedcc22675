//! The real service for one test: [`spawn_app`] builds `kakaobot::startup::Application`
//! exactly as `main` does (settings → store → routes → listener), binds it to a free
//! loopback port, and runs it on a Tokio task until the [`TestApp`] is dropped.
//!
//! Every test gets its own port and its own Redis key prefix, so tests never see each
//! other's state even when they share nothing but the machine.

use std::collections::HashMap;
use std::time::Duration;

use kakaobot::config::Settings;
use kakaobot::startup::Application;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::redis_server::{unique_prefix, RedisServer};

/// The content type of every Kakao response (CONTRACT.md §1).
pub const KAKAO_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// The service, running. Dropping it stops the server.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    pub port: u16,
    /// The key prefix this app's store uses.
    pub key_prefix: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts the service for `test_name`, on Redis when `redis` is given, else on the
/// in-memory store.
pub async fn spawn_app(test_name: &str, redis: Option<&RedisServer>) -> TestApp {
    spawn_app_with(test_name, redis, &[], |_| {}).await
}

/// Like [`spawn_app`], with extra `KAKAOBOT_*` environment variables (read through
/// the same loader `main` uses) and a last chance to adjust the settings.
pub async fn spawn_app_with(
    test_name: &str,
    redis: Option<&RedisServer>,
    env: &[(&str, &str)],
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let key_prefix = unique_prefix(test_name);
    let mut vars: HashMap<String, String> = HashMap::from([
        ("KAKAOBOT_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("KAKAOBOT_KEY_PREFIX".to_owned(), key_prefix.clone()),
        ("KAKAOBOT_SHUTDOWN_GRACE_SECS".to_owned(), "1".to_owned()),
        // Off unless a test asks: the default port would be shared by every app the
        // test binary runs at once.
        ("KAKAOBOT_METRICS_LISTEN".to_owned(), String::new()),
    ]);
    if let Some(server) = redis {
        vars.insert("KAKAOBOT_REDIS_URL".to_owned(), server.url());
    }
    for (name, value) in env {
        vars.insert((*name).to_owned(), (*value).to_owned());
    }
    let mut settings =
        Settings::load_from(None, |name| vars.get(name).cloned()).expect("test settings are valid");
    configure(&mut settings);

    let app = Application::build(settings)
        .await
        .expect("the application builds");
    let port = app.local_addr().port();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        key_prefix,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client"),
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

impl TestApp {
    /// Requests to `service`, the real binary running as a child process (which must
    /// outlive the returned value: dropping this stops nothing).
    pub fn of_process(service: &super::Service, key_prefix: &str) -> Self {
        TestApp {
            address: format!("http://127.0.0.1:{}", service.port),
            port: service.port,
            key_prefix: key_prefix.to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
            shutdown: None,
            server: None,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        // The server task ends with the test's runtime at the latest; nothing to wait for.
        drop(self.server.take());
    }
}

/// One answer to `POST …/message`, already checked to be HTTP 200 with Kakao's
/// content type.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The whole body.
    pub json: Value,
    /// `message.text`.
    pub text: String,
}

impl Answer {
    /// The keyboard's buttons; panics when the keyboard is not a button keyboard.
    pub fn buttons(&self) -> Vec<String> {
        let keyboard = &self.json["keyboard"];
        assert_eq!(
            keyboard["type"], "buttons",
            "expected a buttons keyboard in {}",
            self.json
        );
        serde_json::from_value(keyboard["buttons"].clone()).expect("buttons are strings")
    }

    /// Whether the keyboard asks for free text input.
    pub fn has_text_keyboard(&self) -> bool {
        self.json["keyboard"] == json!({"type": "text"})
    }

    /// Asserts the keyboard is exactly `expected`.
    #[track_caller]
    pub fn assert_buttons(&self, expected: &[&str]) {
        assert_eq!(self.buttons(), expected, "in answer {:?}", self.text);
    }

    /// Asserts the text contains `needle`.
    #[track_caller]
    pub fn assert_says(&self, needle: &str) {
        assert!(
            self.text.contains(needle),
            "expected the reply to say {needle:?}, it said {:?}",
            self.text
        );
    }
}

/// A plain response: status, content type and body.
#[derive(Debug, Clone)]
pub struct Plain {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

impl Plain {
    pub async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp.text().await.expect("a readable body");
        Self {
            status,
            content_type,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// Asserts the response is a Kakao answer: 200, Kakao's content type, JSON.
    #[track_caller]
    pub fn assert_kakao_ok(&self) {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        assert_eq!(self.content_type, KAKAO_CONTENT_TYPE, "body: {}", self.body);
    }

    /// Asserts the response is an error with `status` and a JSON body
    /// `{"error": code, "message": …}`; returns the message.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert!(
            self.content_type.starts_with("application/json"),
            "error content type {:?}, body {}",
            self.content_type,
            self.body
        );
        let json = self.json();
        assert_eq!(json["error"], code, "error body: {json}");
        json["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in error body {json}"))
            .to_owned()
    }
}

impl TestApp {
    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Plain {
        Plain::from(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    /// Sends `body` as JSON with `method` to `path`.
    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Plain {
        let resp = self
            .client
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        Plain::from(resp).await
    }

    /// Sends raw bytes with `content_type` to `path`.
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Plain {
        let resp = self
            .client
            .request(method, self.url(path))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        Plain::from(resp).await
    }

    /// `GET {bot}/keyboard`; `bot` is `""` (the default bot), `"/quiz"` or `"/lunch"`.
    pub async fn keyboard(&self, bot: &str) -> Plain {
        self.get(&format!("{bot}/keyboard")).await
    }

    /// A text message from `user` to `bot`, answered as Kakao requires.
    pub async fn post_message(&self, bot: &str, user: &str, text: &str) -> Answer {
        self.send_message(bot, user, "text", text).await
    }

    /// A message of any `type` from `user` to `bot`, answered as Kakao requires.
    pub async fn send_message(&self, bot: &str, user: &str, kind: &str, content: &str) -> Answer {
        let plain = self
            .send_json(
                reqwest::Method::POST,
                &format!("{bot}/message"),
                &json!({"user_key": user, "type": kind, "content": content}),
            )
            .await;
        plain.assert_kakao_ok();
        let json = plain.json();
        let text = json["message"]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("no message.text in {json}"))
            .to_owned();
        Answer { json, text }
    }

    /// `POST {bot}/friend`.
    pub async fn friend_added(&self, bot: &str, user: &str) -> Plain {
        self.send_json(
            reqwest::Method::POST,
            &format!("{bot}/friend"),
            &json!({ "user_key": user }),
        )
        .await
    }

    /// `DELETE {bot}/friend/{user}`.
    pub async fn friend_blocked(&self, bot: &str, user: &str) -> Plain {
        let resp = self
            .client
            .delete(self.url(&format!("{bot}/friend/{user}")))
            .send()
            .await
            .expect("DELETE");
        Plain::from(resp).await
    }

    /// `DELETE {bot}/friend` with `{"user_key": user}`.
    pub async fn friend_blocked_with_body(&self, bot: &str, user: &str) -> Plain {
        self.send_json(
            reqwest::Method::DELETE,
            &format!("{bot}/friend"),
            &json!({ "user_key": user }),
        )
        .await
    }

    /// `DELETE {bot}/chat_room/{user}`.
    pub async fn left_chat_room(&self, bot: &str, user: &str) -> Plain {
        let resp = self
            .client
            .delete(self.url(&format!("{bot}/chat_room/{user}")))
            .send()
            .await
            .expect("DELETE");
        Plain::from(resp).await
    }

    /// Stops the server as SIGTERM does in `main` and waits until it has stopped:
    /// no new connections, in-flight requests finish (within the 1 s grace).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let server = self.server.take().expect("the server task");
        server.await.expect("the server task did not panic")
    }

    /// Lets this app's conversation contexts in `redis` run out, as if Kakao's ten
    /// minutes had passed; scores, groups and votes stay.
    pub async fn expire_sessions(&self, redis: &RedisServer) {
        let mut admin = redis.admin().await;
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{{{}:u:*}}:*:session", self.key_prefix))
            .query_async(&mut admin)
            .await
            .unwrap();
        // A lunch member's session lives with the group.
        let steps: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{{{}:g:*}}:step:*", self.key_prefix))
            .query_async(&mut admin)
            .await
            .unwrap();
        keys.extend(steps);
        assert!(!keys.is_empty(), "no session to expire");
        for key in keys {
            let _: bool = redis::cmd("PEXPIRE")
                .arg(&key)
                .arg(1)
                .query_async(&mut admin)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    /// The status of `GET /ready`.
    pub async fn ready(&self) -> StatusCode {
        self.get("/ready").await.status
    }
}
