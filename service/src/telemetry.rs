//! Logging: `tracing` to stdout, text for people or JSON for journald and shippers,
//! filtered by `RUST_LOG` (default `info`).
//!
//! Lines go through an in-memory buffer to a writer thread, so a request never waits
//! for stdout (a busy journald, a slow pipe). When the buffer is full, new lines are
//! dropped rather than waited for. What a request logs, and at which level, is
//! [`crate::http::access_log`]'s business.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Lines the buffer holds before new ones are dropped. The default level writes a
/// few lines a minute, so this only matters at `debug` (a line or two per request):
/// a second of a busy instance's traffic. The buffer is allocated whole at start,
/// about 40 bytes a line, so it is kept small.
const BUFFERED_LINES: usize = 16_384;

/// Keeps the writer thread alive; dropping it writes out what is still buffered.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

/// Installs the global subscriber. Call once, first thing in `main`, and hold the
/// guard until the process ends.
pub fn init(format: LogFormat) -> LogGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .buffered_lines_limit(BUFFERED_LINES)
        .lossy(true)
        .thread_name("kakaobot-log")
        .finish(std::io::stdout());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    LogGuard(guard)
}
