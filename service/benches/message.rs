//! Load benchmark, one run, one table: a fixed-reply poem server (the ceiling: the
//! same framework answering a constant JSON with no state), then the real `kakaobot`
//! binary (bench profile) on each store (memory, a real `redis-server`), each bot
//! (quiz: ask a question; lunch: open today's vote as a group member) and each wire
//! format (smart-chat `POST …/message`, Open Builder `POST …/skill` with Kakao's own
//! SkillPayload example, the user rotated), and the default
//! `info` log level against `RUST_LOG=warn` for `/quiz/message` on each store, and
//! `/quiz/skill` over HTTPS (keep-alive connections, one handshake each) on Redis. Each
//! row gives requests per second, p50 and p99 latency (the median of three runs), the
//! ratio to the fixed-reply server and the failures; after the table come the cost of
//! `info` logging (from the two rows of the same run) and each store's resident memory
//! after its rows, and each store's skill/message throughput ratio per bot. A bot's
//! message and skill rows are measured in turns, five runs each (message, skill,
//! message, …), and their ratio is the median of the five ratios of neighbouring runs:
//! on a shared machine a burst of other work then slows both sides of a ratio, where
//! rows measured one after the other could catch it on one side only.
//!
//! Run: `cargo bench -p kakaobot --bench message` (optionally `-- REQUESTS
//! CONCURRENCY`, default 10000 and 64). Loopback only, bounded in requests per row.
//!
//! Layout, as in the setup. With two or more CPUs allowed to the process
//! (`sched_getaffinity`), every server under test — the fixed-reply server and each
//! `kakaobot` — runs pinned to one CPU (the first allowed one), so its Tokio runtime
//! has one worker, as on a one-vCPU instance; this process (the load generator) and
//! the `redis-server` it starts run on the other allowed CPUs. With one CPU nothing is
//! pinned and everything shares it. The header line states the layout.
//!
//! The load generator is a closed loop, like wrk: CONCURRENCY keep-alive HTTP/1.1
//! connections (hyper's client connection, no pool), each sending its share of the
//! requests one after another with bodies prebuilt per user, so it spends little CPU
//! per request. A non-2xx answer or a transport error is a failure (after a transport
//! error the connection is made again).
//!
//! The ratio is a row's req/s over the fixed-reply server's, both on the same single
//! CPU under the same generator: the share of the framework's ceiling on that core that
//! the service keeps. It is only that if the generator's CPUs are not saturated; when
//! the generator and Redis have a single CPU of their own (a 2-core machine), they can
//! be the limit of the faster rows, which pulls the ratios towards 1.
//!
//! The fixed-reply server is this same executable started again with
//! `KAKAOBOT_BENCH_BASELINE=<port>`, so it runs in a process of its own, as kakaobot does.

#[path = "../tests/it/helpers/redis_server.rs"]
#[allow(dead_code)]
mod redis_server;

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use redis_server::RedisServer;
use serde_json::{json, Value};
use tokio_rustls::TlsConnector;

/// Distinct users the requests rotate through (the figure).
const USERS: usize = 5000;
/// Each row is measured this many times and the median run is shown, so a burst of
/// other work on a shared machine moves a row less.
const REPEATS: usize = 3;
/// Runs of each scenario of a skill/message pair, taken in turns (see [`Bench::pair`]).
const PAIRED_REPEATS: usize = 5;
/// Set in the child process that serves the fixed reply.
const BASELINE_ENV: &str = "KAKAOBOT_BENCH_BASELINE";

/// The CPUs this process may run on, from `sched_getaffinity` (empty if unreadable).
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero `cpu_set_t` is a valid (empty) set, the kernel writes at most
    // the size passed, and `CPU_ISSET` only reads the set within its bounds.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: an all-zero `cpu_set_t` is a valid (empty) set; `CPU_SET` writes within
    // its bounds (the CPUs come from `allowed_cpus`, all below `CPU_SETSIZE`).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        set
    }
}

/// Sets the calling thread's CPU mask (threads and processes it starts afterwards
/// inherit it). Only a syscall, so it may run between fork and exec.
fn pin(set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: `set` is a valid `cpu_set_t` and the size passed is its size.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// "0", "1-15", "1,3".
fn cpu_list(cpus: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &cpu in cpus {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == cpu => *end = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Where the servers run, and where this process (the load generator) and Redis run.
struct Layout {
    /// The single-CPU mask of every server under test; `None` when nothing is pinned.
    server: Option<libc::cpu_set_t>,
    /// For the header line.
    description: String,
}

impl Layout {
    /// Pins the calling thread — the main thread, before any other thread or child
    /// exists, so the Tokio workers and `redis-server` inherit the mask — to every
    /// allowed CPU but the first, which is left to the servers.
    fn pin_load_generator() -> Self {
        let cpus = allowed_cpus();
        let Some((&server, rest)) = cpus.split_first().filter(|(_, rest)| !rest.is_empty()) else {
            return Self {
                server: None,
                description:
                    "1 CPU: nothing pinned, the servers, the load generator and Redis share it"
                        .to_owned(),
            };
        };
        pin(&cpu_set(rest)).expect("failed to pin the load generator");
        let plural = if rest.len() == 1 { "" } else { "s" };
        Self {
            server: Some(cpu_set(&[server])),
            description: format!(
                "servers pinned to CPU {server}; load generator and Redis on CPU{plural} {}",
                cpu_list(rest)
            ),
        }
    }

    /// Starts a server under test, pinned to the servers' CPU.
    fn spawn_server(&self, cmd: &mut Command) -> std::io::Result<Child> {
        if let Some(set) = self.server {
            // SAFETY: the closure runs in the child between fork and exec, where only
            // async-signal-safe work is allowed: it makes one syscall
            // (sched_setaffinity) on a copied set and reads errno, with no allocation,
            // lock or shared state.
            unsafe {
                cmd.pre_exec(move || pin(&set));
            }
        }
        cmd.spawn()
    }
}

/// A server process under load, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// How to speak TLS to it, when it serves HTTPS at `addr`.
    tls: Option<tokio_rustls::TlsConnector>,
    /// Its certificate files, for as long as it runs.
    _certificate: Option<tempfile::TempDir>,
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
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            addr,
            tls: None,
            _certificate: None,
        }
    }

    fn kakaobot(layout: &Layout, redis_url: Option<&str>, log: &str) -> Self {
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
        let child = layout
            .spawn_server(&mut cmd)
            .expect("failed to start kakaobot");
        Self::wait_listening(child, port)
    }

    /// kakaobot on Redis serving HTTPS with a certificate of its own files (made here,
    /// for 127.0.0.1): the TLS listener is the one measured.
    fn kakaobot_tls(layout: &Layout, redis_url: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir for the certificate");
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .and_then(|p| p.self_signed(&key))
            .expect("a self-signed certificate");
        std::fs::write(dir.path().join("cert.pem"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        let (plain, tls) = (free_port(), free_port());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kakaobot"));
        cmd.env("KAKAOBOT_LISTEN", format!("127.0.0.1:{plain}"))
            .env("KAKAOBOT_TLS_LISTEN", format!("127.0.0.1:{tls}"))
            .env("KAKAOBOT_TLS_CERT", dir.path().join("cert.pem"))
            .env("KAKAOBOT_TLS_KEY", dir.path().join("key.pem"))
            .env("KAKAOBOT_KEY_PREFIX", format!("bench{tls}"))
            .env("KAKAOBOT_REDIS_URL", redis_url)
            .env("RUST_LOG", "info")
            .env_remove("KAKAOBOT_REDIS_CLUSTER")
            .env_remove("KAKAOBOT_SKILL_SECRET")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = layout
            .spawn_server(&mut cmd)
            .expect("failed to start kakaobot");
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(cert.der().clone())
            .expect("the certificate as a root");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut server = Self::wait_listening(child, tls);
        server.tls = Some(TlsConnector::from(Arc::new(config)));
        server._certificate = Some(dir);
        server
    }

    fn baseline(layout: &Layout) -> Self {
        let port = free_port();
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env(BASELINE_ENV, port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = layout
            .spawn_server(&mut cmd)
            .expect("failed to start the fixed-reply server");
        Self::wait_listening(child, port)
    }

    /// Resident memory in MiB, from /proc.
    /// The CPU time its threads have used so far: the sum of each thread's time on a
    /// CPU (`/proc/<pid>/task/*/schedstat`, in nanoseconds; threads that ended are not
    /// counted, and the server's do not end while it serves).
    fn cpu_time(&self) -> Duration {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id()));
        let nanos: u64 = tasks
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Duration::from_nanos(nanos)
    }

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
/// runs (one worker when pinned to one CPU), answering every POST with the same
/// smart-chat message.
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

/// One scenario's requests, built before the clock starts: the path, and one body per
/// user; request `i` is user `i % USERS`'s.
struct Load {
    uri: Uri,
    bodies: Vec<Bytes>,
}

fn load(wire: Wire, bot: &str, text: &str) -> Arc<Load> {
    let (path, bodies) = match wire {
        Wire::Message => (
            format!("/{bot}/message"),
            (0..USERS)
                .map(|u| json!({"user_key": user_key(u), "type": "text", "content": text}))
                .collect::<Vec<_>>(),
        ),
        Wire::Skill => {
            let sample = kakao_skill_sample();
            (
                format!("/{bot}/skill"),
                (0..USERS)
                    .map(|u| {
                        let mut body = sample.clone();
                        let request = &mut body["userRequest"];
                        request["utterance"] = json!(text);
                        request["user"]["id"] = json!(user_key(u));
                        request["user"]["properties"]["botUserKey"] = json!(user_key(u));
                        body
                    })
                    .collect(),
            )
        }
    };
    Arc::new(Load {
        uri: path.parse().unwrap(),
        bodies: bodies
            .iter()
            .map(|body| Bytes::from(body.to_string()))
            .collect(),
    })
}

/// Kakao's own SkillPayload example (a Knowledge+ match with every top-level key: about
/// 1 KB as compact JSON, where Kakao's real payloads, with real ids, run 1.5–3 KB), from
/// the project's shared folder beside the repository.
fn kakao_skill_sample() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/kakao/openbuilder-samples")
        .join("kakaodocs__answer_json_format__skillpayload_knowledge.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read Kakao's sample {} ({e}): the benchmark expects the project's shared/ folder beside the repository",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("Kakao's sample is JSON")
}

fn user_key(user: usize) -> String {
    format!("benchuser{user:04}")
}

type Sender = http1::SendRequest<Full<Bytes>>;

/// One keep-alive HTTP/1.1 connection, over TLS when `tls` is given, its I/O driven
/// by a task of its own.
async fn connect(addr: SocketAddr, tls: Option<&TlsConnector>) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let Some(tls) = tls else {
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        return Ok(sender);
    };
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let stream = tls.connect(name, stream).await?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends request `i` on `sender`, connecting first if there is no usable connection
/// (none yet, or the server closed it between requests); returns whether the status
/// was 2xx. An error is a transport error.
async fn send(
    sender: &mut Option<Sender>,
    addr: SocketAddr,
    tls: Option<&TlsConnector>,
    host: &HeaderValue,
    load: &Load,
    i: usize,
) -> anyhow::Result<bool> {
    let reusable = match sender.as_mut() {
        Some(s) => s.ready().await.is_ok(),
        None => false,
    };
    if !reusable {
        *sender = Some(connect(addr, tls).await?);
    }
    let s = sender.as_mut().expect("connected above");
    let request = Request::post(load.uri.clone())
        .header(HOST, host.clone())
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .body(Full::new(load.bodies[i % load.bodies.len()].clone()))?;
    let response = s.send_request(request).await?;
    let success = response.status().is_success();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame?;
    }
    Ok(success)
}

/// One connection of the closed loop: sends requests `indices` one after another;
/// returns their latencies and failures.
async fn connection(
    addr: SocketAddr,
    tls: Option<TlsConnector>,
    host: HeaderValue,
    load: Arc<Load>,
    indices: impl Iterator<Item = usize>,
) -> (Vec<Duration>, usize) {
    let mut latencies = Vec::new();
    let mut failures = 0;
    let mut sender = None;
    for i in indices {
        let started = Instant::now();
        let ok = match send(&mut sender, addr, tls.as_ref(), &host, &load, i).await {
            Ok(success) => success,
            Err(_) => {
                // Reconnect for the next request.
                sender = None;
                false
            }
        };
        latencies.push(started.elapsed());
        failures += usize::from(!ok);
    }
    (latencies, failures)
}

/// Sends `total` requests over `concurrency` connections (connection `c` sends
/// requests `c`, `c + concurrency`, …, so the users in flight differ); returns (req/s,
/// sorted latencies, failures).
async fn run(
    addr: SocketAddr,
    tls: Option<&TlsConnector>,
    load: &Arc<Load>,
    total: usize,
    concurrency: usize,
) -> (f64, Vec<Duration>, usize) {
    let concurrency = concurrency.clamp(1, total.max(1));
    let host = HeaderValue::from_str(&addr.to_string()).unwrap();
    let started = Instant::now();
    let connections: Vec<_> = (0..concurrency)
        .map(|c| {
            tokio::spawn(connection(
                addr,
                tls.cloned(),
                host.clone(),
                load.clone(),
                (c..total).step_by(concurrency),
            ))
        })
        .collect();
    let mut latencies = Vec::with_capacity(total);
    let mut failures = 0;
    for connection in connections {
        let (l, f) = connection.await.unwrap();
        latencies.extend(l);
        failures += f;
    }
    let rps = total as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
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

/// One run of a scenario.
struct Run {
    rps: f64,
    /// Sorted.
    latencies: Vec<Duration>,
    failures: usize,
    /// The server's CPU time over the run, per request.
    cpu_per_request: Duration,
}

impl Bench {
    /// One run of `load` against `server`.
    fn run(&self, server: &Server, load: &Arc<Load>, total: usize) -> Run {
        let cpu = server.cpu_time();
        let (rps, latencies, failures) = self.runtime.block_on(run(
            server.addr,
            server.tls.as_ref(),
            load,
            total,
            self.concurrency,
        ));
        let cpu_per_request = (server.cpu_time() - cpu) / total as u32;
        Run {
            rps,
            latencies,
            failures,
            cpu_per_request,
        }
    }

    /// A short warm-up opens the server's caches (and loads Redis's scripts).
    fn warm_up(&self, server: &Server, load: &Arc<Load>) {
        self.run(server, load, self.total.min(1000));
    }

    /// Measures one scenario and prints its row (the median of [`REPEATS`] runs, with the
    /// failures of all); returns its req/s.
    fn row(&self, label: &str, store: &str, server: &Server, load: &Arc<Load>) -> f64 {
        self.warm_up(server, load);
        let runs = (0..REPEATS)
            .map(|_| self.run(server, load, self.total))
            .collect();
        self.print_row(label, store, runs)
    }

    /// Measures two scenarios of the same server in turns (a, b, a, b, …), so that a
    /// burst of other work on the machine falls on both alike, and prints both rows;
    /// returns their req/s and the medians of the [`PAIRED_REPEATS`] ratios of runs
    /// made one after the other: b's throughput over a's, and a's server CPU time per
    /// request over b's (the throughput ratio a CPU-bound server would show, which
    /// time the server lost to other work on the machine does not move).
    fn pair(
        &self,
        store: &str,
        server: &Server,
        (a_label, a): (&str, &Arc<Load>),
        (b_label, b): (&str, &Arc<Load>),
    ) -> Paired {
        self.warm_up(server, a);
        self.warm_up(server, b);
        let (a_runs, b_runs): (Vec<Run>, Vec<Run>) = (0..PAIRED_REPEATS)
            .map(|_| {
                (
                    self.run(server, a, self.total),
                    self.run(server, b, self.total),
                )
            })
            .unzip();
        let median = |ratio: &dyn Fn(&Run, &Run) -> f64| {
            let mut ratios: Vec<f64> = a_runs
                .iter()
                .zip(&b_runs)
                .map(|(a, b)| ratio(a, b))
                .collect();
            ratios.sort_by(f64::total_cmp);
            ratios[ratios.len() / 2]
        };
        let throughput = median(&|a, b| b.rps / a.rps);
        let cpu = median(&|a, b| a.cpu_per_request.as_secs_f64() / b.cpu_per_request.as_secs_f64());
        let cpu_per_request = |runs: &[Run]| {
            let mut cpu: Vec<Duration> = runs.iter().map(|r| r.cpu_per_request).collect();
            cpu.sort();
            cpu[cpu.len() / 2]
        };
        let cpu_us = (cpu_per_request(&a_runs), cpu_per_request(&b_runs));
        Paired {
            a_rps: self.print_row(a_label, store, a_runs),
            b_rps: self.print_row(b_label, store, b_runs),
            throughput,
            cpu,
            cpu_us,
        }
    }

    /// Prints the row of the median run, with the failures of all; returns its req/s.
    fn print_row(&self, label: &str, store: &str, mut runs: Vec<Run>) -> f64 {
        let failures: usize = runs.iter().map(|r| r.failures).sum();
        runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
        let run = runs.swap_remove(runs.len() / 2);
        let ratio = self
            .ceiling
            .map_or("1.00".to_owned(), |c| format!("{:.2}", run.rps / c));
        println!(
            "| {label:<40} | {store:<6} | {:>8.0} | {:>6.2} | {:>6.2} | {ratio:>5} | {failures:>4} |",
            run.rps,
            percentile_ms(&run.latencies, 0.50),
            percentile_ms(&run.latencies, 0.99),
        );
        run.rps
    }
}

/// What [`Bench::pair`] measured of two scenarios.
struct Paired {
    a_rps: f64,
    b_rps: f64,
    /// b's req/s over a's.
    throughput: f64,
    /// a's server CPU time per request over b's.
    cpu: f64,
    /// The median server CPU time per request of a and of b.
    cpu_us: (Duration, Duration),
}

/// Makes every bench user a member of a group with one restaurant, so the lunch rows
/// measure a member opening today's vote.
fn prepare_lunch(bench: &Bench, server: &Server) {
    for step in ["그룹 만들기", "식당 추가", "김밥"] {
        let (_, _, failures) = bench.runtime.block_on(run(
            server.addr,
            server.tls.as_ref(),
            &load(Wire::Message, "lunch", step),
            USERS,
            bench.concurrency,
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
    // First, while this is the only thread: the runtime's workers and Redis inherit it.
    let layout = Layout::pin_load_generator();
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
        "kakaobot benchmark: {} requests per row over {} keep-alive connections, {USERS} rotating users, loopback; {}",
        bench.total, bench.concurrency, layout.description
    );
    println!("| scenario                                 | store  |    req/s | p50 ms | p99 ms | ratio | fail |");
    println!("|------------------------------------------|--------|---------:|-------:|-------:|------:|-----:|");
    let quiz_message = load(Wire::Message, "quiz", "파이썬 퀴즈");
    {
        let server = Server::baseline(&layout);
        bench.ceiling = Some(bench.row(
            "poem, fixed reply (the ceiling)",
            "none",
            &server,
            &quiz_message,
        ));
    }
    let stores = [("memory", None), ("redis", Some(redis.url()))];
    let mut memory = Vec::new();
    // Each store's skill req/s over the same bot's message req/s.
    let mut skill_ratios = Vec::new();
    // Each store's `info` req/s on /quiz/message, for the log level's cost.
    let mut info = Vec::new();
    // Redis's /quiz/skill req/s in plain HTTP and over HTTPS.
    let mut tls_cost = None;
    for (store, url) in &stores {
        let server = Server::kakaobot(&layout, url.as_deref(), "info");
        prepare_lunch(&bench, &server);
        let quiz_skill_load = load(Wire::Skill, "quiz", "파이썬 퀴즈");
        let quiz = bench.pair(
            store,
            &server,
            ("quiz: ask, POST /quiz/message", &quiz_message),
            ("quiz: ask, POST /quiz/skill", &quiz_skill_load),
        );
        let lunch = bench.pair(
            store,
            &server,
            (
                "lunch: choose, POST /lunch/message",
                &load(Wire::Message, "lunch", "#점심 선택"),
            ),
            (
                "lunch: choose, POST /lunch/skill",
                &load(Wire::Skill, "lunch", "#점심 선택"),
            ),
        );
        info.push(quiz.a_rps);
        let quiz_skill = quiz.b_rps;
        skill_ratios.push((store, quiz, lunch));
        memory.push((store, server.resident_mib()));
        if let Some(url) = url {
            let server = Server::kakaobot_tls(&layout, url);
            let over_tls = bench.row(
                "quiz: ask, POST /quiz/skill over HTTPS",
                store,
                &server,
                &load(Wire::Skill, "quiz", "파이썬 퀴즈"),
            );
            tls_cost = Some((quiz_skill, over_tls));
        }
    }
    let mut log_cost = Vec::new();
    for ((store, url), info) in stores.iter().zip(info) {
        let server = Server::kakaobot(&layout, url.as_deref(), "warn");
        let warn = bench.row(
            "quiz: ask, /quiz/message, RUST_LOG=warn",
            store,
            &server,
            &quiz_message,
        );
        log_cost.push((store, info, warn));
    }
    println!();
    for (store, info, warn) in log_cost {
        println!(
            "{store} /quiz/message: default info logging costs {:.1} % of throughput (info {info:.0} req/s vs warn {warn:.0} req/s)",
            (1.0 - info / warn) * 100.0
        );
    }
    for (store, quiz, lunch) in skill_ratios {
        println!(
            "{store}: skill/message throughput, quiz {:.2}, lunch {:.2} (same store, same run; the median ratio of {PAIRED_REPEATS} runs of each, taken in turns)",
            quiz.throughput, lunch.throughput
        );
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "{store}: server CPU per request, message → skill: quiz {:.1} → {:.1} µs ({:.2}), lunch {:.1} → {:.1} µs ({:.2}) (the throughput ratio when the server's CPU is the limit)",
            us(quiz.cpu_us.0), us(quiz.cpu_us.1), quiz.cpu, us(lunch.cpu_us.0), us(lunch.cpu_us.1), lunch.cpu
        );
    }
    if let Some((plain, over_tls)) = tls_cost {
        println!(
            "redis /quiz/skill over HTTPS: {:.2} of plain HTTP's throughput ({over_tls:.0} vs {plain:.0} req/s, keep-alive, one handshake per connection)",
            over_tls / plain
        );
    }
    for (store, mib) in memory {
        println!("kakaobot resident memory after its {store} rows: {mib:.1} MiB");
    }
}
