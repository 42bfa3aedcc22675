//! Output: progress on stderr (spinners while waiting on AWS), results on
//! stdout as text or one JSON document.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::ec2::CallSummary;

/// Progress messages on stderr.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Whether stderr is a terminal (spinners) or a log (plain lines).
    terminal: bool,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            terminal: std::io::stderr().is_terminal(),
        }
    }
}

impl Progress {
    /// An action is starting.
    pub fn start(&self, what: &str) {
        tracing::debug!(action = what, "starting");
    }

    /// An action is done.
    pub fn done(&self, what: &str, detail: Option<&str>) {
        match detail {
            Some(d) => eprintln!("✓ {what}: {d}"),
            None => eprintln!("✓ {what}"),
        }
    }

    /// An action failed (the error itself is reported by the caller).
    pub fn failed(&self, what: &str) {
        eprintln!("✗ {what}");
    }

    /// Something worth knowing.
    pub fn note(&self, message: &str) {
        eprintln!("  {message}");
    }

    /// A spinner for a wait; on a non-terminal, one line instead. Call
    /// `finish_and_clear` when the wait is over.
    pub fn spinner(&self, message: &str) -> ProgressBar {
        if !self.terminal {
            eprintln!("… {message}");
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .expect("a valid spinner template"),
        );
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }
}

/// Prints a report on stdout: JSON as is, text via `text`.
///
/// A closed pipe (`provision status | head -1`) is not an error: the write
/// fails quietly, as in ripgrep and fd.
pub fn print<T: Serialize>(format: OutputFormat, report: &T, text: impl FnOnce(&T) -> String) {
    let out = match format {
        OutputFormat::Json => {
            serde_json::to_string_pretty(report).expect("reports serialize") + "\n"
        }
        OutputFormat::Text => text(report),
    };
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush());
}

/// With `-v`, the EC2 calls made, on stderr.
pub fn print_calls(verbose: u8, calls: &CallSummary) {
    if verbose == 0 {
        return;
    }
    let list = calls
        .by_action
        .iter()
        .map(|(action, n)| format!("{action}×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "EC2 calls: {} ({} mutating, {} dry-run): {list}",
        calls.total, calls.mutating, calls.dry_run
    );
}
