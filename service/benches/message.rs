//! Load benchmark: starts the real `kakaobot` binary (bench profile) against a real
//! `redis-server`, drives it over loopback HTTP with a bounded number of requests, and
//! prints requests per second, latency percentiles and the service's memory.
//!
//! Run: `cargo bench -p kakaobot --bench message` (optionally `-- REQUESTS CONCURRENCY`).
//! The load generator shares the machine's cores with the service and Redis, so the
//! figures are a floor for a dedicated server.

#[path = "../tests/it/helpers/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis_server::RedisServer;
use tokio::sync::Semaphore;

struct Service {
    child: Child,
    base: String,
}

impl Service {
    fn start(redis_url: Option<&str>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kakaobot"));
        cmd.env("KAKAOBOT_LISTEN", format!("127.0.0.1:{port}"))
            .env(
                "KAKAOBOT_KEY_PREFIX",
                format!("bench{}", std::process::id()),
            )
            .env("RUST_LOG", "info")
            .env_remove("KAKAOBOT_REDIS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(url) = redis_url {
            cmd.env("KAKAOBOT_REDIS_URL", url);
        }
        let child = cmd.spawn().expect("failed to start the kakaobot binary");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "kakaobot did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, base }
    }

    /// (current, peak) resident memory in KiB, from /proc.
    fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one request sends, given its sequence number.
type Request = fn(usize) -> (&'static str, Option<String>);

fn body(user: usize, text: &str) -> Option<String> {
    Some(
        serde_json::json!({"user_key": format!("benchuser{:04}", user % 1000), "type": "text", "content": text})
            .to_string(),
    )
}

const SCENARIOS: &[(&str, Request)] = &[
    ("GET /quiz/keyboard, no store", |_| ("/quiz/keyboard", None)),
    ("POST /quiz/message score: 1 read", |i| {
        ("/quiz/message", body(i, "내 점수"))
    }),
    ("POST /quiz/message category: read+write", |i| {
        ("/quiz/message", body(i, "웹 퀴즈"))
    }),
    ("POST /lunch/message results, no group: 1 read", |i| {
        ("/lunch/message", body(i, "#결과 보기"))
    }),
];

async fn run(
    base: &str,
    request: Request,
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
        let (path, body) = request(i);
        let url = format!("{base}{path}");
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let resp = match body {
                Some(b) => {
                    client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(b)
                        .send()
                        .await
                }
                None => client.get(&url).send().await,
            };
            let ok = match resp {
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

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total = args.first().copied().unwrap_or(20_000);
    let concurrency = args.get(1).copied().unwrap_or(32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let redis = RedisServer::start();
    println!("kakaobot /message benchmark: {total} requests per row, {concurrency} in flight, 1000 distinct users, loopback");
    println!(
        "{:<44} {:>7} {:>9} {:>8} {:>8} {:>8} {:>6}",
        "scenario", "store", "req/s", "p50 ms", "p99 ms", "max ms", "fail"
    );
    for (store, url) in [("redis", Some(redis.url())), ("memory", None)] {
        let service = Service::start(url.as_deref());
        for (name, request) in SCENARIOS {
            // A short warm-up fills connection pools and the question sessions.
            runtime.block_on(run(&service.base, *request, 500, concurrency));
            let (rps, lat, failures) =
                runtime.block_on(run(&service.base, *request, total, concurrency));
            println!(
                "{:<44} {:>7} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>6}",
                name,
                store,
                rps,
                percentile(&lat, 0.50),
                percentile(&lat, 0.99),
                percentile(&lat, 1.0),
                failures
            );
        }
        let (rss, peak) = service.memory_kib();
        println!(
            "{:<44} {:>7} resident {:.1} MiB, peak {:.1} MiB",
            "service memory after the rows above",
            store,
            rss as f64 / 1024.0,
            peak as f64 / 1024.0
        );
    }
}
