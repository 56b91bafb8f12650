//! The `logbridge` command: runs Auth0 logs through WebAssembly plugins to EventBridge
//! or a local sink, and inspects and replays the failure log.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use logbridge::delivery::{
    BatchLimits, DeliveryConfig, MAX_BYTES_1MB, MAX_BYTES_256KB, RetryPolicy, replay,
};
use logbridge::health::{BusState, FailureFilter, FailureLog, StoredFailure};
use logbridge::ingest::{NdjsonReader, Record};
use logbridge::{
    Envelope, EventBridgeOptions, EventBridgeSink, HealthReport, Host, JsonLinesSink, Sink, Stage,
};
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
    /// List failed events from the failure log.
    Failures(FailuresArgs),
    /// Re-send failed deliveries from the failure log; what succeeds is marked replayed.
    Replay(ReplayArgs),
    /// Show the stream's health: the last run's counters and the failure log.
    Health(HealthArgs),
}

#[derive(Args)]
struct DataDirArg {
    /// Where the failure log (`failures.sqlite3`) lives.
    #[arg(
        long,
        value_name = "DIR",
        env = "LOGBRIDGE_DATA_DIR",
        default_value = "logbridge-data"
    )]
    data_dir: PathBuf,
}

#[derive(Args)]
struct SinkArgs {
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
    /// Timeout of one PutEvents attempt, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    attempt_timeout_ms: u64,
}

#[derive(Clone, Copy, ValueEnum)]
enum RequestLimit {
    /// 1 MB, EventBridge's limit for event buses since January 2026.
    #[value(name = "1mb")]
    OneMb,
    /// 256 KB, the former limit.
    #[value(name = "256kb")]
    TwoFiftySixKb,
}

#[derive(Args)]
struct DeliveryArgs {
    /// PutEvents request-size limit, summed as EventBridge counts entry sizes.
    #[arg(long, value_enum, default_value = "1mb")]
    max_request_size: RequestLimit,
    /// Longest a batch waits to fill, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5)]
    linger_ms: u64,
    /// Retries after the first attempt, for retryable failures.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// First backoff ceiling, in milliseconds (doubles each retry; full jitter).
    #[arg(long, value_name = "MS", default_value_t = 100)]
    retry_base_ms: u64,
    /// Largest backoff, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    retry_cap_ms: u64,
    /// At end of input or Ctrl-C, how long failed entries may still be retried, in
    /// milliseconds; after it they go to the failure log.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    shutdown_timeout_ms: u64,
}

impl DeliveryArgs {
    fn config(&self) -> DeliveryConfig {
        DeliveryConfig {
            batch: BatchLimits {
                max_bytes: match self.max_request_size {
                    RequestLimit::OneMb => MAX_BYTES_1MB,
                    RequestLimit::TwoFiftySixKb => MAX_BYTES_256KB,
                },
                linger: Duration::from_millis(self.linger_ms),
                ..BatchLimits::default()
            },
            retry: RetryPolicy {
                max_retries: self.retries,
                base: Duration::from_millis(self.retry_base_ms),
                cap: Duration::from_millis(self.retry_cap_ms),
            },
            shutdown_timeout: Duration::from_millis(self.shutdown_timeout_ms),
            ..DeliveryConfig::default()
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// Folder of plugins (`*.wasm` components, each with an optional `NAME.toml`).
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,
    /// NDJSON input: one Auth0 log or `{"log_id", "data"}` record per line; `-` is stdin.
    #[arg(long, value_name = "FILE", default_value = "-")]
    input: String,
    #[command(flatten)]
    sink: SinkArgs,
    #[command(flatten)]
    delivery: DeliveryArgs,
    #[command(flatten)]
    data: DataDirArg,
    /// The `source` events are sent with (must not start with `aws.`).
    #[arg(long, default_value = logbridge::event::DEFAULT_SOURCE)]
    source: String,
    /// The `detail-type` events are sent with.
    #[arg(long, default_value = logbridge::event::AUTH0_DETAIL_TYPE)]
    detail_type: String,
    /// The bus for events no router routes.
    #[arg(long, default_value = logbridge::DEFAULT_BUS)]
    default_bus: String,
    /// A bus routers may name (repeat for each; the default bus is always allowed). With
    /// any given, a route to another bus fails the event at stage `plugin`
    /// (`unknown-bus`); without, every bus name is sent on.
    #[arg(long = "bus", value_name = "NAME")]
    buses: Vec<String>,
    /// How long one plugin call may run, unless the plugin's sidecar says otherwise.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    plugin_timeout_ms: u64,
    /// How much memory one plugin instance may use, unless its sidecar says otherwise.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    plugin_memory_mib: usize,
    /// Pipeline worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Reload plugins when a `.wasm` or sidecar in the plugins folder is added, changed or
    /// removed, without stopping (compiled plugins are cached in DATA_DIR/plugin-cache).
    #[arg(long, requires = "plugins")]
    watch: bool,
}

#[derive(Args)]
struct FilterArgs {
    /// Only delivery failures for this bus.
    #[arg(long)]
    bus: Option<String>,
    /// Only failures last tried at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum StageArg {
    Ingest,
    Plugin,
    Delivery,
}

#[derive(Args)]
struct FailuresArgs {
    #[command(flatten)]
    data: DataDirArg,
    #[command(flatten)]
    filter: FilterArgs,
    /// Only this stage.
    #[arg(long, value_enum)]
    stage: Option<StageArg>,
    /// Also list failures a replay has delivered since.
    #[arg(long)]
    all: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ReplayArgs {
    #[command(flatten)]
    data: DataDirArg,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    sink: SinkArgs,
    #[command(flatten)]
    delivery: DeliveryArgs,
}

#[derive(Args)]
struct HealthArgs {
    #[command(flatten)]
    data: DataDirArg,
    /// A bus whose every delivery has failed for this long is reported `failing` (a
    /// shorter streak is `degraded`): e.g. `90s`, `10m`, `2h`, `7d`.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    failing_after: Duration,
    /// JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `90s`, `10m`, `2h`, `7d` (or plain seconds) as a duration.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 90s, 10m, 2h or 7d"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown unit {other:?}; use s, m, h or d")),
    };
    Ok(Duration::from_secs(n.saturating_mul(seconds)))
}

/// `ok`, `degraded` (failing, but not for `failing_after` yet) or `failing`.
fn bus_status(state: &BusState, failing_after: Duration) -> &'static str {
    let Some(since) = &state.failing_since else {
        return "ok";
    };
    let since = time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339);
    match since {
        Ok(since) if time::OffsetDateTime::now_utc() - since >= failing_after => "failing",
        _ => "degraded",
    }
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
            Command::Failures(args) => failures(args),
            Command::Replay(args) => replay_failures(args).await,
            Command::Health(args) => health(args),
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

/// The sink the arguments ask for. A local output file is truncated, or appended to when
/// `append` (replays add to what the run wrote).
async fn make_sink(args: &SinkArgs, append: bool) -> anyhow::Result<Arc<dyn Sink>> {
    Ok(if args.eventbridge {
        let options = EventBridgeOptions {
            endpoint_url: args.endpoint_url.clone(),
            region: args.region.clone(),
            attempt_timeout: Some(Duration::from_millis(args.attempt_timeout_ms)),
        };
        Arc::new(EventBridgeSink::from_env(&options).await?)
    } else if let Some(path) = &args.output {
        let file = File::options()
            .create(true)
            .write(true)
            .append(append)
            .truncate(!append)
            .open(path)
            .with_context(|| format!("cannot open the output file {}", path.display()))?;
        Arc::new(JsonLinesSink::new(BufWriter::new(file)))
    } else {
        Arc::new(JsonLinesSink::new(std::io::stdout()))
    })
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let started_at = SystemTime::now();
    let envelope = Envelope::new(args.source, args.detail_type)?;
    let log = Arc::new(FailureLog::open(&args.data.data_dir)?);
    let mut builder = Host::builder()
        .envelope(envelope.clone())
        .default_bus(args.default_bus)
        .failure_store(log.clone())
        .delivery_config(args.delivery.config())
        .sink_arc(make_sink(&args.sink, false).await?);
    if let Some(dir) = &args.plugins {
        builder = builder
            .plugins_dir(dir)
            .cache_dir(args.data.data_dir.join("plugin-cache"))
            .watch_plugins(args.watch);
    }
    if let Some(workers) = args.workers {
        builder = builder.workers(workers);
    }
    if !args.buses.is_empty() {
        builder = builder.buses(args.buses);
    }
    anyhow::ensure!(
        args.plugin_timeout_ms > 0 && args.plugin_memory_mib > 0,
        "--plugin-timeout-ms and --plugin-memory-mib must be at least 1"
    );
    builder = builder.plugin_limits(logbridge::PluginLimits {
        call_timeout: Duration::from_millis(args.plugin_timeout_ms),
        max_memory_bytes: args.plugin_memory_mib.saturating_mul(1 << 20),
        ..logbridge::PluginLimits::default()
    });
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
    let read_all = async {
        while let Some(record) = reader.next().await? {
            match record {
                Record::Event(event) => host.send(event).await?,
                Record::Invalid { line, text, error } => {
                    host.record_ingest_failure(&origin(line), &text, &error)
                }
            }
        }
        anyhow::Ok(())
    };
    let read_result = tokio::select! {
        result = read_all => result,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("logbridge: interrupted; finishing the events already accepted");
            Ok(())
        }
    };
    // Whatever happened to the input, everything already accepted is drained.
    let report = host.shutdown().await?;
    let elapsed = started.elapsed();
    log.record_run(started_at, &report)?;
    print_summary(&report, elapsed.as_secs_f64())?;
    read_result.context("reading the input failed")?;
    if report.failed() > 0 {
        eprintln!(
            "logbridge: {} of {} events failed; they are in {} (`logbridge failures` lists \
             them, `logbridge replay` re-sends failed deliveries)",
            report.failed(),
            report.accepted,
            log.path().display()
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
    let retried: u64 = report.buses.values().map(|b| b.retried).sum();
    writeln!(
        err,
        "  failed    {:>7}  (ingest {}, plugin {}, delivery {}; {retried} entry retries)",
        report.failed(),
        report.failed_ingest,
        report.failed_plugin(),
        report.failed_delivery()
    )?;
    Ok(())
}

fn open_existing_log(data: &DataDirArg) -> anyhow::Result<FailureLog> {
    let file = data.data_dir.join(logbridge::health::FAILURE_LOG_FILE);
    if !file.is_file() {
        bail!(
            "there is no failure log at {}; pass the --data-dir that `logbridge run` used",
            file.display()
        );
    }
    Ok(FailureLog::open(&data.data_dir)?)
}

fn filter(args: &FilterArgs, stage: Option<StageArg>, all: bool) -> FailureFilter {
    FailureFilter {
        bus: args.bus.clone(),
        stage: stage.map(|s| match s {
            StageArg::Ingest => Stage::Ingest,
            StageArg::Plugin => Stage::Plugin,
            StageArg::Delivery => Stage::Delivery,
        }),
        since: args.since.clone(),
        include_replayed: all,
    }
}

fn failures(args: FailuresArgs) -> anyhow::Result<ExitCode> {
    let log = open_existing_log(&args.data)?;
    let rows = log.list(&filter(&args.filter, args.stage, args.all))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for row in &rows {
            serde_json::to_writer(&mut out, row)?;
            writeln!(out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:>6}  {:<20}  {:<8}  {:<22}  {:<24}  {:>3}  {:<12}  message",
        "id", "last attempt", "stage", "plugin / bus / input", "code", "try", "event"
    )?;
    for row in &rows {
        writeln!(out, "{}", table_row(row))?;
    }
    writeln!(out, "{} failures", rows.len())?;
    Ok(ExitCode::SUCCESS)
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut clipped: String = text.chars().take(width.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    }
}

fn table_row(row: &StoredFailure) -> String {
    let status = if row.replayed_at.is_some() {
        " (replayed)"
    } else {
        ""
    };
    format!(
        "{:>6}  {:<20}  {:<8}  {:<22}  {:<24}  {:>3}  {:<12}  {}{status}",
        row.id,
        clip(&row.last_attempt, 20),
        row.stage.to_string(),
        clip(
            &match &row.version {
                Some(version) => format!("{}@{}", row.origin, version.get(..8).unwrap_or(version)),
                None => row.origin.clone(),
            },
            22
        ),
        clip(&row.code, 24),
        row.attempts,
        clip(row.event_id.as_deref().unwrap_or("-"), 12),
        clip(&row.message, 100),
    )
}

async fn replay_failures(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let log = open_existing_log(&args.data)?;
    let sink = make_sink(&args.sink, true).await?;
    let report = replay(
        &log,
        &*sink,
        &filter(&args.filter, None, false),
        &args.delivery.config(),
    )
    .await?;
    eprintln!(
        "logbridge replay: {} failed deliveries, {} sent, {} delivered, {} failed again{}",
        report.rows,
        report.sent,
        report.delivered,
        report.failed,
        if report.skipped > 0 {
            format!(", {} without a stored event", report.skipped)
        } else {
            String::new()
        }
    );
    Ok(if report.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn health(args: HealthArgs) -> anyhow::Result<ExitCode> {
    let log = open_existing_log(&args.data)?;
    let last_run = log.last_run()?;
    let buses = log.bus_states()?;
    let open = log.list(&FailureFilter::default())?;
    if args.json {
        let value = serde_json::json!({
            "buses": buses.iter().map(|b| serde_json::json!({
                "bus": b.bus,
                "status": bus_status(b, args.failing_after),
                "last_delivered": b.last_delivered,
                "last_failed": b.last_failed,
                "failing_since": b.failing_since,
            })).collect::<Vec<_>>(),
            "last_run": last_run.as_ref().map(|(started, finished, report)| serde_json::json!({
                "started_at": started, "finished_at": finished, "report": report,
            })),
            "open_failures": open.len(),
            "recent_failures": open.iter().rev().take(10).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "buses:")?;
    for b in &buses {
        writeln!(
            out,
            "  {:<24} {:<9} last delivered {}  last failed {}{}",
            b.bus,
            bus_status(b, args.failing_after),
            b.last_delivered.as_deref().unwrap_or("never"),
            b.last_failed.as_deref().unwrap_or("never"),
            b.failing_since
                .as_deref()
                .map(|since| format!("  (every delivery failing since {since})"))
                .unwrap_or_default(),
        )?;
    }
    match &last_run {
        None => writeln!(out, "no run recorded in {}", log.path().display())?,
        Some((started, finished, report)) => {
            writeln!(out, "last run: {started} – {finished}")?;
            writeln!(
                out,
                "  accepted {}  filtered {}  failed at ingest {}",
                report["accepted"], report["filtered"], report["failed_ingest"]
            )?;
            if let Some(buses) = report["buses"].as_object() {
                for (bus, counts) in buses {
                    writeln!(
                        out,
                        "  bus {bus:<20} delivered {}  failed {}  retried {}",
                        counts["delivered"], counts["failed"], counts["retried"]
                    )?;
                }
            }
            for plugin in report["plugins"].as_array().into_iter().flatten() {
                let name = plugin["name"].as_str().unwrap_or_default();
                let role = plugin["role"].as_str().unwrap_or_default();
                let verdicts = if role == "filter" {
                    format!("  kept {}  dropped {}", plugin["kept"], plugin["dropped"])
                } else {
                    String::new()
                };
                writeln!(
                    out,
                    "  plugin {name:<24} {role:<11} {:<8} {}  loaded {}",
                    plugin["status"].as_str().unwrap_or("ok"),
                    plugin["hash"]
                        .as_str()
                        .unwrap_or_default()
                        .get(..12)
                        .unwrap_or_default(),
                    plugin["loaded_at"].as_str().unwrap_or_default(),
                )?;
                writeln!(
                    out,
                    "         calls {}{verdicts}  errors {} ({} of the last {})  mean {} µs  \
                     instances {}",
                    plugin["calls"],
                    plugin["errors"],
                    plugin["recent_errors"],
                    logbridge::health::STATUS_WINDOW,
                    plugin["mean_call_us"],
                    plugin["instances"],
                )?;
                writeln!(
                    out,
                    "         deadline {} ms  memory {} MiB  on error {}{}",
                    plugin["call_timeout_ms"],
                    plugin["max_memory_mib"],
                    plugin["on_error"].as_str().unwrap_or("fail-event"),
                    plugin["grants"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(serde_json::Value::as_str)
                        .map(|g| format!("  grant {g}"))
                        .collect::<String>(),
                )?;
            }
            for error in report["plugin_load_errors"]
                .as_array()
                .into_iter()
                .flatten()
            {
                writeln!(
                    out,
                    "  plugin load error at {}: {} ({})",
                    error["at"].as_str().unwrap_or_default(),
                    error["error"].as_str().unwrap_or_default(),
                    if error["kept_previous"] == true {
                        "previous version kept"
                    } else {
                        "not running"
                    },
                )?;
            }
        }
    }
    writeln!(out, "{} failures not yet replayed; the latest:", open.len())?;
    for row in open.iter().rev().take(10) {
        writeln!(out, "{}", table_row(row))?;
    }
    Ok(ExitCode::SUCCESS)
}
