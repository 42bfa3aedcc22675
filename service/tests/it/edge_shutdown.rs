//! Stopping without losses: a keep-alive client is told to reconnect during the
//! drain instead of sending into a closing connection, and a stalled client cannot
//! hold the exit past the grace.

use std::time::{Duration, Instant};

use crate::helpers::{spawn_app, spawn_app_with, Conn};

const HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

#[tokio::test]
async fn a_keep_alive_client_is_told_to_reconnect_during_the_drain() {
    let app = spawn_app("keep_alive_drain", None).await;
    let mut conn = Conn::open(app.port).await;
    conn.send(HEALTH).await;
    let before = conn.response().await;
    assert_eq!(before.status, 200);
    assert_eq!(
        before.header("connection"),
        None,
        "kept alive while serving"
    );

    // Stop as SIGTERM does; the app keeps the connection through the one-second
    // wait for first bytes.
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    conn.send(HEALTH).await;
    let during = conn.response().await;

    assert_eq!(
        during.status, 200,
        "the request during the drain is answered"
    );
    assert_eq!(
        during.header("connection"),
        Some("close"),
        "the answer tells the client to send its next request elsewhere"
    );
    assert!(conn.is_closed_within(Duration::from_secs(3)).await);
    stopping.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_client_stalled_in_its_header_does_not_hold_the_exit() {
    // Long header timeout and grace, so neither can be what ends the stall.
    let app = spawn_app_with(
        "stalled_header",
        None,
        &[
            ("KAKAOBOT_HEADER_TIMEOUT_SECS", "60"),
            ("KAKAOBOT_SHUTDOWN_GRACE_SECS", "10"),
        ],
        |_| {},
    )
    .await;
    let mut stalled = Conn::open(app.port).await;
    stalled
        .send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    app.stop().await.unwrap();

    // The one-second wait for first bytes, and slack.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(stalled.is_closed_within(Duration::from_secs(1)).await);
}

#[tokio::test]
async fn a_client_stalled_in_its_body_holds_the_exit_at_most_the_grace() {
    // Long header and body timeouts, so only the grace (1 s) can end the stall.
    let app = spawn_app_with(
        "stalled_body",
        None,
        &[
            ("KAKAOBOT_HEADER_TIMEOUT_SECS", "60"),
            ("KAKAOBOT_BODY_TIMEOUT_SECS", "60"),
        ],
        |_| {},
    )
    .await;
    let mut stalled = Conn::open(app.port).await;
    stalled
        .send(b"POST /quiz/message HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{")
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    app.stop().await.unwrap();

    // One second for first bytes, one second of grace, and slack.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stopping took {:?}",
        started.elapsed()
    );
    assert!(stalled.is_closed_within(Duration::from_secs(1)).await);
}
