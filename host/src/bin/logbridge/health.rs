//! `logbridge health`: a running server's live state (asked over HTTP), or, when none
//! answers, per-bus state from the failure log and the last finished run's counters per
//! bus and per plugin. Either way the status comes from the one [`StatusRule`].

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use logbridge::health::{
    FailureFilter, FailureStore, Health, HealthReport, PluginStatus, StatusRule, Verdict,
    parse_rfc3339,
};
use serde_json::Value;

use crate::args::HealthArgs;
use crate::failures::{open_existing_log, table_row};

/// The file in the data folder where a running `logbridge serve` says where it listens.
pub(crate) const SERVE_FILE: &str = "serve.json";

/// A running server's note in its data folder; removed when it is dropped (the server
/// stops), unless another server has written its own since.
pub(crate) struct ServeRecord {
    path: PathBuf,
    pid: u32,
}

impl ServeRecord {
    /// Notes that this process serves on `address`. A note that cannot be written costs
    /// only `logbridge health`'s live view, so it is a warning.
    pub(crate) fn write(data_dir: &Path, address: SocketAddr) -> Option<ServeRecord> {
        let mut reach = address;
        if reach.ip().is_unspecified() {
            reach.set_ip(match address {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let pid = std::process::id();
        let note = serde_json::json!({
            "url": format!("http://{reach}"),
            "pid": pid,
            "started_at": logbridge::health::rfc3339(SystemTime::now()),
        });
        let path = data_dir.join(SERVE_FILE);
        let temporary = data_dir.join(format!(".{SERVE_FILE}.{pid}"));
        let written = std::fs::write(&temporary, note.to_string())
            .and_then(|()| std::fs::rename(&temporary, &path));
        match written {
            Ok(()) => Some(ServeRecord { path, pid }),
            Err(e) => {
                tracing::warn!(
                    "cannot note the server's address in {}: {e}; `logbridge health` will \
                     need --url",
                    path.display()
                );
                None
            }
        }
    }
}

impl Drop for ServeRecord {
    fn drop(&mut self) {
        let ours = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|note| note["pid"] == self.pid);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The URL a running server noted in `data_dir`, if any.
fn noted_url(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(SERVE_FILE)).ok()?;
    let note: Value = serde_json::from_str(&text).ok()?;
    note["url"].as_str().map(str::to_string)
}

/// Why a server's live state could not be had.
enum Unanswered {
    /// Nothing answers there: fall back to the last finished run.
    NoServer(String),
    /// Something answered, but not with the health: the user must act.
    Refused(anyhow::Error),
}

/// `GET {url}/health?failing_after=S` with `authorization`, over plain HTTP/1.1.
async fn ask_server(
    url: &str,
    authorization: Option<&str>,
    failing_after: Duration,
) -> Result<Value, Unanswered> {
    use http_body_util::{BodyExt, Empty};
    use hyper::header::{ACCEPT, AUTHORIZATION, HOST};

    let refused = |e: anyhow::Error| Unanswered::Refused(e);
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        refused(anyhow::anyhow!(
            "{url}: only http:// URLs are supported; point --url at the server's own \
             listener (e.g. http://127.0.0.1:8080), not at a TLS proxy in front of it"
        ))
    })?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let connect = tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(authority),
    );
    let stream = match connect.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(Unanswered::NoServer(e.to_string())),
        Err(_) => return Err(Unanswered::NoServer("no answer within 3 s".into())),
    };
    let mut request =
        hyper::Request::get(format!("/health?failing_after={}", failing_after.as_secs()))
            .header(HOST, authority)
            .header(ACCEPT, "application/json");
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    let request = request
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| refused(anyhow::anyhow!("cannot ask {url}: {e}")))?;
    let exchange = async {
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        let connection = tokio::spawn(connection);
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        connection.abort();
        hyper::Result::Ok((status, body))
    };
    let (status, body) = match tokio::time::timeout(Duration::from_secs(10), exchange).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => return Err(Unanswered::NoServer(format!("not an HTTP answer: {e}"))),
        Err(_) => return Err(Unanswered::NoServer("no answer within 10 s".into())),
    };
    let body = String::from_utf8_lossy(&body);
    match status.as_u16() {
        200 => serde_json::from_str(&body)
            .with_context(|| format!("{url}/health did not answer with health JSON: {body}"))
            .map_err(refused),
        401 => Err(refused(anyhow::anyhow!(
            "the server at {url} refused the request (401): give its Authorization value with \
             --authorization or LOGBRIDGE_AUTHORIZATION"
        ))),
        other => Err(refused(anyhow::anyhow!(
            "the server at {url} answered {other}: {body}"
        ))),
    }
}

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
    let report = Health::with_store(log as Arc<dyn FailureStore>).report();
    let verdict = rule.judge(&report, SystemTime::now());
    (report, verdict)
}

/// The last finished run and the failure log's state, after `note` saying so.
fn stored(args: &HealthArgs, rule: &StatusRule, note: &str) -> anyhow::Result<ExitCode> {
    let log = Arc::new(open_existing_log(&args.data)?);
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
