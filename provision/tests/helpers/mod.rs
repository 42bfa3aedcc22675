//! Test helpers: a real moto EC2 server per test on a free loopback port, and
//! the real `provision` binary run in a temp directory with its own HOME.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

/// The region every test uses.
pub const REGION: &str = "us-east-1";

/// A valid OpenSSH ed25519 public key for import tests.
pub const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMjUa2zWA/fp6FE7k2d4Gth7v1tod1DSQD82d1msBBXf provision-test";

/// The seeded image list (Ubuntu 22.04/24.04 and look-alikes).
pub fn amis_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/provision/amis.json")
}

/// Finds `moto_server`: `KAKAOBOT_TEST_MOTO_SERVER`, else on PATH. A missing
/// server fails the test with instructions, never skips it.
fn moto_server() -> PathBuf {
    if let Some(p) = std::env::var_os("KAKAOBOT_TEST_MOTO_SERVER") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "KAKAOBOT_TEST_MOTO_SERVER={} does not exist; run tests/run.sh, or \
             python3 -m venv v && v/bin/pip install 'moto[ec2,server]==5.2.5' flask flask-cors \
             and set KAKAOBOT_TEST_MOTO_SERVER=$PWD/v/bin/moto_server",
            p.display()
        );
        return p;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "these tests need moto's EC2 emulator (moto_server), which was not found: \
             run tests/run.sh, or python3 -m venv v && v/bin/pip install \
             'moto[ec2,server]==5.2.5' flask flask-cors and set \
             KAKAOBOT_TEST_MOTO_SERVER=$PWD/v/bin/moto_server"
        )
    })
}

/// A moto server, killed on drop.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    port: u16,
}

impl Moto {
    /// Starts moto on a free port (it binds port 0 and reports the port).
    pub fn start() -> Moto {
        let mut child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", "0"])
            .env("MOTO_AMIS_PATH", amis_path())
            .env("MOTO_ENABLE_AMI_VALIDATION", "true")
            .env("MOTO_ENABLE_KEYPAIR_VALIDATION", "true")
            .env("MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("failed to start moto_server");
        // Read stderr until moto says where it listens; keep draining it
        // afterwards so its request log never fills the pipe.
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Running on http://").nth(1) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(rest.trim().to_owned());
                    }
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(90)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("moto_server did not report its address within 90 s");
            }
        };
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        Moto {
            child,
            endpoint: format!("http://{addr}"),
            port,
        }
    }

    /// Sends a raw EC2 query (moto does not check signatures, only reads the
    /// service and region from the Authorization header) and returns the XML.
    /// Used to arrange partial states and to check the result independently
    /// of `provision`'s own discovery.
    pub fn query(&self, action: &str, params: &[(&str, &str)]) -> String {
        let mut body = format!("Action={action}&Version=2016-11-15");
        for (k, v) in params {
            body += &format!("&{}={}", encode(k), encode(v));
        }
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/ec2/aws4_request, \
             SignedHeaders=host, Signature=0\r\n\
             Content-Length: {len}\r\nConnection: close\r\n\r\n{body}",
            port = self.port,
            len = body.len()
        );
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    }

    /// Ids of every resource tagged `kakaobot:stack=<name>` (DescribeTags).
    pub fn tagged(&self, name: &str) -> Vec<String> {
        let xml = self.query(
            "DescribeTags",
            &[
                ("Filter.1.Name", "key"),
                ("Filter.1.Value.1", "kakaobot:stack"),
                ("Filter.2.Name", "value"),
                ("Filter.2.Value.1", name),
            ],
        );
        between_all(&xml, "<resourceId>", "</resourceId>")
    }

    /// Allocation ids of every Elastic IP in the region, tagged or not.
    pub fn addresses(&self) -> Vec<String> {
        between_all(
            &self.query("DescribeAddresses", &[]),
            "<allocationId>",
            "</allocationId>",
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every text between `start` and `end`.
pub fn between_all(text: &str, start: &str, end: &str) -> Vec<String> {
    text.split(start)
        .skip(1)
        .filter_map(|s| s.split(end).next())
        .map(str::to_owned)
        .collect()
}

/// One test's world: a moto server, a HOME and a working directory.
pub struct World {
    /// The emulator (None for tests that must not reach any endpoint).
    pub moto: Option<Moto>,
    /// HOME of the binary; the default key file goes to HOME/.ssh.
    pub home: TempDir,
    /// The binary's working directory.
    pub cwd: TempDir,
}

/// The result of one run of the binary.
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// stdout.
    pub stdout: String,
    /// stderr.
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts the exit code, showing the output otherwise.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code {} (want {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

impl World {
    /// A world with a fresh moto server.
    pub fn new() -> World {
        World {
            moto: Some(Moto::start()),
            home: TempDir::new().unwrap(),
            cwd: TempDir::new().unwrap(),
        }
    }

    /// A world without an emulator: the endpoint is a closed port, so any
    /// AWS call would fail with a connection error.
    pub fn offline() -> World {
        World {
            moto: None,
            home: TempDir::new().unwrap(),
            cwd: TempDir::new().unwrap(),
        }
    }

    /// The moto server.
    pub fn moto(&self) -> &Moto {
        self.moto.as_ref().expect("this world has no moto")
    }

    /// The default private key path of stack `name`.
    pub fn key_file(&self, name: &str) -> PathBuf {
        self.home.path().join(".ssh").join(format!("{name}.pem"))
    }

    /// The binary with a clean environment pointing at this world's moto.
    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_provision"));
        c.env_clear()
            .current_dir(self.cwd.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env(
                "AWS_ENDPOINT_URL",
                match &self.moto {
                    Some(m) => m.endpoint.clone(),
                    None => format!("http://127.0.0.1:{}", closed_port()),
                },
            )
            .stdin(Stdio::null());
        c
    }

    /// Runs the binary with `args`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(self.command().args(args))
    }

    /// Runs a prepared command.
    pub fn run_with(&self, command: &mut Command) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = command.output().expect("failed to run provision");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// `up` for stack `name` with a fixed SSH CIDR and JSON output.
    pub fn up(&self, name: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "up",
            "--name",
            name,
            "--ssh-cidr",
            SSH_CIDR,
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `status` for stack `name` against the SSH CIDR `up` uses, with JSON output.
    pub fn status(&self, name: &str) -> Run {
        self.run(&[
            "status",
            "--name",
            name,
            "--ssh-cidr",
            SSH_CIDR,
            "--output",
            "json",
        ])
    }

    /// `down --yes` for stack `name` with JSON output.
    pub fn down(&self, name: &str, extra: &[&str]) -> Run {
        let mut args = vec!["down", "--yes", "--name", name, "--output", "json"];
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

/// Who may ssh, in the stacks `up` and `status` work on.
pub const SSH_CIDR: &str = "203.0.113.7/32";

/// A loopback port with nothing listening on it.
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
