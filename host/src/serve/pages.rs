//! `GET /health` (JSON) and `GET /` (HTML): the stream's health as Auth0's Health tab
//! shows it — its status and why, uptime, per bus delivered, failed and when last, per
//! plugin state and errors, the latest failures with their times, and the totals since
//! the data folder was created.

use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{Html, IntoResponse};

use super::AppState;
use crate::health::{
    HealthReport, PluginStatus, Status, StatusRule, human_span, human_time, rfc3339,
};

/// The status rule a request asks for: `?failing_after=SECONDS` (what `logbridge health
/// --failing-after` sends), else the default.
fn rule_for(uri: &Uri) -> StatusRule {
    let failing_after = uri
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|pair| pair.strip_prefix("failing_after="))
        .find_map(|seconds| seconds.parse::<u64>().ok());
    StatusRule {
        failing_after: failing_after.map_or(StatusRule::default().failing_after, |s| {
            Duration::from_secs(s)
        }),
        ..StatusRule::default()
    }
}

pub(crate) async fn health_json(State(state): State<Arc<AppState>>, uri: Uri) -> impl IntoResponse {
    let report = state.host.health();
    let verdict = rule_for(&uri).judge(&report, SystemTime::now());
    let body = serde_json::json!({
        "status": verdict.status,
        "reasons": verdict.reasons,
        "queue_depth": state.host.queue_depth(),
        "report": report,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `2026-11-30 21:05:03 UTC (12 s ago)` in a `<time>` element, or `never`.
fn when(at: Option<SystemTime>, now: SystemTime) -> String {
    let Some(at) = at else {
        return "never".into();
    };
    let ago = now.duration_since(at).unwrap_or_default();
    format!(
        "<span class=\"when\"><time datetime=\"{}\">{}</time> <span class=\"ago\">({} ago)</span></span>",
        rfc3339(at),
        human_time(at),
        human_span(ago)
    )
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:1.5em 2em;color:#1d1d1f;\
    background:#fafafa}h1{font-size:1.6em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .4em}\
    table{border-collapse:collapse;background:#fff;margin-bottom:.5em}\
    th,td{border:1px solid #d7d7db;padding:5px 10px;text-align:left;vertical-align:top}\
    th{background:#f0f0f3;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}\
    .badge{display:inline-block;padding:.05em .55em;border-radius:.4em;color:#fff}\
    .badge.ok{background:#1a7f37}.badge.degraded{background:#b35900}.badge.failing{background:#c62828}\
    td.ok{color:#1a7f37}td.degraded{color:#b35900}td.failing{color:#c62828;font-weight:600}\
    .ago{color:#666}.when{white-space:nowrap}ul#reasons{margin:.2em 0 1em;padding-left:1.3em}\
    p.facts{margin:.25em 0}.muted{color:#666}td{white-space:nowrap}\
    td.msg{white-space:normal;max-width:48em;word-break:break-word}";

/// The health page for `report`, as of `now`, by `rule`.
pub(crate) fn render(
    report: &HealthReport,
    queue_depth: usize,
    rule: &StatusRule,
    now: SystemTime,
) -> String {
    let mut html = String::new();
    let verdict = rule.judge(report, now);
    let status = verdict.status;
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"10\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>logbridge health</title><style>{STYLE}</style></head><body>\
         <h1>logbridge health: <span id=\"status\" class=\"badge {status}\">{status}</span></h1>"
    );
    if verdict.reasons.is_empty() {
        html.push_str("<p id=\"reasons\" class=\"muted\">Nothing has failed lately.</p>");
    } else {
        html.push_str("<ul id=\"reasons\">");
        for reason in &verdict.reasons {
            let _ = write!(html, "<li>{}</li>", esc(reason));
        }
        html.push_str("</ul>");
    }
    let _ = write!(
        html,
        "<p class=\"facts\" id=\"uptime\">Up {} — started {}. This page refreshes every 10 s.</p>",
        human_span(Duration::from_secs(report.uptime_s)),
        when(report.started_at, now),
    );
    let _ = write!(
        html,
        "<p class=\"facts\" id=\"counters\">This run: accepted {} · filtered {} · duplicates {} · \
         failed {} (ingest {}, plugin {}, delivery {}) · delivered {} · in flight {} · queued {}</p>",
        report.accepted,
        report.filtered,
        report.duplicates,
        report.failed(),
        report.failed_ingest,
        report.failed_plugin(),
        report.failed_delivery(),
        report.delivered(),
        report.in_flight(),
        queue_depth,
    );
    if let Some(t) = &report.totals {
        let _ = write!(
            html,
            "<p class=\"facts\" id=\"totals\">Since the data folder was created, {}: accepted {} · \
             filtered {} · duplicates {} · failed {} (ingest {}, plugin {}, delivery {}) · \
             delivered {}</p>",
            when(crate::health::parse_rfc3339(&t.since), now),
            t.accepted,
            t.filtered,
            t.duplicates,
            t.failed(),
            t.failed_ingest,
            t.failed_plugin,
            t.failed_delivery,
            t.delivered,
        );
    }
    html.push_str(
        "<h2>Buses</h2><table id=\"buses\"><tr><th>bus</th><th>status</th><th>last delivery</th>\
         <th>last failure</th><th>delivered</th><th>failed</th><th>retried</th><th>requests</th>\
         <th>mean batch</th><th>delivered, all runs</th></tr>",
    );
    if report.buses.is_empty() {
        html.push_str("<tr><td colspan=\"10\" class=\"muted\">nothing delivered yet</td></tr>");
    }
    for (bus, c) in &report.buses {
        let mean = if c.requests == 0 {
            0.0
        } else {
            c.sent_entries as f64 / c.requests as f64
        };
        let bus_status = rule.bus(c.failing_since, now);
        let all_runs = report
            .totals
            .as_ref()
            .and_then(|t| t.buses.get(bus))
            .map_or_else(|| "-".to_string(), |t| t.delivered.to_string());
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"{bus_status}\">{bus_status}</td><td>{}</td><td>{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{mean:.1}</td><td class=\"n\">{all_runs}</td></tr>",
            esc(bus),
            when(c.last_delivered, now),
            when(c.last_failed, now),
            c.delivered,
            c.failed,
            c.retried,
            c.requests
        );
    }
    html.push_str(
        "</table><h2>Plugins</h2><table id=\"plugins\"><tr><th>plugin</th><th>role</th>\
         <th>status</th><th>version</th><th>loaded</th><th>calls</th><th>errors</th>\
         <th>mean call</th><th>deadline</th><th>memory</th><th>on error</th><th>grants</th></tr>",
    );
    if report.plugins.is_empty() {
        html.push_str("<tr><td colspan=\"12\" class=\"muted\">no plugins</td></tr>");
    }
    for p in &report.plugins {
        let status = match p.calls.status {
            PluginStatus::Ok => Status::Ok,
            PluginStatus::Degraded => Status::Degraded,
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"{status}\">{status}</td><td>{}</td>\
             <td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} µs</td>\
             <td class=\"n\">{} ms</td><td class=\"n\">{} MiB</td><td>{}</td><td>{}</td></tr>",
            esc(&p.name),
            p.role,
            esc(p.hash.get(..12).unwrap_or(&p.hash)),
            when(crate::health::parse_rfc3339(&p.loaded_at), now),
            p.calls.calls,
            p.calls.errors,
            p.calls.mean_call_us,
            p.call_timeout_ms,
            p.max_memory_mib,
            esc(&p.on_error),
            esc(&p.grants.join(", ")),
        );
    }
    html.push_str(
        "</table><h2>Latest failures</h2><table id=\"failures\"><tr><th>failed at</th>\
         <th>stage</th><th>origin</th><th>event</th><th>code</th><th>attempts</th>\
         <th>message</th></tr>",
    );
    if report.recent_failures.is_empty() && report.plugin_load_errors.is_empty() {
        html.push_str("<tr><td colspan=\"7\" class=\"muted\">no failures in this run</td></tr>");
    }
    for f in report.recent_failures.iter().rev() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td>\
             <td class=\"msg\">{}</td></tr>",
            when(Some(f.at), now),
            f.stage,
            esc(&f.origin),
            esc(f.event_id.as_deref().unwrap_or("-")),
            esc(f.code.as_str()),
            f.attempts,
            esc(&f.message),
        );
    }
    for e in report.plugin_load_errors.iter().rev() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>load</td><td>{}</td><td>-</td><td>plugin-load</td><td>-</td>\
             <td class=\"msg\">{} ({})</td></tr>",
            when(crate::health::parse_rfc3339(&e.at), now),
            esc(&e.plugin),
            esc(&e.error),
            if e.kept_previous {
                "previous version kept"
            } else {
                "not running"
            },
        );
    }
    let _ = writeln!(
        html,
        "</table><p class=\"muted\">As of {}. <a href=\"/health\">JSON</a> · \
         <a href=\"/metrics\">metrics</a></p></body></html>",
        human_time(now)
    );
    html
}

pub(crate) async fn page(State(state): State<Arc<AppState>>, uri: Uri) -> Html<String> {
    Html(render(
        &state.host.health(),
        state.host.queue_depth(),
        &rule_for(&uri),
        SystemTime::now(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{BusCounts, Failure, RecentFailure, Stage};

    #[test]
    fn the_page_shows_why_when_and_for_how_long() {
        let now = SystemTime::now();
        let minute = Duration::from_secs(60);
        let mut report = HealthReport {
            accepted: 3,
            failed_ingest: 1,
            routed_events: 2,
            routed_entries: 2,
            last_ingest_failure: Some(now - minute),
            started_at: Some(now - 90 * minute),
            uptime_s: 90 * 60,
            ..HealthReport::default()
        };
        report.buses.insert(
            "security".into(),
            BusCounts {
                delivered: 2,
                last_delivered: Some(now - 2 * minute),
                ..BusCounts::default()
            },
        );
        report.recent_failures.push(RecentFailure {
            at: now - minute,
            failure: Failure {
                stage: Stage::Ingest,
                event_id: None,
                origin: "http".into(),
                version: None,
                code: crate::health::FailureCode::BadInput,
                message: "the record has no `log_id`".into(),
                attempts: 0,
                first_attempt: now - minute,
                event: None,
                input: None,
            },
        });
        let html = render(&report, 0, &StatusRule::default(), now);
        assert!(
            html.contains("class=\"badge degraded\">degraded<"),
            "an ingest failure a minute ago degrades the stream: {html}"
        );
        assert!(html.contains("Up 1 h 30 min"), "{html}");
        assert!(
            html.contains("(2 min 0 s ago)"),
            "the bus's last delivery: {html}"
        );
        assert!(
            html.contains("(1 min 0 s ago)</span></span></td><td>ingest</td>"),
            "the failure's time: {html}"
        );
    }
}
