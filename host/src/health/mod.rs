//! Stream health: what became of every accepted event — delivered per bus, filtered per
//! plugin, or failed with its stage — and the most recent failures.
//!
//! The invariant it keeps visible: every accepted event is filtered, failed, or routed;
//! every routed entry is delivered, failed, or still in flight.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

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
    /// A short code: EventBridge's error code, `trap`, `transform-error`, `bad-input`...
    pub code: String,
    /// What happened, for a person.
    pub message: String,
}

/// Counters for one bus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BusCounts {
    /// Entries the bus accepted.
    pub delivered: u64,
    /// Entries that finally failed.
    pub failed: u64,
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
    /// Events a plugin failed on, per plugin.
    pub failed_by_plugin: BTreeMap<String, u64>,
    /// Events that left the pipeline for at least one bus.
    pub routed_events: u64,
    /// Entries handed to delivery (one per event and destination).
    pub routed_entries: u64,
    /// Per-bus delivery counters.
    pub buses: BTreeMap<String, BusCounts>,
    /// The most recent failures, oldest first.
    pub recent_failures: Vec<Failure>,
}

impl HealthReport {
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

    /// Whether every accepted event is accounted for and nothing is in flight.
    pub fn settled(&self) -> bool {
        self.accepted
            == self.filtered + self.failed_ingest + self.failed_plugin() + self.routed_events
            && self.in_flight() == 0
    }
}

/// Live counters of a running host. Shared by ingest, workers and delivery.
#[derive(Debug, Default)]
pub struct Health {
    report: Mutex<HealthReport>,
    recent: Mutex<VecDeque<Failure>>,
}

impl Health {
    /// Fresh counters.
    pub fn new() -> Self {
        Self::default()
    }

    fn update(&self, f: impl FnOnce(&mut HealthReport)) {
        f(&mut self.report.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn remember(&self, failure: Failure) {
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
        recent.push_back(failure);
    }

    /// A record arrived.
    pub fn record_accepted(&self) {
        self.update(|r| r.accepted += 1);
    }

    /// `plugin` dropped an event.
    pub fn record_filtered(&self, plugin: &str) {
        self.update(|r| {
            r.filtered += 1;
            *r.filtered_by.entry(plugin.to_string()).or_default() += 1;
        });
    }

    /// An event left the pipeline as `entries` entries.
    pub fn record_routed(&self, entries: usize) {
        self.update(|r| {
            r.routed_events += 1;
            r.routed_entries += entries as u64;
        });
    }

    /// `bus` accepted an entry.
    pub fn record_delivered(&self, bus: &str, count: u64) {
        self.update(|r| r.buses.entry(bus.to_string()).or_default().delivered += count);
    }

    /// Something failed for good.
    pub fn record_failure(&self, failure: Failure) {
        self.update(|r| match failure.stage {
            Stage::Ingest => r.failed_ingest += 1,
            Stage::Plugin => {
                *r.failed_by_plugin
                    .entry(failure.origin.clone())
                    .or_default() += 1
            }
            Stage::Delivery => r.buses.entry(failure.origin.clone()).or_default().failed += 1,
        });
        self.remember(failure);
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
        report
    }
}
