//! `logbridge health`: per-bus state from the failure log, and the last run's counters
//! per bus and per plugin.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use logbridge::health::{BusState, FailureFilter};

use crate::args::HealthArgs;
use crate::failures::{open_existing_log, table_row};

/// `ok`, `degraded` (failing, but not for `failing_after` yet) or `failing`.
pub(crate) fn bus_status(state: &BusState, failing_after: Duration) -> &'static str {
    let Some(since) = &state.failing_since else {
        return "ok";
    };
    let since = time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339);
    match since {
        Ok(since) if time::OffsetDateTime::now_utc() - since >= failing_after => "failing",
        _ => "degraded",
    }
}

pub(crate) fn health(args: HealthArgs) -> anyhow::Result<ExitCode> {
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
                    "         deadline {} ms  memory {} MiB  on error {}{}{}",
                    plugin["call_timeout_ms"],
                    plugin["max_memory_mib"],
                    plugin["on_error"].as_str().unwrap_or("fail-event"),
                    match plugin["projection"].as_array() {
                        Some(fields) if !fields.is_empty() => format!(
                            "  fields {}",
                            fields
                                .iter()
                                .filter_map(serde_json::Value::as_str)
                                .collect::<Vec<_>>()
                                .join(",")
                        ),
                        _ => String::new(),
                    },
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
