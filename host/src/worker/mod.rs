//! Pipeline workers: the plugin slot they read — the running set, swapped whole on
//! reload — and the loop that runs each event through a pipeline and hands routed
//! entries to delivery (through [`handoff`]).

mod handoff;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use handoff::Handoff;

use crate::delivery::service::delivery_failure;
use crate::delivery::{Routed, validate};
use crate::event::Event;
use crate::health::{Failure, Health, PluginCalls, PluginCounters, PluginInfo, Stage, rfc3339};
use crate::journal::Ticket;
use crate::pipeline::{FLUSH_EVERY, Outcome, OutputRules, Pipeline};
use crate::plugin::{OnError, PluginSet};

/// The running plugin set, swapped whole on reload. Workers compare the generation before
/// each event and rebuild their pipeline when it moved, so an event runs entirely on one
/// set: the one current when it started.
pub(crate) struct PluginSlot {
    set: RwLock<Arc<PluginSet>>,
    generation: AtomicU64,
}

impl PluginSlot {
    pub(crate) fn new(set: PluginSet) -> Self {
        PluginSlot {
            set: RwLock::new(Arc::new(set)),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn current(&self) -> (u64, Arc<PluginSet>) {
        let set = self.set.read().unwrap_or_else(|e| e.into_inner());
        (self.generation(), Arc::clone(&set))
    }

    pub(crate) fn swap(&self, next: PluginSet) {
        let mut set = self.set.write().unwrap_or_else(|e| e.into_inner());
        *set = Arc::new(next);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// The running plugins as health lists them, each with its live counters.
pub(crate) fn plugin_infos(set: &PluginSet) -> Vec<(PluginInfo, Arc<PluginCounters>)> {
    set.plugins()
        .iter()
        .map(|p| {
            let engine = set.engine();
            let settings = p.settings();
            let info = PluginInfo {
                name: p.name().to_string(),
                role: p.role().to_string(),
                hash: p.hash().to_string(),
                loaded_at: rfc3339(p.loaded_at()),
                call_timeout_ms: u64::try_from(engine.call_timeout(p).as_millis())
                    .unwrap_or(u64::MAX),
                max_memory_mib: (engine.max_memory_bytes(p) >> 20) as u64,
                on_error: match settings.on_error {
                    OnError::FailEvent => "fail-event",
                    OnError::Skip => "skip",
                }
                .to_string(),
                grants: settings
                    .read_only
                    .iter()
                    .map(|g| format!("read-only {} = {}", g.guest, g.host.display()))
                    .collect(),
                projection: p
                    .projection()
                    .map(|p| p.fields().to_vec())
                    .unwrap_or_default(),
                compiler: p.compiler().to_string(),
                calls: PluginCalls::default(),
            };
            (info, Arc::clone(p.counters()))
        })
        .collect()
}

/// Routed entries a worker hands to delivery at most in one go. Entries go as soon as
/// the worker finds nothing left to take and before it waits, so a chunk only fills up
/// under load, where it spares the delivery task a wake-up per entry.
pub(crate) const ROUTED_CHUNK: usize = 64;

/// Longest a routed entry waits in a worker's outbox for the chunk to fill, when the
/// queue never runs empty (a flood of events that are mostly filtered, say).
pub(crate) const ROUTED_LINGER: Duration = Duration::from_millis(5);

/// Events a worker takes from the queue at once (when that many are waiting).
pub(crate) const INBOX: usize = 16;

/// Where a worker takes events from: the queue, and (with a write-ahead log) the room
/// in it that it gives back for each event it takes.
pub(crate) struct Queue<'a> {
    /// The queue.
    pub(crate) work: &'a async_channel::Receiver<(Event, Ticket)>,
    /// The room in it, with a write-ahead log.
    pub(crate) room: Option<&'a tokio::sync::Semaphore>,
}

/// A worker: takes events, runs them through its pipeline, passes routed entries on in
/// chunks ([`Handoff`]).
pub(crate) fn run_worker(
    slot: &PluginSlot,
    default_bus: &str,
    rules: &OutputRules,
    queue: Queue<'_>,
    routed: &async_channel::Sender<Vec<(Routed, Ticket)>>,
    health: &Health,
) {
    let (mut generation, set) = slot.current();
    let mut pipeline = Pipeline::with_rules(set, default_bus, rules.clone());
    let mut tally = WorkerTally::default();
    // If delivery has stopped, what could not be handed to it is a failure.
    let mut handoff = Handoff::new(
        queue.work.clone(),
        routed.clone(),
        INBOX,
        ROUTED_CHUNK,
        ROUTED_LINGER,
        |lost: Vec<(Routed, Ticket)>| {
            for (entry, ticket) in lost {
                let failure = delivery_failure(
                    &entry.bus,
                    entry.event,
                    crate::health::FailureCode::DeliveryStopped,
                    "the delivery task stopped before this entry was sent".into(),
                    0,
                    std::time::SystemTime::now(),
                );
                health.record_failure_of(failure, ticket);
            }
        },
    );
    // Before the worker waits for an event, the counters are made exact (and the
    // hand-off passes every routed entry on).
    while let Some((event, ticket)) = handoff.next(|| {
        pipeline.flush_counters();
        tally.flush(health);
    }) {
        if let Some(room) = queue.room {
            room.add_permits(1);
        }
        if slot.generation() != generation {
            let (now, set) = slot.current();
            generation = now;
            pipeline = Pipeline::with_rules(set, default_bus, rules.clone());
        }
        match pipeline.run(event) {
            Outcome::Filtered { plugin } => {
                tally.filtered(&plugin);
                ticket.finish();
            }
            Outcome::Failed(failure) => {
                let failure = *failure;
                let failure = Failure {
                    stage: Stage::Plugin,
                    event_id: Some(failure.event.id.clone()),
                    origin: failure.plugin,
                    version: Some(failure.version),
                    code: failure.code,
                    message: failure.reason,
                    attempts: 1,
                    first_attempt: std::time::SystemTime::now(),
                    event: Some(failure.event),
                    input: None,
                };
                health.record_failure_of(failure, ticket);
            }
            Outcome::Routed { entries, checked } => {
                tally.routed(entries.len());
                for entry in entries {
                    // Checked here, on the worker threads, rather than in the one
                    // delivery task: it parses the detail. What the pipeline checked
                    // (a transformer's output, a scanned detail) is not checked again.
                    let share = ticket.share();
                    if !checked && let Err(problem) = validate(&entry.event) {
                        let failure = delivery_failure(
                            &entry.bus,
                            entry.event,
                            problem.code(),
                            problem.to_string(),
                            0,
                            std::time::SystemTime::now(),
                        );
                        health.record_failure_of(failure, share);
                        continue;
                    }
                    handoff.push((entry, share));
                }
                // Every destination holds a share now.
                ticket.finish();
            }
        }
        if tally.events >= FLUSH_EVERY {
            pipeline.flush_counters();
            tally.flush(health);
        }
        handoff.after_item(Instant::now);
    }
    tally.flush(health);
    handoff.flush();
}

/// What a worker counted since it last reported to [`Health`].
#[derive(Debug, Default)]
struct WorkerTally {
    filtered: Vec<(String, u64)>,
    routed_events: u64,
    routed_entries: u64,
    events: u32,
}

impl WorkerTally {
    fn filtered(&mut self, plugin: &str) {
        self.events += 1;
        match self.filtered.iter_mut().find(|(p, _)| p == plugin) {
            Some((_, n)) => *n += 1,
            None => self.filtered.push((plugin.to_string(), 1)),
        }
    }

    fn routed(&mut self, entries: usize) {
        self.events += 1;
        self.routed_events += 1;
        self.routed_entries += entries as u64;
    }

    fn flush(&mut self, health: &Health) {
        if self.events > 0 {
            health.record_pipeline(&self.filtered, self.routed_events, self.routed_entries);
        }
        self.filtered.clear();
        self.routed_events = 0;
        self.routed_entries = 0;
        self.events = 0;
    }
}
