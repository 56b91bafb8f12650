//! Stream health: what became of every accepted event — delivered per bus, filtered per
//! plugin, or failed with its stage — and the most recent failures.
//!
//! The invariant it keeps visible: every accepted event is filtered, failed, or routed;
//! every routed entry is delivered, failed, or still in flight.
//!
//! Three parts: lock-free counters (`metrics.rs`), the failure log with its one writer
//! off the async runtime (`store.rs`, `failure_log.rs`, `writer.rs`), and the one status
//! rule (`status.rs`) judging the report (`report.rs`). `Health` ties them together.

mod code;
mod failure_log;
mod metrics;
mod plugin_counters;
mod report;
mod runs;
mod status;
mod store;
mod totals;
mod writer;
#[cfg(test)]
mod writer_tests;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime};

use crate::journal::Ticket;

pub use code::FailureCode;
pub use failure_log::{FAILURE_LOG_FILE, FailureLog};
pub use plugin_counters::{PluginCalls, PluginStatus, STATUS_WINDOW, TIME_ONE_CALL_IN};
pub(crate) use plugin_counters::{PluginCounters, PluginTally};
pub use report::{
    BusCounts, Failure, HealthReport, PluginInfo, PluginLoadError, RECENT_FAILURES, RecentFailure,
    Stage,
};
pub use runs::Run;
pub use status::{FAILING_AFTER, RECENT_FAILURES_WINDOW, Status, StatusRule, Verdict};
// Shared with the `logbridge` command, which shows times the way the health page does.
#[doc(hidden)]
pub use status::{human_span, human_time};
pub use store::{
    BusState, FailureFilter, FailureLogError, FailureStore, StoredFailure, StoredState,
};
#[doc(hidden)]
pub use store::{parse_rfc3339, rfc3339};
pub use totals::{BusTotals, Counters, Totals};
pub(crate) use writer::FAILURE_QUEUE;

use metrics::Metrics;
use writer::FailureWriter;

/// Live health of a running host. Shared by ingest, workers and delivery.
pub(crate) struct Health {
    started: SystemTime,
    metrics: Arc<Metrics>,
    /// The totals as stored, and this run's counters when they were last added to them.
    totals: Mutex<totals::TotalsState>,
    /// Held while counters are added to the stored totals, so two flushes never add the
    /// same growth twice.
    flushing: Mutex<()>,
    /// Dropped with the health, which ends the thread that flushes the totals.
    flusher: Mutex<Option<mpsc::Sender<()>>>,
    recent: Mutex<VecDeque<RecentFailure>>,
    plugin_load_errors: Mutex<VecDeque<PluginLoadError>>,
    /// The running plugins with their live counters; copied into reports.
    plugins: Mutex<Vec<(PluginInfo, Arc<PluginCounters>)>>,
    store: Option<Arc<dyn FailureStore>>,
    /// Writes to `store` from a thread of its own; dropped (and so drained) with the
    /// health.
    writer: Option<FailureWriter>,
}

/// A bus's deliveries are written to the failure log at most this often (and at once
/// after a failure, and by `Health::note_deliveries`): a write per batch would cost
/// more than the batch.
pub const NOTE_DELIVERIES_EVERY: Duration = Duration::from_secs(1);

impl Default for Health {
    fn default() -> Self {
        Health {
            started: SystemTime::now(),
            metrics: Arc::default(),
            totals: Mutex::default(),
            flushing: Mutex::default(),
            flusher: Mutex::default(),
            recent: Mutex::default(),
            plugin_load_errors: Mutex::default(),
            plugins: Mutex::default(),
            store: None,
            writer: None,
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

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Health {
    /// Fresh counters; failures are kept in memory only.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Fresh counters; every failure is also written to `store`, by a thread of its own
    /// (see [`FAILURE_QUEUE`]). What the store remembers of earlier runs — per bus last
    /// delivery and failure, the latest ingest and plugin failures, the totals — is
    /// carried over.
    pub(crate) fn with_store(store: Arc<dyn FailureStore>) -> Self {
        Self::with_store_queue(store, FAILURE_QUEUE)
    }

    /// [`Health::with_store`] with a writer queue of `capacity` entries.
    pub(crate) fn with_store_queue(store: Arc<dyn FailureStore>, capacity: usize) -> Self {
        let state = store.load_state().unwrap_or_else(|e| {
            tracing::warn!("cannot read the earlier runs' state from the failure log: {e}");
            StoredState::default()
        });
        let metrics = Arc::new(Metrics::default());
        for bus in &state.buses {
            let m = metrics.buses.get(&bus.bus);
            let time = |t: &Option<String>| t.as_deref().and_then(parse_rfc3339);
            m.last_delivered.set(time(&bus.last_delivered));
            m.last_failed.set(time(&bus.last_failed));
            m.failing_since.set(time(&bus.failing_since));
        }
        let time = |t: &Option<String>| t.as_deref().and_then(parse_rfc3339);
        metrics
            .last_ingest_failure
            .set(time(&state.last_ingest_failure));
        metrics
            .last_plugin_failure
            .set(time(&state.last_plugin_failure));
        let health = Health {
            writer: Some(FailureWriter::start(
                Arc::clone(&store),
                Arc::clone(&metrics),
                capacity,
            )),
            store: Some(store),
            metrics,
            ..Self::default()
        };
        if let Some((since, stored)) = state.totals {
            let mut totals = lock(&health.totals);
            totals.since = Some(since);
            totals.stored = stored;
        }
        health
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
        let mut recent = lock(&self.recent);
        if recent.len() == RECENT_FAILURES {
            recent.pop_front();
        }
        recent.push_back(RecentFailure { at, failure });
    }

    /// Why failures cannot be written to the failure log now, if they cannot.
    pub(crate) fn failure_log_blocked(&self) -> Option<String> {
        self.metrics.blocked()
    }

    /// A record arrived.
    pub(crate) fn record_accepted(&self) {
        self.metrics.accepted.fetch_add(1, Ordering::AcqRel);
    }

    #[cfg(feature = "serve")]
    /// A duplicate record was dropped before it was accepted.
    pub(crate) fn record_duplicate(&self) {
        self.metrics.duplicates.fetch_add(1, Ordering::AcqRel);
    }

    /// What a worker tallied since it last reported: events dropped per filter, and
    /// `events` events that left the pipeline as `entries` entries.
    pub(crate) fn record_pipeline(&self, filtered: &[(String, u64)], events: u64, entries: u64) {
        self.metrics.add_pipeline(filtered, events, entries);
    }

    /// `bus` accepted `count` entries.
    pub(crate) fn record_delivered(&self, bus: &str, count: u64) {
        let m = self.metrics.buses.get(bus);
        m.delivered.fetch_add(count, Ordering::AcqRel);
        if count == 0 {
            return;
        }
        let now = SystemTime::now();
        m.last_delivered.set(Some(now));
        let was_failing = m.failing_since.replace(None).is_some();
        let Some(writer) = &self.writer else {
            return;
        };
        let at = self.metrics.now_ns();
        let noted = m.noted_at.load(Ordering::Acquire);
        let every = u64::try_from(NOTE_DELIVERIES_EVERY.as_nanos()).unwrap_or(u64::MAX);
        if was_failing || noted == 0 || at.saturating_sub(noted) >= every {
            m.noted_at.store(at, Ordering::Release);
            m.pending.set(None);
            writer.delivered(bus, now);
        } else {
            m.pending.set(Some(now));
        }
    }

    /// Writes every bus's latest delivery not yet in the failure log (they are written
    /// at most once a second while the host runs), and waits until it is written.
    /// Called when the host shuts down.
    pub(crate) fn note_deliveries(&self) {
        let Some(writer) = &self.writer else {
            return;
        };
        for (bus, m) in self.metrics.buses.all() {
            if let Some(at) = m.pending.replace(None) {
                writer.delivered(&bus, at);
            }
        }
        writer.flush();
    }

    /// Waits until every failure recorded so far is written to the failure log (or
    /// counted in `failure_log_errors` when it could not be). At once without a store.
    pub(crate) fn flush_failures(&self) {
        if let Some(writer) = &self.writer {
            writer.flush();
        }
    }

    /// `requests` calls carrying `entries` entries were made to `bus`.
    pub(crate) fn record_requests(&self, bus: &str, requests: u64, entries: u64) {
        let m = self.metrics.buses.get(bus);
        m.requests.fetch_add(requests, Ordering::AcqRel);
        m.sent_entries.fetch_add(entries, Ordering::AcqRel);
    }

    /// `count` entries for `bus` failed retryably and are being re-sent.
    pub(crate) fn record_retried(&self, bus: &str, count: u64) {
        let m = self.metrics.buses.get(bus);
        m.retried.fetch_add(count, Ordering::AcqRel);
    }

    /// Something failed for good. It is handed to the failure log's writer (when there
    /// is one; waiting while its queue is full) before it is counted and the event
    /// released; [`Host::shutdown`](crate::Host::shutdown) waits until it is written.
    pub(crate) fn record_failure(&self, failure: Failure) {
        self.record_failure_of(failure, Ticket::default());
    }

    /// [`record_failure`](Self::record_failure) of an event that holds a write-ahead log
    /// row: the row goes once the failure is written.
    pub(crate) fn record_failure_of(&self, failure: Failure, ticket: Ticket) {
        let now = SystemTime::now();
        if failure.stage == Stage::Delivery {
            // A delivery held back before this failure must not be written after it:
            // it would clear the bus's `failing since`.
            self.metrics.buses.get(&failure.origin).pending.set(None);
        }
        match &self.writer {
            Some(writer) => writer.record(failure.clone(), ticket),
            None => ticket.finish(),
        }
        let m = &self.metrics;
        match failure.stage {
            Stage::Ingest => {
                m.last_ingest_failure.set(Some(now));
                m.failed_ingest.fetch_add(1, Ordering::AcqRel);
            }
            Stage::Plugin => {
                m.last_plugin_failure.set(Some(now));
                m.add_plugin_failure(&failure.origin);
            }
            Stage::Delivery => {
                let bus = m.buses.get(&failure.origin);
                bus.last_failed.set(Some(now));
                bus.failing_since.get_or_set(now);
                bus.failed.fetch_add(1, Ordering::AcqRel);
            }
        }
        self.remember(failure, now);
    }

    /// Which plugins are running now, in order, each with its live counters.
    pub(crate) fn set_plugins(&self, plugins: Vec<(PluginInfo, Arc<PluginCounters>)>) {
        *lock(&self.plugins) = plugins;
    }

    /// A plugin failed to load on a reload.
    pub(crate) fn record_plugin_load_error(&self, error: PluginLoadError) {
        let mut errors = lock(&self.plugin_load_errors);
        if errors.len() == RECENT_FAILURES {
            errors.pop_front();
        }
        errors.push_back(error);
    }

    /// A reload ran.
    pub(crate) fn record_reload(&self) {
        self.metrics.reloads.fetch_add(1, Ordering::AcqRel);
    }

    /// The counters alone, without failures, plugins or totals.
    fn counters(&self) -> HealthReport {
        let mut report = HealthReport::default();
        self.metrics.fill(&mut report);
        report
    }

    /// A snapshot of the counters.
    pub(crate) fn report(&self) -> HealthReport {
        let mut report = self.counters();
        report.plugin_load_errors = lock(&self.plugin_load_errors).iter().cloned().collect();
        report.recent_failures = lock(&self.recent).iter().cloned().collect();
        report.plugins = lock(&self.plugins)
            .iter()
            .map(|(info, counters)| PluginInfo {
                calls: counters.snapshot(),
                ..info.clone()
            })
            .collect();
        report.started_at = Some(self.started);
        report.uptime_s = self.started.elapsed().unwrap_or_default().as_secs();
        let state = lock(&self.totals);
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
#[path = "health_tests.rs"]
mod tests;
