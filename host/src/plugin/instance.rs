//! One live instance of a plugin, with its own store, and the calls into it.
//!
//! Instances are reused across events: instantiating costs far more than a call. A call
//! that traps (panic, deadline, memory cap) leaves the instance in an unknown state, so
//! callers must drop it and make a new one — [`CallError`] says so. Instances are also
//! retired after a number of calls or once their memory grew past a high-water mark
//! ([`PluginInstance::worn_out`]).
//!
//! A plugin may print while it is instantiated or in `init`. WASI's blocking writes run a
//! future to completion on the calling thread, which a thread that is running a tokio
//! runtime's tasks may not do, so an instance made from inside a runtime (a host built in
//! `async fn main`) is made on a thread of its own.

use std::sync::Arc;

use wasmtime::{Store, Trap};

use super::bindings::{
    Destination, Envelope, Manifest, Transformed, WireEvent, filter, router, transformer,
};
use super::budget::{Budget, DeadlineReached};
use super::engine::{BlockingWaitRefused, MemoryCapReached, PluginState};
use super::loader::{CompiledPlugin, RoleIndices};
use super::{PluginError, Role};
use crate::event::Event;
use crate::health::FailureCode;

enum RoleExports {
    Filter(filter::Guest),
    Transformer(transformer::Guest),
    Router(router::Guest),
}

/// A call into a plugin that did not return normally. The instance must be discarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin `{plugin}` trapped ({code}): {reason}")]
pub(crate) struct CallError {
    /// The plugin's name.
    pub plugin: String,
    /// What kind of trap: `deadline`, `memory-cap`, `blocking-call`, `stack-overflow`,
    /// `panic` or `trap`.
    pub code: FailureCode,
    /// What happened, for a person; a panic's message when the plugin printed one.
    pub reason: String,
}

/// One live instance of a [`CompiledPlugin`].
pub(crate) struct PluginInstance {
    plugin: Arc<CompiledPlugin>,
    store: Store<PluginState>,
    exports: RoleExports,
    /// What this instance's `init` answered.
    manifest: Manifest,
    /// The event as it crosses into the plugin; its buffers are reused from call to call.
    wire: WireEvent,
    budget: Budget,
    deadlines: bool,
    calls: u64,
    /// Replaced after this many calls, or once memory passed this many bytes.
    max_calls: Option<u64>,
    high_water: Option<usize>,
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
    /// its configuration. Whatever the plugin prints meanwhile goes to the log, also when
    /// this is called from inside a tokio runtime.
    pub(crate) fn new(plugin: &Arc<CompiledPlugin>) -> Result<Self, PluginError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Self::instantiate(plugin);
        }
        let lost = |reason: String| PluginError::Instantiate {
            plugin: plugin.name().to_string(),
            reason,
        };
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name(format!("logbridge-init-{}", plugin.name()))
                .spawn_scoped(scope, || Self::instantiate(plugin))
                .map_err(|e| lost(format!("could not start a thread to instantiate it: {e}")))?
                .join()
                .unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("no message");
                    Err(lost(format!(
                        "the host panicked instantiating it: {message}"
                    )))
                })
        })
    }

    fn instantiate(plugin: &Arc<CompiledPlugin>) -> Result<Self, PluginError> {
        let engine = &plugin.engine;
        let mut store = engine.store(plugin)?;
        let failed = |store: &Store<PluginState>, e: wasmtime::Error| {
            let (code, reason) = classify(&e, store);
            PluginError::Instantiate {
                plugin: plugin.name().to_string(),
                reason: format!("{reason} ({code})"),
            }
        };
        let deadlines = engine.limits().deadlines;
        let setup = engine.setup_budget(plugin);
        if deadlines {
            let ticks = store.data_mut().clock.start(setup);
            store.set_epoch_deadline(ticks);
        }
        let instance = match plugin.pre.instantiate(&mut store) {
            Ok(instance) => instance,
            Err(e) => return Err(failed(&store, e)),
        };
        if deadlines {
            let ticks = store.data_mut().clock.start(setup);
            store.set_epoch_deadline(ticks);
        }
        let loaded = match &plugin.indices {
            RoleIndices::Filter(ix) => ix.load(&mut store, &instance).map(RoleExports::Filter),
            RoleIndices::Transformer(ix) => {
                ix.load(&mut store, &instance).map(RoleExports::Transformer)
            }
            RoleIndices::Router(ix) => ix.load(&mut store, &instance).map(RoleExports::Router),
        };
        let exports = loaded.map_err(|e| failed(&store, e))?;
        let config = &plugin.config;
        let answer = match &exports {
            RoleExports::Filter(guest) => guest.call_init(&mut store, config),
            RoleExports::Transformer(guest) => guest.call_init(&mut store, config),
            RoleExports::Router(guest) => guest.call_init(&mut store, config),
        };
        let refused = |reason: String| PluginError::Init {
            plugin: plugin.name().to_string(),
            reason,
        };
        let manifest = match answer {
            Ok(answer) => answer.map_err(refused)?,
            Err(e) => return Err(failed(&store, e)),
        };
        if let Some(reads) = &plugin.reads
            && (manifest.fields != reads.declared() || manifest.envelope != reads.envelope())
        {
            return Err(refused(format!(
                "its init declared fields {:?} (envelope: {}) when it was loaded, and now \
                 {:?} (envelope: {}); every instance must declare the same, so make what \
                 init answers depend on the configuration only",
                reads.declared(),
                reads.envelope(),
                manifest.fields,
                manifest.envelope
            )));
        }
        Ok(PluginInstance {
            plugin: Arc::clone(plugin),
            store,
            exports,
            manifest,
            wire: WireEvent {
                detail: String::new(),
                envelope: None,
            },
            budget: engine.call_budget(plugin),
            deadlines,
            calls: 0,
            max_calls: plugin
                .settings()
                .recycle_after_calls
                .or(engine.limits().recycle_after_calls),
            high_water: plugin
                .settings()
                .recycle_memory_bytes
                .or(engine.limits().recycle_memory_bytes),
        })
    }

    /// Whether this instance should be replaced by a fresh one before the next call: it
    /// served its number of calls, or its memory grew past the high-water mark.
    pub(crate) fn worn_out(&self) -> bool {
        self.max_calls.is_some_and(|max| self.calls >= max)
            || self
                .high_water
                .is_some_and(|mark| self.store.data().limiter.peak > mark)
    }

    /// The most linear memory this instance has grown to, in bytes.
    pub(crate) fn peak_memory_bytes(&self) -> usize {
        self.store.data().limiter.peak
    }

    /// The plugin's role.
    pub(crate) fn role(&self) -> Role {
        self.plugin.role()
    }

    fn trapped(&self, error: wasmtime::Error) -> CallError {
        let (code, reason) = classify(&error, &self.store);
        CallError {
            plugin: self.plugin.name().to_string(),
            code,
            reason,
        }
    }

    /// What this instance's `init` answered.
    pub(crate) fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Puts `event` into the wire event: its detail, and its envelope when the plugin
    /// reads it, reusing the buffers of the last call.
    fn cross(&mut self, event: &Event) {
        self.calls += 1;
        if self.deadlines {
            let ticks = self.store.data_mut().clock.start(self.budget);
            self.store.set_epoch_deadline(ticks);
        }
        self.wire.detail.clear();
        self.wire.detail.push_str(&event.detail);
        if self.manifest.envelope {
            let envelope = self.wire.envelope.get_or_insert_with(|| Envelope {
                id: String::new(),
                source: String::new(),
                detail_type: String::new(),
                time: String::new(),
                resources: Vec::new(),
            });
            for (to, from) in [
                (&mut envelope.id, &event.id),
                (&mut envelope.source, &event.source),
                (&mut envelope.detail_type, &event.detail_type),
                (&mut envelope.time, &event.time),
            ] {
                to.clear();
                to.push_str(from);
            }
            envelope.resources.clone_from(&event.resources);
        }
    }

    /// Calls `filter` with `event` as the plugin is to see it. Panics if the plugin is
    /// not a filter.
    pub(crate) fn filter(&mut self, event: &Event) -> Result<Result<bool, String>, CallError> {
        self.cross(event);
        let RoleExports::Filter(guest) = &self.exports else {
            unreachable!("filter called on a {} plugin", self.role())
        };
        guest
            .call_filter(&mut self.store, &self.wire)
            .map_err(|e| self.trapped(e))
    }

    /// Calls `transform` with `event` as the plugin is to see it. Panics if the plugin
    /// is not a transformer.
    pub(crate) fn transform(
        &mut self,
        event: &Event,
    ) -> Result<Result<Transformed, String>, CallError> {
        self.cross(event);
        let RoleExports::Transformer(guest) = &self.exports else {
            unreachable!("transform called on a {} plugin", self.role())
        };
        guest
            .call_transform(&mut self.store, &self.wire)
            .map_err(|e| self.trapped(e))
    }

    /// Calls `route` with `event` as the plugin is to see it. Panics if the plugin is
    /// not a router.
    pub(crate) fn route(
        &mut self,
        event: &Event,
    ) -> Result<Result<Vec<Destination>, String>, CallError> {
        self.cross(event);
        let RoleExports::Router(guest) = &self.exports else {
            unreachable!("route called on a {} plugin", self.role())
        };
        guest
            .call_route(&mut self.store, &self.wire)
            .map_err(|e| self.trapped(e))
    }
}

/// What kind of trap `error` is, and what happened for a person: `deadline`,
/// `memory-cap`, `blocking-call`, `stack-overflow`, `panic` (with the message the plugin
/// printed to stderr) or `trap`.
fn classify(error: &wasmtime::Error, store: &Store<PluginState>) -> (FailureCode, String) {
    let trap = error.downcast_ref::<Trap>();
    if let Some(cap) = error.downcast_ref::<MemoryCapReached>() {
        (FailureCode::MemoryCap, cap.to_string())
    } else if let Some(refused) = error.downcast_ref::<BlockingWaitRefused>() {
        (FailureCode::BlockingCall, refused.to_string())
    } else if let Some(reached) = error.downcast_ref::<DeadlineReached>() {
        (FailureCode::Deadline, reached.to_string())
    } else if trap == Some(&Trap::StackOverflow) {
        (
            FailureCode::StackOverflow,
            "the call overflowed its stack".to_string(),
        )
    } else if let Some(message) = panic_message(store) {
        (FailureCode::Panic, message)
    } else {
        let what = trap.map_or_else(|| format!("{error:#}"), Trap::to_string);
        match last_words(store) {
            // An interpreter's uncaught exception: the traceback's end says what it was.
            Some(words) => (
                FailureCode::Trap,
                format!("{what}; the plugin's last lines on stderr: {words}"),
            ),
            None => (FailureCode::Trap, what),
        }
    }
}

/// The last few lines the instance wrote to stderr, joined, if it wrote any.
fn last_words(store: &Store<PluginState>) -> Option<String> {
    let stderr = store
        .data()
        .stderr
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let lines: Vec<&str> = stderr
        .iter()
        .map(|line| line.trim())
        .filter(|line| !line.is_empty())
        .collect();
    let from = lines.len().saturating_sub(3);
    (!lines.is_empty()).then(|| lines[from..].join(" | "))
}

/// What a Rust `panic!` printed to stderr before the trap, if it did.
fn panic_message(store: &Store<PluginState>) -> Option<String> {
    let stderr = store
        .data()
        .stderr
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let at = stderr
        .iter()
        .position(|line| line.contains("panicked at"))?;
    let message: Vec<&str> = stderr
        .iter()
        .skip(at)
        .map(String::as_str)
        .filter(|line| !line.starts_with("note: run with"))
        .collect();
    Some(message.join(" "))
}
