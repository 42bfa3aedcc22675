//! Load benchmark, one run, one table: a fixed-reply poem server (the ceiling: the
//! same framework answering a constant JSON with no state), then the real `kakaobot`
//! binary (bench profile) on each store (memory, a real `redis-server`), each bot
//! (quiz: ask a question; lunch: open today's vote as a group member) and each wire
//! format (smart-chat `POST …/message`, Open Builder `POST …/skill`), and the default
//! `info` log level against `RUST_LOG=warn`. Each row gives requests per second,
//! p50 and p99 latency (the median of three runs) and the ratio to the fixed-reply
//! server, so the ratio can be
//! quoted from one run on any machine; each store's section ends with the service's
//! resident memory.
//!
//! Run: `cargo bench -p kakaobot --bench message` (optionally `-- REQUESTS
//! CONCURRENCY`, default 10000 and 64). Loopback only, bounded in requests per row.
//! The load generator, the servers and Redis share the machine's cores, so the
//! absolute figures are a floor for a dedicated server; the ratios are the point.
//!
//! The fixed-reply server is this same executable started again with
//! `KAKAOBOT_BENCH_BASELINE=<port>`, so it runs in a process of its own, as kakaobot does.

#[path = "../tests/it/helpers/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_server::RedisServer;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

/// Distinct users the requests rotate through.
const USERS: usize = 1000;
/// Each row is measured this many times and the median run is shown, so a burst of
/// other work on a shared machine moves a row less.
const REPEATS: usize = 3;
/// Set in the child process that serves the fixed reply.
const BASELINE_ENV: &str = "KAKAOBOT_BENCH_BASELINE";

/// A server process under load, killed on drop.
struct Server {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    fn wait_listening(child: Child, port: u16) -> Self {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn kakaobot(redis_url: Option<&str>, log: &str) -> Self {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kakaobot"));
        cmd.env("KAKAOBOT_LISTEN", format!("127.0.0.1:{port}"))
            .env("KAKAOBOT_KEY_PREFIX", format!("bench{port}"))
            .env("RUST_LOG", log)
            .env_remove("KAKAOBOT_REDIS_URL")
            .env_remove("KAKAOBOT_REDIS_CLUSTER")
            .env_remove("KAKAOBOT_SKILL_SECRET")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = redis_url {
            cmd.env("KAKAOBOT_REDIS_URL", url);
        }
        Self::wait_listening(cmd.spawn().expect("failed to start kakaobot"), port)
    }

    fn baseline() -> Self {
        let port = free_port();
        let child = Command::new(std::env::current_exe().unwrap())
            .env(BASELINE_ENV, port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to start the fixed-reply server");
        Self::wait_listening(child, port)
    }

    /// Resident memory in MiB, from /proc.
    fn resident_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixed-reply server: poem on a default multi-thread Tokio runtime, as kakaobot
/// runs, answering every POST with the same smart-chat message.
fn serve_baseline(port: u16) {
    use poem::{handler, listener::TcpListener, post, Route, Server};

    #[handler]
    fn fixed() -> poem::web::Json<Value> {
        poem::web::Json(json!({
            "message": {"text": "무엇을 할까요?"},
            "keyboard": {"type": "buttons", "buttons": ["파이썬 퀴즈", "웹 퀴즈", "컴퓨터 퀴즈", "내 점수"]}
        }))
    }

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let app = Route::new().at("/*path", post(fixed));
        Server::new(TcpListener::bind(format!("127.0.0.1:{port}")))
            .run(app)
            .await
            .unwrap();
    });
}

/// Which wire format a request uses.
#[derive(Clone, Copy)]
enum Wire {
    Message,
    Skill,
}

fn request(wire: Wire, bot: &str, user: usize, text: &str) -> (String, String) {
    let user = format!("benchuser{:04}", user % USERS);
    match wire {
        Wire::Message => (
            format!("/{bot}/message"),
            json!({"user_key": user, "type": "text", "content": text}).to_string(),
        ),
        Wire::Skill => (
            format!("/{bot}/skill"),
            json!({
                "intent": {"id": "b1", "name": "폴백 블록"},
                "userRequest": {
                    "timezone": "Asia/Seoul",
                    "block": {"id": "b1", "name": "폴백 블록"},
                    "utterance": text,
                    "lang": "ko",
                    "user": {"id": user, "type": "botUserKey", "properties": {}}
                },
                "bot": {"id": "bench", "name": "kakaobot"},
                "action": {"name": "kakaobot", "clientExtra": null, "params": {}, "id": "a1", "detailParams": {}}
            })
            .to_string(),
        ),
    }
}

/// Sends `total` requests, `concurrency` at a time; returns (req/s, sorted latencies,
/// failures). A failure is a non-2xx status or a transport error.
async fn run(
    base: &str,
    make: impl Fn(usize) -> (String, String),
    total: usize,
    concurrency: usize,
) -> (f64, Vec<Duration>, usize) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let permits = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let client = client.clone();
        let (path, body) = make(i);
        let url = format!("{base}{path}");
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let ok = match client
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
            {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            drop(permit);
            (t.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(total);
    let mut failures = 0;
    for task in tasks {
        let (latency, ok) = task.await.unwrap();
        latencies.push(latency);
        failures += usize::from(!ok);
    }
    let rps = total as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    (rps, latencies, failures)
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// The load every row gets, and the ceiling the rows are compared with.
struct Bench {
    runtime: tokio::runtime::Runtime,
    total: usize,
    concurrency: usize,
    /// The fixed-reply server's req/s, once measured.
    ceiling: Option<f64>,
}

impl Bench {
    /// Measures one scenario and prints its row (the median of [`REPEATS`] runs, with the
    /// failures of all); returns its req/s.
    fn row(
        &self,
        label: &str,
        store: &str,
        base: &str,
        make: impl Fn(usize) -> (String, String) + Copy,
    ) -> f64 {
        // A short warm-up fills connection pools and caches (and loads Redis's scripts).
        self.runtime
            .block_on(run(base, make, self.total.min(1000), self.concurrency));
        let mut runs: Vec<(f64, Vec<Duration>, usize)> = (0..REPEATS)
            .map(|_| {
                self.runtime
                    .block_on(run(base, make, self.total, self.concurrency))
            })
            .collect();
        // Failures of every run count.
        let failures: usize = runs.iter().map(|r| r.2).sum();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (rps, lat, _) = runs.swap_remove(REPEATS / 2);
        let ratio = self
            .ceiling
            .map_or("1.00".to_owned(), |c| format!("{:.2}", rps / c));
        println!(
            "| {label:<40} | {store:<6} | {rps:>8.0} | {:>6.2} | {:>6.2} | {ratio:>5} | {failures:>4} |",
            percentile_ms(&lat, 0.50),
            percentile_ms(&lat, 0.99),
        );
        rps
    }
}

/// Makes every bench user a member of a group with one restaurant, so the lunch rows
/// measure a member opening today's vote.
fn prepare_lunch(bench: &Bench, base: &str) {
    for step in ["그룹 만들기", "식당 추가", "김밥"] {
        let (_, _, failures) = bench.runtime.block_on(run(
            base,
            |i| request(Wire::Message, "lunch", i, step),
            USERS,
            bench.concurrency.min(USERS),
        ));
        assert_eq!(failures, 0, "preparing the lunch groups failed at {step:?}");
    }
}

fn main() {
    if let Some(port) = std::env::var(BASELINE_ENV)
        .ok()
        .and_then(|p| p.parse().ok())
    {
        serve_baseline(port);
        return;
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let mut bench = Bench {
        runtime: tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap(),
        total: args.first().copied().unwrap_or(10_000),
        concurrency: args.get(1).copied().unwrap_or(64),
        ceiling: None,
    };
    let redis = RedisServer::start();

    println!(
        "kakaobot benchmark: {} requests per row, {} in flight, {USERS} rotating users, loopback, {} cores shared by load generator, servers and Redis",
        bench.total,
        bench.concurrency,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| scenario                                 | store  |    req/s | p50 ms | p99 ms | ratio | fail |");
    println!("|------------------------------------------|--------|---------:|-------:|-------:|------:|-----:|");
    let quiz_message = |i| request(Wire::Message, "quiz", i, "파이썬 퀴즈");
    {
        let server = Server::baseline();
        bench.ceiling = Some(bench.row(
            "poem, fixed reply (the ceiling)",
            "none",
            &server.base,
            quiz_message,
        ));
    }
    let mut memory = Vec::new();
    for (store, url) in [("memory", None), ("redis", Some(redis.url()))] {
        let server = Server::kakaobot(url.as_deref(), "info");
        prepare_lunch(&bench, &server.base);
        for (label, wire, bot, text) in [
            (
                "quiz: ask, POST /quiz/message",
                Wire::Message,
                "quiz",
                "파이썬 퀴즈",
            ),
            (
                "quiz: ask, POST /quiz/skill",
                Wire::Skill,
                "quiz",
                "파이썬 퀴즈",
            ),
            (
                "lunch: choose, POST /lunch/message",
                Wire::Message,
                "lunch",
                "#점심 선택",
            ),
            (
                "lunch: choose, POST /lunch/skill",
                Wire::Skill,
                "lunch",
                "#점심 선택",
            ),
        ] {
            bench.row(label, store, &server.base, move |i| {
                request(wire, bot, i, text)
            });
        }
        memory.push((store, server.resident_mib()));
    }
    {
        let server = Server::kakaobot(Some(&redis.url()), "warn");
        bench.row(
            "quiz: ask, /quiz/message, RUST_LOG=warn",
            "redis",
            &server.base,
            quiz_message,
        );
    }
    for (store, mib) in memory {
        println!("kakaobot resident memory after its {store} rows: {mib:.1} MiB");
    }
}
