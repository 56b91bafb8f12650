//! The pipeline's engine, generic over the plugins it runs ([`StagePlugin`]): the stage
//! order, each plugin's instance and its lifecycle (made on first use, thrown away after
//! a failure, replaced when worn out), containment by `on_error`, and the per-plugin
//! tallies added to the shared counters now and then; and the [`Observer`] that sees
//! each plugin's answer when the pipeline is traced.

use std::time::Instant;

use super::output::{Fault, Output, OutputRules};
use super::project::{DetailState, Projecting};
use super::seam::{StageInstance, StagePlugin};
use super::{FLUSH_EVERY, Outcome, PluginFailure};
use crate::event::Event;
use crate::health::{FailureCode, PluginTally, TIME_ONE_CALL_IN};
use crate::plugin::{CallError, Destination, OnError, Role, Transformed};

/// What sees each plugin's answer as an event runs: the trace of `logbridge test`
/// ([`super::trace`]). The stages call its hooks only when [`ON`](Self::ON) is set; the
/// pipeline proper runs with [`Unobserved`], whose `ON` is `false`, so the hooks and what
/// they are given are compiled out of it.
pub(crate) trait Observer {
    /// Whether the hooks are called at all.
    const ON: bool;
    /// Filter `plugin` kept the event (`kept`) or dropped it.
    fn filtered(&mut self, plugin: &str, kept: bool);
    /// A transformer is about to be called on `event`.
    fn transforming(&mut self, event: &Event);
    /// Transformer `plugin`'s answer was accepted: the event is now `after`.
    fn transformed(&mut self, plugin: &str, after: &Event);
    /// Router `plugin` named these destinations (the default bus filled in).
    fn routed(&mut self, plugin: &str, destinations: &[Destination]);
    /// `plugin` (of `role`) failed; `skipped` when its policy lets the event go on.
    fn failed(&mut self, plugin: &str, role: Role, code: &FailureCode, reason: &str, skipped: bool);
}

/// No observer: the pipeline as the host runs it.
pub(crate) struct Unobserved;

impl Observer for Unobserved {
    const ON: bool = false;
    fn filtered(&mut self, _: &str, _: bool) {}
    fn transforming(&mut self, _: &Event) {}
    fn transformed(&mut self, _: &str, _: &Event) {}
    fn routed(&mut self, _: &str, _: &[Destination]) {}
    fn failed(&mut self, _: &str, _: Role, _: &FailureCode, _: &str, _: bool) {}
}

/// A plugin list with one instance slot per plugin, run stage by stage.
pub(crate) struct Stages<P: StagePlugin> {
    plugins: Vec<P>,
    /// One slot per plugin, in the same order; `None` until the next call makes a fresh
    /// instance (at first, after a failure, after wearing out).
    instances: Vec<Option<P::Instance>>,
    /// Indices into `plugins`, grouped by stage.
    filters: Vec<usize>,
    transformers: Vec<usize>,
    routers: Vec<usize>,
    projecting: Projecting,
    /// Per plugin, what was counted since the last [`flush_counters`](Self::flush_counters).
    tallies: Vec<PluginTally>,
    /// Events run since then.
    unflushed: u32,
    output: Output,
}

impl<P: StagePlugin> Stages<P> {
    /// Stages over `plugins`, in the order given within each role. Instances are made
    /// lazily, on each plugin's first event.
    pub(crate) fn new(plugins: Vec<P>, default_bus: String, rules: OutputRules) -> Self {
        let of_role = |role: Role| -> Vec<usize> {
            plugins
                .iter()
                .enumerate()
                .filter(|(_, p)| p.role() == role)
                .map(|(i, _)| i)
                .collect()
        };
        Stages {
            filters: of_role(Role::Filter),
            transformers: of_role(Role::Transformer),
            routers: of_role(Role::Router),
            instances: plugins.iter().map(|_| None).collect(),
            projecting: Projecting::new(
                plugins.iter().map(|p| p.projection().cloned()).collect(),
                plugins.iter().map(|p| p.role() == Role::Filter).collect(),
            ),
            tallies: vec![PluginTally::default(); plugins.len()],
            unflushed: 0,
            plugins,
            output: Output { default_bus, rules },
        }
    }

    /// The bus unrouted events go to.
    pub(crate) fn default_bus(&self) -> &str {
        &self.output.default_bus
    }

    /// Runs `event` through every stage.
    pub(crate) fn run(&mut self, event: Event) -> Outcome {
        self.run_observed(event, &mut Unobserved)
    }

    /// Runs `event` through every stage, telling `observer` what each plugin did.
    pub(crate) fn run_observed<O: Observer>(&mut self, event: Event, observer: &mut O) -> Outcome {
        let outcome = self.run_stages(event, observer);
        self.unflushed += 1;
        if self.unflushed >= FLUSH_EVERY {
            self.flush_counters();
        }
        outcome
    }

    fn run_stages<O: Observer>(&mut self, mut event: Event, observer: &mut O) -> Outcome {
        let mut state = DetailState::default();
        for k in 0..self.filters.len() {
            let i = self.filters[k];
            match self.call_on(i, &mut event, &mut state, StageInstance::filter) {
                Ok(true) => {
                    self.tallies[i].kept += 1;
                    self.tallies[i].ok += 1;
                    if O::ON {
                        observer.filtered(self.plugins[i].name(), true);
                    }
                }
                Ok(false) => {
                    self.tallies[i].dropped += 1;
                    self.tallies[i].ok += 1;
                    if O::ON {
                        observer.filtered(self.plugins[i].name(), false);
                    }
                    return Outcome::Filtered {
                        plugin: self.plugins[i].name().to_string(),
                    };
                }
                Err(fault) => {
                    if let Some(failed) = self.contain(i, fault, &event, observer) {
                        return failed;
                    }
                }
            }
        }
        for k in 0..self.transformers.len() {
            let i = self.transformers[k];
            if O::ON {
                observer.transforming(&event);
            }
            let result = self
                .call_on(i, &mut event, &mut state, StageInstance::transform)
                .and_then(|answer| self.transformed(i, &mut event, &state, answer));
            match result {
                Ok(next_state) => {
                    self.tallies[i].ok += 1;
                    if O::ON {
                        observer.transformed(self.plugins[i].name(), &event);
                    }
                    if let Some(next_state) = next_state {
                        state = next_state;
                    }
                }
                Err(fault) => {
                    if let Some(failed) = self.contain(i, fault, &event, observer) {
                        return failed;
                    }
                }
            }
        }
        let mut destinations: Vec<Destination> = Vec::new();
        for k in 0..self.routers.len() {
            let i = self.routers[k];
            let answer = self
                .call_on(i, &mut event, &mut state, StageInstance::route)
                .and_then(|answer| self.output.destinations(answer));
            match answer {
                Ok(answer) => {
                    self.tallies[i].ok += 1;
                    if O::ON {
                        observer.routed(self.plugins[i].name(), &answer);
                    }
                    for destination in answer {
                        if !destinations.contains(&destination) {
                            destinations.push(destination);
                        }
                    }
                }
                Err(fault) => {
                    if let Some(failed) = self.contain(i, fault, &event, observer) {
                        return failed;
                    }
                }
            }
        }
        self.projecting.finish(&event, &mut state);
        self.output.routed(event, destinations, state.valid)
    }

    /// Applies transformer `index`'s `answer` to `event`, once every edit and the
    /// resulting event are checked against what the plugin may change and what
    /// EventBridge takes; `event` is left as it was when they are not. Returns what is
    /// then known of the detail, or `None` when that did not change.
    fn transformed(
        &self,
        index: usize,
        event: &mut Event,
        state: &DetailState,
        answer: Transformed,
    ) -> Result<Option<DetailState>, Fault> {
        let Transformed { edits, envelope } = answer;
        let plugin = &self.plugins[index];
        for edit in &edits {
            self.output
                .check_edit(edit, |field| plugin.may_edit(field))?;
        }
        let edited = if edits.is_empty() {
            None
        } else {
            self.projecting.edit(event, state, &edits)?
        };
        if edited.is_none() && envelope.is_none() {
            return Ok(None);
        }
        let (detail, valid) = match &edited {
            Some((detail, next)) => (detail.as_str(), next.valid),
            None => (event.detail.as_str(), state.valid),
        };
        self.output
            .check_transformed(envelope.as_ref(), event, detail, valid)?;
        let next_state = match edited {
            Some((detail, mut next)) => {
                event.detail = detail;
                next.valid = true;
                next
            }
            None => DetailState {
                valid: true,
                ..state.clone()
            },
        };
        if let Some(envelope) = envelope {
            event.id = envelope.id;
            event.source = envelope.source;
            event.detail_type = envelope.detail_type;
            event.time = envelope.time;
            event.resources = envelope.resources;
        }
        Ok(Some(next_state))
    }

    /// Adds the tallies to the plugins' shared counters.
    pub(crate) fn flush_counters(&mut self) {
        for (plugin, tally) in self.plugins.iter().zip(&mut self.tallies) {
            if !tally.is_empty() {
                plugin.counters().add(tally);
                *tally = PluginTally::default();
            }
        }
        self.unflushed = 0;
    }

    /// Deals with plugin `index` failing on `event`: counts it, throws its instance away
    /// (whatever state led to the failure goes with it), then either fails the event
    /// (`Some`) or, when the plugin's policy is to be skipped, logs it and lets the event
    /// go on (`None`).
    fn contain<O: Observer>(
        &mut self,
        index: usize,
        fault: Fault,
        event: &Event,
        observer: &mut O,
    ) -> Option<Outcome> {
        self.instances[index] = None;
        self.flush_counters();
        let plugin = &self.plugins[index];
        plugin.counters().record_error();
        let skipped = plugin.on_error() == OnError::Skip;
        if O::ON {
            observer.failed(
                plugin.name(),
                plugin.role(),
                &fault.code,
                &fault.reason,
                skipped,
            );
        }
        if skipped {
            tracing::warn!(
                plugin = plugin.name(),
                event_id = %event.id,
                code = %fault.code,
                "plugin failed and is skipped for this event: {}",
                fault.reason
            );
            return None;
        }
        Some(Outcome::Failed(Box::new(PluginFailure {
            plugin: plugin.name().to_string(),
            version: plugin.version().to_string(),
            code: fault.code,
            reason: fault.reason,
            event: event.clone(),
        })))
    }

    /// Calls plugin `index` on `event` through `call`, as its projection has it see the
    /// event. A plugin's `err` answer is a fault with code `plugin-error`.
    #[inline]
    fn call_on<T>(
        &mut self,
        index: usize,
        event: &mut Event,
        state: &mut DetailState,
        call: impl FnOnce(&mut P::Instance, &Event) -> Result<Result<T, String>, CallError>,
    ) -> Result<T, Fault> {
        let Stages {
            plugins,
            instances,
            tallies,
            projecting,
            ..
        } = self;
        projecting.around(index, event, state, |event| {
            call_instance(
                &plugins[index],
                &mut instances[index],
                &mut tallies[index],
                |instance| call(instance, event),
            )
            .and_then(|answer| {
                answer.map_err(|reason| Fault::new(FailureCode::PluginError, reason))
            })
        })
    }
}

/// Calls `plugin` through `f` on the instance in `slot`, making it first if needed, and
/// counts the call. A worn-out instance is dropped here; a failed one by
/// [`Stages::contain`], which every failure goes through.
#[inline]
fn call_instance<P: StagePlugin, T>(
    plugin: &P,
    slot: &mut Option<P::Instance>,
    tally: &mut PluginTally,
    f: impl FnOnce(&mut P::Instance) -> Result<T, CallError>,
) -> Result<T, Fault> {
    if slot.is_none() {
        match plugin.instantiate() {
            Ok(instance) => {
                plugin.counters().record_instance();
                *slot = Some(instance);
            }
            Err(e) => {
                tally.calls += 1;
                return Err(Fault::new(FailureCode::Instantiate, e.to_string()));
            }
        }
    }
    let instance = slot.as_mut().expect("filled above");
    // One call in `TIME_ONE_CALL_IN` is timed, the first after each flush among them.
    let result = if tally.calls.is_multiple_of(TIME_ONE_CALL_IN) {
        let started = Instant::now();
        let result = f(instance);
        tally.timed += 1;
        tally.busy_ns += u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        result
    } else {
        f(instance)
    };
    tally.calls += 1;
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
            tracing::warn!(plugin = %trap.plugin, code = %trap.code, reason = %trap.reason,
                "plugin trapped; replacing its instance");
            Err(Fault::new(trap.code, trap.reason))
        }
    }
}

impl<P: StagePlugin> Drop for Stages<P> {
    fn drop(&mut self) {
        self.flush_counters();
    }
}
