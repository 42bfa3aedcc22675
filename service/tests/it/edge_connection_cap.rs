//! One client holding the connection limit with silent connections: the service
//! closes the connections that have sent no request to make room, oldest first, so
//! real requests are still answered in time. Not a cap per address: Kakao's calls
//! come from few addresses, so here the attacker and the real client share 127.0.0.1.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::helpers::{raw_request, skill_payload, spawn_app_with};

const MAX_CONNECTIONS: usize = 64;
/// Silent connections the client opens: the limit's worth, then as many again
/// three times over waiting in the accept queue, as when it reopens what is cut.
const SILENT: usize = 4 * MAX_CONNECTIONS;
const REQUESTS: usize = 5;
/// Kakao gives up after 5 s and the issue asks for 1 s; on this shared, loaded test
/// machine 2 s is the generous bound. Without shedding a request waits for the
/// header timeout (10 s) to free places, several times over.
const ANSWERED_WITHIN: Duration = Duration::from_secs(2);

#[tokio::test(flavor = "multi_thread")]
async fn silent_connections_at_the_limit_do_not_keep_real_requests_waiting() {
    let app = spawn_app_with(
        "connection_cap",
        None,
        &[("KAKAOBOT_MAX_CONNECTIONS", &MAX_CONNECTIONS.to_string())],
        |_| {},
    )
    .await;
    let mut silent = Vec::with_capacity(SILENT);
    for _ in 0..SILENT {
        silent.push(
            TcpStream::connect(("127.0.0.1", app.port))
                .await
                .expect("a silent connection"),
        );
    }
    let body = skill_payload("cap_user", "내 점수").to_string();
    let head = format!(
        "POST /quiz/skill HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}",
        body.len()
    );

    let mut slowest = Duration::ZERO;
    for _ in 0..REQUESTS {
        let started = Instant::now();
        let answer = raw_request(app.port, &head, body.clone().into_bytes()).await;
        let took = started.elapsed();
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(answer.body.contains("아직 푼 문제가 없어요"), "{answer:?}");
        assert!(took < ANSWERED_WITHIN, "a request took {took:?}");
        slowest = slowest.max(took);
    }
    eprintln!(
        "{SILENT} silent connections at a limit of {MAX_CONNECTIONS}: {REQUESTS} requests, the slowest answered in {slowest:?}"
    );
    drop(silent);
}
