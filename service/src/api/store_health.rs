//! [`StoreHealth`]: what recent requests saw of the store. `/ready` says unavailable
//! while most of them were refused by it, even when the store answers `PING` — a
//! Redis at `maxmemory` with `noeviction` answers pings and refuses every write. (A
//! store that does not answer at all fails the `PING`, and passes it again the moment
//! it is back, so only refusals are weighed here.) And the failure line of the log is
//! written at most once per [`LOG_EVERY`], with how many failures went unlogged since
//! the previous one: a failing store under load must not write a line per request.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Refusals are weighed over the last one to two of these.
const BUCKET: Duration = Duration::from_secs(5);
/// Fewer refusals than this say nothing: one unlucky request must not take the
/// instance out of its load balancer's rotation.
const MIN_REFUSALS: u32 = 5;
/// At most one store failure line per this long.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// Outcomes of one [`BUCKET`] of time.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    ok: u32,
    refused: u32,
}

#[derive(Debug, Default)]
struct Inner {
    /// When the current bucket started; `None` before the first outcome.
    since: Option<Instant>,
    current: Counts,
    previous: Counts,
    /// When the last failure line was written.
    logged: Option<Instant>,
    /// Failures since then that were not logged.
    unlogged: u64,
}

impl Inner {
    /// Moves to the bucket of `now`.
    fn roll(&mut self, now: Instant) {
        let age = self.since.map(|since| now.duration_since(since));
        match age {
            Some(age) if age < BUCKET => return,
            Some(age) if age < 2 * BUCKET => self.previous = self.current,
            _ => self.previous = Counts::default(),
        }
        self.current = Counts::default();
        self.since = Some(now);
    }
}

/// Recent store outcomes, shared by every request.
#[derive(Debug, Default)]
pub struct StoreHealth {
    inner: Mutex<Inner>,
}

impl StoreHealth {
    /// A request got its answer from the store.
    pub fn succeeded(&self) {
        let mut inner = self.lock();
        inner.roll(Instant::now());
        inner.current.ok += 1;
    }

    /// A request got no answer from the store; `refused`: the store answered with an
    /// error. `Some(n)` when this failure is to be logged, `n` being the failures
    /// since the last logged one that were not.
    pub fn failed(&self, refused: bool) -> Option<u64> {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.roll(now);
        if refused {
            inner.current.refused += 1;
        }
        if inner
            .logged
            .is_some_and(|at| now.duration_since(at) < LOG_EVERY)
        {
            inner.unlogged += 1;
            return None;
        }
        inner.logged = Some(now);
        Some(std::mem::take(&mut inner.unlogged))
    }

    /// Whether the store refused most recent requests (and at least `MIN_REFUSALS`).
    pub fn refusing(&self) -> bool {
        let mut inner = self.lock();
        inner.roll(Instant::now());
        let refused = inner.current.refused + inner.previous.refused;
        let ok = inner.current.ok + inner.previous.ok;
        refused >= MIN_REFUSALS && refused > ok
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_refusals_among_successes_are_not_refusing() {
        let health = StoreHealth::default();
        for _ in 0..MIN_REFUSALS {
            health.failed(true);
            health.succeeded();
            health.succeeded();
        }
        assert!(!health.refusing());
    }

    #[test]
    fn mostly_refusals_are_refusing_and_mere_failures_are_not() {
        let health = StoreHealth::default();
        health.succeeded();
        for _ in 0..MIN_REFUSALS {
            health.failed(false);
        }
        assert!(
            !health.refusing(),
            "a store that does not answer fails PING"
        );
        for _ in 0..MIN_REFUSALS {
            health.failed(true);
        }
        assert!(health.refusing());
    }

    #[test]
    fn failures_in_a_row_are_logged_once_and_counted() {
        let health = StoreHealth::default();
        assert_eq!(health.failed(true), Some(0));
        assert_eq!(health.failed(false), None);
        assert_eq!(health.failed(true), None);
        health.lock().logged = Some(Instant::now() - LOG_EVERY);
        assert_eq!(health.failed(false), Some(2));
    }
}
