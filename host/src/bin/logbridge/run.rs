//! `logbridge run`: NDJSON logs in, through the plugins, out to the sink; and the sink the
//! arguments ask for, shared with `replay`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use logbridge::health::FailureLog;
use logbridge::ingest::{NdjsonReader, Record};
use logbridge::{
    Envelope, EventBridgeOptions, EventBridgeSink, HealthReport, Host, JsonLinesSink, Sink,
};
use tokio::io::{AsyncBufRead, BufReader};

use crate::args::{HostArgs, RunArgs, SinkArgs};

/// The sink the arguments ask for. A local output file is appended to, unless
/// `--truncate-output` asks for it to be emptied first.
pub(crate) async fn make_sink(args: &SinkArgs) -> anyhow::Result<Arc<dyn Sink>> {
    Ok(if args.eventbridge {
        let options = EventBridgeOptions {
            endpoint_url: args.endpoint_url.clone(),
            region: args.region.clone(),
            attempt_timeout: Some(Duration::from_millis(args.attempt_timeout_ms)),
        };
        Arc::new(EventBridgeSink::from_env(&options).await?)
    } else if let Some(path) = &args.output {
        let truncate = args.truncate_output;
        let file = File::options()
            .create(true)
            .write(true)
            .append(!truncate)
            .truncate(truncate)
            .open(path)
            .with_context(|| format!("cannot open the output file {}", path.display()))?;
        Arc::new(JsonLinesSink::new(BufWriter::new(file)))
    } else {
        Arc::new(JsonLinesSink::new(std::io::stdout()))
    })
}

/// The host the arguments describe, with the failure log it writes to.
pub(crate) async fn build_host(args: HostArgs) -> anyhow::Result<(Host, Arc<FailureLog>)> {
    // Checked here rather than by clap, so a setting may come from the config file.
    anyhow::ensure!(
        !args.watch || args.plugins.is_some(),
        "--watch (or `watch = true`) needs a plugins folder: give --plugins DIR"
    );
    if !args.sink.eventbridge && (args.sink.endpoint_url.is_some() || args.sink.region.is_some()) {
        tracing::warn!(
            "an EventBridge endpoint or region is set but delivery is to the local sink; add \
             --eventbridge (or `sink.eventbridge = true`) to use them"
        );
    }
    let envelope = Envelope::new(args.source, args.detail_type)?;
    let log = Arc::new(FailureLog::open(&args.data.data_dir)?);
    let mut builder = Host::builder()
        .envelope(envelope)
        .default_bus(args.default_bus)
        .failure_store(log.clone())
        .delivery_config(args.delivery.config())
        .sink_arc(make_sink(&args.sink).await?);
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
    Ok((builder.build()?, log))
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let started_at = SystemTime::now();
    let (host, log) = build_host(args.host).await?;
    let envelope = host.envelope().clone();
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
    let code = finish(host, &log, started_at, started).await?;
    read_result.context("reading the input failed")?;
    Ok(code)
}

/// Drains `host`, records the run in the failure log, prints the summary — its time and
/// rate from `started` until everything was drained — and says how the command should
/// exit.
pub(crate) async fn finish(
    host: Host,
    log: &FailureLog,
    started_at: SystemTime,
    started: Instant,
) -> anyhow::Result<ExitCode> {
    let report = host.shutdown().await?;
    let elapsed = started.elapsed();
    log.record_run(started_at, &report)?;
    print_summary(&report, elapsed.as_secs_f64())?;
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

pub(crate) fn print_summary(report: &HealthReport, seconds: f64) -> std::io::Result<()> {
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
