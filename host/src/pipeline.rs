//! Runs one event through a plugin set: every filter, then every transformer in order,
//! then every router, ending in exactly one [`Outcome`].
//!
//! Roles run in stages whatever their file names say — filters first (a dropped event
//! costs no transform), then transformers, then routers — and in file-name order within a
//! stage. Routers' answers are unioned and de-duplicated; no router, or only empty
//! answers, means the default bus.

use std::sync::Arc;
use std::time::Instant;

pub use crate::delivery::Routed;
use crate::event::Event;
use crate::plugin::{CallError, PluginInstance, PluginSet, Role, WitDestination, WitEvent};

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A filter dropped it.
    Filtered {
        /// The filter that dropped it.
        plugin: String,
    },
    /// It goes to these buses, one entry per destination.
    Routed(Vec<Routed>),
    /// A plugin failed on it; it belongs in the failure log.
    Failed(PluginFailure),
}

/// A plugin failed on an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginFailure {
    /// The plugin that failed.
    pub plugin: String,
    /// Why: the plugin's own error message, or the trap.
    pub reason: String,
    /// Whether the plugin trapped (its instance was replaced) rather than returning an
    /// error.
    pub trapped: bool,
    /// The event as the failing plugin received it.
    pub event: Event,
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
    default_bus: String,
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
    /// A pipeline over `set` that sends unrouted events to `default_bus`. Instances are
    /// created lazily, on each plugin's first event.
    pub fn new(set: Arc<PluginSet>, default_bus: impl Into<String>) -> Self {
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
            set,
            default_bus: default_bus.into(),
        }
    }

    /// The plugin set this pipeline runs.
    pub fn set(&self) -> &Arc<PluginSet> {
        &self.set
    }

    /// Runs `event` through the set.
    pub fn run(&mut self, event: Event) -> Outcome {
        let mut event = to_wit(event);
        for k in 0..self.filters.len() {
            let i = self.filters[k];
            let verdict = self.call(i, |instance| instance.filter(&event));
            if let Ok(Ok(kept)) = verdict {
                self.set.plugins()[i].counters().record_verdict(kept);
            }
            match verdict {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    return Outcome::Filtered {
                        plugin: self.set.plugins()[i].name().to_string(),
                    };
                }
                Ok(Err(trap)) => return self.failure(i, trap.reason, true, event),
                Err(reason) => return self.failure(i, reason, false, event),
            }
        }
        for k in 0..self.transformers.len() {
            let i = self.transformers[k];
            match self.call(i, |instance| instance.transform(&event)) {
                Ok(Ok(Ok(next))) => event = next,
                Ok(Ok(Err(reason))) => return self.failure(i, reason, false, event),
                Ok(Err(trap)) => return self.failure(i, trap.reason, true, event),
                Err(reason) => return self.failure(i, reason, false, event),
            }
        }
        let mut destinations: Vec<WitDestination> = Vec::new();
        for k in 0..self.routers.len() {
            let i = self.routers[k];
            match self.call(i, |instance| instance.route(&event)) {
                Ok(Ok(answer)) => {
                    for mut destination in answer {
                        if destination.bus.is_empty() {
                            destination.bus.clone_from(&self.default_bus);
                        }
                        if !destinations.contains(&destination) {
                            destinations.push(destination);
                        }
                    }
                }
                Ok(Err(trap)) => return self.failure(i, trap.reason, true, event),
                Err(reason) => return self.failure(i, reason, false, event),
            }
        }

        let event = from_wit(event);
        if destinations.is_empty() {
            return Outcome::Routed(vec![Routed {
                bus: self.default_bus.clone(),
                event,
            }]);
        }
        let last = destinations.len() - 1;
        let mut event = Some(event);
        let routed = destinations
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
        Outcome::Routed(routed)
    }

    fn failure(&self, index: usize, reason: String, trapped: bool, event: WitEvent) -> Outcome {
        self.set.plugins()[index].counters().record_error();
        Outcome::Failed(PluginFailure {
            plugin: self.set.plugins()[index].name().to_string(),
            reason,
            trapped,
            event: from_wit(event),
        })
    }

    /// Calls plugin `index` through `f`, instantiating it first if needed, and counts
    /// the call. A trap drops the instance so the next call gets a fresh one. `Err` is an
    /// instantiation failure.
    fn call<T>(
        &mut self,
        index: usize,
        f: impl FnOnce(&mut PluginInstance) -> Result<T, CallError>,
    ) -> Result<Result<T, CallError>, String> {
        let plugin = &self.set.plugins()[index];
        let slot = &mut self.instances[index];
        if slot.is_none() {
            match PluginInstance::new(plugin) {
                Ok(instance) => *slot = Some(instance),
                Err(e) => {
                    plugin.counters().record_call(std::time::Duration::ZERO);
                    return Err(e.to_string());
                }
            }
        }
        let instance = slot.as_mut().expect("filled above");
        let started = Instant::now();
        let result = f(instance);
        plugin.counters().record_call(started.elapsed());
        if let Err(trap) = &result {
            tracing::warn!(plugin = %trap.plugin, reason = %trap.reason, "plugin trapped; replacing its instance");
            *slot = None;
        }
        Ok(result)
    }
}
