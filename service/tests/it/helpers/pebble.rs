//! A real ACME server for the HTTPS tests: Debian's `pebble` (Let's Encrypt's test
//! server), on its own loopback ports with its own TLS certificate, validating
//! `http-01` against the port the test names. Killed when dropped.
//!
//! Also [`TestCa`]: a throwaway CA for Pebble's own HTTPS and for certificates the
//! tests place themselves (an operator's files, a certificate due for renewal).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tempfile::TempDir;

/// How long Pebble may take to listen; it starts in well under a second.
const STARTS_WITHIN: Duration = Duration::from_secs(20);

/// A CA that signs leaf certificates for the tests.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kakaobot test CA");
        let key = KeyPair::generate().expect("a CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("the CA certificate"),
        }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate to `path` (for `KAKAOBOT_ACME_DIRECTORY_CA`).
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.pem()).expect("the CA file");
        path.to_owned()
    }

    /// A leaf for `names`, valid from `ago` in the past to `left` in the future:
    /// (chain PEM, key PEM).
    pub fn leaf(&self, names: &[&str], ago: Duration, left: Duration) -> (String, String) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - ago;
        params.not_after = now + left;
        let key = KeyPair::generate().expect("a leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("a leaf");
        (cert.pem(), key.serialize_pem())
    }
}

/// A running Pebble.
pub struct Pebble {
    child: Child,
    /// The ACME directory URL.
    pub directory: String,
    management_port: u16,
    /// The CA of Pebble's own HTTPS, PEM.
    ca_pem: String,
    dir: TempDir,
}

impl Pebble {
    /// Starts Pebble on `port`, its HTTPS certificate signed by `ca`, validating
    /// `http-01` on `127.0.0.1:<http_port>`. Panics with how to install it when it is
    /// missing.
    pub fn start(port: u16, http_port: u16, ca: &TestCa) -> Self {
        let binary = std::env::var("KAKAOBOT_TEST_PEBBLE").unwrap_or_else(|_| "pebble".into());
        let dir = tempfile::Builder::new()
            .prefix("kakaobot-pebble-")
            .tempdir()
            .expect("a temp dir for pebble");
        let (cert, key) = ca.leaf(
            &["127.0.0.1", "localhost"],
            Duration::from_secs(60),
            Duration::from_secs(24 * 3600),
        );
        write(dir.path(), "cert.pem", &cert);
        write(dir.path(), "key.pem", &key);
        let management_port = free_port();
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{management_port}"),
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }});
        let config_path = write(dir.path(), "pebble.json", &config.to_string());
        let log = std::fs::File::create(dir.path().join("pebble.log")).expect("pebble's log");
        let child = Command::new(&binary)
            .arg("-config")
            .arg(&config_path)
            .current_dir(dir.path())
            // Validate at once, never reject a nonce, never reuse an authorization:
            // each run issues afresh, deterministically.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("pebble's log, twice"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {binary}: {e}. The HTTPS tests need Debian's ACME test server: \
                     apt-get install pebble (tests/run.sh installs it), or point \
                     KAKAOBOT_TEST_PEBBLE at one"
                )
            });
        let pebble = Self {
            child,
            directory: format!("https://127.0.0.1:{port}/dir"),
            management_port,
            ca_pem: ca.pem(),
            dir,
        };
        let deadline = Instant::now() + STARTS_WITHIN;
        while !(listens(port) && listens(management_port)) {
            assert!(
                Instant::now() < deadline,
                "pebble did not listen within {STARTS_WITHIN:?}; its log:\n{}",
                pebble.log()
            );
            sleep(Duration::from_millis(50));
        }
        pebble
    }

    /// The root that signs the certificates Pebble issues (it makes a new one at each
    /// start), PEM.
    pub async fn issuing_root(&self) -> String {
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).expect("the CA"),
            )
            .build()
            .expect("a client");
        client
            .get(format!(
                "https://127.0.0.1:{}/roots/0",
                self.management_port
            ))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .expect("pebble's management API answers")
            .text()
            .await
            .expect("pebble's root")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("a file in the temp dir");
    path
}

fn listens(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .and_then(|l| l.local_addr())
        .expect("failed to find a free port")
        .port()
}
