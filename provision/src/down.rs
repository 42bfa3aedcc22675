//! `provision down`: remove everything the stack owns, in dependency order,
//! then look again and report anything that is still there.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::apply::{Applier, Outcome, Step, Timing};
use crate::cli::{Common, DownArgs};
use crate::discover::discover;
use crate::ec2::CallSummary;
use crate::output;
use crate::plan;
use crate::settings;
use crate::stack::{InstanceState, Stack};
use crate::{connect, exit};

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
            let verdict = match &s.outcome {
                Outcome::Permitted => "permitted".to_owned(),
                Outcome::Denied { error } => format!("DENIED: {error}"),
                Outcome::NotChecked { reason } => format!("not checked: {reason}"),
                Outcome::Done { .. } => "done".to_owned(),
                Outcome::Failed { error } => format!("failed: {error}"),
            };
            out += &format!("  would {}: {verdict}\n", s.action);
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

/// Runs `provision down`.
pub async fn run(common: &Common, args: &DownArgs) -> anyhow::Result<u8> {
    let name = settings::stack_name(&common.name)?;
    let key_file = match &args.key_file {
        Some(p) => p.clone(),
        None => settings::default_key_file(&name)?,
    };
    let ctx = connect(common, name.clone()).await?;
    let stack = discover(&ctx.ec2, &name).await?;
    let plan = plan::plan_down(&stack);

    if !args.dry_run && !args.yes && !plan.actions.is_empty() && !confirm(&name, &plan)? {
        eprintln!("nothing removed");
        return Ok(exit::ERROR);
    }

    let applier = Applier {
        ec2: &ctx.ec2,
        launch: None,
        timing: Timing::default(),
        dry_run: args.dry_run,
        progress: &ctx.progress,
    };
    let applied = applier.apply(&plan.actions, true).await;

    // Look again rather than trust the steps: this is what the user pays for.
    let not_removed = if args.dry_run || plan.actions.is_empty() {
        Vec::new()
    } else {
        remaining(&discover(&ctx.ec2, &name).await?)
    };

    let fate = if !key_file.exists() {
        "absent"
    } else if !args.purge_key {
        "kept"
    } else if args.dry_run {
        "would delete"
    } else if stack.key_pairs.is_empty() || not_removed.iter().all(|r| !r.starts_with("key pair")) {
        std::fs::remove_file(&key_file)
            .with_context(|| format!("failed to delete {}", key_file.display()))?;
        "deleted"
    } else {
        "kept (the key pair is still in EC2)"
    };

    let report = DownReport {
        stack: name,
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
    let denied = report
        .steps
        .iter()
        .any(|s| matches!(s.outcome, Outcome::Denied { .. }));
    Ok(
        if report.not_removed.is_empty() && applied.errors.is_empty() && !denied {
            0
        } else {
            exit::ERROR
        },
    )
}
