//! `provision down`: remove everything the stack owns, in dependency order,
//! then look again and report anything that is still there.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use serde::Serialize;

use super::connect;
use crate::apply::{Interpreter, Step, Timing};
use crate::cli::{Common, DownArgs};
use crate::discover::discover;
use crate::ec2::{CallSummary, Mode};
use crate::output;
use crate::plan;
use crate::settings;
use crate::stack::{InstanceState, Stack};
use crate::Exit;

/// What `down` prints.
#[derive(Debug, Serialize)]
pub struct DownReport {
    /// Stack name.
    pub stack: String,
    /// Region.
    pub region: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The actions and their outcomes.
    pub steps: Vec<Step>,
    /// Resources still tagged with the stack afterwards.
    pub not_removed: Vec<String>,
    /// The local private key file and what happened to it.
    pub key_file: KeyFileFate,
    /// EC2 calls made.
    pub calls: CallSummary,
}

/// What happened to the local private key file.
#[derive(Debug, Serialize)]
pub struct KeyFileFate {
    /// The path.
    pub path: PathBuf,
    /// `kept`, `deleted`, `absent` or `would delete`.
    pub fate: &'static str,
}

/// Every resource still in the stack, one line each.
fn remaining(stack: &Stack) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(stack.addresses.iter().map(|a| {
        format!(
            "elastic ip {} ({}) — still billed",
            a.public_ip, a.allocation_id
        )
    }));
    out.extend(
        stack
            .instances
            .iter()
            .filter(|i| i.state != InstanceState::Terminated)
            .map(|i| format!("instance {} ({})", i.id, i.state.name())),
    );
    out.extend(
        stack
            .groups
            .iter()
            .map(|g| format!("security group {}", g.id)),
    );
    out.extend(
        stack
            .key_pairs
            .iter()
            .map(|k| format!("key pair {}", k.name)),
    );
    out
}

fn text(r: &DownReport) -> String {
    let mut out = String::new();
    if r.dry_run {
        out += &format!("dry run for stack {} in {}:\n", r.stack, r.region);
        for s in &r.steps {
            out += &s.dry_run_line();
        }
    } else if r.steps.is_empty() {
        out += &format!("stack {} in {}: nothing to remove\n", r.stack, r.region);
    } else if r.not_removed.is_empty() {
        out += &format!("stack {} in {}: removed\n", r.stack, r.region);
    } else {
        out += &format!(
            "stack {} in {}: NOT fully removed; still there:\n",
            r.stack, r.region
        );
        for n in &r.not_removed {
            out += &format!("  {n}\n");
        }
    }
    out += &format!(
        "private key {}: {}\n",
        r.key_file.path.display(),
        r.key_file.fate
    );
    out
}

/// Asks on the terminal; refuses when nobody is there to ask.
fn confirm(name: &str, plan: &plan::Plan) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to remove stack {name} without confirmation: stdin is not a terminal; \
             pass --yes (or --dry-run to see what would go)"
        );
    }
    eprintln!("This removes from stack {name}:");
    for a in &plan.actions {
        if a.call().is_some() {
            eprintln!("  - {a}");
        }
    }
    eprint!("Remove them? [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("failed to read the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// What the local private key file's fate is, given what is left in EC2.
/// The file is deleted only when asked and when no key pair of the stack is
/// left in EC2 (or there was none), so an instance still reachable keeps its key.
fn key_file_fate(exists: bool, purge: bool, dry_run: bool, key_pair_left: bool) -> &'static str {
    match (exists, purge, dry_run, key_pair_left) {
        (false, ..) => "absent",
        (true, false, ..) => "kept",
        (true, true, true, _) => "would delete",
        (true, true, false, true) => "kept (the key pair is still in EC2)",
        (true, true, false, false) => "deleted",
    }
}

/// Runs `provision down`; exit code 3 when something is still there afterwards.
pub async fn run(common: &Common, args: &DownArgs) -> anyhow::Result<Exit> {
    let name = common.name.as_str();
    let key_file = match &args.key_file {
        Some(p) => p.clone(),
        None => settings::default_key_file(name)?,
    };
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Apply
    };
    let ctx = connect(common, mode).await?;
    let stack = discover(&ctx.ec2, name).await?;
    let plan = plan::plan_down(&stack);

    if !args.dry_run && !args.yes && !plan.actions.is_empty() && !confirm(name, &plan)? {
        eprintln!("nothing removed");
        return Ok(Exit::Error);
    }

    let interpreter = Interpreter {
        ec2: &ctx.ec2,
        timing: Timing::default(),
        progress: &ctx.progress,
    };
    let applied = interpreter.run(&plan.actions, true).await;

    // Look again rather than trust the steps: this is what the user pays for.
    let after = if args.dry_run || plan.actions.is_empty() {
        Stack::default()
    } else {
        discover(&ctx.ec2, name).await?
    };
    let not_removed = remaining(&after);

    let fate = key_file_fate(
        key_file.exists(),
        args.purge_key,
        args.dry_run,
        !after.key_pairs.is_empty(),
    );
    if fate == "deleted" {
        std::fs::remove_file(&key_file)
            .with_context(|| format!("failed to delete {}", key_file.display()))?;
    }

    let report = DownReport {
        stack: name.to_owned(),
        region: ctx.region.clone(),
        dry_run: args.dry_run,
        steps: applied.steps,
        not_removed,
        key_file: KeyFileFate {
            path: key_file,
            fate,
        },
        calls: ctx.ec2.log().summary(),
    };
    output::print_calls(ctx.verbose, &report.calls);
    output::print(ctx.output, &report, text);
    for e in &applied.errors {
        eprintln!("error: {e}");
    }
    let refused = report.steps.iter().any(|s| s.outcome.is_refusal());
    Ok(exit_code(
        report.not_removed.len(),
        applied.errors.len(),
        refused,
    ))
}

/// `down`'s exit code: 3 when anything is still there afterwards (whatever
/// the errors were), else 1 after an error or a refusal in a dry run, else 0.
fn exit_code(not_removed: usize, errors: usize, refused: bool) -> Exit {
    if not_removed > 0 {
        Exit::Incomplete
    } else if errors > 0 || refused {
        Exit::Error
    } else {
        Exit::Success
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_deleted_only_when_asked_and_no_key_pair_is_left() {
        assert_eq!(key_file_fate(true, true, false, false), "deleted");
        assert_eq!(
            key_file_fate(true, true, false, true),
            "kept (the key pair is still in EC2)"
        );
        assert_eq!(key_file_fate(true, false, false, false), "kept");
        assert_eq!(key_file_fate(true, true, true, false), "would delete");
        assert_eq!(key_file_fate(false, true, false, false), "absent");
    }

    #[test]
    fn down_exits_3_when_it_could_not_remove_everything() {
        assert_eq!(exit_code(1, 1, false), Exit::Incomplete);
        assert_eq!(exit_code(2, 0, false), Exit::Incomplete);
        assert_eq!(exit_code(0, 1, false), Exit::Error);
        assert_eq!(exit_code(0, 0, true), Exit::Error);
        assert_eq!(exit_code(0, 0, false), Exit::Success);
    }

    #[test]
    fn what_is_left_is_listed_one_line_per_resource() {
        let stack = Stack {
            key_pairs: vec![crate::stack::KeyPair {
                name: "kb".into(),
                id: None,
            }],
            ..Stack::default()
        };
        assert_eq!(remaining(&stack), ["key pair kb"]);
        assert!(remaining(&Stack::default()).is_empty());
    }
}
