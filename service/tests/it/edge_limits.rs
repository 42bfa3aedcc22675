//! The edge against slow, silent and oversized clients: each probe of issue 9 that
//! held a connection (or memory) forever now ends within the configured bound.
//! The apps here use one-second header and body timeouts, so a probe that is not
//! cut off within three seconds fails.

use std::time::Duration;

use crate::helpers::{spawn_app_with, Conn, TestApp};

/// Longer than the one-second timeouts plus scheduling slack on a loaded machine;
/// far shorter than "never".
const CUT_OFF_WITHIN: Duration = Duration::from_secs(3);

async fn app_with_one_second_timeouts(test_name: &str) -> TestApp {
    spawn_app_with(
        test_name,
        None,
        &[
            ("KAKAOBOT_HEADER_TIMEOUT_SECS", "1"),
            ("KAKAOBOT_BODY_TIMEOUT_SECS", "1"),
        ],
        |_| {},
    )
    .await
}

#[tokio::test]
async fn a_header_sent_one_byte_at_a_time_is_cut_off_by_the_header_timeout() {
    let app = app_with_one_second_timeouts("slow_header").await;
    let mut conn = Conn::open(app.port).await;

    // One byte every 200 ms: each byte alone would reset an idle timer, but not the
    // header timeout, which counts from the connection's opening.
    let header =
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let started = std::time::Instant::now();
    let mut closed = false;
    for byte in header {
        if !conn.send(&[*byte]).await || conn.is_closed_within(Duration::from_millis(200)).await {
            closed = true;
            break;
        }
    }

    assert!(
        closed,
        "the connection was still open after the whole slow header"
    );
    assert!(
        started.elapsed() < CUT_OFF_WITHIN,
        "closed only after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_by_the_header_timeout() {
    let app = app_with_one_second_timeouts("silent_connection").await;
    let mut conn = Conn::open(app.port).await;

    let (sent, closed_after) = conn.until_closed(CUT_OFF_WITHIN).await;

    assert!(closed_after.is_some(), "a silent connection stayed open");
    assert!(
        sent.is_empty(),
        "no answer is due: {:?}",
        String::from_utf8_lossy(&sent)
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let app = app_with_one_second_timeouts("idle_keep_alive").await;
    let mut conn = Conn::open(app.port).await;
    conn.send(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    assert_eq!(conn.response().await.status, 200);

    assert!(
        conn.is_closed_within(CUT_OFF_WITHIN).await,
        "an idle keep-alive connection stayed open"
    );
}

#[tokio::test]
async fn a_body_shorter_than_announced_gets_408_and_the_connection_closed() {
    let app = app_with_one_second_timeouts("half_body").await;
    let mut conn = Conn::open(app.port).await;

    conn.send(
        b"POST /quiz/message HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"user_key",
    )
    .await;
    let answer = tokio::time::timeout(CUT_OFF_WITHIN, conn.response())
        .await
        .expect("an answer within the body timeout");

    assert_eq!(answer.status, 408, "{}", answer.body);
    assert_eq!(answer.json()["error"], "request_timeout");
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(conn.is_closed_within(CUT_OFF_WITHIN).await);
}

#[tokio::test]
async fn an_endless_chunked_body_gets_408() {
    let app = app_with_one_second_timeouts("endless_chunked").await;
    let mut conn = Conn::open(app.port).await;
    conn.send(
        b"POST /quiz/message HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
          Transfer-Encoding: chunked\r\n\r\n",
    )
    .await;

    // A one-byte chunk every 100 ms, never the last chunk: small enough never to
    // reach the size limit.
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    while started.elapsed() < CUT_OFF_WITHIN {
        if !conn.send(b"1\r\n \r\n").await {
            break;
        }
        let (got, closed) = conn.until_closed(Duration::from_millis(100)).await;
        answer.extend_from_slice(&got);
        if closed.is_some() || !answer.is_empty() {
            break;
        }
    }

    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "after {:?}: {answer:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_speaking_http2_gets_its_connection_closed_without_an_http2_answer() {
    let app = app_with_one_second_timeouts("h2c").await;
    let mut conn = Conn::open(app.port).await;

    // HTTP/2 with prior knowledge: the preface, then an empty SETTINGS frame.
    conn.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await;
    let (answer, closed) = conn.until_closed(CUT_OFF_WITHIN).await;

    // An HTTP/2 server answers with its own SETTINGS frame: 3 length bytes, type 4.
    let is_h2_settings = answer.len() >= 9 && answer[3] == 0x04;
    assert!(!is_h2_settings, "the server spoke HTTP/2: {answer:?}");
    assert!(closed.is_some(), "the HTTP/2 connection stayed open");
}

#[tokio::test]
async fn a_header_over_16_kib_gets_431_before_the_app() {
    let app = app_with_one_second_timeouts("big_header").await;
    let mut conn = Conn::open(app.port).await;

    // hyper's default buffer takes ~400 KiB per connection; 20 KiB is over the
    // limit that replaced it.
    let filler = "a".repeat(20 * 1024);
    conn.send(
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {filler}\r\n\r\n").as_bytes(),
    )
    .await;
    let (answer, _) = conn.until_closed(CUT_OFF_WITHIN).await;

    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
}

#[tokio::test]
async fn a_long_url_within_the_header_limit_still_routes() {
    let app = app_with_one_second_timeouts("long_url").await;

    let resp = app
        .get(&format!("/health?pad={}", "a".repeat(12 * 1024)))
        .await;

    assert_eq!(resp.status, 200, "{}", resp.body);
}
