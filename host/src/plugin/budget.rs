//! A plugin call's deadline, counted in the CPU time the call itself uses.
//!
//! The epoch ticker counts wall-clock time, and a thread the operating system takes off
//! its core for a while (a busy machine, other work on the same cores) would "run past" a
//! wall-clock deadline without having run at all. So a wall-clock deadline is only the
//! moment to look: when it comes up, the store's epoch callback reads the thread's own
//! CPU clock and lets the call go on until it has used its budget of CPU.
//!
//! Reading a thread's CPU clock is a system call, too dear for every call, so the clock
//! is first read when a quarter of the budget has passed on the wall clock (no ordinary
//! call gets there), and the call is stopped once it has used a whole budget of CPU
//! after that look. A call is therefore stopped only after using at least its budget of
//! CPU, and a call that never returns after at most 1.25× its budget (plus a tick). A
//! wall-clock backstop, [`BACKSTOP_FACTOR`]× the budget and at least [`MIN_BACKSTOP`],
//! ends a call that is stuck without running at all.

use std::time::Duration;

use super::engine::EPOCH_TICK;

/// The wall-clock backstop is this many budgets.
pub(super) const BACKSTOP_FACTOR: u32 = 20;
/// The shortest wall-clock backstop.
pub(super) const MIN_BACKSTOP: Duration = Duration::from_secs(1);
/// The CPU clock is first read after this share of the budget (1/N) on the wall clock.
const FIRST_LOOK_DIVISOR: u64 = 4;

/// Why a plugin call was interrupted at its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DeadlineReached {
    /// The call used its budget of CPU time.
    #[error(
        "the call used more than its budget of {budget_ms} ms of CPU time and was \
         interrupted; if the plugin needs longer, raise `limits.call_timeout_ms` in its sidecar"
    )]
    Cpu {
        /// The budget, in milliseconds.
        budget_ms: u64,
    },
    /// The call had not finished after the wall-clock backstop, whatever CPU it used.
    #[error(
        "the call had not finished after {backstop_ms} ms of wall-clock time (the backstop \
         for a CPU budget of {budget_ms} ms) and was interrupted; the machine may be badly \
         overloaded, or the plugin needs a larger `limits.call_timeout_ms` in its sidecar"
    )]
    Backstop {
        /// The budget, in milliseconds.
        budget_ms: u64,
        /// The backstop, in milliseconds.
        backstop_ms: u64,
    },
}

/// A budget of CPU time in epoch ticks, worked out once per instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    cpu: Duration,
    first_look_ticks: u64,
    backstop_ticks: u64,
}

impl Budget {
    /// A budget of `cpu` time per call.
    pub(crate) fn new(cpu: Duration) -> Self {
        let backstop = cpu.saturating_mul(BACKSTOP_FACTOR).max(MIN_BACKSTOP);
        Budget {
            cpu,
            first_look_ticks: (ticks(cpu) / FIRST_LOOK_DIVISOR).max(1),
            backstop_ticks: ticks(backstop),
        }
    }
}

/// The deadline of the call in progress on one store.
#[derive(Debug, Clone)]
pub(crate) struct CallClock {
    budget: Budget,
    /// Wall-clock ticks granted since the call started.
    granted_ticks: u64,
    /// The thread's CPU clock at the first look, if the call got that far.
    cpu_at_first_look: Option<Duration>,
}

impl CallClock {
    /// A clock for calls under `budget`; [`CallClock::start`] arms it for each call.
    pub(crate) fn new(budget: Budget) -> Self {
        CallClock {
            budget,
            granted_ticks: 0,
            cpu_at_first_look: None,
        }
    }

    /// Starts a call under `budget`: the epoch ticks until the first look.
    pub(crate) fn start(&mut self, budget: Budget) -> u64 {
        self.budget = budget;
        self.granted_ticks = budget.first_look_ticks;
        self.cpu_at_first_look = None;
        budget.first_look_ticks
    }

    /// The wall-clock deadline came up, with the thread's CPU clock at `cpu_now`: how
    /// many more epoch ticks the call may run, or why it must stop.
    pub(crate) fn look(&mut self, cpu_now: Duration) -> Result<u64, DeadlineReached> {
        let budget = self.budget;
        let first = *self.cpu_at_first_look.get_or_insert(cpu_now);
        let used = cpu_now.saturating_sub(first);
        let budget_ms = millis(budget.cpu);
        if used >= budget.cpu {
            return Err(DeadlineReached::Cpu { budget_ms });
        }
        if self.granted_ticks >= budget.backstop_ticks {
            return Err(DeadlineReached::Backstop {
                budget_ms,
                backstop_ms: millis(
                    EPOCH_TICK
                        .saturating_mul(u32::try_from(budget.backstop_ticks).unwrap_or(u32::MAX)),
                ),
            });
        }
        let next = ticks(budget.cpu - used)
            .min(budget.backstop_ticks - self.granted_ticks)
            .max(1);
        self.granted_ticks += next;
        Ok(next)
    }
}

/// The CPU time the calling thread has used.
pub(crate) fn thread_cpu_time() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

/// `duration` in epoch ticks, at least one.
pub(crate) fn ticks(duration: Duration) -> u64 {
    let ticks = duration.as_micros() / EPOCH_TICK.as_micros();
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_descheduled_call_is_given_more_wall_time_until_it_has_used_its_cpu() {
        let budget = Budget::new(50 * MS);
        let mut clock = CallClock::new(budget);
        assert_eq!(
            clock.start(budget),
            12,
            "first look after a quarter of the budget"
        );
        // Off its core the whole time: the CPU clock does not move.
        let cpu = Duration::from_secs(7);
        assert_eq!(clock.look(cpu), Ok(50), "a whole budget still to use");
        assert_eq!(clock.look(cpu + 10 * MS), Ok(40));
        assert_eq!(clock.look(cpu + 49 * MS + MS / 2), Ok(1), "at least a tick");
        assert_eq!(
            clock.look(cpu + 50 * MS),
            Err(DeadlineReached::Cpu { budget_ms: 50 })
        );
    }

    #[test]
    fn a_call_that_never_runs_is_stopped_by_the_backstop() {
        let budget = Budget::new(50 * MS);
        let mut clock = CallClock::new(budget);
        let mut waited = clock.start(budget);
        let cpu = Duration::from_secs(1);
        let stopped = loop {
            match clock.look(cpu) {
                Ok(next) => waited += next,
                Err(reason) => break reason,
            }
        };
        assert_eq!(waited, 1000, "20 budgets of 50 ms, at least 1 s");
        assert_eq!(
            stopped,
            DeadlineReached::Backstop {
                budget_ms: 50,
                backstop_ms: 1000
            }
        );
    }

    #[test]
    fn each_call_starts_afresh() {
        let budget = Budget::new(8 * MS);
        let mut clock = CallClock::new(budget);
        clock.start(budget);
        assert_eq!(clock.look(Duration::ZERO), Ok(8));
        assert_eq!(clock.start(budget), 2);
        assert_eq!(
            clock.look(100 * MS),
            Ok(8),
            "the first look of the new call"
        );
    }

    #[test]
    fn tiny_budgets_still_look_every_tick() {
        let budget = Budget::new(MS);
        let mut clock = CallClock::new(budget);
        assert_eq!(clock.start(budget), 1);
        assert_eq!(clock.look(Duration::ZERO), Ok(1));
        assert!(clock.look(MS).is_err());
    }

    #[test]
    fn the_thread_cpu_clock_moves_with_work_done_on_this_thread() {
        let before = thread_cpu_time();
        let mut x = 0u64;
        while thread_cpu_time() - before < 2 * MS {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu_time() - before >= 2 * MS);
    }
}
