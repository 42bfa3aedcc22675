//! A real Redis Cluster for one test: six `redis-server` processes (three primaries,
//! three replicas) on free loopback ports, each in a temporary directory, formed with
//! `redis-cli --cluster create … --cluster-replicas 1`, and killed (directories
//! removed) when dropped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::redis_server::REDIS_SERVER_ENV;

/// Nodes in the cluster: three primaries, each with one replica.
pub const NODES: usize = 6;
/// How long a node may be unreachable before the others fail it over: short, so a
/// failover test is quick; the same value ElastiCache-like setups use is 15 s.
pub const NODE_TIMEOUT_MS: u64 = 2000;
/// How long forming the cluster may take (it takes about 2 s).
const FORMED_WITHIN: Duration = Duration::from_secs(30);

/// One node of the cluster.
struct Node {
    port: u16,
    /// Working directory (`nodes.conf`, log); removed on drop.
    dir: TempDir,
    /// `None` once killed.
    child: Option<Child>,
}

/// A running six-node Redis Cluster owned by one test.
pub struct RedisCluster {
    nodes: Vec<Node>,
}

impl RedisCluster {
    /// Starts six nodes, forms the cluster and waits until every node reports
    /// `cluster_state:ok` and every replica is in sync.
    ///
    /// Panics when `redis-server` or `redis-cli` is missing or the cluster does not
    /// form: a test that needs a cluster must fail loudly, never pass silently.
    pub fn start() -> Self {
        let server = find_program(REDIS_SERVER_ENV, "redis-server");
        let cli = find_program("KAKAOBOT_TEST_REDIS_CLI", "redis-cli");
        let ports = free_ports(NODES);
        let mut cluster = Self { nodes: Vec::new() };
        for port in ports {
            let dir = tempfile::Builder::new()
                .prefix("kakaobot-cluster-")
                .tempdir()
                .expect("failed to create a temp dir for a cluster node");
            let child = spawn_node(&server, port, dir.path());
            cluster.nodes.push(Node {
                port,
                dir,
                child: Some(child),
            });
        }
        for node in &cluster.nodes {
            wait_until(READY, || {
                cli_says(&cli, node.port, &["PING"]).is_some_and(|r| r.trim() == "PONG")
            })
            .unwrap_or_else(|| {
                panic!(
                    "cluster node {} did not start: {}",
                    node.port,
                    cluster.log(node)
                )
            });
        }
        let addresses: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new(&cli)
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", cli.display()));
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed:\n{}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        for node in &cluster.nodes {
            wait_until(FORMED_WITHIN, || {
                cli_says(&cli, node.port, &["CLUSTER", "INFO"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
                    && cli_says(&cli, node.port, &["INFO", "replication"]).is_some_and(|info| {
                        info.contains("role:master") || info.contains("master_link_status:up")
                    })
            })
            .unwrap_or_else(|| {
                panic!("cluster node {} did not join the formed cluster", node.port)
            });
        }
        cluster
    }

    /// Seed nodes as `KAKAOBOT_REDIS_CLUSTER` takes them: `host:port,host:port,…`.
    pub fn seeds(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every node as a `redis://` URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}/", n.port))
            .collect()
    }

    /// The port of the primary serving `slot` now, as a live node sees it.
    pub fn primary_for_slot(&self, slot: u16) -> u16 {
        self.find_primary(slot)
            .unwrap_or_else(|| panic!("no live node knows a healthy primary of slot {slot}"))
    }

    /// Like [`RedisCluster::primary_for_slot`], `None` while no healthy primary is known
    /// (during a failover).
    pub fn find_primary(&self, slot: u16) -> Option<u16> {
        let cli = find_program("KAKAOBOT_TEST_REDIS_CLI", "redis-cli");
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let Some(table) = cli_says(&cli, node.port, &["CLUSTER", "NODES"]) else {
                continue;
            };
            // Each line: id ip:port@bus flags primary-id ping pong epoch link slots…
            for line in table.lines() {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                    continue;
                }
                let serves = fields[8..].iter().any(|range| {
                    let (start, end) = range.split_once('-').unwrap_or((range, range));
                    matches!((start.parse::<u16>(), end.parse::<u16>()),
                        (Ok(start), Ok(end)) if (start..=end).contains(&slot))
                });
                let port = fields[1]
                    .split('@')
                    .next()
                    .and_then(|address| address.rsplit(':').next())
                    .and_then(|port| port.parse().ok());
                if let (true, Some(port)) = (serves, port) {
                    return Some(port);
                }
            }
        }
        None
    }

    /// Kills the node on `port` at once (SIGKILL), as a crash would.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .unwrap_or_else(|| panic!("no cluster node on port {port}"));
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log(&self, node: &Node) -> String {
        std::fs::read_to_string(node.dir.path().join("redis.log")).unwrap_or_default()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        // The temp dirs are removed as the nodes drop.
    }
}

const READY: Duration = Duration::from_secs(10);

fn spawn_node(server: &Path, port: u16, dir: &Path) -> Child {
    Command::new(server)
        .args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes"])
        .args(["--cluster-config-file", "nodes.conf"])
        .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
        .args(["--save", ""])
        .args(["--appendonly", "no"])
        .args(["--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", server.display()))
}

/// What `redis-cli -p port args…` printed, or `None` when it failed.
fn cli_says(cli: &Path, port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new(cli)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn wait_until(limit: Duration, mut ok: impl FnMut() -> bool) -> Option<()> {
    let deadline = Instant::now() + limit;
    loop {
        if ok() {
            return Some(());
        }
        if Instant::now() >= deadline {
            return None;
        }
        sleep(Duration::from_millis(50));
    }
}

/// `n` ports that were free a moment ago, each with its cluster bus port (port +
/// 10000) free too.
fn free_ports(n: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    // Held until all are chosen, so the OS does not hand out the same port twice.
    let mut held = Vec::new();
    while ports.len() < n {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .expect("failed to find a free port");
        let port = listener.local_addr().expect("a bound address").port();
        let bus_free = port <= 55_535
            && TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port + 10_000))).is_ok();
        if bus_free && !ports.contains(&port) {
            ports.push(port);
        }
        held.push(listener);
    }
    ports
}

/// The program named by `env`, else `name` on `PATH`; panics with how to install it.
fn find_program(env: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found: a Redis Cluster test needs redis-server and redis-cli \
                 (apt-get install redis-server redis-tools), or set {env}"
            )
        })
}
