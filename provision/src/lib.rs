//! `provision`: stand up, inspect and tear down the EC2 side of a kakaobot
//! deployment in one idempotent command.
//!
//! The design reads as **discover → resolve → plan → apply**:
//! - [`discover`] reads every resource tagged `kakaobot:stack=<name>` (no local
//!   state file), then looks up what the plan will need (the default VPC, the
//!   image);
//! - [`plan`] is a pure function from (desired, discovered, resolved, local)
//!   to ordered, complete [`plan::Action`]s;
//! - [`apply`] is the one interpreter that runs them, with bounded retries for
//!   EC2's eventual consistency; in a dry run the same loop asks EC2 with
//!   `DryRun`, because the EC2 wrapper was built in dry-run mode.
//!
//! Around them: [`desired`] (the desired state and its typed values),
//! [`cli`] (clap types, parsing those values), [`settings`] (files named by
//! flags), [`ec2`] (the EC2 wrapper by resource, which also counts calls),
//! [`stack`] (the plain types discovery produces), [`public_ip`] (the
//! caller's address for the SSH rule), [`output`] (stderr progress, stdout
//! text/JSON), and one module per command: [`up`], [`status`], [`down`].

pub mod apply;
pub mod cli;
pub mod desired;
pub mod discover;
pub mod down;
pub mod ec2;
pub mod output;
pub mod plan;
pub mod public_ip;
pub mod settings;
pub mod stack;
pub mod status;
pub mod up;

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region};

use crate::cli::{Cli, Command, Common, OutputFormat};
use crate::ec2::{Ec2, Mode};
use crate::output::Progress;

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

/// What a command needs to talk to EC2 and to the user.
pub struct Context {
    /// The EC2 wrapper.
    pub ec2: Ec2,
    /// The resolved region.
    pub region: String,
    /// The stack name.
    pub name: String,
    /// stdout format.
    pub output: OutputFormat,
    /// `-v` count.
    pub verbose: u8,
    /// stderr progress.
    pub progress: Progress,
}

/// Loads the AWS configuration the standard way (profiles, environment, SSO,
/// IMDS; `AWS_ENDPOINT_URL`), with `--region` taking precedence. `mode`
/// decides, once, whether mutating calls are sent as dry runs.
pub async fn connect(common: &Common, mode: Mode) -> anyhow::Result<Context> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &common.region {
        loader = loader.region(Region::new(region.as_str().to_owned()));
    }
    let config = loader.load().await;
    let region = config
        .region()
        .context(
            "no AWS region: pass --region, set AWS_REGION, or set one in the profile \
             (`aws configure set region eu-west-1`)",
        )?
        .to_string();
    Ok(Context {
        ec2: Ec2::new(&config, mode),
        region,
        name: common.name.to_string(),
        output: common.output,
        verbose: common.verbose,
        progress: Progress::default(),
    })
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
