//! One live instance of a plugin, with its own store, and the calls into it.
//!
//! Instances are reused across events: instantiating costs far more than a call. A call
//! that traps (panic, deadline, memory cap) leaves the instance in an unknown state, so
//! callers must drop it and make a new one — [`CallError`] says so.

use std::sync::Arc;

use wasmtime::Store;

use super::bindings::{Destination, Event, filter, router, transformer};
use super::engine::PluginState;
use super::loader::{CompiledPlugin, RoleIndices};
use super::{PluginError, Role};

enum RoleExports {
    Filter(filter::Guest),
    Transformer(transformer::Guest),
    Router(router::Guest),
}

/// A call into a plugin that did not return normally. The instance must be discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin `{plugin}` trapped: {reason}")]
pub struct CallError {
    /// The plugin's name.
    pub plugin: String,
    /// What happened: the trap message, e.g. a panic, the call deadline or the memory cap.
    pub reason: String,
}

/// One live instance of a [`CompiledPlugin`].
pub struct PluginInstance {
    plugin: Arc<CompiledPlugin>,
    store: Store<PluginState>,
    exports: RoleExports,
}

impl std::fmt::Debug for PluginInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginInstance")
            .field("plugin", &self.plugin.name())
            .finish_non_exhaustive()
    }
}

impl PluginInstance {
    /// Instantiates `plugin` in a fresh store and calls its `init`, if it has one, with
    /// its configuration.
    pub fn new(plugin: &Arc<CompiledPlugin>) -> Result<Self, PluginError> {
        let failed = |e: wasmtime::Error| PluginError::Instantiate {
            plugin: plugin.name().to_string(),
            reason: format!("{e:#}"),
        };
        let engine = &plugin.engine;
        let mut store = engine.store(plugin.name_arc());
        store.set_epoch_deadline(engine.setup_ticks());
        let instance = plugin.pre.instantiate(&mut store).map_err(failed)?;
        let exports = match &plugin.indices {
            RoleIndices::Filter(ix) => {
                RoleExports::Filter(ix.load(&mut store, &instance).map_err(failed)?)
            }
            RoleIndices::Transformer(ix) => {
                RoleExports::Transformer(ix.load(&mut store, &instance).map_err(failed)?)
            }
            RoleIndices::Router(ix) => {
                RoleExports::Router(ix.load(&mut store, &instance).map_err(failed)?)
            }
        };
        if let Some(init) = &plugin.init {
            let lifecycle = init.load(&mut store, &instance).map_err(failed)?;
            store.set_epoch_deadline(engine.setup_ticks());
            lifecycle
                .call_init(&mut store, &plugin.config)
                .map_err(failed)?
                .map_err(|reason| PluginError::Init {
                    plugin: plugin.name().to_string(),
                    reason,
                })?;
        }
        Ok(PluginInstance {
            plugin: Arc::clone(plugin),
            store,
            exports,
        })
    }

    /// The plugin this is an instance of.
    pub fn plugin(&self) -> &Arc<CompiledPlugin> {
        &self.plugin
    }

    /// The plugin's role.
    pub fn role(&self) -> Role {
        self.plugin.role()
    }

    fn trapped(&self, error: wasmtime::Error) -> CallError {
        CallError {
            plugin: self.plugin.name().to_string(),
            reason: format!("{error:#}"),
        }
    }

    fn arm_deadline(&mut self) {
        let ticks = self.plugin.engine.deadline_ticks();
        self.store.set_epoch_deadline(ticks);
    }

    /// Calls `filter`. Panics if the plugin is not a filter.
    pub(crate) fn filter(&mut self, event: &Event) -> Result<bool, CallError> {
        self.arm_deadline();
        let RoleExports::Filter(guest) = &self.exports else {
            unreachable!("filter called on a {} plugin", self.role())
        };
        guest
            .call_filter(&mut self.store, event)
            .map_err(|e| self.trapped(e))
    }

    /// Calls `transform`. Panics if the plugin is not a transformer.
    pub(crate) fn transform(&mut self, event: &Event) -> Result<Result<Event, String>, CallError> {
        self.arm_deadline();
        let RoleExports::Transformer(guest) = &self.exports else {
            unreachable!("transform called on a {} plugin", self.role())
        };
        guest
            .call_transform(&mut self.store, event)
            .map_err(|e| self.trapped(e))
    }

    /// Calls `route`. Panics if the plugin is not a router.
    pub(crate) fn route(&mut self, event: &Event) -> Result<Vec<Destination>, CallError> {
        self.arm_deadline();
        let RoleExports::Router(guest) = &self.exports else {
            unreachable!("route called on a {} plugin", self.role())
        };
        guest
            .call_route(&mut self.store, event)
            .map_err(|e| self.trapped(e))
    }
}
