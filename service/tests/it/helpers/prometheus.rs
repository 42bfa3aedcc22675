//! A real Prometheus server for one test: started on a free loopback port with its
//! own configuration and storage in a temporary directory, scraping one target every
//! second and evaluating the given rule files every second, and killed when dropped.
//! [`Prometheus::query`] evaluates PromQL through its HTTP API, as Grafana does.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// Environment variable naming the `prometheus` binary to use.
pub const PROMETHEUS_ENV: &str = "KAKAOBOT_TEST_PROMETHEUS";

/// The scrape job's name: the rules and the dashboard select `job="kakaobot"`.
pub const JOB: &str = "kakaobot";

/// How long a starting server may take to say it is ready. Generous: it opens a new
/// storage and loads the rules, and a loaded machine is slow at both.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A running `prometheus` owned by one test.
pub struct Prometheus {
    child: Child,
    pub port: u16,
    client: reqwest::Client,
    dir: TempDir,
}

/// What one query returned.
#[derive(Debug)]
pub struct QueryResult {
    /// `vector`, `scalar`, `matrix` or `string`.
    pub kind: String,
    /// The series (or one element for a scalar), each `{"metric": {…}, "value": [t, "v"]}`.
    pub series: Vec<Value>,
}

impl QueryResult {
    /// One line per series: its labels and value.
    pub fn describe(&self) -> String {
        if self.kind == "scalar" {
            return format!("scalar {}", self.series[0][1]);
        }
        self.series
            .iter()
            .map(|s| {
                let labels: Vec<String> = s["metric"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!("{{{}}} {}", labels.join(", "), s["value"][1])
            })
            .collect::<Vec<_>>()
            .join("\n        ")
    }

    /// The value of the series whose labels include `label`=`value`.
    pub fn value_where(&self, label: &str, value: &str) -> Option<f64> {
        self.series
            .iter()
            .find(|s| s["metric"][label] == value)
            .and_then(|s| s["value"][1].as_str())
            .and_then(|v| v.parse().ok())
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (`host:port`) as job [`JOB`] and
    /// evaluating `rule_files`, and waits until it is ready.
    ///
    /// Panics when no `prometheus` binary is found or it does not come up.
    pub async fn start(target: &str, rule_files: &[PathBuf]) -> Self {
        let binary = find_binary();
        let dir = tempfile::Builder::new()
            .prefix("kakaobot-prometheus-")
            .tempdir()
            .expect("a temp dir for prometheus");
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - {:?}", p.display().to_string()))
            .collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n{}\n\
             scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{target:?}]\n",
            rules.join("\n")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("the prometheus config");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("a log file");
        let child = Command::new(&binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file, twice"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", binary.display()));
        let server = Self {
            child,
            port,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
            dir,
        };
        server.wait_until_ready().await;
        server
    }

    async fn wait_until_ready(&self) {
        let started = Instant::now();
        loop {
            let ready = self
                .client
                .get(format!("http://127.0.0.1:{}/-/ready", self.port))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                started.elapsed() < READY_WITHIN,
                "prometheus was not ready within {READY_WITHIN:?}; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Everything Prometheus logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Evaluates `query` now; `Err` holds Prometheus's error type and message.
    pub async fn query(&self, query: &str) -> Result<QueryResult, String> {
        let body = self.api("query", &[("query", query)]).await?;
        let data = &body["data"];
        let kind = data["resultType"].as_str().unwrap_or_default().to_owned();
        let series = match &data["result"] {
            Value::Array(series) if kind != "scalar" => series.clone(),
            other => vec![other.clone()],
        };
        Ok(QueryResult { kind, series })
    }

    /// `GET /api/v1/rules`: the rule groups as Prometheus loaded and evaluates them.
    pub async fn rules(&self) -> Vec<Value> {
        let body = self
            .api("rules", &[])
            .await
            .unwrap_or_else(|e| panic!("GET /api/v1/rules failed: {e}"));
        body["data"]["groups"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    async fn api(&self, endpoint: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let response = self
            .client
            .get(format!("http://127.0.0.1:{}/api/v1/{endpoint}", self.port))
            .query(params)
            .send()
            .await
            .map_err(|e| format!("no answer from prometheus: {e}"))?;
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("not JSON from prometheus: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", body["errorType"], body["error"]));
        }
        Ok(body)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The binary named by `KAKAOBOT_TEST_PROMETHEUS`, else `prometheus` on `PATH`.
fn find_binary() -> PathBuf {
    let how = "run tests/run.sh (which installs it), or apt-get install prometheus, \
               or set KAKAOBOT_TEST_PROMETHEUS to a prometheus binary";
    if let Some(path) = std::env::var_os(PROMETHEUS_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            is_executable(&path),
            "prometheus not found at {} (from {PROMETHEUS_ENV}): {how}",
            path.display()
        );
        return path;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("prometheus"))
        .find(|path| is_executable(path))
        .unwrap_or_else(|| panic!("prometheus not found: {how}"))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
