//! `rediss://`: the store and the service talk to a `redis-server` that only accepts
//! TLS (its `--tls-port`, as ElastiCache's in-transit encryption requires), with a
//! certificate from a CA the test makes with the `openssl` command.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kakaobot::store::{QuizSession, RedisStore, RedisTarget, RedisTimeouts, Store};
use kakaobot::user::{BotName, UserKey};
use tempfile::TempDir;

use crate::helpers::{spawn_app_with, unique_prefix};

/// A `redis-server` listening for TLS only, killed on drop.
struct TlsRedis {
    port: u16,
    dir: TempDir,
    child: Child,
}

impl TlsRedis {
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kakaobot-tls-")
            .tempdir()
            .unwrap();
        make_certificates(dir.path());
        let port = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let child = Command::new(program("redis-server", "apt-get install redis-server"))
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--tls-cert-file")
            .arg(dir.path().join("server.crt"))
            .arg("--tls-key-file")
            .arg(dir.path().join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(dir.path().join("ca.crt"))
            .args(["--tls-auth-clients", "no"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.path().join("redis.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        let server = Self { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server with TLS did not start: {}",
                std::fs::read_to_string(server.dir.path().join("redis.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.port)
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, in `dir`.
fn make_certificates(dir: &Path) {
    let openssl = program("openssl", "apt-get install openssl");
    let run = |args: &[&str]| {
        let out = Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=kakaobot test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "server.ext",
    ]);
}

fn program(name: &str, install: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{name} not found: the TLS test needs it ({install})"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_works_over_tls_with_the_configured_ca() {
    let redis = TlsRedis::start();
    let ca = std::fs::read(redis.ca()).unwrap();
    let store = RedisStore::open(
        &RedisTarget::Single(redis.url()),
        &unique_prefix("tls"),
        RedisTimeouts::default(),
        Some(ca),
    )
    .unwrap();
    let alice = UserKey::parse("alice").unwrap();

    store.ping().await.unwrap();
    store.add_friend(BotName::Quiz, &alice).await.unwrap();
    let asked = QuizSession {
        category: "python".into(),
        question_id: "py-1".into(),
    };
    store
        .quiz_ask(&alice, "python", std::slice::from_ref(&asked))
        .await
        .unwrap();

    let state = store.quiz_load(&alice, Some("python")).await.unwrap();
    assert_eq!(state.session, Some(asked));
    assert_eq!(state.asked, ["py-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_an_unknown_ca_is_refused() {
    let redis = TlsRedis::start();
    // The system's roots do not include the test's CA.
    let store = RedisStore::open(
        &RedisTarget::Single(redis.url()),
        &unique_prefix("tls_refused"),
        RedisTimeouts::default(),
        None,
    )
    .unwrap();

    assert!(store.ping().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_from_redis_over_tls() {
    let redis = TlsRedis::start();
    let ca = redis.ca();
    let app = spawn_app_with(
        "tls_app",
        None,
        &[
            ("KAKAOBOT_REDIS_URL", &redis.url()),
            ("KAKAOBOT_REDIS_TLS_CA", ca.to_str().unwrap()),
        ],
        |_| {},
    )
    .await;

    app.post_message("/quiz", "tls-user", "파이썬 퀴즈").await;
    let score = app.post_message("/quiz", "tls-user", "내 점수").await;

    assert_eq!(app.ready().await, reqwest::StatusCode::OK);
    score.assert_says("아직 푼 문제가 없어요");
}
