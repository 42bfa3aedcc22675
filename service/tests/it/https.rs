//! HTTPS by itself, on the real binary: a certificate from a real ACME server
//! (Debian's Pebble) over `http-01`, a skill conversation over `https://`, a restart
//! that reuses the stored certificate, a renewal under a keep-alive client, the
//! operator's own files reloaded, and the TLS edge (no TLS 1.1, stalled handshakes
//! cut off).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use kakaobot::tls::Certificate;
use serde_json::Value;

use crate::helpers::process::{self, Service};
use crate::helpers::{free_port, skill_payload, Pebble, TestCa};

/// How long issuing may take: Pebble validates at once, but a CI machine busy with the
/// rest of the suite can be slow; the bound only keeps a broken run from hanging.
const ISSUED_WITHIN: Duration = Duration::from_secs(60);

const DAY: Duration = Duration::from_secs(24 * 3600);

/// The settings of a service that orders its certificate for 127.0.0.1 from
/// `directory`, validated on `http_port`.
fn acme_env(http_port: u16, directory: &str, ca: &Path, state: &Path) -> Vec<(String, String)> {
    [
        ("KAKAOBOT_LISTEN", format!("127.0.0.1:{http_port}")),
        ("KAKAOBOT_TLS_LISTEN", "127.0.0.1:0".to_owned()),
        ("KAKAOBOT_ACME_IDENTIFIERS", "127.0.0.1".to_owned()),
        ("KAKAOBOT_ACME_DIRECTORY", directory.to_owned()),
        ("KAKAOBOT_ACME_DIRECTORY_CA", ca.display().to_string()),
        ("KAKAOBOT_STATE_DIR", state.display().to_string()),
        ("KAKAOBOT_METRICS_LISTEN", "127.0.0.1:0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn start(env: &[(String, String)]) -> Service {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Service::start(&env)
}

/// A client that trusts `roots` only and reports the peer's certificate.
fn https_client(roots: &[&str]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .tls_info(true)
        .timeout(Duration::from_secs(10));
    for root in roots {
        builder =
            builder.add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

/// GET `/health` with `client`: the status and the serial of the certificate the
/// connection was made with.
async fn health(client: &reqwest::Client, port: u16) -> Result<(u16, String), reqwest::Error> {
    let response = client
        .get(format!("https://127.0.0.1:{port}/health"))
        .send()
        .await?;
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("the peer's certificate")
        .to_vec();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let serial = cert.raw_serial_as_string().replace(':', "").to_uppercase();
    Ok((response.status().as_u16(), serial))
}

/// Waits until a new connection trusting `roots` gets a certificate other than
/// `not`; returns its serial.
async fn wait_for_new_certificate(port: u16, roots: &[&str], not: Option<&str>) -> String {
    let deadline = Instant::now() + ISSUED_WITHIN;
    loop {
        if let Ok((200, serial)) = health(&https_client(roots), port).await {
            if Some(serial.as_str()) != not {
                return serial;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no new certificate within {ISSUED_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn skill(client: &reqwest::Client, port: u16, user: &str, utterance: &str) -> Value {
    let response = client
        .post(format!("https://127.0.0.1:{port}/quiz/skill"))
        .json(&skill_payload(user, utterance))
        .send()
        .await
        .expect("the skill answers over https");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["version"], "2.0", "{answer}");
    answer
}

fn first_text(answer: &Value) -> &str {
    answer["template"]["outputs"][0]["simpleText"]["text"]
        .as_str()
        .unwrap_or_default()
}

fn metric(service: &Service, name: &str) -> f64 {
    let port = service.metrics_port.expect("metrics are on");
    let (_, text) = process::request(port, "GET", "/metrics", None).expect("metrics answer");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_certificate_for_127_0_0_1_comes_over_http_01_serves_skills_and_survives_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write(&state.path().join("directory-ca.pem"));
    let http_port = free_port();
    let pebble = Pebble::start(free_port(), http_port, &ca);
    let env = acme_env(http_port, &pebble.directory, &ca_file, state.path());

    let service = start(&env);
    let tls_port = service.logged_port("HTTPS listening").unwrap();
    let root = pebble.issuing_root().await;
    let serial = wait_for_new_certificate(tls_port, &[&root], None).await;

    let client = https_client(&[&root]);
    let menu = skill(&client, tls_port, "https-user", "퀴즈").await;
    assert!(!first_text(&menu).is_empty(), "{menu}");
    let question = skill(&client, tls_port, "https-user", "파이썬 퀴즈").await;
    assert!(
        first_text(&question).contains("[파이썬 퀴즈]"),
        "{question}"
    );
    assert_eq!(metric(&service, "kakaobot_acme_failures_total"), 0.0);
    drop(service);

    // The ACME server the restarted service is given is a listener that counts who
    // calls: a restart with a valid stored certificate must call nobody.
    let watcher = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    watcher.set_nonblocking(true).unwrap();
    let silent = format!("https://{}/dir", watcher.local_addr().unwrap());
    let service = start(&acme_env(http_port, &silent, &ca_file, state.path()));
    service.wait_for_log_within("certificate valid; next renewal then", ISSUED_WITHIN);
    let tls_port = service.logged_port("HTTPS listening").unwrap();
    let (status, served) = health(&https_client(&[&root]), tls_port).await.unwrap();
    assert_eq!(
        (status, served),
        (200, serial),
        "the stored certificate is served"
    );
    assert_eq!(
        watcher.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "the restarted service placed an order"
    );
    drop(pebble);
}

#[tokio::test]
async fn a_renewal_swaps_the_certificate_while_a_keep_alive_client_keeps_getting_answers() {
    let state = tempfile::tempdir().unwrap();
    // A stored certificate past a third of its life: due for renewal at start.
    let own = TestCa::new();
    let (chain, key) = own.leaf(&["127.0.0.1"], 3 * DAY, 3 * DAY);
    std::fs::write(state.path().join("certificate.pem"), &chain).unwrap();
    std::fs::write(state.path().join("private-key.pem"), &key).unwrap();
    let old = Certificate::from_pem(&chain, &key).unwrap().serial;
    let pebble_ca = TestCa::new();
    let ca_file = pebble_ca.write(&state.path().join("directory-ca.pem"));
    let (http_port, pebble_port) = (free_port(), free_port());
    let directory = format!("https://127.0.0.1:{pebble_port}/dir");

    // The ACME server is down: the stored certificate serves, plain HTTP serves, and
    // the failure is logged and counted.
    let service = start(&acme_env(http_port, &directory, &ca_file, state.path()));
    service.wait_for_log_within("no certificate from the ACME server", ISSUED_WITHIN);
    assert!(metric(&service, "kakaobot_acme_failures_total") >= 1.0);
    let (status, _) = process::request(http_port, "GET", "/health", None).unwrap();
    assert_eq!(status, 200, "plain HTTP serves while ACME fails");
    let tls_port = service.logged_port("HTTPS listening").unwrap();
    let keep_alive = https_client(&[&own.pem()]);
    assert_eq!(
        health(&keep_alive, tls_port).await.unwrap(),
        (200, old.clone())
    );

    // The ACME server is back; a reload retries at once instead of after the back-off.
    let pebble = Pebble::start(pebble_port, http_port, &pebble_ca);
    let root = pebble.issuing_root().await;
    service.hang_up();
    let deadline = Instant::now() + ISSUED_WITHIN;
    let new = loop {
        // The open connection keeps its certificate and keeps being answered...
        let (status, served) = health(&keep_alive, tls_port).await.unwrap();
        assert_eq!((status, served.as_str()), (200, old.as_str()));
        // ...while new connections get the new one once it is issued.
        if let Ok((200, serial)) = health(&https_client(&[&root]), tls_port).await {
            break serial;
        }
        assert!(
            Instant::now() < deadline,
            "no renewal within {ISSUED_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(new, old);
    let answer = skill(&keep_alive, tls_port, "renewal-user", "퀴즈").await;
    assert!(!first_text(&answer).is_empty());
    let stored = std::fs::read_to_string(state.path().join("certificate.pem")).unwrap();
    assert_ne!(
        stored, chain,
        "the renewed certificate is stored for the next start"
    );
}

#[tokio::test]
async fn an_order_the_acme_server_refuses_leaves_plain_http_serving_and_is_counted() {
    let state = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let ca_file = ca.write(&state.path().join("directory-ca.pem"));
    // Pebble validates http-01 on a port where nothing listens: the authorization
    // fails and the order with it.
    let (http_port, nobody) = (free_port(), free_port());
    let pebble = Pebble::start(free_port(), nobody, &ca);
    let service = start(&acme_env(
        http_port,
        &pebble.directory,
        &ca_file,
        state.path(),
    ));
    service.wait_for_log_within("no certificate from the ACME server", ISSUED_WITHIN);
    assert!(metric(&service, "kakaobot_acme_failures_total") >= 1.0);
    let (status, _) = process::request(http_port, "GET", "/health", None).unwrap();
    assert_eq!(status, 200, "plain HTTP serves while the order fails");
    let failure = &service.log_lines("no certificate from the ACME server")[0];
    assert!(
        failure["cause"].as_str().is_some_and(|c| !c.is_empty()),
        "the warning says why: {failure}"
    );
    assert!(!state.path().join("certificate.pem").exists());
}

/// The settings of a service serving the operator's own files.
fn files_env(dir: &Path) -> Vec<(String, String)> {
    [
        ("KAKAOBOT_TLS_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "KAKAOBOT_TLS_CERT",
            dir.join("cert.pem").display().to_string(),
        ),
        (
            "KAKAOBOT_TLS_KEY",
            dir.join("key.pem").display().to_string(),
        ),
        ("KAKAOBOT_HEADER_TIMEOUT_SECS", "2".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn place(dir: &Path, (chain, key): &(String, String)) -> String {
    std::fs::write(dir.join("cert.pem"), chain).unwrap();
    std::fs::write(dir.join("key.pem"), key).unwrap();
    Certificate::from_pem(chain, key).unwrap().serial
}

#[tokio::test]
async fn own_certificate_files_are_reloaded_and_a_bad_pair_keeps_the_one_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new();
    let first = place(dir.path(), &ca.leaf(&["127.0.0.1"], DAY, 30 * DAY));
    let service = start(&files_env(dir.path()));
    let port = service.logged_port("HTTPS listening").unwrap();
    let trusting = [ca.pem()];
    let roots: Vec<&str> = trusting.iter().map(String::as_str).collect();
    assert_eq!(health(&https_client(&roots), port).await.unwrap().1, first);

    let second = place(dir.path(), &ca.leaf(&["127.0.0.1"], DAY, 30 * DAY));
    service.hang_up();
    assert_eq!(
        wait_for_new_certificate(port, &roots, Some(&first)).await,
        second
    );

    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    service.hang_up();
    service.wait_for_log_within("certificate not reloaded", ISSUED_WITHIN);
    assert_eq!(health(&https_client(&roots), port).await.unwrap().1, second);
}

/// A TLS 1.1 ClientHello: record and hello version 3.2, no extensions (so no
/// `supported_versions`), with cipher suites the server has for TLS 1.2 as well as
/// TLS 1.1's, so that only the version can be refused.
fn tls_1_1_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02];
    hello.extend([7u8; 32]); // random
    hello.push(0); // no session id
                   // ECDHE-ECDSA and ECDHE-RSA with AES-128-GCM, then AES-128-CBC-SHA twice.
    hello.extend([0x00, 0x08, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x13, 0x00, 0x2f]);
    hello.extend([0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00];
    handshake.extend((hello.len() as u16).to_be_bytes());
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

#[tokio::test]
async fn tls_1_1_is_refused_and_a_stalled_handshake_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    place(
        dir.path(),
        &TestCa::new().leaf(&["127.0.0.1"], DAY, 30 * DAY),
    );
    let service = start(&files_env(dir.path()));
    let port = service.logged_port("HTTPS listening").unwrap();

    let mut old = TcpStream::connect(("127.0.0.1", port)).unwrap();
    old.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    old.write_all(&tls_1_1_client_hello()).unwrap();
    let mut reply = Vec::new();
    let _ = old.read_to_end(&mut reply);
    // An alert record (21), fatal (2): handshake_failure (40), which rustls sends to
    // a client offering nothing newer than TLS 1.1, or protocol_version (70). No
    // ServerHello (a handshake record, 22) comes back.
    assert!(
        reply.len() >= 7 && reply[0] == 21 && reply[5] == 2 && [40, 70].contains(&reply[6]),
        "expected a fatal alert refusing TLS 1.1, got {reply:?}"
    );

    // Half a record header, then nothing: closed after the 2 s header timeout. The
    // 30 s bound is generous so that a loaded machine does not fail the test; a
    // handshake that is never cut off would hang here past it.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled.write_all(&[0x16, 0x03]).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut byte = [0u8; 1];
    let read = stalled.read(&mut byte);
    assert!(
        matches!(read, Ok(0)) || matches!(&read, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "the stalled handshake was not cut off: {read:?}"
    );
    let (status, _) = process::request(service.port, "GET", "/health", None).unwrap();
    assert_eq!(status, 200);
}

#[test]
fn a_malformed_acme_identifier_stops_the_start_naming_the_variable() {
    let output = process::run(
        &["check"],
        &[
            ("KAKAOBOT_TLS_LISTEN", "127.0.0.1:0"),
            ("KAKAOBOT_ACME_IDENTIFIERS", "127.0.0.1,https://bot"),
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("KAKAOBOT_ACME_IDENTIFIERS") && stderr.contains("https://bot"),
        "{stderr}"
    );
}
