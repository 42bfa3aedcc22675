//! Metrics: scraped from their own listener, labelled by route template (never by a
//! path a client sent), and showing a Redis outage that HTTP statuses hide.

use std::net::TcpListener;

use crate::helpers::process::{request, Service};
use crate::helpers::spawn_app_with;

fn scrape(service: &Service) -> String {
    let port = service.metrics_port.expect("metrics are on");
    let (status, text) = request(port, "GET", "/metrics", None).expect("a scrape");
    assert_eq!(status, 200, "{text}");
    text
}

/// The sample lines of `metric` whose labels contain every one of `labels`.
fn samples<'a>(text: &'a str, metric: &str, labels: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .collect()
}

fn value(sample: &str) -> f64 {
    sample
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no value in {sample:?}"))
}

#[test]
fn three_user_keys_make_one_route_label_and_none_becomes_a_label() {
    let service = Service::start(&[("KAKAOBOT_METRICS_LISTEN", "127.0.0.1:0")]);
    for key in ["USERKEYAAA", "USERKEYBBB", "USERKEYCCC"] {
        let (status, body) = service
            .request("DELETE", &format!("/quiz/chat_room/{key}"), None)
            .unwrap();
        assert_eq!(status, 200, "{body}");
    }
    service.request("GET", "/no/such/USERKEYDDD", None).unwrap();

    let text = scrape(&service);

    assert!(
        !text.contains("USERKEY"),
        "a user key became a label:\n{text}"
    );
    let chat_room = samples(
        &text,
        "http_server_request_duration_seconds_count",
        &[
            "http_route=\"/{bot}/chat_room/{user_key}\"",
            "http_request_method=\"DELETE\"",
            "http_response_status_code=\"200\"",
        ],
    );
    assert_eq!(chat_room.len(), 1, "one series for the route:\n{text}");
    assert_eq!(value(chat_room[0]), 3.0, "{}", chat_room[0]);
    // Buckets go past Kakao's 5 s deadline, so an answer Kakao gave up on shows.
    assert_eq!(
        samples(
            &text,
            "http_server_request_duration_seconds_bucket",
            &["chat_room", "le=\"10\""]
        )
        .len(),
        1,
        "{text}"
    );
    assert_eq!(
        samples(
            &text,
            "http_server_request_duration_seconds_count",
            &[
                "http_route=\"unmatched\"",
                "http_response_status_code=\"404\""
            ]
        )
        .len(),
        1,
        "{text}"
    );
    assert_eq!(
        samples(
            &text,
            "kakaobot_build_info",
            &[&format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))]
        )
        .len(),
        1,
        "{text}"
    );
    assert!(text.contains("http_server_active_requests"), "{text}");
}

#[test]
fn metrics_are_not_served_on_the_public_port() {
    let service = Service::start(&[("KAKAOBOT_METRICS_LISTEN", "127.0.0.1:0")]);

    let (status, _) = service.request("GET", "/metrics", None).unwrap();

    assert_eq!(status, 404);
}

#[test]
fn a_redis_outage_shows_as_fallback_replies_and_failed_redis_calls() {
    // A port nothing listens on: every Redis call is refused.
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let service = Service::start(&[
        ("KAKAOBOT_METRICS_LISTEN", "127.0.0.1:0"),
        (
            "KAKAOBOT_REDIS_URL",
            &format!("redis://127.0.0.1:{closed_port}/"),
        ),
    ]);

    let (status, body) = service
        .request(
            "POST",
            "/quiz/message",
            Some(r#"{"user_key":"outage_user","type":"text","content":"내 점수"}"#),
        )
        .unwrap();
    assert_eq!(status, 200, "Kakao routes answer 200 even now: {body}");

    let text = scrape(&service);
    let fallbacks = samples(
        &text,
        "kakaobot_fallback_replies_total",
        &["bot=\"quiz\"", "reason=\"error\""],
    );
    assert_eq!(fallbacks.len(), 1, "{text}");
    assert_eq!(value(fallbacks[0]), 1.0);
    let answers = samples(
        &text,
        "kakaobot_answers_total",
        &["bot=\"quiz\"", "wire=\"smartchat\"", "outcome=\"fallback\""],
    );
    assert_eq!(answers.len(), 1, "{text}");
    assert_eq!(value(answers[0]), 1.0);
    assert!(
        !samples(
            &text,
            "kakaobot_redis_command_duration_seconds_count",
            &["outcome=\"error\""]
        )
        .is_empty(),
        "{text}"
    );
}

#[tokio::test]
async fn a_taken_metrics_port_turns_metrics_off_but_the_bots_still_serve() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();

    let app = spawn_app_with(
        "metrics_port_taken",
        None,
        &[("KAKAOBOT_METRICS_LISTEN", &addr)],
        |_| {},
    )
    .await;

    assert_eq!(app.get("/health").await.status, 200);
}
