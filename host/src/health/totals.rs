//! Cumulative counters since the data folder was created: what every run and server on it
//! has done, kept in the failure log's database and added to at a bounded rate.

use std::collections::BTreeMap;

use serde::Serialize;

use super::HealthReport;

/// How often a running host adds its counters to the stored totals (and at shutdown).
pub const TOTALS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Counters since the data folder was created, every run on it together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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
    use super::*;
    use crate::health::BusCounts;

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
