//! `logbridge health`: a running server's live state (asked over HTTP), or, when none
//! answers, per-bus state from the failure log and the last finished run's counters per
//! bus and per plugin. Either way the status comes from the one [`StatusRule`].

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use logbridge::health::{
    FailureFilter, FailureStore, HealthReport, PluginStatus, StatusRule, Verdict, parse_rfc3339,
};
use serde_json::Value;

mod live;

pub(crate) use live::ServeRecord;
use live::{Unanswered, ask_server, noted_url};

use crate::args::HealthArgs;
use crate::failures::{open_existing_log, table_row};

fn text<'a>(value: &'a Value, fallback: &'a str) -> &'a str {
    value.as_str().unwrap_or(fallback)
}

/// An RFC 3339 time in a JSON value, for a person; `never` when there is none.
fn human(value: &Value) -> String {
    value
        .as_str()
        .and_then(parse_rfc3339)
        .map_or_else(|| "never".to_string(), logbridge::health::human_time)
}

fn write_verdict(out: &mut impl Write, status: &str, reasons: &[Value]) -> std::io::Result<()> {
    writeln!(out, "status: {status}")?;
    for reason in reasons {
        writeln!(out, "  - {}", text(reason, ""))?;
    }
    Ok(())
}

fn write_totals(out: &mut impl Write, totals: &Value) -> std::io::Result<()> {
    if totals.is_null() {
        return Ok(());
    }
    writeln!(
        out,
        "since the data folder was created, {}: accepted {}  filtered {}  duplicates {}  \
         failed at ingest {}  in plugins {}  in delivery {}  delivered {}",
        human(&totals["since"]),
        totals["accepted"],
        totals["filtered"],
        totals["duplicates"],
        totals["failed_ingest"],
        totals["failed_plugin"],
        totals["failed_delivery"],
        totals["delivered"],
    )
}

/// A running server's answer, for a person.
fn print_live(url: &str, live: &Value, rule: &StatusRule) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let report = &live["report"];
    writeln!(
        out,
        "live from {url}: up {}, started {}",
        logbridge::health::human_span(Duration::from_secs(
            report["uptime_s"].as_u64().unwrap_or(0)
        )),
        human(&report["started_at"]),
    )?;
    write_verdict(
        &mut out,
        text(&live["status"], "?"),
        live["reasons"].as_array().map_or(&[], Vec::as_slice),
    )?;
    let sum = |key: &str| -> u64 {
        report[key]
            .as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
    };
    let buses = report["buses"].as_object();
    let bus_sum = |key: &str| -> u64 {
        buses.map_or(0, |b| b.values().filter_map(|c| c[key].as_u64()).sum())
    };
    writeln!(
        out,
        "this run: accepted {}  filtered {}  duplicates {}  failed at ingest {}  in plugins {}  \
         in delivery {}  delivered {}  queued {}",
        report["accepted"],
        report["filtered"],
        report["duplicates"],
        report["failed_ingest"],
        sum("failed_by_plugin"),
        bus_sum("failed"),
        bus_sum("delivered"),
        live["queue_depth"],
    )?;
    write_totals(&mut out, &report["totals"])?;
    writeln!(out, "buses:")?;
    for (bus, c) in buses.into_iter().flatten() {
        let status = rule.bus(
            c["failing_since"].as_str().and_then(parse_rfc3339),
            SystemTime::now(),
        );
        writeln!(
            out,
            "  {bus:<24} {status:<9} last delivered {}  last failed {}  delivered {}  failed {}  \
             retried {}",
            human(&c["last_delivered"]),
            human(&c["last_failed"]),
            c["delivered"],
            c["failed"],
            c["retried"],
        )?;
    }
    writeln!(out, "plugins:")?;
    for p in report["plugins"].as_array().into_iter().flatten() {
        writeln!(
            out,
            "  plugin {:<24} {:<11} {:<8} {}  calls {}  errors {}  mean {} µs",
            text(&p["name"], ""),
            text(&p["role"], ""),
            text(&p["status"], "ok"),
            text(&p["hash"], "").get(..12).unwrap_or_default(),
            p["calls"],
            p["errors"],
            p["mean_call_us"],
        )?;
    }
    let failures = report["recent_failures"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    writeln!(out, "latest failures ({} shown):", failures.len().min(10))?;
    for f in failures.iter().rev().take(10) {
        writeln!(
            out,
            "  {}  {:<8} {:<20} {:<24} {:<20} {}",
            human(&f["failed_at"]),
            text(&f["stage"], ""),
            text(&f["origin"], ""),
            text(&f["event_id"], "-"),
            text(&f["code"], ""),
            text(&f["message"], ""),
        )?;
    }
    Ok(())
}

pub(crate) async fn health(args: HealthArgs) -> anyhow::Result<ExitCode> {
    let rule = StatusRule {
        failing_after: args.failing_after,
        ..StatusRule::default()
    };
    let url = args.url.clone().or_else(|| noted_url(&args.data.data_dir));
    let fallback_note = match &url {
        Some(url) => {
            match ask_server(url, args.authorization.as_deref(), args.failing_after).await {
                Ok(live) => {
                    if args.json {
                        let value = serde_json::json!({"live": true, "url": url, "health": live});
                        println!("{}", serde_json::to_string_pretty(&value)?);
                    } else {
                        print_live(url, &live, &rule)?;
                    }
                    return Ok(ExitCode::SUCCESS);
                }
                Err(Unanswered::Refused(e)) => return Err(e),
                Err(Unanswered::NoServer(why)) => format!(
                    "no logbridge serve answers at {url} ({why}); showing the last finished run"
                ),
            }
        }
        None => format!(
            "no running logbridge serve noted in {}; showing the last finished run",
            args.data.data_dir.display()
        ),
    };
    stored(&args, &rule, &fallback_note)
}

/// The health the failure log holds, judged now by `rule`.
fn stored_verdict(
    log: Arc<logbridge::health::FailureLog>,
    rule: &StatusRule,
) -> (HealthReport, Verdict) {
    let report = HealthReport::from_store(log as Arc<dyn FailureStore>);
    let verdict = rule.judge(&report, SystemTime::now());
    (report, verdict)
}

/// The last finished run and the failure log's state, after `note` saying so.
fn stored(args: &HealthArgs, rule: &StatusRule, note: &str) -> anyhow::Result<ExitCode> {
    let log = Arc::new(open_existing_log(&args.data.data_dir)?);
    let last_run = log.last_run()?;
    let buses = log.bus_states()?;
    let open = log.list(&FailureFilter::default())?;
    let (stored, verdict) = stored_verdict(Arc::clone(&log), rule);
    let now = SystemTime::now();
    let bus_status = |failing_since: &Option<String>| {
        rule.bus(failing_since.as_deref().and_then(parse_rfc3339), now)
    };
    if args.json {
        eprintln!("{note}");
        let value = serde_json::json!({
            "live": false,
            "note": note,
            "status": verdict.status,
            "reasons": verdict.reasons,
            "totals": stored.totals,
            "buses": buses.iter().map(|b| serde_json::json!({
                "bus": b.bus,
                "status": bus_status(&b.failing_since),
                "last_delivered": b.last_delivered,
                "last_failed": b.last_failed,
                "failing_since": b.failing_since,
            })).collect::<Vec<_>>(),
            "last_run": last_run,
            "open_failures": open.len(),
            "recent_failures": open.iter().rev().take(10).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{note}")?;
    let reasons: Vec<Value> = verdict
        .reasons
        .iter()
        .map(|r| Value::from(r.as_str()))
        .collect();
    write_verdict(&mut out, verdict.status.as_str(), &reasons)?;
    write_totals(&mut out, &serde_json::to_value(&stored.totals)?)?;
    writeln!(out, "buses:")?;
    for b in &buses {
        writeln!(
            out,
            "  {:<24} {:<9} last delivered {}  last failed {}{}",
            b.bus,
            bus_status(&b.failing_since),
            human(&Value::from(b.last_delivered.clone())),
            human(&Value::from(b.last_failed.clone())),
            b.failing_since
                .as_ref()
                .map(|since| format!(
                    "  (every delivery failing since {})",
                    human(&Value::from(since.as_str()))
                ))
                .unwrap_or_default(),
        )?;
    }
    match &last_run {
        None => writeln!(out, "no run recorded in {}", log.path().display())?,
        Some(run) => {
            let report = &run.report;
            writeln!(out, "last run: {} – {}", run.started_at, run.finished_at)?;
            writeln!(
                out,
                "  accepted {}  filtered {}  failed at ingest {}",
                report.accepted, report.filtered, report.failed_ingest
            )?;
            for (bus, counts) in &report.buses {
                writeln!(
                    out,
                    "  bus {bus:<20} delivered {}  failed {}  retried {}",
                    counts.delivered, counts.failed, counts.retried
                )?;
            }
            for plugin in &report.plugins {
                let (name, role) = (&plugin.name, &plugin.role);
                let verdicts = if role == "filter" {
                    format!(
                        "  kept {}  dropped {}",
                        plugin.calls.kept, plugin.calls.dropped
                    )
                } else {
                    String::new()
                };
                let status = match plugin.calls.status {
                    PluginStatus::Ok => "ok",
                    PluginStatus::Degraded => "degraded",
                };
                writeln!(
                    out,
                    "  plugin {name:<24} {role:<11} {status:<8} {}  loaded {}",
                    plugin.hash.get(..12).unwrap_or_default(),
                    plugin.loaded_at,
                )?;
                writeln!(
                    out,
                    "         calls {}{verdicts}  errors {} ({} of the last {})  mean {} µs  \
                     instances {}",
                    plugin.calls.calls,
                    plugin.calls.errors,
                    plugin.calls.recent_errors,
                    logbridge::health::STATUS_WINDOW,
                    plugin.calls.mean_call_us,
                    plugin.calls.instances,
                )?;
                writeln!(
                    out,
                    "         deadline {} ms  memory {} MiB  on error {}{}{}",
                    plugin.call_timeout_ms,
                    plugin.max_memory_mib,
                    plugin.on_error,
                    if plugin.projection.is_empty() {
                        String::new()
                    } else {
                        format!("  fields {}", plugin.projection.join(","))
                    },
                    plugin
                        .grants
                        .iter()
                        .map(|g| format!("  grant {g}"))
                        .collect::<String>(),
                )?;
                if plugin.compiler == "winch" {
                    writeln!(
                        out,
                        "         running its baseline build; the optimized one is compiling"
                    )?;
                }
            }
            for error in &report.plugin_load_errors {
                writeln!(
                    out,
                    "  plugin load error at {}: {} ({})",
                    error.at,
                    error.error,
                    if error.kept_previous {
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
