//! `logbridge run`: NDJSON logs in, through the plugins, out to the sink; and the host a
//! configuration describes, shared with `serve`.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use anyhow::{Context, bail};
use logbridge::config::Config;
use logbridge::health::FailureLog;
use logbridge::ingest::{NdjsonReader, Record};
use logbridge::{HealthReport, Host};
use tokio::io::{AsyncBufRead, BufReader};

use crate::args::RunArgs;

/// The host `config` describes, with the failure log it writes to.
pub(crate) async fn build_host(config: &Config) -> anyhow::Result<(Host, Arc<FailureLog>)> {
    if !config.sink.eventbridge
        && (config.sink.endpoint_url.is_some() || config.sink.region.is_some())
    {
        tracing::warn!(
            "an EventBridge endpoint or region is set but delivery is to the local sink; add \
             --eventbridge (or `sink.eventbridge = true`) to use them"
        );
    }
    let host = Host::from_config(config).await?.build()?;
    let log = Arc::clone(
        host.failure_log()
            .context("a host built from a configuration has a failure log")?,
    );
    Ok((host, log))
}

pub(crate) async fn run(args: RunArgs, config: Config) -> anyhow::Result<ExitCode> {
    let started_at = SystemTime::now();
    let (host, log) = build_host(&config).await?;
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
