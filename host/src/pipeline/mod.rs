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
//!
//! The engine (`stages`) is generic over the plugins it runs (`seam`), so unit tests
//! drive it with native fake plugins; [`Pipeline`] is it over the loaded WebAssembly
//! plugins. `output` holds what plugins' output must satisfy, `project` the
//! projected calls.
//!
//! [`Pipeline::run_traced`] runs an event through the same stages and also returns its
//! [`Trace`]: what each plugin did with it (`logbridge test` prints it).

mod output;
mod project;
mod seam;
mod stages;
mod trace;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use crate::delivery::service::Routed;
use crate::event::Event;
use crate::plugin::{CompiledPlugin, PluginSet};
pub use output::OutputRules;
use stages::Stages;
pub use trace::{Action, Change, Part, Step, Trace};

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
    pub code: crate::health::FailureCode,
    /// Why, for a person: the plugin's own message, or what the host saw.
    pub reason: String,
    /// The event as the failing plugin received it.
    pub event: Event,
}

/// A plugin set instantiated for one worker thread. Not shared: each worker has its own.
pub struct Pipeline {
    set: Arc<PluginSet>,
    stages: Stages<Arc<CompiledPlugin>>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("plugins", &self.set.plugins().len())
            .field("default_bus", &self.stages.default_bus())
            .finish_non_exhaustive()
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
        let stages = Stages::new(set.plugins().to_vec(), default_bus.into(), rules);
        Pipeline { set, stages }
    }

    /// The plugin set this pipeline runs.
    pub fn set(&self) -> &Arc<PluginSet> {
        &self.set
    }

    /// The bus events no router routes go to.
    pub fn default_bus(&self) -> &str {
        self.stages.default_bus()
    }

    /// Runs `event` through the set.
    pub fn run(&mut self, event: Event) -> Outcome {
        self.stages.run(event)
    }

    /// Runs `event` through the set as [`run`](Self::run) does — the same stages,
    /// instances, output checks and counters — and also returns its [`Trace`]: which
    /// filter kept or dropped it, what each transformer changed, which buses each router
    /// named, and which plugin failed, with its code and reason. The trace costs a copy
    /// of the event before each transformer and a parse of the detail after; use it to
    /// see why an event went where it went, not to run a stream.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use logbridge::pipeline::{Action, Pipeline};
    /// use logbridge::{Envelope, PluginEngine, PluginLimits, PluginSet};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let engine = PluginEngine::new(PluginLimits::default())?;
    /// let set = Arc::new(PluginSet::load_dir(&engine, "plugins".as_ref())?);
    /// let mut pipeline = Pipeline::new(set, "default");
    /// let log = r#"{"log_id":"1","date":"2026-11-01T00:00:00Z","type":"f","user_name":"jane@example.com"}"#;
    /// let (outcome, trace) = pipeline.run_traced(Envelope::default().auth0_event(log)?);
    /// for step in &trace.steps {
    ///     if let Action::Transformed { changes } = &step.action {
    ///         println!("{} changed {} fields", step.plugin, changes.len());
    ///     }
    /// }
    /// println!("{outcome:?}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn run_traced(&mut self, event: Event) -> (Outcome, Trace) {
        let mut tracer = trace::Tracer::default();
        let outcome = self.stages.run_observed(event, &mut tracer);
        (outcome, tracer.trace)
    }

    /// Adds this pipeline's tallies to the plugins' shared counters. Done every
    /// [`FLUSH_EVERY`] events by [`run`](Self::run), before a failure is counted, when
    /// the pipeline is dropped, and by the worker whenever its queue runs empty, so the
    /// counters are exact whenever no event is in flight.
    pub fn flush_counters(&mut self) {
        self.stages.flush_counters();
    }
}
