//! `GET /health` (JSON) and `GET /` (HTML): the stream's health as Auth0's Health tab
//! shows it — per bus delivered, failed and retried, per plugin state and errors, and the
//! latest failures.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};

use super::AppState;
use crate::health::{HealthReport, PluginStatus};

pub(crate) async fn health_json(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let report = state.host.health();
    let body = serde_json::json!({
        "status": overall(&report),
        "queue_depth": state.host.queue_depth(),
        "report": report,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// `ok`, or `degraded` when a bus's latest outcome was a failure or a plugin is
/// degraded.
fn overall(report: &HealthReport) -> &'static str {
    let degraded = report.buses.values().any(|b| b.failing)
        || report
            .plugins
            .iter()
            .any(|p| p.calls.status == PluginStatus::Degraded);
    if degraded { "degraded" } else { "ok" }
}

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The health page for `report`.
pub(crate) fn render(report: &HealthReport, queue_depth: usize) -> String {
    let mut html = String::new();
    let status = overall(report);
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>logbridge health</title><style>\
         body{{font:14px system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse;margin-bottom:1.5em}}\
         th,td{{border:1px solid #ccc;padding:4px 8px;text-align:left}}\
         .ok{{color:#080}}.degraded,.failing{{color:#b00}}</style></head><body>\
         <h1>logbridge health: <span id=\"status\" class=\"{status}\">{status}</span></h1>\
         <p id=\"counters\">accepted {} · filtered {} · duplicates {} · failed {} \
         (ingest {}, plugin {}, delivery {}) · in flight {} · queued {}</p>",
        report.accepted,
        report.filtered,
        report.duplicates,
        report.failed(),
        report.failed_ingest,
        report.failed_plugin(),
        report.failed_delivery(),
        report.in_flight(),
        queue_depth,
    );
    html.push_str(
        "<h2>Buses</h2><table id=\"buses\"><tr><th>bus</th><th>delivered</th><th>failed</th>\
         <th>retried</th><th>requests</th><th>mean batch</th></tr>",
    );
    for (bus, c) in &report.buses {
        let mean = if c.requests == 0 {
            0.0
        } else {
            c.sent_entries as f64 / c.requests as f64
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{mean:.1}</td></tr>",
            esc(bus),
            c.delivered,
            c.failed,
            c.retried,
            c.requests
        );
    }
    html.push_str(
        "</table><h2>Plugins</h2><table id=\"plugins\"><tr><th>plugin</th><th>role</th>\
         <th>status</th><th>version</th><th>calls</th><th>errors</th><th>mean call</th>\
         <th>deadline</th><th>memory</th><th>on error</th><th>grants</th></tr>",
    );
    for p in &report.plugins {
        let status = match p.calls.status {
            PluginStatus::Ok => "ok",
            PluginStatus::Degraded => "degraded",
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class=\"{status}\">{status}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{} µs</td><td>{} ms</td><td>{} MiB</td><td>{}</td>\
             <td>{}</td></tr>",
            esc(&p.name),
            p.role,
            esc(p.hash.get(..12).unwrap_or(&p.hash)),
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
        "</table><h2>Latest failures</h2><table id=\"failures\"><tr><th>stage</th>\
         <th>origin</th><th>event</th><th>code</th><th>attempts</th><th>message</th></tr>",
    );
    for f in report.recent_failures.iter().rev() {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            f.stage,
            esc(&f.origin),
            esc(f.event_id.as_deref().unwrap_or("-")),
            esc(&f.code),
            f.attempts,
            esc(&f.message),
        );
    }
    for e in &report.plugin_load_errors {
        let _ = write!(
            html,
            "<tr><td>load</td><td>{}</td><td>-</td><td>plugin-load</td><td>-</td><td>{} ({})</td></tr>",
            esc(&e.plugin),
            esc(&e.error),
            if e.kept_previous {
                "previous version kept"
            } else {
                "not running"
            },
        );
    }
    html.push_str("</table></body></html>\n");
    html
}

pub(crate) async fn page(State(state): State<Arc<AppState>>) -> Html<String> {
    Html(render(&state.host.health(), state.host.queue_depth()))
}
