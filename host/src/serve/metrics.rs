//! `GET /metrics`: the host's counters in the Prometheus text format.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::health::{HealthReport, PluginStatus, TIME_ONE_CALL_IN};

/// Escapes a label value as the text format requires.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The report (and the queue depth) as Prometheus text.
pub(crate) fn render(report: &HealthReport, queue_depth: usize) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let one = |v: u64| vec![(String::new(), v as f64)];
    family(
        "logbridge_events_accepted_total",
        "counter",
        "Input records accepted.",
        &one(report.accepted),
    );
    family(
        "logbridge_events_filtered_total",
        "counter",
        "Events a filter dropped.",
        &one(report.filtered),
    );
    family(
        "logbridge_events_duplicate_total",
        "counter",
        "Records dropped as duplicates of a log_id already taken.",
        &one(report.duplicates),
    );
    let failed_delivery = report.failed_delivery();
    family(
        "logbridge_events_failed_total",
        "counter",
        "Events or entries that failed for good, by stage.",
        &[
            ("{stage=\"ingest\"}".into(), report.failed_ingest as f64),
            ("{stage=\"plugin\"}".into(), report.failed_plugin() as f64),
            ("{stage=\"delivery\"}".into(), failed_delivery as f64),
        ],
    );
    family(
        "logbridge_queue_depth",
        "gauge",
        "Events waiting for a pipeline worker.",
        &[(String::new(), queue_depth as f64)],
    );
    family(
        "logbridge_entries_in_flight",
        "gauge",
        "Entries handed to delivery and not yet delivered or failed.",
        &one(report.in_flight()),
    );
    let bus = |f: &dyn Fn(&crate::health::BusCounts) -> f64| -> Vec<(String, f64)> {
        report
            .buses
            .iter()
            .map(|(bus, c)| (format!("{{bus=\"{}\"}}", label(bus)), f(c)))
            .collect()
    };
    family(
        "logbridge_bus_delivered_total",
        "counter",
        "Entries the bus accepted.",
        &bus(&|c| c.delivered as f64),
    );
    family(
        "logbridge_bus_failed_total",
        "counter",
        "Entries that failed delivery for good.",
        &bus(&|c| c.failed as f64),
    );
    family(
        "logbridge_bus_retried_total",
        "counter",
        "Entries re-sent after a retryable failure.",
        &bus(&|c| c.retried as f64),
    );
    family(
        "logbridge_bus_requests_total",
        "counter",
        "PutEvents requests made, retries included.",
        &bus(&|c| c.requests as f64),
    );
    family(
        "logbridge_bus_request_entries_total",
        "counter",
        "Entries carried by those requests (divide by requests for the mean batch size).",
        &bus(&|c| c.sent_entries as f64),
    );
    let plugin = |f: &dyn Fn(&crate::health::PluginInfo) -> f64| -> Vec<(String, f64)> {
        report
            .plugins
            .iter()
            .map(|p| {
                (
                    format!(
                        "{{plugin=\"{}\",role=\"{}\",version=\"{}\"}}",
                        label(&p.name),
                        p.role,
                        p.hash.get(..12).unwrap_or(&p.hash)
                    ),
                    f(p),
                )
            })
            .collect()
    };
    family(
        "logbridge_plugin_calls_total",
        "counter",
        "Calls into the plugin version.",
        &plugin(&|p| p.calls.calls as f64),
    );
    family(
        "logbridge_plugin_errors_total",
        "counter",
        "Failed calls: traps, deadline, memory cap, errors, bad output.",
        &plugin(&|p| p.calls.errors as f64),
    );
    family(
        "logbridge_plugin_call_seconds_mean",
        "gauge",
        &format!("Mean time of a call, measured on one call in {TIME_ONE_CALL_IN}."),
        &plugin(&|p| p.calls.mean_call_us as f64 / 1e6),
    );
    family(
        "logbridge_plugin_instances_total",
        "counter",
        "Instances started (after traps and recycling too).",
        &plugin(&|p| p.calls.instances as f64),
    );
    family(
        "logbridge_plugin_degraded",
        "gauge",
        "1 when more than the allowed share of recent calls failed.",
        &plugin(&|p| f64::from(u8::from(p.calls.status == PluginStatus::Degraded))),
    );
    family(
        "logbridge_uptime_seconds",
        "gauge",
        "Seconds since the host started.",
        &one(report.uptime_s),
    );
    family(
        "logbridge_status",
        "gauge",
        "The stream's status by the default rule: 0 ok, 1 degraded, 2 failing.",
        &[(String::new(), f64::from(report.verdict().status as u8))],
    );
    let seconds = |at: Option<std::time::SystemTime>| {
        at.and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64().floor())
    };
    family(
        "logbridge_bus_last_delivered_timestamp_seconds",
        "gauge",
        "When the bus last accepted entries (Unix time; 0 for never).",
        &bus(&|c| seconds(c.last_delivered)),
    );
    family(
        "logbridge_bus_last_failed_timestamp_seconds",
        "gauge",
        "When an entry for the bus last failed for good (Unix time; 0 for never).",
        &bus(&|c| seconds(c.last_failed)),
    );
    family(
        "logbridge_plugin_reloads_total",
        "counter",
        "Plugin folder reloads.",
        &one(report.reloads),
    );
    family(
        "logbridge_failure_log_blocked",
        "gauge",
        "1 while failures cannot be written to the failure log (intake stops).",
        &one(u64::from(report.failure_log_blocked.is_some())),
    );
    if let Some(journal) = &report.journal {
        let gauges: [(&str, &str, &str, u64); 7] = [
            (
                "logbridge_journal_pending",
                "gauge",
                "Events accepted and not yet settled, kept in the write-ahead log.",
                journal.pending,
            ),
            (
                "logbridge_journal_bytes",
                "gauge",
                "Size of the write-ahead log on disk (database and WAL file).",
                journal.bytes,
            ),
            (
                "logbridge_journal_appended_total",
                "counter",
                "Events written to the write-ahead log.",
                journal.appended,
            ),
            (
                "logbridge_journal_fsyncs_total",
                "counter",
                "Durable commits of the write-ahead log; each covers every append waiting.",
                journal.fsyncs,
            ),
            (
                "logbridge_journal_recovered",
                "gauge",
                "Events an earlier process left unsettled, resumed at start.",
                journal.recovered,
            ),
            (
                "logbridge_journal_possible_duplicates",
                "gauge",
                "Of those, events a PutEvents call had already carried (may be delivered twice).",
                journal.possible_duplicates,
            ),
            (
                "logbridge_journal_blocked",
                "gauge",
                "1 while the write-ahead log cannot be written (intake stops).",
                u64::from(journal.error.is_some()),
            ),
        ];
        for (name, kind, help, value) in gauges {
            family(name, kind, help, &one(value));
        }
    }
    out
}

pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let body = render(&state.host.health(), state.host.queue_depth());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
