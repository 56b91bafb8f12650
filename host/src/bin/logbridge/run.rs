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
use logbridge::{Durability, HealthReport, Host, InputPosition};
use tokio::io::{AsyncBufRead, AsyncSeekExt, BufReader};

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
    let mut key = None;
    let mut reader = if args.input == "-" {
        let input = BufReader::new(tokio::io::stdin());
        NdjsonReader::new(Box::new(input) as Input, envelope)
    } else {
        let mut file = tokio::fs::File::open(&args.input)
            .await
            .with_context(|| format!("cannot open the input file {}", args.input))?;
        let mut start = (0, 0);
        if host.durability() == Durability::Disk {
            let name = input_key(&args.input, &file).await?;
            if let Some(position) = host.input_position(&name) {
                if args.from_start {
                    eprintln!(
                        "logbridge: reading {} from the start (--from-start); an earlier run \
                         that did not finish took its first {} lines",
                        args.input, position.line
                    );
                } else {
                    eprintln!(
                        "logbridge: resuming {} after line {}: an earlier run that did not \
                         finish took the lines before (--from-start reads it all again)",
                        args.input, position.line
                    );
                    start = (position.offset, position.line);
                }
            }
            key = Some(name);
        }
        file.seek(std::io::SeekFrom::Start(start.0))
            .await
            .with_context(|| format!("cannot read the input file {}", args.input))?;
        let input = BufReader::with_capacity(1 << 16, file);
        NdjsonReader::starting_at(Box::new(input) as Input, envelope, start.0, start.1)
    };
    let origin = |line: u64| format!("{}:{line}", args.input);
    // Lines are read ahead by a task of their own and taken in batches: with a
    // write-ahead log, one `fsync` for each batch.
    let (lines, mut read) = tokio::sync::mpsc::channel(READ_AHEAD);
    let reading = tokio::spawn(async move {
        loop {
            let next = reader.next().await;
            let done = !matches!(next, Ok(Some(_)));
            let position = (reader.offset(), reader.line());
            if lines.send((next, position)).await.is_err() || done {
                break;
            }
        }
    });
    let read_all = async {
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(first) = read.recv().await {
            let mut next = Some(first);
            let mut end = false;
            let mut position = (0, 0);
            while let Some((record, at)) = next.take() {
                match record? {
                    Some(Record::Event(event)) => batch.push(event),
                    Some(Record::Invalid { line, text, error }) => {
                        host.record_ingest_failure(&origin(line), &text, &error)
                    }
                    None => end = true,
                }
                position = at;
                if batch.len() < BATCH && !end {
                    next = read.try_recv().ok();
                }
            }
            let events = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            let position = key.as_ref().map(|key| InputPosition {
                key: key.clone(),
                offset: position.0,
                line: position.1,
            });
            // While what is read cannot be kept (a full disk), this waits: reading stops.
            host.send_read(events, position).await?;
            if end {
                // Forgotten once the shutdown has settled every event.
                if let Some(key) = &key {
                    host.finish_input(key);
                }
                break;
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
    reading.abort();
    // Whatever happened to the input, everything already accepted is drained.
    let code = finish(host, &log, started_at, started).await?;
    read_result.context("reading the input failed")?;
    Ok(code)
}

/// What `run` reads from.
type Input = Box<dyn AsyncBufRead + Unpin + Send>;

/// Lines read ahead of the pipeline.
const READ_AHEAD: usize = 4096;

/// Most events taken (and, with a write-ahead log, written) at once.
const BATCH: usize = 512;

/// What names an input file in the write-ahead log: its path and its identity on disk,
/// so a new file at the same path starts from the beginning.
async fn input_key(path: &str, file: &tokio::fs::File) -> anyhow::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = file
        .metadata()
        .await
        .with_context(|| format!("cannot read the input file {path}"))?;
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.into());
    Ok(format!(
        "{} (device {}, inode {})",
        absolute.display(),
        meta.dev(),
        meta.ino()
    ))
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
    if let Some(journal) = report.journal.as_ref().filter(|j| j.recovered > 0) {
        writeln!(
            err,
            "  resumed   {:>7}  (left unsettled by a process that did not finish; {} of them \
             may reach their bus twice)",
            journal.recovered, journal.possible_duplicates
        )?;
    }
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
