//! The one rule that turns a health report into `ok`, `degraded` or `failing`, with the
//! reasons a person reads: used by the health page, `GET /health` and `logbridge health`.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{HealthReport, PluginStatus, rfc3339};

/// How a stream is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing failed lately.
    Ok,
    /// Something failed lately — at ingest, in a plugin, or a bus's latest delivery — but
    /// nothing has been failing for long.
    Degraded,
    /// Every delivery to a bus has failed for the rule's `failing_after`, or a failure
    /// could not be written to the failure log.
    Failing,
}

impl Status {
    /// Its name: `ok`, `degraded` or `failing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Degraded => "degraded",
            Status::Failing => "failing",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A status and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The worst of the reasons; `ok` when there are none.
    pub status: Status,
    /// One line per thing that is wrong, worst first.
    pub reasons: Vec<String>,
}

/// When failures make a stream `degraded` or `failing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRule {
    /// A bus whose every delivery has failed for this long makes the stream `failing` (a
    /// shorter streak makes it `degraded`).
    pub failing_after: Duration,
    /// An ingest or plugin failure (or a plugin that failed to load) this recent makes
    /// the stream `degraded`.
    pub recent: Duration,
}

/// How long a bus fails before it is `failing`, by default: about how long Auth0 lets a
/// stream fail before it pauses it.
pub const FAILING_AFTER: Duration = Duration::from_secs(600);
/// How long an ingest or plugin failure keeps the stream `degraded`, by default.
pub const RECENT_FAILURES_WINDOW: Duration = Duration::from_secs(600);

impl Default for StatusRule {
    fn default() -> Self {
        StatusRule {
            failing_after: FAILING_AFTER,
            recent: RECENT_FAILURES_WINDOW,
        }
    }
}

fn age(now: SystemTime, at: SystemTime) -> Duration {
    now.duration_since(at).unwrap_or_default()
}

/// A span for a person: `12 s`, `7 min 3 s`, `2 h 5 min`, `3 d 4 h`.
pub fn human_span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// A time for a person, to the second: `2026-11-30 21:05:03 UTC`.
pub fn human_time(at: SystemTime) -> String {
    let text = rfc3339(at);
    format!("{} UTC", text.get(..19).unwrap_or(&text).replace('T', " "))
}

/// `; 3 in this run`, or nothing for none (they happened in an earlier run).
fn this_run(count: u64) -> String {
    if count == 0 {
        String::new()
    } else {
        format!("; {count} in this run")
    }
}

/// `2026-11-30 21:05:03 UTC (12 s ago)`.
fn when(at: SystemTime, now: SystemTime) -> String {
    format!("{} ({} ago)", human_time(at), human_span(age(now, at)))
}

impl StatusRule {
    /// A bus's status: `ok` when its latest delivery succeeded (`failing_since` is
    /// `None`), `failing` once every delivery has failed for `failing_after`, `degraded`
    /// before that.
    pub fn bus(&self, failing_since: Option<SystemTime>, now: SystemTime) -> Status {
        match failing_since {
            None => Status::Ok,
            Some(since) if age(now, since) >= self.failing_after => Status::Failing,
            Some(_) => Status::Degraded,
        }
    }

    /// The stream's status at `now`.
    pub fn judge(&self, report: &HealthReport, now: SystemTime) -> Verdict {
        let mut found: Vec<(Status, String)> = Vec::new();
        if report.failure_log_errors > 0 {
            found.push((
                Status::Failing,
                format!(
                    "{} failures could not be written to the failure log; those events are lost",
                    report.failure_log_errors
                ),
            ));
        }
        if let Some(why) = &report.failure_log_blocked {
            found.push((Status::Failing, format!("intake stopped: {why}")));
        }
        if let Some(why) = report.journal.as_ref().and_then(|j| j.error.as_ref()) {
            found.push((Status::Failing, format!("intake stopped: {why}")));
        }
        for (bus, counts) in &report.buses {
            let status = self.bus(counts.failing_since, now);
            if let (Some(since), true) = (counts.failing_since, status != Status::Ok) {
                found.push((
                    status,
                    format!(
                        "bus {bus}: every delivery failing since {}",
                        when(since, now)
                    ),
                ));
            }
        }
        for plugin in &report.plugins {
            if plugin.calls.status == PluginStatus::Degraded {
                found.push((
                    Status::Degraded,
                    format!(
                        "plugin {}: {} of its last {} calls failed",
                        plugin.name,
                        plugin.calls.recent_errors,
                        super::STATUS_WINDOW
                    ),
                ));
            }
        }
        let recent = |at: Option<SystemTime>| at.filter(|&at| age(now, at) < self.recent);
        if let Some(at) = recent(report.last_ingest_failure) {
            found.push((
                Status::Degraded,
                format!(
                    "records failed at ingest, the latest at {}{}",
                    when(at, now),
                    this_run(report.failed_ingest)
                ),
            ));
        }
        if let Some(at) = recent(report.last_plugin_failure) {
            found.push((
                Status::Degraded,
                format!(
                    "plugins failed on events, the latest at {}{}",
                    when(at, now),
                    this_run(report.failed_plugin())
                ),
            ));
        }
        for error in &report.plugin_load_errors {
            if let Some(at) = recent(super::parse_rfc3339(&error.at)) {
                found.push((
                    Status::Degraded,
                    format!(
                        "plugin {} failed to load at {} ({})",
                        error.plugin,
                        when(at, now),
                        if error.kept_previous {
                            "previous version kept"
                        } else {
                            "not running"
                        }
                    ),
                ));
            }
        }
        // Worst first; the order found within a status is kept.
        found.sort_by_key(|(status, _)| std::cmp::Reverse(*status));
        Verdict {
            status: found.first().map_or(Status::Ok, |(status, _)| *status),
            reasons: found.into_iter().map(|(_, reason)| reason).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::BusCounts;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn ingest_and_plugin_failures_degrade_the_stream_while_recent() {
        let rule = StatusRule::default();
        let now = SystemTime::now();
        let mut report = HealthReport {
            accepted: 10,
            failed_ingest: 3,
            last_ingest_failure: Some(now - MINUTE),
            ..HealthReport::default()
        };
        let verdict = rule.judge(&report, now);
        assert_eq!(verdict.status, Status::Degraded, "{verdict:?}");
        assert!(verdict.reasons[0].contains("ingest"), "{verdict:?}");
        assert_eq!(rule.judge(&report, now + 20 * MINUTE).status, Status::Ok);

        report.last_ingest_failure = None;
        report.failed_by_plugin.insert("20-redact".into(), 1);
        report.last_plugin_failure = Some(now);
        let verdict = rule.judge(&report, now);
        assert_eq!(verdict.status, Status::Degraded);
        assert!(verdict.reasons[0].contains("plugins failed"), "{verdict:?}");
    }

    #[test]
    fn a_bus_failing_for_long_makes_the_stream_failing_and_comes_first() {
        let rule = StatusRule {
            failing_after: 5 * MINUTE,
            ..StatusRule::default()
        };
        let now = SystemTime::now();
        let mut report = HealthReport {
            last_plugin_failure: Some(now),
            ..HealthReport::default()
        };
        report.buses.insert(
            "security".into(),
            BusCounts {
                failing_since: Some(now - MINUTE),
                ..BusCounts::default()
            },
        );
        assert_eq!(rule.judge(&report, now).status, Status::Degraded);
        let verdict = rule.judge(&report, now + 10 * MINUTE);
        assert_eq!(verdict.status, Status::Failing);
        assert!(
            verdict.reasons[0].starts_with("bus security"),
            "{verdict:?}"
        );
        assert_eq!(
            rule.bus(None, now),
            Status::Ok,
            "a bus whose latest delivery succeeded"
        );
    }

    #[test]
    fn nothing_wrong_is_ok() {
        let verdict = StatusRule::default().judge(&HealthReport::default(), SystemTime::now());
        assert_eq!(
            verdict,
            Verdict {
                status: Status::Ok,
                reasons: Vec::new()
            }
        );
    }
}
