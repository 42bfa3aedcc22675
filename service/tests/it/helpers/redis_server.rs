//! A real `redis-server` for one test: started on a free loopback port in a temporary
//! directory, with persistence off, and killed when dropped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Environment variable naming the `redis-server` binary to use.
pub const REDIS_SERVER_ENV: &str = "KAKAOBOT_TEST_REDIS_SERVER";

/// How long a starting server may take to answer `PING`.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// Free-port races (another process takes the port between our probe and Redis's
/// bind) are retried with a new port this many times.
const START_ATTEMPTS: usize = 5;

/// A running `redis-server` owned by one test.
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    /// Redis's working directory (`--dir`) and log file; removed on drop.
    dir: TempDir,
    /// `None` while stopped.
    child: Option<Child>,
    /// Further `redis-server` arguments.
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    ///
    /// Panics when no `redis-server` can be found or it does not come up: a test that
    /// needs Redis must fail loudly, never pass silently.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Like [`RedisServer::start`], with further arguments (`["--maxmemory", "1"]`).
    pub fn start_with(args: &[&str]) -> Self {
        let binary = find_binary();
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut server = Self {
                binary: binary.clone(),
                port: free_port(),
                dir: tempfile::Builder::new()
                    .prefix("kakaobot-redis-")
                    .tempdir()
                    .expect("failed to create a temp dir for redis-server"),
                child: None,
                extra: args.iter().map(|a| (*a).to_owned()).collect(),
            };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!(
            "redis-server did not start in {START_ATTEMPTS} attempts; its last log:\n{last_log}"
        );
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A plain connection of the test's own, to look at and change keys directly.
    pub async fn admin(&self) -> redis::aio::MultiplexedConnection {
        connect(&self.url()).await
    }

    /// Kills the server at once (SIGKILL, no shutdown), as a crash would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (with no data: persistence is off).
    pub fn start_again(&mut self) {
        self.stop();
        if let Err(log) = self.spawn_and_wait() {
            panic!(
                "redis-server did not start again on port {}; its log:\n{log}",
                self.port
            );
        }
    }

    /// Spawns the server and waits for `PING`; on failure returns its log.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log_file = self.dir.path().join("redis.log");
        let child = Command::new(&self.binary)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log_file)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", self.binary.display()));
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if answers_ping(self.port) {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            if exited || Instant::now() >= deadline {
                self.stop();
                return Err(read_log(&log_file));
            }
            sleep(Duration::from_millis(10));
        }
    }
}

impl RedisServer {
    /// Makes Redis hold every client command for `millis` (it stays up, just slow).
    pub async fn pause(&self, millis: u64) {
        let mut admin = self.admin().await;
        redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(millis)
            .arg("ALL")
            .query_async::<()>(&mut admin)
            .await
            .unwrap();
    }
}

impl RedisServer {
    /// Stops the process (SIGSTOP) as a stalled host would: connections stay open,
    /// nothing is read or answered until [`RedisServer::thaw`].
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a frozen server run again (SIGCONT): it then reads what queued meanwhile.
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("redis-server is running");
        let pid = libc::pid_t::try_from(child.id()).expect("a pid");
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        let done = unsafe { libc::kill(pid, signal) };
        assert_eq!(done, 0, "kill({pid}, {signal}) failed");
    }

    /// How many Lua scripts the server has run (`EVAL`, `EVALSHA` and their read-only
    /// forms), from `INFO commandstats`: each is one change the store asked for.
    pub async fn scripts_run(&self) -> u64 {
        let mut admin = self.admin().await;
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut admin)
            .await
            .unwrap();
        info.lines()
            .filter_map(|line| line.strip_prefix("cmdstat_"))
            .filter_map(|line| line.split_once(':'))
            .filter(|(command, _)| command.starts_with("eval"))
            .filter_map(|(_, stats)| stats.split(',').find_map(|s| s.strip_prefix("calls=")))
            .map(|n| n.parse::<u64>().expect("a count"))
            .sum()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A plain connection to the Redis at `url` (a server, or one node of a cluster).
pub async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// A unique Redis key prefix for one test, so tests never see each other's keys even
/// on a shared server.
pub fn unique_prefix(test_name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("kbtest-{test_name}-{}-{n}", std::process::id())
}

/// The binary named by `KAKAOBOT_TEST_REDIS_SERVER`, else `redis-server` on `PATH`.
fn find_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(REDIS_SERVER_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if is_executable(&path) {
            return path;
        }
        panic!(
            "redis-server not found at {} (from {REDIS_SERVER_ENV}): run tests/run.sh, \
             or apt-get install redis-server, or set {REDIS_SERVER_ENV}",
            path.display()
        );
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("redis-server"))
        .find(|path| is_executable(path))
        .unwrap_or_else(|| {
            panic!(
                "redis-server not found: run tests/run.sh, or apt-get install redis-server, \
                 or set {REDIS_SERVER_ENV}"
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A port that was free a moment ago (the OS picks it; we release it for Redis).
fn free_port() -> u16 {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .and_then(|l| l.local_addr())
        .expect("failed to find a free port")
        .port()
}

/// Whether a Redis server on the port answers `PING` with `+PONG`.
fn answers_ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(no log at {}: {e})", path.display()))
}
