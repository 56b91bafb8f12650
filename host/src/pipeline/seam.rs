//! The seam under the pipeline: what it needs of a plugin ([`StagePlugin`]: who it is,
//! its policy, and a factory for fresh instances) and of a live instance
//! ([`StageInstance`]: the three role calls and whether it is worn out).
//!
//! The WebAssembly plugins implement them here (`Arc<CompiledPlugin>` and
//! [`PluginInstance`]); the pipeline's unit tests implement them with native fakes. The
//! pipeline is generic over them, so each use is compiled for its own types: no dynamic
//! dispatch on the hot path.

use std::sync::Arc;

use crate::event::Event;
use crate::health::PluginCounters;
use crate::plugin::{
    CallError, CompiledPlugin, Destination, OnError, PluginError, PluginInstance, Projection, Role,
    Transformed,
};

/// A plugin the pipeline can run: who it is, what it does on failure, and how to make
/// a fresh instance of it.
pub(crate) trait StagePlugin {
    /// A live instance of the plugin.
    type Instance: StageInstance;

    /// The plugin's name, for outcomes and failures.
    fn name(&self) -> &str;
    /// The version that runs (for WebAssembly plugins, the SHA-256 of their bytes).
    fn version(&self) -> &str;
    /// Which stage it runs in.
    fn role(&self) -> Role;
    /// Whether a failure fails the event or is skipped.
    fn on_error(&self) -> OnError;
    /// The fields it is handed instead of the whole detail, if it declares them.
    fn projection(&self) -> Option<&Projection>;
    /// Whether, as a transformer, it may edit dotted `field` (it declared it, or no
    /// fields at all).
    fn may_edit(&self, field: &str) -> bool;
    /// Its shared counters.
    fn counters(&self) -> &PluginCounters;
    /// A fresh instance, ready for its first call.
    fn instantiate(&self) -> Result<Self::Instance, PluginError>;
}

/// A live plugin instance the pipeline calls. A [`CallError`] means the instance is in
/// an unknown state: the pipeline throws it away and makes a fresh one on the next call.
pub(crate) trait StageInstance {
    /// Asks a filter whether to keep `event`, or the reason it cannot say.
    fn filter(&mut self, event: &Event) -> Result<Result<bool, String>, CallError>;
    /// Asks a transformer for its changes to `event`, or the reason it refuses.
    fn transform(&mut self, event: &Event) -> Result<Result<Transformed, String>, CallError>;
    /// Asks a router where `event` goes, or the reason it cannot say.
    fn route(&mut self, event: &Event) -> Result<Result<Vec<Destination>, String>, CallError>;
    /// Whether it should be replaced before the next call.
    fn worn_out(&self) -> bool;
    /// How much memory it grew to, in bytes, for the log line when it is replaced.
    fn peak_memory_bytes(&self) -> usize;
}

impl StagePlugin for Arc<CompiledPlugin> {
    type Instance = PluginInstance;

    fn name(&self) -> &str {
        CompiledPlugin::name(self)
    }

    fn version(&self) -> &str {
        self.hash()
    }

    fn role(&self) -> Role {
        CompiledPlugin::role(self)
    }

    fn on_error(&self) -> OnError {
        self.settings().on_error
    }

    fn projection(&self) -> Option<&Projection> {
        CompiledPlugin::projection(self)
    }

    fn may_edit(&self, field: &str) -> bool {
        self.reads().may_edit(field)
    }

    fn counters(&self) -> &PluginCounters {
        CompiledPlugin::counters(self)
    }

    fn instantiate(&self) -> Result<PluginInstance, PluginError> {
        PluginInstance::new(self)
    }
}

impl StageInstance for PluginInstance {
    #[inline]
    fn filter(&mut self, event: &Event) -> Result<Result<bool, String>, CallError> {
        PluginInstance::filter(self, event)
    }

    #[inline]
    fn transform(&mut self, event: &Event) -> Result<Result<Transformed, String>, CallError> {
        PluginInstance::transform(self, event)
    }

    #[inline]
    fn route(&mut self, event: &Event) -> Result<Result<Vec<Destination>, String>, CallError> {
        PluginInstance::route(self, event)
    }

    fn worn_out(&self) -> bool {
        PluginInstance::worn_out(self)
    }

    fn peak_memory_bytes(&self) -> usize {
        PluginInstance::peak_memory_bytes(self)
    }
}
