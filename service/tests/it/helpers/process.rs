//! The real `kakaobot` binary as a child process, for what only a process shows: its
//! log on stdout, its CPU time, its file-descriptor limit. It binds a free port
//! (`127.0.0.1:0`), logs JSON to a file in its own temporary directory, and is
//! killed when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The binary Cargo built for these tests.
pub const KAKAOBOT: &str = env!("CARGO_BIN_EXE_kakaobot");

/// How long the service may take to log that it listens.
const STARTS_WITHIN: Duration = Duration::from_secs(20);

/// A running `kakaobot serve`.
pub struct Service {
    child: Child,
    /// The public port.
    pub port: u16,
    /// The metrics port, when metrics are on.
    pub metrics_port: Option<u16>,
    log: PathBuf,
    _dir: TempDir,
}

impl Service {
    /// Starts `kakaobot serve` with `env` on top of the test defaults: a free port, the
    /// in-memory store, JSON logs, metrics off, a one-second shutdown grace.
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::spawn(env, None)
    }

    /// Like [`Service::start`], under an open-file limit of `nofile` (set with
    /// util-linux's `prlimit`, which then runs the service in its own process).
    pub fn start_with_fd_limit(env: &[(&str, &str)], nofile: u64) -> Self {
        Self::spawn(env, Some(nofile))
    }

    fn spawn(env: &[(&str, &str)], nofile: Option<u64>) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kakaobot-process-")
            .tempdir()
            .expect("a temp dir for the service's log");
        let log = dir.path().join("stdout.log");
        let out = std::fs::File::create(&log).expect("the log file");
        let err = out.try_clone().expect("the log file, twice");
        let mut command = match nofile {
            Some(limit) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={limit}:{limit}"))
                    .arg("--")
                    .arg(KAKAOBOT);
                c
            }
            None => Command::new(KAKAOBOT),
        };
        for (name, _) in std::env::vars() {
            if name.starts_with("KAKAOBOT_") {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .current_dir(dir.path())
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDS")
            .env_remove("KAKAOBOT_CONFIG")
            .env("RUST_LOG", "info")
            .env("KAKAOBOT_LISTEN", "127.0.0.1:0")
            .env("KAKAOBOT_REDIS_URL", "")
            .env("KAKAOBOT_LOG_FORMAT", "json")
            .env("KAKAOBOT_METRICS_LISTEN", "")
            .env("KAKAOBOT_SHUTDOWN_GRACE_SECS", "1");
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "failed to run {}: {e} (prlimit comes with util-linux: apt-get install util-linux)",
                    if nofile.is_some() { "prlimit" } else { KAKAOBOT }
                )
            });
        let mut service = Self {
            child,
            port: 0,
            metrics_port: None,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + STARTS_WITHIN;
        loop {
            // Started once both the metrics line (`metrics at …` or `metrics are
            // off …`) and the public listener's line are there, whichever comes first.
            let ready = !service.log_lines("metrics ").is_empty();
            if let (true, Some(addr)) = (ready, service.logged_field("listening", "local_addr")) {
                service.port = port_of(&addr);
                service.metrics_port = service
                    .logged_field("metrics at", "addr")
                    .map(|addr| port_of(&addr));
                return service;
            }
            if let Ok(Some(status)) = service.child.try_wait() {
                panic!(
                    "kakaobot exited ({status}) at start; its log:\n{}",
                    service.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "kakaobot did not listen within {STARTS_WITHIN:?}; its log:\n{}",
                service.log()
            );
            sleep(Duration::from_millis(20));
        }
    }

    /// Everything the service wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines whose message starts with `message`.
    pub fn log_lines(&self, message: &str) -> Vec<serde_json::Value> {
        self.log()
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|line| {
                line["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
            })
            .collect()
    }

    /// The port of the address logged as `local_addr` in the first line starting with
    /// `message` (`HTTPS listening`, say). Waits for the line as [`Service::start`]
    /// waits for the service: the log is written by its own thread, so a line logged
    /// just after the one `start` waited for may not be in the file yet.
    pub fn logged_port(&self, message: &str) -> Option<u16> {
        self.wait_for_log_within(message, STARTS_WITHIN);
        self.logged_field(message, "local_addr")
            .map(|addr| port_of(&addr))
    }

    /// Sends SIGHUP, as `systemctl reload kakaobot` does.
    pub fn hang_up(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -HUP {}", self.pid());
    }

    /// Waits up to `within` until the log holds a line starting with `message`.
    pub fn wait_for_log_within(&self, message: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while self.log_lines(message).is_empty() {
            assert!(
                Instant::now() < deadline,
                "expected a log line {message:?} within {within:?}; the log:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(50));
        }
    }

    fn logged_field(&self, message: &str, field: &str) -> Option<String> {
        self.log_lines(message)
            .first()
            .and_then(|line| line[field].as_str().map(str::to_owned))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time used so far (user + system), in clock ticks (1/100 s), from
    /// `/proc/<pid>/stat`.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("the service's /proc stat");
        // The command name (field 2) may hold spaces; fields after its ')' are plain.
        let after_name = &stat[stat.rfind(')').expect("a stat line") + 2..];
        let fields: Vec<&str> = after_name.split(' ').collect();
        // utime and stime are fields 14 and 15; after the name, 12 and 13 (0-based 11, 12).
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// One request on a new connection, answered within 5 s; `None` when the
    /// service does not answer in time.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
        request(self.port, method, path, body)
    }

    /// Waits until the log holds `count` lines starting with `message`.
    pub fn wait_for_log(&self, message: &str, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.log_lines(message).len() < count {
            assert!(
                Instant::now() < deadline,
                "expected {count} log lines {message:?}; the log:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn port_of(addr: &str) -> u16 {
    addr.parse::<SocketAddr>()
        .unwrap_or_else(|e| panic!("a logged address {addr:?}: {e}"))
        .port()
}

/// Runs `kakaobot <args>` to completion with `env` (and no inherited `KAKAOBOT_*`
/// setting but those), returning its output.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(KAKAOBOT);
    command.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("KAKAOBOT_") {
            command.env_remove(name);
        }
    }
    command.env("KAKAOBOT_METRICS_LISTEN", "");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("kakaobot runs")
}

/// One HTTP/1.1 request on a new connection to `127.0.0.1:port` (blocking), with
/// `Connection: close`; `None` when no complete answer comes within 5 s.
pub fn request(port: u16, method: &str, path: &str, body: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Runs `kakaobot migrate` with only `env` (and `RUST_LOG=warn`) and returns what it
/// printed; fails the test, with its output, if it fails.
pub fn migrate(env: &[(&str, &str)]) -> String {
    let out = Command::new(KAKAOBOT)
        .arg("migrate")
        .env_clear()
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("the kakaobot binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kakaobot migrate failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
