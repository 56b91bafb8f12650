//! Lock-free stream counters: atomics for the totals, and per bus or plugin an entry made
//! once (behind a read-mostly lock) whose counters are atomics. No mutex on the path of
//! an event.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use super::report::{BusCounts, HealthReport};

/// A time as an atomic: nanoseconds since the Unix epoch, 0 for none.
#[derive(Debug, Default)]
pub(crate) struct AtomicTime(AtomicU64);

impl AtomicTime {
    fn encode(time: SystemTime) -> u64 {
        let nanos = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
    }

    fn decode(nanos: u64) -> Option<SystemTime> {
        (nanos != 0).then(|| SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos))
    }

    pub(crate) fn get(&self) -> Option<SystemTime> {
        Self::decode(self.0.load(Ordering::Acquire))
    }

    pub(crate) fn set(&self, time: Option<SystemTime>) {
        self.0
            .store(time.map_or(0, Self::encode), Ordering::Release);
    }

    /// Sets it and returns what it was.
    pub(crate) fn replace(&self, time: Option<SystemTime>) -> Option<SystemTime> {
        Self::decode(self.0.swap(time.map_or(0, Self::encode), Ordering::AcqRel))
    }

    /// Sets it when it is none.
    pub(crate) fn get_or_set(&self, time: SystemTime) {
        let _ = self
            .0
            .compare_exchange(0, Self::encode(time), Ordering::AcqRel, Ordering::Acquire);
    }
}

/// One bus's live counters.
#[derive(Debug, Default)]
pub(crate) struct BusMetrics {
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) sent_entries: AtomicU64,
    pub(crate) last_delivered: AtomicTime,
    pub(crate) last_failed: AtomicTime,
    /// Set by the first failure of a streak, cleared by a delivery: the bus is failing
    /// while it is set.
    pub(crate) failing_since: AtomicTime,
    /// When its last delivery was written to the failure log, in nanoseconds since the
    /// metrics were made (0: never).
    pub(crate) noted_at: AtomicU64,
    /// A later delivery not written yet.
    pub(crate) pending: AtomicTime,
}

impl BusMetrics {
    /// Counters loaded now, downstream ones (delivered, failed) before the requests.
    fn snapshot(&self) -> BusCounts {
        let failing_since = self.failing_since.get();
        BusCounts {
            delivered: self.delivered.load(Ordering::Acquire),
            failed: self.failed.load(Ordering::Acquire),
            retried: self.retried.load(Ordering::Acquire),
            requests: self.requests.load(Ordering::Acquire),
            sent_entries: self.sent_entries.load(Ordering::Acquire),
            failing: failing_since.is_some(),
            last_delivered: self.last_delivered.get(),
            last_failed: self.last_failed.get(),
            failing_since,
        }
    }
}

/// Named entries, each made once and then reached under a shared read lock.
#[derive(Debug)]
pub(crate) struct Named<T>(RwLock<HashMap<String, Arc<T>>>);

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named(RwLock::default())
    }
}

impl<T: Default> Named<T> {
    /// The entry for `name`, made on first use.
    pub(crate) fn get(&self, name: &str) -> Arc<T> {
        if let Some(entry) = self.0.read().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Arc::clone(entry);
        }
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(name.to_string()).or_default())
    }

    /// Every entry, by name.
    pub(crate) fn all(&self) -> Vec<(String, Arc<T>)> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, entry)| (name.clone(), Arc::clone(entry)))
            .collect()
    }
}

impl Named<AtomicU64> {
    fn add(&self, name: &str, count: u64) {
        self.get(name).fetch_add(count, Ordering::AcqRel);
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.all()
            .into_iter()
            .map(|(name, n)| (name, n.load(Ordering::Acquire)))
            .collect()
    }
}

/// The live counters of a host.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) base: Instant,
    pub(crate) accepted: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) filtered: AtomicU64,
    pub(crate) failed_ingest: AtomicU64,
    pub(crate) routed_events: AtomicU64,
    pub(crate) routed_entries: AtomicU64,
    pub(crate) failure_log_errors: AtomicU64,
    /// Why failures cannot be written to the failure log now, while they cannot.
    pub(crate) failure_log_blocked: std::sync::Mutex<Option<String>>,
    pub(crate) reloads: AtomicU64,
    pub(crate) last_ingest_failure: AtomicTime,
    pub(crate) last_plugin_failure: AtomicTime,
    pub(crate) filtered_by: Named<AtomicU64>,
    pub(crate) failed_by_plugin: Named<AtomicU64>,
    pub(crate) buses: Named<BusMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            base: Instant::now(),
            accepted: AtomicU64::default(),
            duplicates: AtomicU64::default(),
            filtered: AtomicU64::default(),
            failed_ingest: AtomicU64::default(),
            routed_events: AtomicU64::default(),
            routed_entries: AtomicU64::default(),
            failure_log_errors: AtomicU64::default(),
            failure_log_blocked: std::sync::Mutex::default(),
            reloads: AtomicU64::default(),
            last_ingest_failure: AtomicTime::default(),
            last_plugin_failure: AtomicTime::default(),
            filtered_by: Named::default(),
            failed_by_plugin: Named::default(),
            buses: Named::default(),
        }
    }
}

impl Metrics {
    /// Adds a worker's tallies: events dropped per filter, and `events` events that left
    /// the pipeline as `entries` entries.
    pub(crate) fn add_pipeline(&self, filtered: &[(String, u64)], events: u64, entries: u64) {
        for (plugin, count) in filtered {
            self.filtered_by.add(plugin, *count);
            self.filtered.fetch_add(*count, Ordering::AcqRel);
        }
        self.routed_entries.fetch_add(entries, Ordering::AcqRel);
        self.routed_events.fetch_add(events, Ordering::AcqRel);
    }

    /// Why failures cannot be written to the failure log now, if they cannot.
    pub(crate) fn blocked(&self) -> Option<String> {
        self.failure_log_blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A plugin failed on an event.
    pub(crate) fn add_plugin_failure(&self, plugin: &str) {
        self.failed_by_plugin.add(plugin, 1);
    }

    /// The counters into `report`. Each counter is loaded after those downstream of it
    /// (delivered before routed, routed before accepted), so a snapshot taken while
    /// events flow never shows more done than came in.
    pub(crate) fn fill(&self, report: &mut HealthReport) {
        report.buses = self
            .buses
            .all()
            .into_iter()
            .map(|(bus, m)| (bus, m.snapshot()))
            .collect();
        report.failed_by_plugin = self.failed_by_plugin.snapshot();
        report.failed_ingest = self.failed_ingest.load(Ordering::Acquire);
        report.routed_entries = self.routed_entries.load(Ordering::Acquire);
        report.routed_events = self.routed_events.load(Ordering::Acquire);
        report.filtered_by = self.filtered_by.snapshot();
        report.filtered = self.filtered.load(Ordering::Acquire);
        report.duplicates = self.duplicates.load(Ordering::Acquire);
        report.accepted = self.accepted.load(Ordering::Acquire);
        report.failure_log_errors = self.failure_log_errors.load(Ordering::Acquire);
        report.failure_log_blocked = self.blocked();
        report.reloads = self.reloads.load(Ordering::Acquire);
        report.last_ingest_failure = self.last_ingest_failure.get();
        report.last_plugin_failure = self.last_plugin_failure.get();
    }

    /// Nanoseconds since these metrics were made (at least 1).
    pub(crate) fn now_ns(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_from_several_threads_sum_exactly() {
        let metrics = Arc::new(Metrics::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let metrics = Arc::clone(&metrics);
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        metrics.accepted.fetch_add(1, Ordering::AcqRel);
                        let filter = if i % 2 == 0 { "10-drop" } else { "11-drop" };
                        metrics.add_pipeline(&[(filter.to_string(), 1)], 1, 2);
                        let bus = metrics.buses.get(if t % 2 == 0 { "a" } else { "b" });
                        bus.delivered.fetch_add(1, Ordering::AcqRel);
                        metrics.add_plugin_failure("20-redact");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut report = HealthReport::default();
        metrics.fill(&mut report);
        assert_eq!(report.accepted, 40_000);
        assert_eq!(report.filtered, 40_000);
        assert_eq!(
            (report.filtered_by["10-drop"], report.filtered_by["11-drop"]),
            (20_000, 20_000)
        );
        assert_eq!(
            (report.routed_events, report.routed_entries),
            (40_000, 80_000)
        );
        assert_eq!(
            (report.buses["a"].delivered, report.buses["b"].delivered),
            (20_000, 20_000)
        );
        assert_eq!(report.failed_by_plugin["20-redact"], 40_000);
    }

    #[test]
    fn a_time_round_trips_and_none_is_none() {
        let time = AtomicTime::default();
        assert_eq!(time.get(), None);
        let now = SystemTime::now();
        time.get_or_set(now);
        time.get_or_set(now + Duration::from_secs(5));
        assert_eq!(
            time.get(),
            Some(now),
            "only the first time of a streak is kept"
        );
        assert_eq!(time.replace(None), Some(now));
        assert_eq!(time.get(), None);
    }
}
