//! The command line: clap derive types. The `///` comments are the `--help` text.
//!
//! Every flag has an environment fallback with the `PROVISION_` prefix, so a
//! shell profile or CI job can set the stack once. Values are parsed into the
//! types of [`crate::desired`] by clap itself, so a malformed value is a usage
//! error (exit 2) before any AWS call; files named by flags are read by
//! [`crate::settings`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::desired::{AmiId, Cidr, InstanceType, Port, RegionName, StackName, UbuntuRelease};

/// Stand up, inspect and tear down the EC2 side of a kakaobot deployment:
/// a key pair, a security group, an Ubuntu instance and an Elastic IP, all
/// tagged `kakaobot:stack=<name>` and found again by that tag.
///
/// Credentials and endpoints come the standard AWS way (profiles, environment,
/// SSO, instance metadata); `AWS_ENDPOINT_URL` points it at another endpoint.
///
/// Exit codes: 0 success; 1 error (also: a dry run found a change EC2 would
/// refuse, or `down` was not confirmed); 2 usage error (a malformed flag, before
/// any AWS call); 3 `status` found the stack incomplete or drifted, or `down`
/// could not remove everything.
#[derive(Debug, Parser)]
#[command(name = "provision", version, about, long_about)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub common: Common,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Stack name: names the key pair and security group and is the value of
    /// the `kakaobot:stack` tag on everything the stack owns.
    #[arg(
        long,
        global = true,
        env = "PROVISION_NAME",
        default_value = "kakaobot"
    )]
    pub name: StackName,

    /// AWS region; without it the standard AWS region chain is used
    /// (AWS_REGION, the profile's region, instance metadata).
    #[arg(long, global = true, env = "PROVISION_REGION")]
    pub region: Option<RegionName>,

    /// Output format of the result on stdout.
    #[arg(long, global = true, env = "PROVISION_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,

    /// More detail on stderr: -v lists every EC2 call made, -vv adds debug logs.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// How results are printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable lines.
    Text,
    /// One JSON document, for scripts.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or repair the stack until it matches the desired state, then
    /// print the instance, its Elastic IP, the ssh command and the app URLs.
    Up(UpArgs),
    /// Show each resource of the stack and whether it matches the desired
    /// state; exits with 3 when the stack is incomplete or drifted.
    Status(StatusArgs),
    /// Remove everything the stack owns (asks for confirmation unless --yes);
    /// exits with 3 when something is still there afterwards.
    Down(DownArgs),
    /// Print a shell completion script, e.g. `provision completions bash`.
    Completions(CompletionsArgs),
}

/// The desired network rules, shared by `up` and `status`.
#[derive(Debug, Clone, Args)]
pub struct RuleArgs {
    /// Another TCP port to open besides 80 (the certificate's challenges) and 443
    /// (HTTPS), e.g. 5000 for skills registered with the tutorial's
    /// http://EIP:5000 URL.
    #[arg(long, env = "PROVISION_PORT")]
    pub port: Option<Port>,

    /// Who may reach the service's ports, as an IPv4 CIDR (default: anywhere,
    /// which Kakao's servers and Let's Encrypt's validation need).
    #[arg(long, env = "PROVISION_APP_CIDR", default_value = "0.0.0.0/0")]
    pub app_cidr: Cidr,

    /// Who may ssh in, as an IPv4 CIDR. Without it `up` uses this machine's
    /// public address as a /32. SSH is opened to everyone only if you pass
    /// 0.0.0.0/0 here yourself.
    #[arg(long, env = "PROVISION_SSH_CIDR")]
    pub ssh_cidr: Option<Cidr>,

    /// EC2 instance type.
    #[arg(long, env = "PROVISION_INSTANCE_TYPE", default_value = "t2.micro")]
    pub instance_type: InstanceType,

    /// Private key file of a key pair created by `up` (default: ~/.ssh/NAME.pem, NAME as given to --name).
    #[arg(long, env = "PROVISION_KEY_FILE")]
    pub key_file: Option<PathBuf>,
}

/// Options of `up`.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// The desired rules and instance type.
    #[command(flatten)]
    pub rules: RuleArgs,

    /// Ubuntu LTS release whose newest official amd64 server image is used.
    #[arg(long, env = "PROVISION_UBUNTU", default_value = "24.04")]
    pub ubuntu: UbuntuRelease,

    /// Use this AMI instead of looking up the Ubuntu image.
    #[arg(long, env = "PROVISION_AMI")]
    pub ami: Option<AmiId>,

    /// Import this OpenSSH public key as the stack's key pair instead of
    /// creating a new key pair.
    #[arg(long, env = "PROVISION_PUBLIC_KEY")]
    pub public_key: Option<PathBuf>,

    /// Cloud-init user data for the instance (default: deploy/cloud-init.yaml
    /// when that file exists in the current directory).
    #[arg(long, env = "PROVISION_USER_DATA")]
    pub user_data: Option<PathBuf>,

    /// Print the plan and ask EC2 (with DryRun) whether each change would be
    /// permitted, without changing anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Where to ask for this machine's public address when --ssh-cidr is not
    /// given.
    #[arg(long, env = "PROVISION_CHECKIP_URL", default_value = crate::public_ip::DEFAULT_URL, hide = true)]
    pub checkip_url: String,
}

/// Options of `status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// The desired rules and instance type to compare with. Without
    /// --ssh-cidr any single SSH rule other than 0.0.0.0/0 counts as desired.
    #[command(flatten)]
    pub rules: RuleArgs,
}

/// Options of `down`.
#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Print what would be removed and ask EC2 (with DryRun) whether each
    /// removal would be permitted, without changing anything.
    #[arg(long)]
    pub dry_run: bool,

    /// Also delete the local private key file (kept by default).
    #[arg(long)]
    pub purge_key: bool,

    /// The private key file to delete with --purge-key (default: ~/.ssh/NAME.pem, NAME as given to --name).
    #[arg(long, env = "PROVISION_KEY_FILE")]
    pub key_file: Option<PathBuf>,
}

/// Options of `completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to print a completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_malformed_value_is_a_usage_error_that_names_the_flag() {
        for (args, flag) in [
            (&["provision", "up", "--port", "abc"][..], "--port"),
            (
                &["provision", "up", "--ssh-cidr", "300.1.1.1/99"],
                "--ssh-cidr",
            ),
            (
                &["provision", "status", "--app-cidr", "10.0.0.1/8"],
                "--app-cidr",
            ),
            (
                &["provision", "up", "--instance-type", "huge"],
                "--instance-type",
            ),
            (&["provision", "up", "--ubuntu", "23.10"], "--ubuntu"),
        ] {
            let err = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(err.exit_code(), crate::Exit::Usage as i32, "{args:?}");
            assert!(err.to_string().contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn the_defaults_parse_into_typed_values() {
        let cli = Cli::try_parse_from(["provision", "up"]).unwrap();
        let Command::Up(up) = cli.command else {
            panic!("not up")
        };
        assert_eq!(up.rules.port, None);
        assert_eq!(up.rules.app_cidr, Cidr::ANYWHERE);
        assert_eq!(up.rules.instance_type.as_str(), "t2.micro");
        assert_eq!(cli.common.name.as_str(), "kakaobot");
    }
}
