//! The `logbridge` command: runs Auth0 logs through WebAssembly plugins to EventBridge
//! or a local sink, and inspects and replays the failure log.

mod args;
mod config;
mod failures;
mod health;
mod new;
mod pattern;
mod plugin;
mod run;
mod sample;
mod serve;
mod testing;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use logbridge::config::{Config, Scope};

use args::{ConfigArgs, ConfigCommand, FailuresArgs, HealthArgs, ReplayArgs, RunArgs, ServeArgs};
use failures::{failures, replay_failures};
use health::health;
use run::run;
use serve::serve;

/// Run Auth0 tenant logs through WebAssembly plugins and deliver them to Amazon
/// EventBridge (or a local sink).
#[derive(Parser)]
#[command(name = "logbridge", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read NDJSON Auth0 logs, run them through the plugins, and deliver them.
    Run(RunArgs),
    /// Receive Auth0 logs over HTTP (a custom-webhook log stream posts to it), run them
    /// through the plugins and deliver them; also serves the health page and metrics.
    Serve(ServeArgs),
    /// List failed events from the failure log.
    Failures(FailuresArgs),
    /// Re-send failed deliveries from the failure log; what succeeds is marked replayed.
    Replay(ReplayArgs),
    /// Show the stream's health: a running server's live state, or the last finished
    /// run's counters and the failure log.
    Health(HealthArgs),
    /// Work with configuration files.
    Config(ConfigArgs),
    /// Print deterministic sample Auth0 logs (NDJSON, or webhook bodies) to try things with.
    Sample(sample::SampleArgs),
    /// Work with EventBridge event patterns, as the stock `eventbridge-rules` plugin runs them.
    Pattern(pattern::PatternArgs),
    /// Run plugins over logs and show each event's decision trace, or run case files
    /// (an input log and its expected outcome each): exit 1 on a mismatch.
    Test(testing::TestArgs),
    /// Check a plugin component before deploying it: role, imports, `init`, fields, cost.
    Plugin(plugin::PluginArgs),
    /// Start a plugin project: source, sidecar, a case file, a one-command build.
    New(new::NewArgs),
}

/// The command line: `run`, `serve` and `replay` take the settings of their scope, each
/// with its environment variable.
fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("run", |c| config::with_settings(c, Scope::Host))
        .mut_subcommand("serve", |c| config::with_settings(c, Scope::Serve))
        .mut_subcommand("replay", |c| config::with_settings(c, Scope::Delivery))
}

/// mimalloc, set up by [`logbridge::allocator::configure`]: delivery runs about 30% faster
/// on it than on the C library's allocator, in the same memory.
#[global_allocator]
static ALLOCATOR: logbridge::allocator::Allocator = logbridge::allocator::ALLOCATOR;

fn main() -> ExitCode {
    logbridge::allocator::configure();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,logbridge=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let sub = |name: &str| {
        matches
            .subcommand_matches(name)
            .cloned()
            .unwrap_or_default()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => {
                let config =
                    config::resolve(args.config.file.as_deref(), &sub("run"), Scope::Host)?;
                run(args, config).await
            }
            Command::Serve(args) => {
                let config =
                    config::resolve(args.config.file.as_deref(), &sub("serve"), Scope::Serve)?;
                serve(config).await
            }
            Command::Config(ConfigArgs {
                command: ConfigCommand::Check { file },
            }) => {
                Config::load(&file)?;
                println!("{}: ok", file.display());
                Ok(ExitCode::SUCCESS)
            }
            Command::Failures(args) => failures(args),
            Command::Replay(args) => {
                let config = config::resolve(None, &sub("replay"), Scope::Delivery)?;
                replay_failures(args, config).await
            }
            Command::Health(args) => health(args).await,
            Command::Sample(args) => sample::sample(args),
            Command::Pattern(args) => pattern::pattern(args),
            Command::Test(args) => testing::test(args).await,
            Command::Plugin(args) => plugin::plugin(args),
            Command::New(args) => new::new(args),
        }
    });
    // Everything accepted has been settled by now. A read of stdin may still be blocked
    // (after Ctrl-C, say); do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
