//! Metrics in the Prometheus text format, served on their own listener
//! (`KAKAOBOT_METRICS_LISTEN`, loopback by default), never on the public port.
//!
//! - `http_server_request_duration_seconds{http_request_method,http_route,http_response_status_code}`:
//!   named as OpenTelemetry's HTTP semantic conventions name it, so dashboards built
//!   for them work. `http_route` is the route *template* as the OpenAPI document
//!   writes it (`/{bot}/friend/{user_key}`), never the raw path, so no user key
//!   becomes a label; a path no route matches counts as [`UNMATCHED_ROUTE`].
//! - `http_server_active_requests`: requests being answered now.
//! - `kakaobot_answers_total{bot,wire,outcome}`: every skill and smart-chat message
//!   answer, by how it ended ([`Outcome`]). Kakao's routes answer 200 whatever
//!   happens, so this, not the status code, says whether users got a real answer.
//! - `kakaobot_fallback_replies_total{bot,reason}`: Kakao's routes answer 200 even
//!   when Redis is down, so HTTP error rates cannot see an outage; this can.
//! - `kakaobot_skill_callbacks_total{bot,outcome}`: skill answers sent late to Kakao's
//!   callback URL, by how the POST ended.
//! - `kakaobot_redis_command_duration_seconds{operation,outcome}`: each Redis round
//!   trip, by store operation and `ok`, `error`, `timeout` or `noscript`.
//! - `kakaobot_tls_certificate_expiry_timestamp_seconds`: when the certificate HTTPS
//!   serves expires; `kakaobot_acme_failures_total`: failed attempts to obtain or
//!   renew it (the service keeps serving what it has and retries).
//! - `kakaobot_build_info{version}`: always 1.
//!
//! The `metrics` facade records; `metrics-exporter-prometheus` renders (its own HTTP
//! listener is not built in: [`routes`] serves the text through the service's
//! HTTP server, with its timeouts).

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter,
    Gauge, Histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;
use poem::{handler, EndpointExt, Response, Route};

use crate::bots::BotName;

/// The `http_route` of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
const ACTIVE_REQUESTS: &str = "http_server_active_requests";
const ANSWERS: &str = "kakaobot_answers_total";
const FALLBACK_REPLIES: &str = "kakaobot_fallback_replies_total";
const SKILL_CALLBACKS: &str = "kakaobot_skill_callbacks_total";
const REDIS_DURATION: &str = "kakaobot_redis_command_duration_seconds";
const BUILD_INFO: &str = "kakaobot_build_info";
const CERTIFICATE_EXPIRY: &str = "kakaobot_tls_certificate_expiry_timestamp_seconds";
const ACME_FAILURES: &str = "kakaobot_acme_failures_total";

/// Request buckets in seconds: OpenTelemetry's advice for
/// `http.server.request.duration` (5 ms to 10 s), with 1 ms and 2.5 ms below it for
/// answers from a loopback Redis, 0.8 s for the reply budget, and 3 s and 4 s for the
/// approach to Kakao's 5 s deadline. Buckets above 5 s tell an answer Kakao gave up on
/// from one just in time.
const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 0.8, 1.0, 2.5, 3.0, 4.0,
    5.0, 7.5, 10.0,
];
const REDIS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// How often recorded histogram samples are folded into their buckets even when
/// nobody scrapes. Until then the exporter keeps every sample (16 bytes: the value and
/// when it was recorded), one or more per request: at 30,000 requests a second with a
/// Redis round trip each, five seconds of them were 5 MB of a t2.micro's memory (and
/// glibc keeps a heap's high-water mark), one second is 1 MB. Folding costs the same
/// per sample however often it runs.
const UPKEEP_EVERY: Duration = Duration::from_secs(1);

/// The process's recorder, installed on first use. One per process: the metrics
/// facade has a single global recorder (the integration tests run several services
/// in one process, and share it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.into()), REQUEST_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(REDIS_DURATION.into()), REDIS_BUCKETS)
            })
            // Only fails on an empty bucket list; both lists are constants.
            .expect("the bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only when another recorder is installed, which nothing else does.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by method, route template and status code."
    );
    describe_counter!(
        ANSWERS,
        "Skill and smart-chat answers by bot, wire format and outcome: answered, fallback (\"try again\"), callback (answered later), bad_request, unauthorized."
    );
    describe_gauge!(ACTIVE_REQUESTS, "HTTP requests being answered now.");
    describe_counter!(
        FALLBACK_REPLIES,
        "Replies that said \"try again\" because the store failed (error) or was slower than the reply budget (timeout)."
    );
    describe_counter!(
        SKILL_CALLBACKS,
        "Skill answers sent late to Kakao's callback URL (the store missed the reply budget), by outcome."
    );
    describe_histogram!(
        REDIS_DURATION,
        Unit::Seconds,
        "Time of one Redis round trip, by store operation and outcome."
    );
    describe_gauge!(BUILD_INFO, "Always 1; the labels say which build runs.");
    describe_gauge!(
        CERTIFICATE_EXPIRY,
        Unit::Seconds,
        "Unix time at which the certificate HTTPS serves expires."
    );
    describe_counter!(
        ACME_FAILURES,
        "Attempts to obtain or renew the certificate from the ACME server that failed."
    );
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    register_counters();
}

/// Folds histogram samples in every few seconds; runs until the runtime stops.
pub fn spawn_upkeep() {
    let handle = handle().clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(UPKEEP_EVERY);
        loop {
            every.tick().await;
            handle.run_upkeep();
        }
    });
}

/// The metrics listener's routes: `GET /metrics`.
pub fn routes() -> poem::endpoint::BoxEndpoint<'static, Response> {
    Route::new().at("/metrics", render).boxed()
}

#[handler]
fn render() -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle().render())
}

/// Counts a request as in flight until the guard is dropped.
pub struct InFlight(());

impl InFlight {
    pub fn start() -> Self {
        Self::gauge().increment(1.0);
        Self(())
    }

    /// The gauge's handle, kept: `gauge!` builds its key, hashes it and looks it up in
    /// the recorder (an allocation) on every call, twice per request.
    fn gauge() -> &'static Gauge {
        static GAUGE: OnceLock<Gauge> = OnceLock::new();
        GAUGE.get_or_init(|| {
            // A handle taken before the recorder is installed would count nowhere.
            handle();
            gauge!(ACTIVE_REQUESTS)
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        Self::gauge().decrement(1.0);
    }
}

/// Records one answered request. `route` is a route template
/// ([`crate::api::route_template`]) or [`UNMATCHED_ROUTE`], never a path a client
/// sent.
///
/// The histogram handle of each (method, route, status) is kept: looking one up by
/// its labels costs a key, two strings and a hash in the recorder on every request.
pub fn request(method: &str, route: &'static str, status: u16, elapsed: Duration) {
    type Key = (&'static str, &'static str, u16);
    static HANDLES: LazyLock<RwLock<HashMap<Key, Histogram>>> = LazyLock::new(Default::default);
    let key = (known_method(method), route, status);
    let seconds = elapsed.as_secs_f64();
    if let Some(histogram) = HANDLES
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .get(&key)
    {
        histogram.record(seconds);
        return;
    }
    handle();
    let histogram = histogram!(
        REQUEST_DURATION,
        "http_request_method" => key.0,
        "http_route" => key.1,
        "http_response_status_code" => status.to_string(),
    );
    histogram.record(seconds);
    HANDLES
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(key, histogram);
}

/// A method name as a label: the ones HTTP defines, else `_OTHER` (OpenTelemetry's
/// convention), so a client cannot mint label values.
fn known_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => "_OTHER",
    }
}

/// Which Kakao API an answer went out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// Open Builder skills (`…/skill`).
    Skill,
    /// The old smart-chat API (`…/message`).
    SmartChat,
}

/// How an answer to a user ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The bot's real answer, in time.
    Answered,
    /// "Try again": the store was slow or down.
    Fallback,
    /// "Wait a moment", with the real answer POSTed to Kakao's callback URL later.
    Callback,
    /// The body could not be read (Kakao never sends these).
    BadRequest,
    /// The skill secret was missing or wrong: Kakao's call was refused.
    Unauthorized,
}

impl Outcome {
    const ALL: [Outcome; 5] = [
        Outcome::Answered,
        Outcome::Fallback,
        Outcome::Callback,
        Outcome::BadRequest,
        Outcome::Unauthorized,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Fallback => "fallback",
            Outcome::Callback => "callback",
            Outcome::BadRequest => "bad_request",
            Outcome::Unauthorized => "unauthorized",
        }
    }
}

/// The `bot` label of an answer whose bot is not known: poem-openapi's bad-request
/// hook sees the error only, not the path.
const NO_BOT: &str = "unknown";

/// Counts one answer of `bot` (`None` when the request could not be read far
/// enough to know it) on `wire`.
pub fn answer(bot: Option<BotName>, wire: Wire, outcome: Outcome) {
    const WIRES: usize = 2;
    const BOTS: usize = BotName::ALL.len() + 1;
    const CELLS: usize = BOTS * WIRES * Outcome::ALL.len();
    // One handle per label combination: no key to build and look up per answer.
    static COUNTERS: [OnceLock<Counter>; CELLS] = [const { OnceLock::new() }; CELLS];
    let bot_index = bot.map_or(BotName::ALL.len(), |b| b as usize);
    let cell = (bot_index * WIRES + wire as usize) * Outcome::ALL.len() + outcome as usize;
    COUNTERS[cell]
        .get_or_init(|| {
            handle();
            answer_counter(bot, wire, outcome)
        })
        .increment(1);
}

fn answer_counter(bot: Option<BotName>, wire: Wire, outcome: Outcome) -> Counter {
    let wire = match wire {
        Wire::Skill => "skill",
        Wire::SmartChat => "smartchat",
    };
    counter!(
        ANSWERS,
        "bot" => bot.map_or(NO_BOT, BotName::as_str),
        "wire" => wire,
        "outcome" => outcome.as_str(),
    )
}

/// Registers, at 0, every counter series an outage or a misconfiguration would
/// create. Prometheus cannot tell how much a series it sees for the first time has
/// grown, so `rate()` would miss the first fallbacks of an outage, which is exactly
/// when the fallback alert needs them.
fn register_counters() {
    use Outcome::*;
    for bot in BotName::ALL {
        for outcome in [Answered, Fallback, Callback, Unauthorized] {
            answer_counter(Some(bot), Wire::Skill, outcome).increment(0);
        }
        for outcome in [Answered, Fallback] {
            answer_counter(Some(bot), Wire::SmartChat, outcome).increment(0);
        }
        for reason in ["timeout", "error"] {
            counter!(FALLBACK_REPLIES, "bot" => bot.as_str(), "reason" => reason).increment(0);
        }
        for outcome in ["delivered", "refused", "failed", "gave_up"] {
            counter!(SKILL_CALLBACKS, "bot" => bot.as_str(), "outcome" => outcome).increment(0);
        }
    }
    for wire in [Wire::Skill, Wire::SmartChat] {
        answer_counter(None, wire, BadRequest).increment(0);
    }
}

/// Why a reply was the "try again" fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackReason {
    /// The store was slower than the reply budget.
    Timeout,
    /// The store failed (refused, dropped, an error reply).
    Error,
}

/// Counts a fallback ("try again") reply of `bot`.
pub fn fallback_reply(bot: impl std::fmt::Display, reason: FallbackReason) {
    let reason = match reason {
        FallbackReason::Timeout => "timeout",
        FallbackReason::Error => "error",
    };
    counter!(FALLBACK_REPLIES, "bot" => bot.to_string(), "reason" => reason).increment(1);
}

/// Counts how a skill callback ended: `delivered`, `refused` (Kakao said no),
/// `failed` (the POST did not go through) or `gave_up` (no answer before the deadline).
pub fn skill_callback(bot: impl std::fmt::Display, outcome: &'static str) {
    counter!(SKILL_CALLBACKS, "bot" => bot.to_string(), "outcome" => outcome).increment(1);
}

/// Records one Redis round trip of the store operation `operation`.
pub fn redis_call(operation: &'static str, outcome: &'static str, elapsed: Duration) {
    histogram!(REDIS_DURATION, "operation" => operation, "outcome" => outcome)
        .record(elapsed.as_secs_f64());
}

/// The served certificate expires at `unix_secs`.
pub fn certificate_expiry(unix_secs: f64) {
    gauge!(CERTIFICATE_EXPIRY).set(unix_secs);
}

/// Shows the ACME failure count (as 0) before the first failure.
pub fn acme_failure_count_starts() {
    counter!(ACME_FAILURES).increment(0);
}

/// An attempt to obtain or renew the certificate failed.
pub fn acme_failure() {
    counter!(ACME_FAILURES).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counters_of_an_outage_are_there_at_zero_before_it() {
        let text = handle().render();
        for series in [
            r#"kakaobot_answers_total{bot="quiz",wire="skill",outcome="fallback"} "#,
            r#"kakaobot_fallback_replies_total{bot="lunch",reason="timeout"} "#,
            r#"kakaobot_skill_callbacks_total{bot="quiz",outcome="gave_up"} "#,
        ] {
            assert!(text.contains(series), "no {series} in\n{text}");
        }
    }

    #[test]
    fn every_answer_cell_is_its_own_counter() {
        let rendered = || handle().render();
        answer(Some(BotName::Lunch), Wire::Skill, Outcome::Unauthorized);
        answer(None, Wire::SmartChat, Outcome::BadRequest);
        let text = rendered();
        assert!(
            text.contains(
                r#"kakaobot_answers_total{bot="lunch",wire="skill",outcome="unauthorized"}"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"kakaobot_answers_total{bot="unknown",wire="smartchat",outcome="bad_request"}"#
            ),
            "{text}"
        );
    }

    #[test]
    fn a_made_up_method_is_one_label() {
        assert_eq!(known_method("GET"), "GET");
        assert_eq!(known_method("SECRETKEY"), "_OTHER");
    }
}
