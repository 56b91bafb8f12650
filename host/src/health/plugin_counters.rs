//! Per-plugin-version counters: calls, verdicts, errors, time, instances, and the status
//! judged on the last calls — updated by every worker without a lock.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Whether a plugin is healthy, judged on its recent calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginStatus {
    /// Few or none of its recent calls failed.
    #[default]
    Ok,
    /// More than its allowed share of its recent calls failed.
    Degraded,
}

/// One call in this many is timed for [`PluginCalls::mean_call_us`]: reading the clock
/// around every call costs a few percent of a short call.
pub const TIME_ONE_CALL_IN: u64 = 8;

/// How many recent calls a plugin's status is judged on.
pub const STATUS_WINDOW: u64 = 64;
/// Calls a plugin must have made before it can be judged degraded.
pub(super) const STATUS_MIN_CALLS: u64 = 10;

/// What one loaded plugin version has done: a snapshot of its live counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PluginCalls {
    /// `degraded` when more than its allowed share of the last [`STATUS_WINDOW`] calls
    /// failed.
    pub status: PluginStatus,
    /// Failed calls among the last [`STATUS_WINDOW`].
    pub recent_errors: u64,
    /// Instances started: the first per worker, then one after each trap or recycling.
    pub instances: u64,
    /// Calls made into it (instantiations that failed count as calls).
    pub calls: u64,
    /// Events a filter kept.
    pub kept: u64,
    /// Events a filter dropped.
    pub dropped: u64,
    /// Calls that failed: a trap, the deadline, an `Err` from `transform`, or an
    /// instance that could not be made.
    pub errors: u64,
    /// Mean time of a call, in microseconds (0 before the first call), measured on one
    /// call in [`TIME_ONE_CALL_IN`].
    pub mean_call_us: u64,
}

/// What one worker counted for one plugin since it last added it to the plugin's
/// [`PluginCounters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginTally {
    /// Calls made.
    pub calls: u64,
    /// Calls whose time was measured: one in [`TIME_ONE_CALL_IN`].
    pub timed: u64,
    /// The measured calls' time in all, in nanoseconds.
    pub busy_ns: u64,
    /// Events a filter kept.
    pub kept: u64,
    /// Events a filter dropped.
    pub dropped: u64,
    /// Calls that gave a usable answer (verdicts included).
    pub ok: u64,
}

impl PluginTally {
    /// Nothing counted yet.
    pub fn is_empty(&self) -> bool {
        *self == PluginTally::default()
    }
}

/// Live counters of one loaded plugin version, updated by every worker without a lock.
/// A replaced plugin gets fresh counters; an unchanged one keeps its own across reloads.
#[derive(Debug)]
pub struct PluginCounters {
    calls: AtomicU64,
    kept: AtomicU64,
    dropped: AtomicU64,
    errors: AtomicU64,
    timed: AtomicU64,
    busy_ns: AtomicU64,
    instances: AtomicU64,
    /// Outcomes recorded so far; the next one goes to bit `outcomes % 64` of `window`.
    /// The slot is taken and written in two steps, so a worker preempted between them
    /// for 64 calls may write over a newer outcome: the status is a close estimate, which
    /// is what it is for.
    outcomes: AtomicU64,
    /// The last [`STATUS_WINDOW`] outcomes, one bit each, set for a failure.
    window: AtomicU64,
    degraded_permille: u64,
}

impl Default for PluginCounters {
    fn default() -> Self {
        Self::new(500)
    }
}

impl PluginCounters {
    /// Fresh counters; the plugin is `degraded` when more than `degraded_permille`
    /// thousandths of its recent calls failed.
    pub fn new(degraded_permille: u16) -> Self {
        PluginCounters {
            calls: AtomicU64::new(0),
            kept: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            timed: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            instances: AtomicU64::new(0),
            outcomes: AtomicU64::new(0),
            window: AtomicU64::new(0),
            degraded_permille: u64::from(degraded_permille),
        }
    }

    /// Adds what one worker tallied since it last did: `calls` calls, `timed` of them
    /// taking `busy_ns` in all, filter verdicts, and `ok` calls that gave a usable answer.
    /// One update per counter rather than one per call keeps workers from contending for
    /// these lines.
    pub fn add(&self, tally: &PluginTally) {
        if tally.calls > 0 {
            self.calls.fetch_add(tally.calls, Ordering::Relaxed);
        }
        if tally.timed > 0 {
            self.timed.fetch_add(tally.timed, Ordering::Relaxed);
            self.busy_ns.fetch_add(tally.busy_ns, Ordering::Relaxed);
        }
        if tally.kept > 0 {
            self.kept.fetch_add(tally.kept, Ordering::Relaxed);
        }
        if tally.dropped > 0 {
            self.dropped.fetch_add(tally.dropped, Ordering::Relaxed);
        }
        if tally.ok > 0 {
            // `ok` successes take the next slots of the window, clearing their bits.
            let n = self.outcomes.fetch_add(tally.ok, Ordering::Relaxed);
            let mask = if tally.ok >= STATUS_WINDOW {
                u64::MAX
            } else {
                ((1u64 << tally.ok) - 1).rotate_left((n % STATUS_WINDOW) as u32)
            };
            self.window.fetch_and(!mask, Ordering::Relaxed);
        }
    }

    fn push_outcome(&self, failed: bool) {
        let n = self.outcomes.fetch_add(1, Ordering::Relaxed);
        let bit = 1u64 << (n % STATUS_WINDOW);
        if failed {
            self.window.fetch_or(bit, Ordering::Relaxed);
        } else {
            self.window.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// An instance was started.
    pub fn record_instance(&self) {
        self.instances.fetch_add(1, Ordering::Relaxed);
    }

    /// A call failed.
    pub fn record_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.push_outcome(true);
    }

    /// The counters now.
    pub fn snapshot(&self) -> PluginCalls {
        let calls = self.calls.load(Ordering::Relaxed);
        let timed = self.timed.load(Ordering::Relaxed);
        let busy_ns = self.busy_ns.load(Ordering::Relaxed);
        let seen = self.outcomes.load(Ordering::Relaxed).min(STATUS_WINDOW);
        let recent_errors = u64::from(self.window.load(Ordering::Relaxed).count_ones());
        let degraded =
            seen >= STATUS_MIN_CALLS && recent_errors * 1000 > self.degraded_permille * seen;
        PluginCalls {
            status: if degraded {
                PluginStatus::Degraded
            } else {
                PluginStatus::Ok
            },
            recent_errors,
            instances: self.instances.load(Ordering::Relaxed),
            calls,
            kept: self.kept.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            mean_call_us: busy_ns.checked_div(timed).unwrap_or(0) / 1_000,
        }
    }
}
