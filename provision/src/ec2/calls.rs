//! The record of every EC2 request on the wire, kept by an SDK interceptor, so
//! that `-v` and `--output json` can say how many calls were made and how many
//! changed something.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_ec2::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_ec2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_ec2::error::BoxError;
use serde::Serialize;

/// One EC2 request as it went on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    /// The API action, e.g. `DescribeInstances`.
    pub action: String,
    /// Whether it was sent with `DryRun=true`.
    pub dry_run: bool,
}

impl Call {
    /// Whether the call changes something: not a read and not a dry run.
    pub fn is_mutating(&self) -> bool {
        !self.dry_run && !self.action.starts_with("Describe") && !self.action.starts_with("Get")
    }
}

/// The calls a client made, shared with the interceptor that records them.
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

/// Counts of the recorded calls, as printed with `-v` and in `--output json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    /// All calls.
    pub total: usize,
    /// Calls that changed something.
    pub mutating: usize,
    /// Calls sent with DryRun.
    pub dry_run: usize,
    /// Calls per action.
    pub by_action: BTreeMap<String, usize>,
}

impl CallLog {
    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.0.lock().expect("call log lock").clone()
    }

    /// Counts of the calls so far.
    pub fn summary(&self) -> CallSummary {
        let calls = self.calls();
        let mut by_action = BTreeMap::new();
        for c in &calls {
            *by_action.entry(c.action.clone()).or_insert(0) += 1;
        }
        CallSummary {
            total: calls.len(),
            mutating: calls.iter().filter(|c| c.is_mutating()).count(),
            dry_run: calls.iter().filter(|c| c.dry_run).count(),
            by_action,
        }
    }

    fn record(&self, call: Call) {
        self.0.lock().expect("call log lock").push(call);
    }
}

/// An SDK interceptor that records each operation once (after serialization,
/// before the retry loop) by reading `Action=` and `DryRun=` from the EC2
/// query-protocol body.
#[derive(Debug)]
pub(crate) struct Recorder(pub(crate) CallLog);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "provision::ec2::Recorder"
    }

    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        let body = String::from_utf8_lossy(body);
        let mut call = Call {
            action: "Unknown".into(),
            dry_run: false,
        };
        for pair in body.split('&') {
            match pair.split_once('=') {
                Some(("Action", action)) => call.action = action.to_owned(),
                Some(("DryRun", value)) => call.dry_run = value == "true",
                _ => {}
            }
        }
        self.0.record(call);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_dry_runs_are_not_mutating() {
        let call = |action: &str, dry_run| Call {
            action: action.into(),
            dry_run,
        };
        assert!(!call("DescribeInstances", false).is_mutating());
        assert!(!call("RunInstances", true).is_mutating());
        assert!(call("RunInstances", false).is_mutating());
    }
}
