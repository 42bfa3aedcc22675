//! The `kakaobot` binary: parse the command line, load settings, run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kakaobot::config::Settings;
use kakaobot::startup::{self, Application};
use kakaobot::telemetry;

/// mimalloc rather than glibc's malloc, whose allocating and freeing was a third of
/// every request's instructions (callgrind: 21,700 of 70,800 for a smart-chat message;
/// with mimalloc the whole request takes 56,400).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A KakaoTalk bot service: a quiz bot and a group lunch-vote bot, as Kakao i Open
/// Builder skills (and the retired smart-chat API), over HTTPS with its own
/// certificate.
///
/// Settings come from built-in defaults, then the --config file, then KAKAOBOT_*
/// environment variables (see README.md).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// A TOML settings file.
    #[arg(long, short, env = "KAKAOBOT_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Load and check the settings and the question bank, then exit.
    Check,
    /// Move Redis data from the key layout of kakaobot 0.1 to the cluster-ready one.
    /// Idempotent; deploy.sh runs it before each restart.
    Migrate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("kakaobot: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!("{}", startup::spec_json()?);
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref()).context("failed to load settings")?;
    let _log = telemetry::init(settings.log_format);
    let runtime = tokio::runtime::Runtime::new().context("failed to start the async runtime")?;
    let outcome = runtime.block_on(async move {
        match command {
            Command::Check => {
                startup::build_state(&settings)?;
                println!("settings and question bank are valid");
                Ok(())
            }
            Command::Migrate => {
                println!("{}", startup::migrate(&settings).await?);
                Ok(())
            }
            _ => {
                let app = Application::build(settings).await?;
                reload_on_hangup(app.bank_reloader(), app.tls())?;
                app.run_until_stopped(shutdown_signal()).await?;
                tracing::info!("stopped");
                Ok(())
            }
        }
    });
    // A question bank read that never ended (see BankReloader) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    outcome
}

/// Reloads the question bank, and the certificate, on each SIGHUP (`systemctl reload
/// kakaobot`), for as long as the process runs.
fn reload_on_hangup(
    bank: startup::BankReloader,
    tls: Option<kakaobot::tls::Tls>,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the question bank and the certificate");
            // The outcomes are logged by the reloaders; a bad file changes nothing.
            bank.reload().await;
            if let Some(tls) = &tls {
                let _ = tls.reload().await;
            }
        }
    });
    Ok(())
}

/// Completes on SIGINT or SIGTERM (systemd's stop signal).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(cause = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(err) => {
                tracing::error!(cause = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
}
