//! What health shows: the report a snapshot gives (counters, buses, plugins, recent
//! failures), the failure type every stage records, and the reading of a stored report.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::store::{deserialize_time, serialize_time};
use super::{FailureCode, PluginCalls, StatusRule, Totals, Verdict, parse_rfc3339, rfc3339};
use crate::event::Event;

/// How many recent failures a running host keeps for display.
pub const RECENT_FAILURES: usize = 20;

/// Where in the stream an event failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The input record could not become an event.
    Ingest,
    /// A plugin failed on it.
    Plugin,
    /// The bus did not take it.
    Delivery,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Ingest => "ingest",
            Stage::Plugin => "plugin",
            Stage::Delivery => "delivery",
        })
    }
}

/// One failed event or entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Where it failed.
    pub stage: Stage,
    /// The event's id, when it got that far.
    pub event_id: Option<String>,
    /// The plugin (stage `plugin`), bus (stage `delivery`) or input (stage `ingest`).
    pub origin: String,
    /// For stage `plugin`: the SHA-256 of the failing plugin version's bytes.
    pub version: Option<String>,
    /// Why, as a stable code: one of logbridge's own (`bad-input`, `deadline`,
    /// `plugin-error`…) or EventBridge's (`ThrottlingException`…).
    pub code: FailureCode,
    /// What happened, for a person.
    pub message: String,
    /// Attempts made: delivery calls for stage `delivery`, 1 for a plugin call, 0 when
    /// it failed before any attempt.
    pub attempts: u32,
    /// When it was first tried.
    #[serde(skip, default = "epoch")]
    pub first_attempt: SystemTime,
    /// The event as it was when it failed; `None` at ingest, before there was one.
    #[serde(skip)]
    pub event: Option<Event>,
    /// The raw input, for ingest failures.
    #[serde(skip)]
    pub input: Option<String>,
}

/// Counters for one bus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BusCounts {
    /// Entries the bus accepted.
    pub delivered: u64,
    /// Entries that finally failed.
    pub failed: u64,
    /// Entries re-sent after a retryable failure (each retry counts once per entry).
    pub retried: u64,
    /// `PutEvents` requests made (or sink calls), retries included.
    pub requests: u64,
    /// Entries those requests carried: `sent_entries / requests` is the mean batch size.
    pub sent_entries: u64,
    /// Whether the latest outcome for this bus was a failed entry (a delivery since
    /// clears it).
    pub failing: bool,
    /// When it last accepted entries (this run or, after a restart, an earlier one).
    #[serde(
        default,
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_time"
    )]
    pub last_delivered: Option<SystemTime>,
    /// When an entry for it last failed for good.
    #[serde(
        default,
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_time"
    )]
    pub last_failed: Option<SystemTime>,
    /// Since when every delivery to it has failed; `None` when its latest delivery
    /// succeeded.
    #[serde(
        default,
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_time"
    )]
    pub failing_since: Option<SystemTime>,
}

/// A failure as health shows it: when it failed for good, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentFailure {
    /// When it was recorded as failed.
    #[serde(
        rename = "failed_at",
        serialize_with = "serialize_instant",
        deserialize_with = "deserialize_instant"
    )]
    pub at: SystemTime,
    /// The failure.
    #[serde(flatten)]
    pub failure: Failure,
}

impl std::ops::Deref for RecentFailure {
    type Target = Failure;

    fn deref(&self) -> &Failure {
        &self.failure
    }
}

fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH
}

fn deserialize_instant<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
    let text = String::deserialize(d)?;
    parse_rfc3339(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("{text:?} is not an RFC 3339 time")))
}

fn serialize_instant<S: serde::Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*at))
}

/// A snapshot of a stream's health. It reads back from what it serializes to; a field an
/// older version did not write reads as its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HealthReport {
    /// Input records received.
    pub accepted: u64,
    /// Events a filter dropped.
    pub filtered: u64,
    /// Events dropped, per filter plugin.
    pub filtered_by: BTreeMap<String, u64>,
    /// Records that failed at ingest.
    pub failed_ingest: u64,
    /// Records dropped as duplicates of a `log_id` already taken (not counted as
    /// accepted).
    pub duplicates: u64,
    /// Events a plugin failed on, per plugin.
    pub failed_by_plugin: BTreeMap<String, u64>,
    /// Events that left the pipeline for at least one bus.
    pub routed_events: u64,
    /// Entries handed to delivery (one per event and destination).
    pub routed_entries: u64,
    /// Per-bus delivery counters.
    pub buses: BTreeMap<String, BusCounts>,
    /// Failures that could not be written to the failure log and whose events are lost
    /// (without a write-ahead log to keep them).
    pub failure_log_errors: u64,
    /// Why failures cannot be written to the failure log right now (a full disk, say),
    /// while they cannot: they are held in memory and retried, and intake stops.
    #[serde(default)]
    pub failure_log_blocked: Option<String>,
    /// The write-ahead log, for a host that keeps one (`durability = "disk"`).
    #[serde(default)]
    pub journal: Option<crate::journal::JournalReport>,
    /// The running plugins, in order.
    pub plugins: Vec<PluginInfo>,
    /// Plugin reloads so far.
    pub reloads: u64,
    /// The most recent plugin load failures, oldest first.
    pub plugin_load_errors: Vec<PluginLoadError>,
    /// The most recent failures, oldest first, each with its time.
    pub recent_failures: Vec<RecentFailure>,
    /// When this host started.
    #[serde(
        default,
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_time"
    )]
    pub started_at: Option<SystemTime>,
    /// Seconds since it started, when the report was taken.
    pub uptime_s: u64,
    /// When a record last failed at ingest (this run or, after a restart, an earlier
    /// one on the same data folder).
    #[serde(
        default,
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_time"
    )]
    pub last_ingest_failure: Option<SystemTime>,
    /// When a plugin last failed on an event (likewise).
    #[serde(
        default,
        serialize_with = "serialize_time",
        deserialize_with = "deserialize_time"
    )]
    pub last_plugin_failure: Option<SystemTime>,
    /// Counters since the data folder was created, every run on it together (this
    /// one's included); `None` without a failure log that keeps them.
    pub totals: Option<Totals>,
}

impl HealthReport {
    /// The health a failure log holds between runs: its totals, each bus's state, the
    /// last finished run and the latest open failures (no live counters).
    pub fn from_store(store: std::sync::Arc<dyn super::FailureStore>) -> HealthReport {
        super::Health::with_store(store).report()
    }

    /// The running plugin called `name`, if there is one.
    pub fn plugin(&self, name: &str) -> Option<&PluginInfo> {
        self.plugins.iter().find(|p| p.name == name)
    }

    /// Events a plugin failed on, all plugins together.
    pub fn failed_plugin(&self) -> u64 {
        self.failed_by_plugin.values().sum()
    }

    /// Entries delivered, all buses together.
    pub fn delivered(&self) -> u64 {
        self.buses.values().map(|b| b.delivered).sum()
    }

    /// Entries that failed delivery, all buses together.
    pub fn failed_delivery(&self) -> u64 {
        self.buses.values().map(|b| b.failed).sum()
    }

    /// Everything that failed, at any stage.
    pub fn failed(&self) -> u64 {
        self.failed_ingest + self.failed_plugin() + self.failed_delivery()
    }

    /// Entries handed to delivery and not yet delivered or failed.
    pub fn in_flight(&self) -> u64 {
        self.routed_entries - self.delivered() - self.failed_delivery()
    }

    /// The stream's status by the default [`StatusRule`], now.
    pub fn verdict(&self) -> Verdict {
        StatusRule::default().judge(self, SystemTime::now())
    }

    /// Whether every accepted event is accounted for and nothing is in flight.
    pub fn settled(&self) -> bool {
        self.accepted
            == self.filtered + self.failed_ingest + self.failed_plugin() + self.routed_events
            && self.in_flight() == 0
    }
}

/// A running plugin, as health shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// Its role: `filter`, `transformer` or `router`.
    pub role: String,
    /// The SHA-256 of its bytes.
    pub hash: String,
    /// When it was loaded (RFC 3339).
    pub loaded_at: String,
    /// Its call deadline, in milliseconds.
    pub call_timeout_ms: u64,
    /// Its memory cap, in MiB.
    pub max_memory_mib: u64,
    /// What its failures do to an event: `fail-event` or `skip`.
    pub on_error: String,
    /// What it was granted beyond the default of nothing, e.g. `read-only /data = /srv/geo`.
    pub grants: Vec<String>,
    /// The detail fields it is handed (those it declared, or the sidecar's narrowing);
    /// empty when it sees the whole detail.
    pub projection: Vec<String>,
    /// The compiler of the code it runs: `cranelift`, or `winch` for a large plugin's
    /// first build until the optimized one is swapped in.
    #[serde(default = "cranelift")]
    pub compiler: String,
    /// What this version of the plugin has done since it was loaded.
    #[serde(flatten)]
    pub calls: PluginCalls,
}

/// A plugin that failed to load on a reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginLoadError {
    /// The plugin's name.
    pub plugin: String,
    /// The SHA-256 of the bytes that failed, when they could be read.
    pub hash: Option<String>,
    /// What is wrong.
    pub error: String,
    /// Whether its previous version kept running.
    pub kept_previous: bool,
    /// When (RFC 3339).
    pub at: String,
}

/// The compiler a plugin listed by an older health file ran on.
fn cranelift() -> String {
    "cranelift".to_string()
}
