//! Metrics in the Prometheus text format, served on their own listener
//! (`KAKAOBOT_METRICS_LISTEN`, loopback by default), never on the public port.
//!
//! - `http_server_request_duration_seconds{method,http_route,status}`: labelled by
//!   the route *pattern* (`/:param0/friend/:param1`, poem-openapi's name for
//!   `/{bot}/friend/{user_key}`), never the raw path, so no
//!   user key becomes a label; a path no route matches counts as
//!   [`UNMATCHED_ROUTE`].
//! - `http_server_active_requests`: requests being answered now.
//! - `kakaobot_fallback_replies_total{bot,reason}`: Kakao's routes answer 200 even
//!   when Redis is down, so HTTP error rates cannot see an outage; this can.
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

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::http::StatusCode;
use poem::{handler, EndpointExt, Response, Route};

/// The `http_route` of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

const REQUEST_DURATION: &str = "http_server_request_duration_seconds";
const ACTIVE_REQUESTS: &str = "http_server_active_requests";
const FALLBACK_REPLIES: &str = "kakaobot_fallback_replies_total";
const SKILL_CALLBACKS: &str = "kakaobot_skill_callbacks_total";
const REDIS_DURATION: &str = "kakaobot_redis_command_duration_seconds";
const BUILD_INFO: &str = "kakaobot_build_info";
const CERTIFICATE_EXPIRY: &str = "kakaobot_tls_certificate_expiry_timestamp_seconds";
const ACME_FAILURES: &str = "kakaobot_acme_failures_total";

/// Histogram buckets in seconds: Kakao waits 5 s, the reply budget is under 1 s, a
/// Redis call on loopback takes well under a millisecond.
const REQUEST_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8, 1.0, 2.5, 5.0,
];
const REDIS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// How often recorded histogram samples are folded in even when nobody scrapes, so
/// they do not pile up in memory.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

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
        "Time to answer an HTTP request, by method, route pattern and status."
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
        gauge!(ACTIVE_REQUESTS).increment(1.0);
        Self(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(ACTIVE_REQUESTS).decrement(1.0);
    }
}

/// Records one answered request. `route` is a route pattern from the code or
/// [`UNMATCHED_ROUTE`], never a path a client sent.
pub fn request(method: &str, route: &str, status: u16, elapsed: Duration) {
    histogram!(
        REQUEST_DURATION,
        "method" => known_method(method),
        "http_route" => route.to_owned(),
        "status" => status.to_string(),
    )
    .record(elapsed.as_secs_f64());
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
    fn a_made_up_method_is_one_label() {
        assert_eq!(known_method("GET"), "GET");
        assert_eq!(known_method("SECRETKEY"), "_OTHER");
    }
}
