//! `provision`: stand up, inspect and tear down the EC2 side of a kakaobot
//! deployment in one idempotent command.
//!
//! The design reads as **desired → discover → drift → plan → apply**:
//! - [`desired`] is the desired state and its typed values;
//! - [`discover`] reads every resource tagged `kakaobot:stack=<name>` (no local
//!   state file) into a [`stack::Stack`], then looks up what the plan will need
//!   (the default VPC, the image);
//! - [`drift`] judges, once, how the stack differs from the desired state;
//! - [`plan`] is a pure function from that judgement (and what was resolved,
//!   and local facts) to ordered, complete [`plan::Action`]s;
//! - [`apply`] is the one interpreter that runs them, with bounded retries for
//!   EC2's eventual consistency; in a dry run the same loop asks EC2 with
//!   `DryRun`, because the EC2 wrapper was built in dry-run mode.
//!
//! The [`commands`] (`up`, `status`, `down`) put these together. Around them:
//! [`cli`] (clap types, parsing the desired values), [`settings`] (files named
//! by flags), [`ec2`] (the EC2 wrapper by resource, which also counts calls),
//! [`stack`] (the plain types discovery produces, and which of them the stack
//! keeps), [`public_ip`] (the caller's address for the SSH rule), [`output`]
//! (stderr progress, stdout text/JSON).

pub mod apply;
pub mod cli;
pub mod commands;
pub mod desired;
pub mod discover;
pub mod drift;
pub mod ec2;
pub mod output;
pub mod plan;
pub mod public_ip;
pub mod settings;
pub mod stack;

use crate::cli::{Cli, Command};
use crate::commands::{down, status, up};

/// The process's exit codes, as `--help` and the README list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done.
    Success = 0,
    /// An error (the message says what and what to do); also a dry run in
    /// which EC2 would refuse a change, and a `down` that was not confirmed.
    Error = 1,
    /// A malformed flag: clap's usage error, before any AWS call.
    Usage = 2,
    /// `status`: the stack is incomplete or drifted. `down`: something is
    /// still there afterwards.
    Incomplete = 3,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit as u8)
    }
}

/// Runs the parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Up(args) => up::run(&cli.common, &args).await,
        Command::Status(args) => status::run(&cli.common, &args).await,
        Command::Down(args) => down::run(&cli.common, &args).await,
        Command::Completions(args) => {
            use clap::CommandFactory;
            use std::io::Write;
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "provision", &mut script);
            // A closed pipe is not an error (see `output::print`).
            let _ = std::io::stdout().lock().write_all(&script);
            Ok(Exit::Success)
        }
    }
}
