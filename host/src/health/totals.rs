//! Cumulative counters since the data folder was created: what every run and server on it
//! has done, kept in the failure log's database and added to at a bounded rate.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak, mpsc};

use serde::{Deserialize, Serialize};

use super::{Health, HealthReport};

/// How often a running host adds its counters to the stored totals (and at shutdown).
pub(super) const TOTALS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Counters since the data folder was created, every run on it together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    /// When the totals began: when the data folder was created (RFC 3339).
    pub since: String,
    /// Input records accepted.
    pub accepted: u64,
    /// Records dropped as duplicates.
    pub duplicates: u64,
    /// Events a filter dropped.
    pub filtered: u64,
    /// Records that failed at ingest.
    pub failed_ingest: u64,
    /// Events a plugin failed on.
    pub failed_plugin: u64,
    /// Entries that failed delivery.
    pub failed_delivery: u64,
    /// Entries delivered.
    pub delivered: u64,
    /// Per bus: entries delivered and failed.
    pub buses: BTreeMap<String, BusTotals>,
}

/// One bus's totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusTotals {
    /// Entries delivered.
    pub delivered: u64,
    /// Entries that failed delivery.
    pub failed: u64,
}

/// The counters as stored: one named value each.
pub type Counters = BTreeMap<String, u64>;

const BUS_DELIVERED: &str = "bus-delivered ";
const BUS_FAILED: &str = "bus-failed ";

/// The report's counters under their stored names.
pub(crate) fn counters(report: &HealthReport) -> Counters {
    let mut out = Counters::new();
    out.insert("accepted".into(), report.accepted);
    out.insert("duplicates".into(), report.duplicates);
    out.insert("filtered".into(), report.filtered);
    out.insert("failed_ingest".into(), report.failed_ingest);
    out.insert("failed_plugin".into(), report.failed_plugin());
    for (bus, counts) in &report.buses {
        out.insert(format!("{BUS_DELIVERED}{bus}"), counts.delivered);
        out.insert(format!("{BUS_FAILED}{bus}"), counts.failed);
    }
    out
}

/// What grew from `before` to `now`.
pub(crate) fn deltas(now: &Counters, before: &Counters) -> Counters {
    now.iter()
        .filter_map(|(name, &value)| {
            let grown = value.saturating_sub(before.get(name).copied().unwrap_or(0));
            (grown > 0).then(|| (name.clone(), grown))
        })
        .collect()
}

impl Totals {
    /// Stored counters (plus what is not stored yet) as totals.
    pub(crate) fn from_counters(since: String, counters: &Counters) -> Self {
        let mut totals = Totals {
            since,
            ..Totals::default()
        };
        for (name, &value) in counters {
            if let Some(bus) = name.strip_prefix(BUS_DELIVERED) {
                totals.buses.entry(bus.to_string()).or_default().delivered += value;
                totals.delivered += value;
            } else if let Some(bus) = name.strip_prefix(BUS_FAILED) {
                totals.buses.entry(bus.to_string()).or_default().failed += value;
                totals.failed_delivery += value;
            } else {
                let field = match name.as_str() {
                    "accepted" => &mut totals.accepted,
                    "duplicates" => &mut totals.duplicates,
                    "filtered" => &mut totals.filtered,
                    "failed_ingest" => &mut totals.failed_ingest,
                    "failed_plugin" => &mut totals.failed_plugin,
                    // A counter a later version added: kept, not shown.
                    _ => continue,
                };
                *field += value;
            }
        }
        totals
    }

    /// Everything that failed, at any stage.
    pub fn failed(&self) -> u64 {
        self.failed_ingest + self.failed_plugin + self.failed_delivery
    }
}

#[derive(Default)]
pub(super) struct TotalsState {
    /// When the stored totals began; `None` while the store keeps none.
    pub(super) since: Option<String>,
    /// The totals as last read from the store.
    pub(super) stored: Counters,
    /// This run's counters as last added to the store.
    pub(super) flushed: Counters,
}

impl Health {
    /// Starts the thread that adds this host's counters to the stored totals every
    /// [`TOTALS_EVERY`] — off the async runtime, at a bounded rate. It ends when the
    /// health is dropped. Nothing to do without a store.
    pub(crate) fn keep_totals(self: &Arc<Self>) {
        if self.store.is_none() {
            return;
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let weak: Weak<Health> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("logbridge-totals".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TOTALS_EVERY)
                {
                    match weak.upgrade() {
                        Some(health) => health.flush_totals(),
                        None => break,
                    }
                }
            });
        match spawned {
            Ok(_) => *self.flusher.lock().unwrap_or_else(|e| e.into_inner()) = Some(stop),
            Err(e) => tracing::warn!("cannot start the thread that keeps the totals: {e}"),
        }
    }

    /// Adds what the counters grew by since the last flush to the stored totals. A
    /// blocking SQLite write: call it off the async runtime (the host does at shutdown).
    pub(crate) fn flush_totals(&self) {
        let Some(store) = &self.store else {
            return;
        };
        // Failures before the totals that count them.
        self.flush_failures();
        let _one_at_a_time = self.flushing.lock().unwrap_or_else(|e| e.into_inner());
        let now = counters(&self.counters());
        let grown = {
            let state = self.totals.lock().unwrap_or_else(|e| e.into_inner());
            if state.since.is_none() {
                return;
            }
            deltas(&now, &state.flushed)
        };
        if grown.is_empty() {
            return;
        }
        match store.add_totals(&grown) {
            Ok(Some((since, stored))) => {
                let mut state = self.totals.lock().unwrap_or_else(|e| e.into_inner());
                state.since = Some(since);
                state.stored = stored;
                state.flushed = now;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot add to the totals in the failure log: {e}"),
        }
    }
}

/// `a + b`, name by name.
pub(crate) fn sum(a: &Counters, b: &Counters) -> Counters {
    let mut out = a.clone();
    for (name, value) in b {
        *out.entry(name.clone()).or_default() += value;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::health::{BusCounts, Failure, FailureLog, FailureStore, Stage};

    #[test]
    fn totals_carry_over_a_restart_and_a_flush_adds_growth_once() {
        let dir = std::env::temp_dir().join(format!("logbridge-totals-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = Arc::new(FailureLog::open(&dir).unwrap());
        let store = || Arc::clone(&log) as Arc<dyn FailureStore>;
        let first = Health::with_store(store());
        for _ in 0..5 {
            first.record_accepted();
        }
        first.record_delivered("security", 3);
        first.record_failure(Failure {
            stage: Stage::Ingest,
            event_id: None,
            origin: "http".into(),
            version: None,
            code: crate::FailureCode::BadInput,
            message: "not JSON".into(),
            attempts: 0,
            first_attempt: SystemTime::now(),
            event: None,
            input: Some("x".into()),
        });
        let live = first.report().totals.expect("a failure log keeps totals");
        assert_eq!((live.accepted, live.failed_ingest), (5, 1));
        assert_eq!(
            Health::with_store(store())
                .report()
                .totals
                .unwrap()
                .accepted,
            0,
            "nothing is written before a flush"
        );
        first.flush_totals();
        first.flush_totals();

        // A restart on the same data folder: the totals go on from there.
        let second = Health::with_store(store());
        second.record_accepted();
        second.flush_totals();
        second.flush_totals();
        let report = Health::with_store(store()).report();
        let totals = report.totals.clone().unwrap();
        assert_eq!(
            (totals.accepted, totals.failed_ingest, totals.delivered),
            (6, 1, 3)
        );
        assert_eq!(totals.buses["security"].delivered, 3);
        assert!(
            report.last_ingest_failure.is_some()
                && report.buses["security"].last_delivered.is_some(),
            "the last failure and delivery times carry over: {report:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn counters_round_trip_through_their_stored_names() {
        let mut report = HealthReport {
            accepted: 7,
            failed_ingest: 2,
            ..HealthReport::default()
        };
        report.buses.insert(
            "arn:aws:events:eu-west-1:1:event-bus/audit".into(),
            BusCounts {
                delivered: 4,
                failed: 1,
                ..BusCounts::default()
            },
        );
        let before = counters(&report);
        report.accepted = 9;
        let grown = deltas(&counters(&report), &before);
        assert_eq!(grown, Counters::from([("accepted".to_string(), 2)]));
        let totals = Totals::from_counters("t".into(), &sum(&before, &grown));
        assert_eq!(
            (totals.accepted, totals.delivered, totals.failed()),
            (9, 4, 3)
        );
        assert_eq!(
            totals.buses["arn:aws:events:eu-west-1:1:event-bus/audit"],
            BusTotals {
                delivered: 4,
                failed: 1
            }
        );
    }
}
