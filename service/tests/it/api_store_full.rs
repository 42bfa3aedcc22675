//! A Redis out of memory (`maxmemory` reached, `noeviction`) answers `PING` and
//! refuses every write: `/ready` must say so, and the fallback warnings it causes
//! are summarised, not written one per request. On the real binary, for its log.

use std::thread::sleep;
use std::time::{Duration, Instant};

use kakaobot::api::store_health::LOG_EVERY;

use crate::helpers::{skill_payload, unique_prefix, RedisServer, Service};

/// Requests while Redis refuses writes: enough to show a line per request.
const REQUESTS: usize = 30;
const FALLBACK_LINE: &str = "store failed; sending the fallback reply";

/// The failures a fallback line stands for: itself and those not logged before it.
fn failures_in(line: &serde_json::Value) -> u64 {
    1 + line["unlogged"]
        .as_u64()
        .unwrap_or_else(|| panic!("no unlogged count in {line}"))
}

fn ask_a_question(service: &Service, user: usize) {
    let body = skill_payload(&format!("{user:064x}"), "웹 퀴즈").to_string();
    let (status, answer) = service
        .request("POST", "/quiz/skill", Some(&body))
        .expect("an answer");
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("잠시 후 다시 시도해 주세요"), "{answer}");
}

#[test]
fn a_redis_refusing_writes_is_not_ready_and_its_warnings_are_summarised() {
    // 1 byte: whatever Redis holds is over it, so every write is refused with OOM.
    let redis = RedisServer::start_with(&["--maxmemory", "1", "--maxmemory-policy", "noeviction"]);
    let service = Service::start(&[
        ("KAKAOBOT_REDIS_URL", &redis.url()),
        ("KAKAOBOT_KEY_PREFIX", &unique_prefix("store_full")),
    ]);
    assert_eq!(
        service.request("GET", "/ready", None).map(|r| r.0),
        Some(200),
        "Redis answers PING"
    );

    for user in 0..REQUESTS {
        ask_a_question(&service, user);
    }

    let (status, body) = service.request("GET", "/ready", None).expect("an answer");
    // The log is written off the request path: wait for the first line to land.
    service.wait_for_log(FALLBACK_LINE, 1);
    let lines = service.log_lines(FALLBACK_LINE);
    eprintln!(
        "{REQUESTS} requests on a full Redis: {} fallback lines, then /ready {status}",
        lines.len()
    );
    assert_eq!(status, 503, "{body}");
    assert!(
        !lines.is_empty() && lines.len() < REQUESTS / 2,
        "{} fallback lines for {REQUESTS} fallbacks",
        lines.len()
    );
    // The next line after the quiet period counts the failures it did not log.
    sleep(LOG_EVERY + Duration::from_secs(1));
    ask_a_question(&service, REQUESTS);
    let counted = || {
        let lines = service.log_lines(FALLBACK_LINE);
        (lines.iter().map(failures_in).sum::<u64>(), lines)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while counted().0 < REQUESTS as u64 + 1 && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
    }
    let (failures, lines) = counted();
    assert_eq!(
        failures,
        REQUESTS as u64 + 1,
        "every failure is counted in a line: {lines:?}"
    );
}
