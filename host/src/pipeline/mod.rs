//! Runs one event through a plugin set: every filter, then every transformer in order,
//! then every router, ending in exactly one [`Outcome`].
//!
//! Roles run in stages whatever their file names say — filters first (a dropped event
//! costs no transform), then transformers, then routers — and in file-name order within a
//! stage. Routers' answers are unioned and de-duplicated; no router, or only empty
//! answers, means the default bus.
//!
//! A plugin is contained here: a trap, a deadline overrun, the memory cap, an `Err` from
//! `transform`, an output EventBridge would refuse (detail not a JSON object, entry too
//! large, bad source or detail-type) or a route to a bus the host does not know fail the
//! event at stage `plugin` — or, for a plugin whose sidecar says `on_error = "skip"`, the
//! event goes on as if that plugin were not there. A trapped instance is thrown away; a
//! worn-out one (too many calls, memory past its high-water mark) is replaced.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

pub use crate::delivery::Routed;
use crate::delivery::{EntryProblem, check_detail_type, check_source, validate};
use crate::event::{Event, entry_size};
use crate::health::PluginTally;
use crate::plugin::{
    CallError, Merged, OnError, PluginInstance, PluginSet, Projection, Projector, Role, Spans,
    WitDestination, WitEvent,
};

/// Events a pipeline runs between two additions of its tallies to the shared counters.
pub const FLUSH_EVERY: u32 = 256;

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A filter dropped it.
    Filtered {
        /// The filter that dropped it.
        plugin: String,
    },
    /// It goes to these buses, one entry per destination.
    Routed {
        /// One entry per destination.
        entries: Vec<Routed>,
        /// Whether the entries were already checked against what EventBridge accepts
        /// (they were when a transformer produced them).
        checked: bool,
    },
    /// A plugin failed on it; it belongs in the failure log.
    Failed(Box<PluginFailure>),
}

/// A plugin failed on an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFailure {
    /// The plugin that failed.
    pub plugin: String,
    /// The SHA-256 of the failing version's bytes.
    pub version: String,
    /// What kind of failure: `deadline`, `memory-cap`, `stack-overflow`, `panic`, `trap`
    /// (its instance was replaced), `plugin-error` (an `Err` from `transform`),
    /// `malformed-output`, `oversize-output`, `unknown-bus`, or `instantiate`.
    pub code: String,
    /// Why, for a person: the plugin's own message, or what the host saw.
    pub reason: String,
    /// The event as the failing plugin received it.
    pub event: Event,
}

/// Which buses routers may name, and how large an entry may be.
#[derive(Debug, Clone)]
pub struct OutputRules {
    /// The buses routers may name; `None` accepts any name.
    pub buses: Option<Arc<BTreeSet<String>>>,
    /// The largest entry a transformer may produce, in EventBridge's size formula.
    pub max_entry_bytes: usize,
}

impl Default for OutputRules {
    fn default() -> Self {
        OutputRules {
            buses: None,
            max_entry_bytes: crate::delivery::BatchLimits::default().max_bytes,
        }
    }
}

/// A plugin set instantiated for one worker thread. Not shared: each worker has its own.
pub struct Pipeline {
    set: Arc<PluginSet>,
    /// One slot per plugin of `set`, in the same order; `None` after a trap until the
    /// next call makes a fresh instance.
    instances: Vec<Option<PluginInstance>>,
    /// Indices into `set.plugins()`, grouped by stage.
    filters: Vec<usize>,
    transformers: Vec<usize>,
    routers: Vec<usize>,
    /// Each plugin's projection, if its sidecar declares one.
    projections: Vec<Option<Projection>>,
    /// All of them together, when there is one.
    projector: Option<Projector>,
    /// The projected detail of the call in progress; its allocation is reused.
    scratch: String,
    /// Per plugin, what was counted since the last [`flush_counters`](Self::flush_counters).
    tallies: Vec<PluginTally>,
    /// Events run since then.
    unflushed: u32,
    default_bus: String,
    rules: OutputRules,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("plugins", &self.set.plugins().len())
            .field("default_bus", &self.default_bus)
            .finish_non_exhaustive()
    }
}

fn to_wit(event: Event) -> WitEvent {
    WitEvent {
        id: event.id,
        source: event.source,
        detail_type: event.detail_type,
        time: event.time,
        resources: event.resources,
        detail: event.detail,
    }
}

fn from_wit(event: WitEvent) -> Event {
    Event {
        id: event.id,
        source: event.source,
        detail_type: event.detail_type,
        time: event.time,
        resources: event.resources,
        detail: event.detail,
    }
}

impl Pipeline {
    /// A pipeline over `set` that sends unrouted events to `default_bus`, with no limit on
    /// bus names. Instances are created lazily, on each plugin's first event.
    pub fn new(set: Arc<PluginSet>, default_bus: impl Into<String>) -> Self {
        Self::with_rules(set, default_bus, OutputRules::default())
    }

    /// A pipeline that holds plugins' output to `rules`.
    pub fn with_rules(
        set: Arc<PluginSet>,
        default_bus: impl Into<String>,
        rules: OutputRules,
    ) -> Self {
        let of_role = |role: Role| -> Vec<usize> {
            set.plugins()
                .iter()
                .enumerate()
                .filter(|(_, p)| p.role() == role)
                .map(|(i, _)| i)
                .collect()
        };
        Pipeline {
            filters: of_role(Role::Filter),
            transformers: of_role(Role::Transformer),
            routers: of_role(Role::Router),
            instances: set.plugins().iter().map(|_| None).collect(),
            projections: set
                .plugins()
                .iter()
                .map(|p| p.settings().projection.clone())
                .collect(),
            projector: Projector::new(
                &set.plugins()
                    .iter()
                    .map(|p| p.settings().projection.as_ref())
                    .collect::<Vec<_>>(),
            ),
            scratch: String::new(),
            tallies: vec![PluginTally::default(); set.plugins().len()],
            unflushed: 0,
            set,
            default_bus: default_bus.into(),
            rules,
        }
    }

    /// The plugin set this pipeline runs.
    pub fn set(&self) -> &Arc<PluginSet> {
        &self.set
    }

    /// Runs `event` through the set.
    pub fn run(&mut self, event: Event) -> Outcome {
        let outcome = self.run_stages(event);
        self.count_event();
        outcome
    }

    fn run_stages(&mut self, event: Event) -> Outcome {
        let mut event = to_wit(event);
        let mut state = DetailState::default();
        for k in 0..self.filters.len() {
            let i = self.filters[k];
            match self
                .call_on(i, &mut event, &mut state, PluginInstance::filter_any)
                .0
            {
                Ok(true) => {
                    self.tallies[i].kept += 1;
                    self.tallies[i].ok += 1;
                }
                Ok(false) => {
                    self.tallies[i].dropped += 1;
                    self.tallies[i].ok += 1;
                    return Outcome::Filtered {
                        plugin: self.set.plugins()[i].name().to_string(),
                    };
                }
                Err(fault) => {
                    if let Some(failed) = self.contain(i, fault, &event) {
                        return failed;
                    }
                }
            }
        }
        for k in 0..self.transformers.len() {
            let i = self.transformers[k];
            let (answer, projected) =
                self.call_on(i, &mut event, &mut state, PluginInstance::transform_any);
            let result = match answer {
                Ok(Ok(next)) => self.transformed(i, &mut event, &state, projected, next),
                Ok(Err(reason)) => Err(Fault::new("plugin-error", reason)),
                Err(fault) => Err(fault),
            };
            match result {
                Ok((next, next_state)) => {
                    self.tallies[i].ok += 1;
                    event = next;
                    state = next_state;
                }
                Err(fault) => {
                    if let Some(failed) = self.contain(i, fault, &event) {
                        return failed;
                    }
                }
            }
        }
        let mut destinations: Vec<WitDestination> = Vec::new();
        for k in 0..self.routers.len() {
            let i = self.routers[k];
            let answer = self
                .call_on(i, &mut event, &mut state, PluginInstance::route_any)
                .0
                .and_then(|answer| self.check_destinations(answer));
            match answer {
                Ok(answer) => {
                    self.tallies[i].ok += 1;
                    for destination in answer {
                        if !destinations.contains(&destination) {
                            destinations.push(destination);
                        }
                    }
                }
                Err(fault) => {
                    if let Some(failed) = self.contain(i, fault, &event) {
                        return failed;
                    }
                }
            }
        }

        // Entries whose detail is known good skip the check on the way to delivery.
        let checked = state.valid
            && check_source(&event.source).is_ok()
            && check_detail_type(&event.detail_type).is_ok();
        let event = from_wit(event);
        if destinations.is_empty() {
            return Outcome::Routed {
                entries: vec![Routed {
                    bus: self.default_bus.clone(),
                    event,
                }],
                checked,
            };
        }
        let last = destinations.len() - 1;
        let mut event = Some(event);
        let entries = destinations
            .into_iter()
            .enumerate()
            .map(|(n, destination)| {
                let mut event = if n == last {
                    event.take().expect("taken once, for the last destination")
                } else {
                    event.clone().expect("present until the last destination")
                };
                if let Some(source) = destination.source {
                    event.source = source;
                }
                if let Some(detail_type) = destination.detail_type {
                    event.detail_type = detail_type;
                }
                Routed {
                    bus: destination.bus,
                    event,
                }
            })
            .collect();
        Outcome::Routed { entries, checked }
    }

    /// Adds this pipeline's tallies to the plugins' shared counters. Done every
    /// [`FLUSH_EVERY`] events by [`run`](Self::run), before a failure is counted, when
    /// the pipeline is dropped, and by the worker whenever its queue runs empty, so the
    /// counters are exact whenever no event is in flight.
    pub fn flush_counters(&mut self) {
        for (plugin, tally) in self.set.plugins().iter().zip(&mut self.tallies) {
            if !tally.is_empty() {
                plugin.counters().add(tally);
                *tally = PluginTally::default();
            }
        }
        self.unflushed = 0;
    }

    fn count_event(&mut self) {
        self.unflushed += 1;
        if self.unflushed >= FLUSH_EVERY {
            self.flush_counters();
        }
    }

    /// Deals with plugin `index` failing on `event`: counts it, throws its instance away
    /// (whatever state led to the failure goes with it), then either fails the event
    /// (`Some`) or, when the plugin's policy is to be skipped, logs it and lets the event
    /// go on (`None`).
    fn contain(&mut self, index: usize, fault: Fault, event: &WitEvent) -> Option<Outcome> {
        self.instances[index] = None;
        self.flush_counters();
        let plugin = &self.set.plugins()[index];
        plugin.counters().record_error();
        if plugin.settings().on_error == OnError::Skip {
            tracing::warn!(
                plugin = plugin.name(),
                event_id = %event.id,
                code = fault.code,
                "plugin failed and is skipped for this event: {}",
                fault.reason
            );
            return None;
        }
        Some(Outcome::Failed(Box::new(PluginFailure {
            plugin: plugin.name().to_string(),
            version: plugin.hash().to_string(),
            code: fault.code.to_string(),
            reason: fault.reason,
            event: from_wit(event.clone()),
        })))
    }

    /// A transformer's answer, merged into the full detail when the call was projected
    /// and checked against what EventBridge takes; with what is then known of its detail.
    /// `event` keeps its detail unless the answer left it unchanged and is accepted.
    fn transformed(
        &self,
        index: usize,
        event: &mut WitEvent,
        state: &DetailState,
        projected: bool,
        mut next: WitEvent,
    ) -> Result<(WitEvent, DetailState), Fault> {
        let mut unchanged = false;
        let next_state = if projected {
            let projector = self.projector.as_ref().expect("a projected call");
            let projection = self.projections[index].as_ref().expect("a projected call");
            let spans = state
                .spans()
                .expect("a projected call had its fields found");
            let merged = projector
                .merge(index, projection, &event.detail, spans, &next.detail)
                .map_err(|reason| Fault::new("malformed-output", reason))?;
            match merged {
                Merged::Unchanged => {
                    unchanged = true;
                    next.detail = String::new();
                    state.clone()
                }
                Merged::Changed { detail, spans } => {
                    next.detail = detail;
                    // The scanned detail passed the checks and the merged values did too.
                    DetailState {
                        scan: spans.map(Some),
                        valid: true,
                    }
                }
            }
        } else {
            DetailState {
                scan: None,
                valid: true,
            }
        };
        let detail_len = if unchanged {
            event.detail.len()
        } else {
            next.detail.len()
        };
        let size = entry_size(
            &next.time,
            &next.source,
            &next.detail_type,
            detail_len,
            &next.resources,
        );
        if size > self.rules.max_entry_bytes {
            return Err(Fault::new(
                "oversize-output",
                format!(
                    "the transformed event is {size} bytes; an entry may be at most {} bytes \
                     (the request-size limit)",
                    self.rules.max_entry_bytes
                ),
            ));
        }
        check_source(&next.source).map_err(malformed)?;
        check_detail_type(&next.detail_type).map_err(malformed)?;
        if unchanged {
            next.detail = std::mem::take(&mut event.detail);
        } else if !projected {
            let next = from_wit(next);
            validate(&next).map_err(malformed)?;
            return Ok((to_wit(next), next_state));
        }
        Ok((next, next_state))
    }

    /// A router's answer with the default bus filled in, if every destination is one the
    /// host can deliver to.
    fn check_destinations(
        &self,
        answer: Vec<WitDestination>,
    ) -> Result<Vec<WitDestination>, Fault> {
        answer
            .into_iter()
            .map(|mut destination| {
                if destination.bus.is_empty() {
                    destination.bus.clone_from(&self.default_bus);
                }
                if let Some(buses) = &self.rules.buses
                    && !buses.contains(&destination.bus)
                {
                    return Err(Fault::new(
                        "unknown-bus",
                        format!(
                            "routed to bus `{}`, which is not one of the host's buses ({}); \
                             declare it with --bus, or fix the router",
                            destination.bus,
                            buses.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                if let Some(source) = &destination.source {
                    check_source(source).map_err(malformed)?;
                }
                if let Some(detail_type) = &destination.detail_type {
                    check_detail_type(detail_type).map_err(malformed)?;
                }
                Ok(destination)
            })
            .collect()
    }

    /// Calls plugin `index` on `event` through `call`, handing it only the fields its
    /// projection declares, if it has one and the detail could be scanned; says whether
    /// it did.
    fn call_on<T>(
        &mut self,
        index: usize,
        event: &mut WitEvent,
        state: &mut DetailState,
        call: impl FnOnce(&mut PluginInstance, &WitEvent) -> Result<T, CallError>,
    ) -> (Result<T, Fault>, bool) {
        let mut projected = std::mem::take(&mut self.scratch);
        if self.project(index, event, state, &mut projected) {
            let full = std::mem::replace(&mut event.detail, projected);
            let result = self.call(index, |instance| call(instance, event));
            // The buffer is kept for the next call.
            self.scratch = std::mem::replace(&mut event.detail, full);
            (result, true)
        } else {
            self.scratch = projected;
            (self.call(index, |instance| call(instance, event)), false)
        }
    }

    /// Writes the detail plugin `index` is to see into `out`, if it declares a
    /// projection: the detail is scanned once, on the first projected call, and the scan
    /// kept in `state`. `false` when the plugin is to see the whole detail.
    fn project(
        &self,
        index: usize,
        event: &WitEvent,
        state: &mut DetailState,
        out: &mut String,
    ) -> bool {
        let (Some(projector), Some(projection)) = (&self.projector, &self.projections[index])
        else {
            return false;
        };
        let scan = state
            .scan
            .get_or_insert_with(|| projector.scan(&event.detail));
        let Some(spans) = scan.as_ref() else {
            return false;
        };
        state.valid = true;
        projector.project_into(index, projection, &event.detail, spans, out);
        true
    }

    /// Calls plugin `index` through `f`, instantiating it first if needed, and counts
    /// the call. A worn-out instance is dropped here; a failed one by
    /// [`contain`](Self::contain), which every failure goes through.
    fn call<T>(
        &mut self,
        index: usize,
        f: impl FnOnce(&mut PluginInstance) -> Result<T, CallError>,
    ) -> Result<T, Fault> {
        let plugin = &self.set.plugins()[index];
        let slot = &mut self.instances[index];
        if slot.is_none() {
            match PluginInstance::new(plugin) {
                Ok(instance) => {
                    plugin.counters().record_instance();
                    *slot = Some(instance);
                }
                Err(e) => {
                    self.tallies[index].calls += 1;
                    return Err(Fault::new("instantiate", e.to_string()));
                }
            }
        }
        let instance = slot.as_mut().expect("filled above");
        let started = Instant::now();
        let result = f(instance);
        let tally = &mut self.tallies[index];
        tally.calls += 1;
        tally.busy_ns += u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        match result {
            Ok(value) => {
                if instance.worn_out() {
                    tracing::debug!(
                        plugin = plugin.name(),
                        peak_memory = instance.peak_memory_bytes(),
                        "recycling a worn-out plugin instance"
                    );
                    *slot = None;
                }
                Ok(value)
            }
            // `contain` drops the instance, as it does after any failure.
            Err(trap) => {
                tracing::warn!(plugin = %trap.plugin, code = trap.code, reason = %trap.reason,
                    "plugin trapped; replacing its instance");
                Err(Fault::new(trap.code, trap.reason))
            }
        }
    }
}

/// What the pipeline knows of the current event's detail.
#[derive(Debug, Clone, Default)]
struct DetailState {
    /// The projected fields' places, once scanned; `Some(None)` when the detail could not
    /// be scanned (it is then handed over whole).
    scan: Option<Option<Spans>>,
    /// The detail passed EventBridge's checks: scanned, or checked as a transformer's
    /// output.
    valid: bool,
}

impl DetailState {
    fn spans(&self) -> Option<&Spans> {
        self.scan.as_ref()?.as_ref()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.flush_counters();
    }
}

/// A plugin's output EventBridge would refuse.
fn malformed(problem: EntryProblem) -> Fault {
    Fault::new("malformed-output", problem.to_string())
}

/// Why a plugin call did not give a usable answer.
#[derive(Debug)]
struct Fault {
    code: &'static str,
    reason: String,
}

impl Fault {
    fn new(code: &'static str, reason: String) -> Self {
        Fault { code, reason }
    }
}
