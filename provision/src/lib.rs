//! `provision`: stand up, inspect and tear down the EC2 side of a kakaobot
//! deployment in one idempotent command.
//!
//! The design reads as **discover → plan → apply**:
//! - [`discover`] reads every resource tagged `kakaobot:stack=<name>` (no local
//!   state file);
//! - [`plan`] is a pure function from (desired, actual) to ordered [`plan::Action`]s;
//! - [`apply`] runs them, with bounded retries for EC2's eventual consistency,
//!   or asks EC2 with `DryRun`.
//!
//! Around them: [`cli`] (clap types), [`settings`] (flag validation),
//! [`ec2`] (the one EC2 wrapper, which also counts calls), [`stack`] (the
//! plain types discovery produces), [`public_ip`] (the caller's address for
//! the SSH rule), [`output`] (stderr progress, stdout text/JSON), and one
//! module per command: [`up`], [`status`], [`down`].

pub mod apply;
pub mod cli;
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

use anyhow::{bail, Context as _};
use aws_config::{BehaviorVersion, Region};

use crate::cli::{Cli, Command, Common, OutputFormat};
use crate::ec2::Ec2;
use crate::output::Progress;

/// The process exit codes besides 0 (success) and 2 (usage, from clap).
pub mod exit {
    /// An error.
    pub const ERROR: u8 = 1;
    /// `status`: the stack is incomplete or drifted.
    pub const DRIFT: u8 = 3;
}

/// What a command needs to talk to EC2 and to the user.
pub struct Context {
    /// The EC2 wrapper.
    pub ec2: Ec2,
    /// The resolved region.
    pub region: String,
    /// The validated stack name.
    pub name: String,
    /// stdout format.
    pub output: OutputFormat,
    /// `-v` count.
    pub verbose: u8,
    /// stderr progress.
    pub progress: Progress,
}

/// Loads the AWS configuration the standard way (profiles, environment, SSO,
/// IMDS; `AWS_ENDPOINT_URL`), with `--region` taking precedence.
pub async fn connect(common: &Common, name: String) -> anyhow::Result<Context> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &common.region {
        let ok = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            bail!("invalid --region {region:?}: expected a region name such as eu-west-1");
        }
        loader = loader.region(Region::new(region.clone()));
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
        ec2: Ec2::new(&config),
        region,
        name,
        output: common.output,
        verbose: common.verbose,
        progress: Progress::default(),
    })
}

/// Runs the parsed command line; returns the exit code.
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
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
            Ok(0)
        }
    }
}
