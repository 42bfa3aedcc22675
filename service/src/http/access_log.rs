//! The request log: a line per request at `debug`, and at the default `info` a line
//! per minute that sums the minute up.
//!
//! A line per request at `info` cost a fifth of the service's throughput on Redis
//! (formatting happens on the request's thread, whatever writer takes the line), which
//! is too much to pay for a level nobody should have to lower. Per-request detail is
//! a `RUST_LOG=kakaobot=debug` away; server errors (5xx) are still logged one by one,
//! at `warn`, because each is worth a look. The metrics carry the full picture.
//! A logged path has its user keys cut out ([`redact_path`]), and only a line that is
//! written pays for that.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::{debug, info, warn};

/// How often the summary line is written (when there was traffic).
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);

/// One request, as it is logged.
pub struct Served<'a> {
    pub method: &'a str,
    /// The path as requested; it holds user keys, so it is logged redacted.
    pub path: &'a str,
    pub route: &'a str,
    pub status: u16,
    pub elapsed: Duration,
}

/// Counts what was served since the last summary. Shared by every request of one
/// application; all updates are relaxed atomic adds, so recording never waits.
#[derive(Debug, Default)]
pub struct AccessLog {
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    total_micros: AtomicU64,
    slowest_micros: AtomicU64,
}

/// The traffic of one period, as the summary line reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub mean: Duration,
    pub slowest: Duration,
}

impl AccessLog {
    /// A log whose summaries are written every `every` by a task on the current Tokio
    /// runtime (none outside one). The task ends once the log is dropped.
    pub fn start(every: Duration) -> Arc<Self> {
        let log = Arc::new(Self::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(write_summaries(Arc::downgrade(&log), every));
        }
        log
    }

    /// Counts one request and logs it: at `debug`, or at `warn` for a server error.
    pub fn record(&self, served: &Served<'_>) {
        let micros = u64::try_from(served.elapsed.as_micros()).unwrap_or(u64::MAX);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.total_micros.fetch_add(micros, Ordering::Relaxed);
        self.slowest_micros.fetch_max(micros, Ordering::Relaxed);
        let Served {
            method,
            path,
            route,
            status,
            ..
        } = served;
        match status {
            500.. => {
                self.server_errors.fetch_add(1, Ordering::Relaxed);
                warn!(method, path = %redact_path(path), route, status, elapsed_us = micros, "request");
            }
            400..=499 => {
                self.client_errors.fetch_add(1, Ordering::Relaxed);
                debug!(method, path = %redact_path(path), route, status, elapsed_us = micros, "request");
            }
            _ => {
                debug!(method, path = %redact_path(path), route, status, elapsed_us = micros, "request")
            }
        }
    }

    /// What was served since the last call, and starts counting afresh. A request
    /// recorded during the call lands in this period or the next, never in neither.
    pub fn take(&self) -> Summary {
        let requests = self.requests.swap(0, Ordering::Relaxed);
        let total = self.total_micros.swap(0, Ordering::Relaxed);
        Summary {
            requests,
            client_errors: self.client_errors.swap(0, Ordering::Relaxed),
            server_errors: self.server_errors.swap(0, Ordering::Relaxed),
            mean: Duration::from_micros(total.checked_div(requests).unwrap_or(0)),
            slowest: Duration::from_micros(self.slowest_micros.swap(0, Ordering::Relaxed)),
        }
    }
}

/// `/quiz/friend/abcdef123456` → `/quiz/friend/…`: a segment after `friend` or
/// `chat_room` is a user key. Empty segments are dropped first and the markers are
/// compared percent-decoded and case-insensitively, so no spelling of the path
/// (`//`, `Friend`, `%66riend`) slips a key through.
pub fn redact_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut after_marker = false;
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        out.push_str(if after_marker { "…" } else { segment });
        let decoded = percent_decode(segment).to_ascii_lowercase();
        after_marker = matches!(decoded.as_str(), "friend" | "chat_room");
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `%XX` escapes decoded where they form ASCII; anything else kept as is.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = String::with_capacity(segment.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| segment.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(u8::is_ascii);
        match escaped {
            Some(byte) => {
                out.push(byte as char);
                i += 3;
            }
            None => {
                out.push(bytes[i] as char);
                i += 1;
            }
        }
    }
    out
}

async fn write_summaries(log: Weak<AccessLog>, every: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(log) = log.upgrade() else { return };
        let s = log.take();
        // A quiet service writes nothing: no line every minute saying nothing happened.
        if s.requests > 0 {
            info!(
                requests = s.requests,
                client_errors = s.client_errors,
                server_errors = s.server_errors,
                mean_ms = format_args!("{:.2}", s.mean.as_secs_f64() * 1000.0),
                slowest_ms = format_args!("{:.2}", s.slowest.as_secs_f64() * 1000.0),
                period_s = every.as_secs(),
                "requests served"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_keys_are_cut_from_logged_paths() {
        assert_eq!(redact_path("/quiz/friend/abcdef123456"), "/quiz/friend/…");
        assert_eq!(redact_path("/chat_room/abcdef123456"), "/chat_room/…");
        assert_eq!(redact_path("/quiz/message"), "/quiz/message");
        assert_eq!(redact_path("/"), "/");
    }

    #[test]
    fn user_keys_are_cut_whatever_the_path_shape() {
        assert_eq!(
            redact_path("/quiz/chat_room//SECRETKEY"),
            "/quiz/chat_room/…"
        );
        assert_eq!(redact_path("//friend///SECRETKEY/"), "/friend/…");
        assert_eq!(redact_path("/quiz/Friend/SECRETKEY"), "/quiz/Friend/…");
        assert_eq!(redact_path("/quiz/%66riend/SECRETKEY"), "/quiz/%66riend/…");
        assert_eq!(
            redact_path("/quiz/chat%5Froom/SECRETKEY"),
            "/quiz/chat%5Froom/…"
        );
    }

    fn served(status: u16, ms: u64) -> Served<'static> {
        Served {
            method: "POST",
            path: "/quiz/message",
            route: "/{bot}/message",
            status,
            elapsed: Duration::from_millis(ms),
        }
    }

    #[test]
    fn a_summary_counts_requests_by_outcome_with_their_mean_and_slowest_time() {
        let log = AccessLog::default();
        log.record(&served(200, 1));
        log.record(&served(200, 3));
        log.record(&served(404, 2));
        log.record(&served(503, 10));

        assert_eq!(
            log.take(),
            Summary {
                requests: 4,
                client_errors: 1,
                server_errors: 1,
                mean: Duration::from_millis(4),
                slowest: Duration::from_millis(10),
            }
        );
    }

    #[test]
    fn each_summary_covers_only_the_requests_since_the_last() {
        let log = AccessLog::default();
        log.record(&served(200, 5));
        log.take();

        assert_eq!(log.take(), Summary::default());
        log.record(&served(200, 1));
        assert_eq!(log.take().requests, 1);
    }

    #[tokio::test]
    async fn the_summary_task_ends_with_its_log() {
        let alive = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        let log = AccessLog::start(Duration::from_millis(10));
        assert_eq!(alive(), 1);

        drop(log);
        // The task sees the drop at its next tick (10 ms); ten seconds only bound a
        // broken build, so a loaded machine cannot fail a working one.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while alive() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(alive(), 0, "the summary task outlived its log");
    }
}
