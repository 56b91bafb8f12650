//! `logbridge failures` and `logbridge replay`: reading the failure log, and re-sending
//! what failed.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use logbridge::Stage;
use logbridge::delivery::replay;
use logbridge::health::{FailureFilter, FailureLog, StoredFailure};

use std::path::Path;

use logbridge::config::Config;

use crate::args::{FailuresArgs, FilterArgs, ReplayArgs, StageArg};

/// The failure log in `data_dir`, which must exist: these commands read what a run left.
pub(crate) fn open_existing_log(data_dir: &Path) -> anyhow::Result<FailureLog> {
    let file = data_dir.join(logbridge::health::FAILURE_LOG_FILE);
    if !file.is_file() {
        bail!(
            "there is no failure log at {}; pass the --data-dir that `logbridge run` used",
            file.display()
        );
    }
    Ok(FailureLog::open(data_dir)?)
}

pub(crate) fn filter(args: &FilterArgs, stage: Option<StageArg>, all: bool) -> FailureFilter {
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

pub(crate) fn failures(args: FailuresArgs) -> anyhow::Result<ExitCode> {
    let log = open_existing_log(&args.data.data_dir)?;
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

pub(crate) fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut clipped: String = text.chars().take(width.saturating_sub(1)).collect();
        clipped.push('…');
        clipped
    }
}

pub(crate) fn table_row(row: &StoredFailure) -> String {
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
        clip(row.code.as_str(), 24),
        row.attempts,
        clip(row.event_id.as_deref().unwrap_or("-"), 12),
        clip(&row.message, 100),
    )
}

pub(crate) async fn replay_failures(args: ReplayArgs, config: Config) -> anyhow::Result<ExitCode> {
    let log = open_existing_log(&config.data_dir)?;
    let sink = config.sink.open().await?;
    let report = replay(
        &log,
        &*sink,
        &filter(&args.filter, None, false),
        &config.delivery_config(),
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
