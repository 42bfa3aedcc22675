//! `provision`: the command-line edge. Parses flags, sets up logging to
//! stderr, runs the command and turns errors into one line and an exit code.

use std::process::ExitCode;

use clap::Parser;
use provision::cli::Cli;
use provision::Exit;

fn main() -> ExitCode {
    // A malformed flag ends here with clap's message and exit 2 (Exit::Usage).
    let cli = Cli::parse();
    let default_level = match cli.common.verbose {
        0 | 1 => "warn",
        2 => "provision=debug,warn",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("provision: failed to start the async runtime: {e}");
            return Exit::Error.into();
        }
    };
    match runtime.block_on(provision::run(cli)) {
        Ok(code) => code.into(),
        Err(e) => {
            // One line with the cause chain, as ripgrep and fd do.
            eprintln!("provision: {e:#}");
            Exit::Error.into()
        }
    }
}
