//! Stream health: what became of every accepted event — delivered per bus, filtered per
//! plugin, or failed with its stage — and the most recent failures.
//!
//! The invariant it keeps visible: every accepted event is filtered, failed, or routed;
//! every routed entry is delivered, failed, or still in flight.

mod failure_log;
mod plugin_counters;
mod status;
mod totals;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use failure_log::serialize_time;
pub use failure_log::{
    BusState, FAILURE_LOG_FILE, FailureFilter, FailureLog, FailureLogError, FailureStore,
    StoredEvent, StoredFailure, StoredState, parse_rfc3339, rfc3339,
};
pub use plugin_counters::{
    PluginCalls, PluginCounters, PluginStatus, PluginTally, STATUS_MIN_CALLS, STATUS_WINDOW,
};
pub use status::{
    FAILING_AFTER, RECENT_FAILURES_WINDOW, Status, StatusRule, Verdict, human_span, human_time,
};
pub use totals::{BusTotals, Counters, TOTALS_EVERY, Totals};

use crate::event::Event;

/// How many recent failures a [`Health`] keeps for display.
pub const RECENT_FAILURES: usize = 20;

/// Where in the stream an event failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Where it failed.
    pub stage: Stage,
    /// The event's id, when it got that far.
    pub event_id: Option<String>,
    /// The plugin (stage `plugin`), bus (stage `delivery`) or input (stage `ingest`).
    pub origin: String,
    /// For stage `plugin`: the SHA-256 of the failing plugin version's bytes.
    pub version: Option<String>,
    /// A short code: EventBridge's error code, `trap`, `transform-error`, `bad-input`...
    pub code: String,
    /// What happened, for a person.
    pub message: String,
    /// Attempts made: delivery calls for stage `delivery`, 1 for a plugin call, 0 when
    /// it failed before any attempt.
    pub attempts: u32,
    /// When it was first tried.
    #[serde(skip)]
    pub first_attempt: SystemTime,
    /// The event as it was when it failed; `None` at ingest, before there was one.
    #[serde(skip)]
    pub event: Option<Event>,
    /// The raw input, for ingest failures.
    #[serde(skip)]
    pub input: Option<String>,
}

/// Counters for one bus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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
    #[serde(serialize_with = "serialize_time")]
    pub last_delivered: Option<SystemTime>,
    /// When an entry for it last failed for good.
    #[serde(serialize_with = "serialize_time")]
    pub last_failed: Option<SystemTime>,
    /// Since when every delivery to it has failed; `None` when its latest delivery
    /// succeeded.
    #[serde(serialize_with = "serialize_time")]
    pub failing_since: Option<SystemTime>,
}

/// A failure as health shows it: when it failed for good, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecentFailure {
    /// When it was recorded as failed.
    #[serde(rename = "failed_at", serialize_with = "serialize_instant")]
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

fn serialize_instant<S: serde::Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&rfc3339(*at))
}

/// A snapshot of a stream's health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
    /// Failures that could not be written to the failure log (data at risk).
    pub failure_log_errors: u64,
    /// The running plugins, in order.
    pub plugins: Vec<PluginInfo>,
    /// Plugin reloads so far.
    pub reloads: u64,
    /// The most recent plugin load failures, oldest first.
    pub plugin_load_errors: Vec<PluginLoadError>,
    /// The most recent failures, oldest first, each with its time.
    pub recent_failures: Vec<RecentFailure>,
    /// When this host started.
    #[serde(serialize_with = "serialize_time")]
    pub started_at: Option<SystemTime>,
    /// Seconds since it started, when the report was taken.
    pub uptime_s: u64,
    /// When a record last failed at ingest (this run or, after a restart, an earlier
    /// one on the same data folder).
    #[serde(serialize_with = "serialize_time")]
    pub last_ingest_failure: Option<SystemTime>,
    /// When a plugin last failed on an event (likewise).
    #[serde(serialize_with = "serialize_time")]
    pub last_plugin_failure: Option<SystemTime>,
    /// Counters since the data folder was created, every run on it together (this
    /// one's included); `None` without a failure log that keeps them.
    pub totals: Option<Totals>,
}

impl HealthReport {
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// The detail fields it is handed, when its sidecar declares a projection; empty when
    /// it sees the whole detail.
    pub projection: Vec<String>,
    /// What this version of the plugin has done since it was loaded.
    #[serde(flatten)]
    pub calls: PluginCalls,
}

/// A plugin that failed to load on a reload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// Live counters of a running host. Shared by ingest, workers and delivery.
pub struct Health {
    started: SystemTime,
    /// The totals as stored, and this run's counters when they were last added to them.
    totals: Mutex<totals::TotalsState>,
    /// Held while counters are added to the stored totals, so two flushes never add the
    /// same growth twice.
    flushing: Mutex<()>,
    /// Dropped with the health, which ends the thread that flushes the totals.
    flusher: Mutex<Option<mpsc::Sender<()>>>,
    report: Mutex<HealthReport>,
    recent: Mutex<VecDeque<RecentFailure>>,
    /// The running plugins with their live counters; copied into reports.
    plugins: Mutex<Vec<(PluginInfo, Arc<PluginCounters>)>>,
    store: Option<Arc<dyn FailureStore>>,
    /// Per bus: when its last delivery was written to the store, and a later delivery
    /// not written yet.
    noted: Mutex<HashMap<String, (Instant, Option<SystemTime>)>>,
}

/// A bus's deliveries are written to the failure log at most this often (and at once
/// after a failure, and by [`Health::note_deliveries`]): a write per batch would cost
/// more than the batch.
pub const NOTE_DELIVERIES_EVERY: Duration = Duration::from_secs(1);

impl Default for Health {
    fn default() -> Self {
        Health {
            started: SystemTime::now(),
            totals: Mutex::default(),
            flushing: Mutex::default(),
            flusher: Mutex::default(),
            report: Mutex::default(),
            recent: Mutex::default(),
            plugins: Mutex::default(),
            store: None,
            noted: Mutex::default(),
        }
    }
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("report", &self.report())
            .field("durable", &self.store.is_some())
            .finish()
    }
}

impl Health {
    /// Fresh counters; failures are kept in memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fresh counters; every failure is also written to `store`. What the store
    /// remembers of earlier runs — per bus last delivery and failure, the latest ingest
    /// and plugin failures, the totals — is carried over.
    pub fn with_store(store: Arc<dyn FailureStore>) -> Self {
        let state = store.load_state().unwrap_or_else(|e| {
            tracing::warn!("cannot read the earlier runs' state from the failure log: {e}");
            StoredState::default()
        });
        let health = Health {
            store: Some(store),
            ..Self::default()
        };
        health.update(|r| {
            for bus in &state.buses {
                let counts = r.buses.entry(bus.bus.clone()).or_default();
                counts.last_delivered = bus.last_delivered.as_deref().and_then(parse_rfc3339);
                counts.last_failed = bus.last_failed.as_deref().and_then(parse_rfc3339);
                counts.failing_since = bus.failing_since.as_deref().and_then(parse_rfc3339);
                counts.failing = counts.failing_since.is_some();
            }
            r.last_ingest_failure = state.last_ingest_failure.as_deref().and_then(parse_rfc3339);
            r.last_plugin_failure = state.last_plugin_failure.as_deref().and_then(parse_rfc3339);
        });
        if let Some((since, stored)) = state.totals {
            let mut totals = health.totals.lock().unwrap_or_else(|e| e.into_inner());
            totals.since = Some(since);
            totals.stored = stored;
        }
        health
    }

    fn update(&self, f: impl FnOnce(&mut HealthReport)) {
        f(&mut self.report.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn remember(&self, failure: Failure, at: SystemTime) {
        tracing::error!(
            stage = %failure.stage,
            origin = %failure.origin,
            event_id = failure.event_id.as_deref().unwrap_or("-"),
            code = %failure.code,
            "{}",
            failure.message
        );
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_FAILURES {
            recent.pop_front();
        }
        recent.push_back(RecentFailure { at, failure });
    }

    /// A record arrived.
    pub fn record_accepted(&self) {
        self.update(|r| r.accepted += 1);
    }

    /// A duplicate record was dropped before it was accepted.
    pub fn record_duplicate(&self) {
        self.update(|r| r.duplicates += 1);
    }

    /// What a worker tallied since it last reported: events dropped per filter, and
    /// `events` events that left the pipeline as `entries` entries. One lock for many
    /// events.
    pub fn record_pipeline(&self, filtered: &[(String, u64)], events: u64, entries: u64) {
        self.update(|r| {
            for (plugin, count) in filtered {
                r.filtered += count;
                match r.filtered_by.get_mut(plugin) {
                    Some(n) => *n += count,
                    None => {
                        r.filtered_by.insert(plugin.clone(), *count);
                    }
                }
            }
            r.routed_events += events;
            r.routed_entries += entries;
        });
    }

    /// `bus` accepted `count` entries.
    pub fn record_delivered(&self, bus: &str, count: u64) {
        let mut was_failing = false;
        let now = SystemTime::now();
        self.update(|r| {
            let counts = match r.buses.get_mut(bus) {
                Some(counts) => counts,
                None => r.buses.entry(bus.to_string()).or_default(),
            };
            counts.delivered += count;
            if count > 0 {
                was_failing = counts.failing;
                counts.failing = false;
                counts.failing_since = None;
                counts.last_delivered = Some(now);
            }
        });
        if count == 0 || self.store.is_none() {
            return;
        }
        let due = {
            let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
            match noted.get_mut(bus) {
                Some((at, pending)) => {
                    if was_failing || at.elapsed() >= NOTE_DELIVERIES_EVERY {
                        *at = Instant::now();
                        *pending = None;
                        true
                    } else {
                        *pending = Some(now);
                        false
                    }
                }
                None => {
                    noted.insert(bus.to_string(), (Instant::now(), None));
                    true
                }
            }
        };
        if due {
            self.note_delivered(bus, now);
        }
    }

    fn note_delivered(&self, bus: &str, at: SystemTime) {
        if let Some(store) = &self.store
            && let Err(e) = store.record_delivered(bus, at)
        {
            tracing::warn!(bus, "could not note a delivery in the failure log: {e}");
        }
    }

    /// Writes every bus's latest delivery not yet in the failure log (they are written
    /// at most once a second while the host runs). Called when the host shuts down.
    pub fn note_deliveries(&self) {
        let pending: Vec<(String, SystemTime)> = self
            .noted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
            .filter_map(|(bus, (_, pending))| pending.take().map(|at| (bus.clone(), at)))
            .collect();
        for (bus, at) in pending {
            self.note_delivered(&bus, at);
        }
    }

    /// `requests` calls carrying `entries` entries were made to `bus`.
    pub fn record_requests(&self, bus: &str, requests: u64, entries: u64) {
        self.update(|r| {
            let counts = r.buses.entry(bus.to_string()).or_default();
            counts.requests += requests;
            counts.sent_entries += entries;
        });
    }

    /// `count` entries for `bus` failed retryably and are being re-sent.
    pub fn record_retried(&self, bus: &str, count: u64) {
        self.update(|r| r.buses.entry(bus.to_string()).or_default().retried += count);
    }

    /// Something failed for good. It is written to the failure log (when there is one)
    /// before it is counted and the event released.
    pub fn record_failure(&self, failure: Failure) {
        if let Some(store) = &self.store
            && let Err(e) = store.record(&failure)
        {
            tracing::error!(
                event_id = failure.event_id.as_deref().unwrap_or("-"),
                "could not write a failure to the failure log; the event is lost: {e}"
            );
            self.update(|r| r.failure_log_errors += 1);
        }
        let now = SystemTime::now();
        self.update(|r| match failure.stage {
            Stage::Ingest => {
                r.failed_ingest += 1;
                r.last_ingest_failure = Some(now);
            }
            Stage::Plugin => {
                *r.failed_by_plugin
                    .entry(failure.origin.clone())
                    .or_default() += 1;
                r.last_plugin_failure = Some(now);
            }
            Stage::Delivery => {
                let counts = r.buses.entry(failure.origin.clone()).or_default();
                counts.failed += 1;
                counts.failing = true;
                counts.last_failed = Some(now);
                counts.failing_since.get_or_insert(now);
            }
        });
        if failure.stage == Stage::Delivery
            && let Some((_, pending)) = self
                .noted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_mut(&failure.origin)
        {
            // A delivery held back before this failure must not be written after it:
            // it would clear the bus's `failing since`.
            *pending = None;
        }
        self.remember(failure, now);
    }

    /// Which plugins are running now, in order, each with its live counters.
    pub fn set_plugins(&self, plugins: Vec<(PluginInfo, Arc<PluginCounters>)>) {
        *self.plugins.lock().unwrap_or_else(|e| e.into_inner()) = plugins;
    }

    /// A plugin failed to load on a reload.
    pub fn record_plugin_load_error(&self, error: PluginLoadError) {
        self.update(|r| {
            if r.plugin_load_errors.len() == RECENT_FAILURES {
                r.plugin_load_errors.remove(0);
            }
            r.plugin_load_errors.push(error);
        });
    }

    /// A reload ran.
    pub fn record_reload(&self) {
        self.update(|r| r.reloads += 1);
    }

    /// A snapshot of the counters.
    pub fn report(&self) -> HealthReport {
        let mut report = self
            .report
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        report.recent_failures = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        report.plugins = self
            .plugins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(info, counters)| PluginInfo {
                calls: counters.snapshot(),
                ..info.clone()
            })
            .collect();
        report.started_at = Some(self.started);
        report.uptime_s = self.started.elapsed().unwrap_or_default().as_secs();
        let state = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(since) = &state.since {
            let unflushed = totals::deltas(&totals::counters(&report), &state.flushed);
            report.totals = Some(Totals::from_counters(
                since.clone(),
                &totals::sum(&state.stored, &unflushed),
            ));
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery_failure(bus: &str) -> Failure {
        Failure {
            stage: Stage::Delivery,
            event_id: Some("e".into()),
            origin: bus.into(),
            version: None,
            code: "InternalFailure".into(),
            message: "down".into(),
            attempts: 4,
            first_attempt: SystemTime::now(),
            event: None,
            input: None,
        }
    }

    #[test]
    fn deliveries_are_noted_once_a_second_and_never_over_a_later_failure() {
        let dir = std::env::temp_dir().join(format!("logbridge-noted-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = Arc::new(FailureLog::open(&dir).unwrap());
        let health = Health::with_store(Arc::clone(&log) as Arc<dyn FailureStore>);
        let state = |log: &FailureLog| {
            log.bus_states()
                .unwrap()
                .into_iter()
                .find(|b| b.bus == "security")
                .expect("the bus is known")
        };

        health.record_delivered("security", 10);
        let first = state(&log)
            .last_delivered
            .expect("the first delivery is written");
        // Within the second: held back, not written.
        std::thread::sleep(Duration::from_millis(5));
        health.record_delivered("security", 10);
        assert_eq!(state(&log).last_delivered.as_deref(), Some(first.as_str()));
        // Shutdown writes what was held back.
        health.note_deliveries();
        assert_ne!(state(&log).last_delivered.as_deref(), Some(first.as_str()));

        // A delivery held back, then a failure: the failure stands at shutdown.
        health.record_delivered("security", 10);
        health.record_failure(delivery_failure("security"));
        health.note_deliveries();
        assert!(
            state(&log).failing_since.is_some(),
            "a held-back delivery cleared the failure that came after it"
        );
        // The next delivery after a failure is written at once.
        health.record_delivered("security", 10);
        assert!(state(&log).failing_since.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
