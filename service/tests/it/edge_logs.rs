//! Secrets and user keys never reach the log: the real binary's stdout and
//! `kakaobot check`'s output, for every Redis URL form and every path shape.

use crate::helpers::process::{run, Service};

const PASSWORD: &str = "Hunter2Secret";

#[test]
fn no_form_of_redis_url_shows_its_password_in_checks_output_or_log() {
    for url in [
        format!("unix:///run/redis.sock?pass={PASSWORD}"),
        format!("unix:///run/redis.sock?pass={PASSWORD}&db=notanumber"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/0"),
        format!("redis://:{PASSWORD}@127.0.0.1:6379/notanumber"),
        format!("redis://kakaobot:{PASSWORD}@127.0.0.1:6379"),
        format!("rediss://kakaobot:{PASSWORD}@redis.example:6380"),
        format!("{PASSWORD}@127.0.0.1"),
    ] {
        let out = run(&["check"], &[("KAKAOBOT_REDIS_URL", &url)]);

        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !shown.contains(PASSWORD),
            "with {url} kakaobot check showed the password:\n{shown}"
        );
        // The URL does appear (redacted), so the check above looked at the right lines.
        assert!(
            shown.contains("***") || shown.contains("hidden"),
            "with {url}: {shown}"
        );
    }
}

#[test]
fn the_start_up_log_shows_the_redis_url_without_its_password() {
    let service = Service::start(&[(
        "KAKAOBOT_REDIS_URL",
        &format!("unix:///run/redis.sock?pass={PASSWORD}"),
    )]);

    let stored = service.log_lines("state is kept in Redis");

    assert_eq!(stored[0]["redis"], "unix:///run/redis.sock?pass=***");
    assert!(!service.log().contains(PASSWORD), "{}", service.log());
}

#[test]
fn a_user_key_stays_out_of_the_access_log_whatever_the_path_shape() {
    // Per-request lines are written at debug.
    let service = Service::start(&[("RUST_LOG", "kakaobot=debug,info")]);
    let paths = [
        "/quiz/chat_room//SECRETKEY1",
        "/quiz/chat_room/SECRETKEY2",
        "//quiz//friend//SECRETKEY3/",
        "/chat_room///SECRETKEY4",
        "/quiz/Friend/SECRETKEY5",
        "/quiz/%66riend/SECRETKEY6",
    ];

    for path in paths {
        let answered = service.request("DELETE", path, None);
        assert!(answered.is_some(), "DELETE {path} was not answered");
    }
    service.wait_for_log("request", paths.len());

    let log = service.log();
    assert!(
        !log.contains("SECRETKEY"),
        "a user key is in the log:\n{log}"
    );
}

#[test]
fn the_default_level_does_not_log_every_request() {
    let service = Service::start(&[]);
    for path in ["/quiz/keyboard", "/lunch/keyboard", "/no/such/route"] {
        let answered = service.request("GET", path, None);
        assert!(answered.is_some(), "GET {path} was not answered");
    }
    // A line the default level does write, after the requests: once it is in, any
    // per-request line would be too.
    let answered = service.request("DELETE", "/quiz/friend/SOMEONE", None);
    assert!(answered.is_some(), "DELETE was not answered");
    service.wait_for_log("notice recorded", 1);

    let per_request: Vec<_> = service
        .log_lines("request")
        .into_iter()
        .filter(|line| line["message"] == "request")
        .collect();
    assert!(
        per_request.is_empty(),
        "per-request lines at the default level:\n{}",
        service.log()
    );
}
