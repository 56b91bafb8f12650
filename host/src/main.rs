//! The `logbridge` command: runs Auth0 logs through WebAssembly plugins to EventBridge
//! or a local sink.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use logbridge::ingest::{NdjsonReader, Record};
use logbridge::{Envelope, EventBridgeOptions, EventBridgeSink, HealthReport, Host, JsonLinesSink};
use tokio::io::{AsyncBufRead, BufReader};

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
}

#[derive(Args)]
struct RunArgs {
    /// Folder of plugins (`*.wasm` components, each with an optional `NAME.toml`).
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,
    /// NDJSON input: one Auth0 log or `{"log_id", "data"}` record per line; `-` is stdin.
    #[arg(long, value_name = "FILE", default_value = "-")]
    input: String,
    /// Local sink: write delivered events as JSON lines to FILE instead of stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "eventbridge")]
    output: Option<PathBuf>,
    /// Deliver to Amazon EventBridge with PutEvents (region and credentials from the
    /// standard AWS chain).
    #[arg(long)]
    eventbridge: bool,
    /// EventBridge endpoint override, e.g. a local EventBridge-compatible server.
    #[arg(
        long,
        value_name = "URL",
        requires = "eventbridge",
        env = "LOGBRIDGE_ENDPOINT_URL"
    )]
    endpoint_url: Option<String>,
    /// AWS region override.
    #[arg(long, requires = "eventbridge")]
    region: Option<String>,
    /// The `source` events are sent with (must not start with `aws.`).
    #[arg(long, default_value = logbridge::event::DEFAULT_SOURCE)]
    source: String,
    /// The `detail-type` events are sent with.
    #[arg(long, default_value = logbridge::event::AUTH0_DETAIL_TYPE)]
    detail_type: String,
    /// The bus for events no router routes.
    #[arg(long, default_value = logbridge::DEFAULT_BUS)]
    default_bus: String,
    /// Pipeline worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,logbridge=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
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
            Command::Run(args) => run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let envelope = Envelope::new(args.source, args.detail_type)?;
    let mut builder = Host::builder()
        .envelope(envelope.clone())
        .default_bus(args.default_bus);
    if let Some(dir) = &args.plugins {
        builder = builder.plugins_dir(dir);
    }
    if let Some(workers) = args.workers {
        builder = builder.workers(workers);
    }
    builder = if args.eventbridge {
        let options = EventBridgeOptions {
            endpoint_url: args.endpoint_url,
            region: args.region,
            ..EventBridgeOptions::default()
        };
        builder.sink(EventBridgeSink::from_env(&options).await?)
    } else if let Some(path) = &args.output {
        let file = File::create(path)
            .with_context(|| format!("cannot create the output file {}", path.display()))?;
        builder.sink(JsonLinesSink::new(BufWriter::new(file)))
    } else {
        builder.sink(JsonLinesSink::new(std::io::stdout()))
    };
    let host = builder.build()?;

    let started = Instant::now();
    let input: Box<dyn AsyncBufRead + Unpin + Send> = if args.input == "-" {
        Box::new(BufReader::new(tokio::io::stdin()))
    } else {
        let file = tokio::fs::File::open(&args.input)
            .await
            .with_context(|| format!("cannot open the input file {}", args.input))?;
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    let mut reader = NdjsonReader::new(input, envelope);
    let origin = |line: u64| format!("{}:{line}", args.input);
    let read_result = async {
        while let Some(record) = reader.next().await? {
            match record {
                Record::Event(event) => host.send(event).await?,
                Record::Invalid { line, error } => {
                    host.record_ingest_failure(&origin(line), &error)
                }
            }
        }
        anyhow::Ok(())
    }
    .await;
    // Whatever happened to the input, everything already accepted is drained.
    let report = host.shutdown().await?;
    let elapsed = started.elapsed();
    print_summary(&report, elapsed.as_secs_f64())?;
    read_result.context("reading the input failed")?;
    if report.failed() > 0 {
        eprintln!(
            "logbridge: {} of {} events failed (see the errors above)",
            report.failed(),
            report.accepted
        );
        return Ok(ExitCode::FAILURE);
    }
    if !report.settled() {
        bail!("not every event was accounted for; this is a bug: {report:?}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(report: &HealthReport, seconds: f64) -> std::io::Result<()> {
    let mut err = std::io::stderr().lock();
    let rate = if seconds > 0.0 {
        report.accepted as f64 / seconds
    } else {
        0.0
    };
    writeln!(
        err,
        "logbridge: {} events in {seconds:.3} s ({rate:.0} events/s)",
        report.accepted
    )?;
    let by = |pairs: Vec<(String, u64)>| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(
        err,
        "  filtered  {:>7}  ({})",
        report.filtered,
        by(report.filtered_by.clone().into_iter().collect())
    )?;
    writeln!(
        err,
        "  delivered {:>7}  ({})",
        report.delivered(),
        by(report
            .buses
            .iter()
            .map(|(b, c)| (b.clone(), c.delivered))
            .collect())
    )?;
    writeln!(
        err,
        "  failed    {:>7}  (ingest {}, plugin {}, delivery {})",
        report.failed(),
        report.failed_ingest,
        report.failed_plugin(),
        report.failed_delivery()
    )?;
    Ok(())
}
