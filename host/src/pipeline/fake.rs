//! Native fake plugins for the pipeline's unit tests, in the manner of `tower-test`: each
//! [`FakePlugin`] comes with a [`Script`] handle that queues its answers and records the
//! calls it got (which instance, which event), so a test drives the pipeline's stage
//! order, lifecycle and output checks without WebAssembly.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::seam::{StageInstance, StagePlugin};
use crate::event::Event;
use crate::health::{PluginCalls, PluginCounters};
use crate::plugin::{
    CallError, Destination, Edit, OnError, PluginError, Projection, Role, Transformed,
};

/// What a fake instance answers to one call.
#[derive(Debug, Clone)]
pub(super) enum Reply {
    /// A filter keeps the event.
    Keep,
    /// A filter drops the event.
    Drop,
    /// A transformer makes these edits: (field, new JSON value or `None` to remove).
    Edits(Vec<(&'static str, Option<String>)>),
    /// Any role answers `err` with this reason.
    Refuse(String),
    /// A router sends the event to these destinations.
    Route(Vec<Destination>),
    /// The call traps with this code: the instance must be thrown away.
    Trap(&'static str),
    /// A filter takes at least this long, then keeps the event.
    SlowKeep(std::time::Duration),
}

/// One call a fake instance got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Call {
    /// Which instance of the plugin: 1 for the first one made, and so on.
    pub(super) instance: u32,
    /// The event's id.
    pub(super) event: String,
}

#[derive(Debug, Default)]
struct State {
    replies: VecDeque<Reply>,
    otherwise: Option<Reply>,
    calls: Vec<Call>,
    /// The detail of each call, as the plugin saw it.
    details: Vec<String>,
    instances: u32,
    refuse_instances: u32,
}

/// A fake plugin's script: the answers it gives and the calls it got.
#[derive(Debug, Clone, Default)]
pub(super) struct Script(Arc<Mutex<State>>);

impl Script {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `reply` for the next call that has none queued.
    pub(super) fn reply(&self, reply: Reply) -> &Self {
        self.state().replies.push_back(reply);
        self
    }

    /// The reply once the queue is empty (without one: keep, pass on unchanged, no
    /// destinations).
    pub(super) fn otherwise(&self, reply: Reply) -> &Self {
        self.state().otherwise = Some(reply);
        self
    }

    /// Makes the next `n` instantiations fail.
    pub(super) fn refuse_instances(&self, n: u32) -> &Self {
        self.state().refuse_instances = n;
        self
    }

    /// The calls so far.
    pub(super) fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The detail of each call so far, as the plugin saw it.
    pub(super) fn details(&self) -> Vec<String> {
        self.state().details.clone()
    }

    /// Instances made so far.
    pub(super) fn instances(&self) -> u32 {
        self.state().instances
    }
}

/// A native plugin with a scripted behaviour.
#[derive(Debug, Clone)]
pub(super) struct FakePlugin {
    name: String,
    role: Role,
    on_error: OnError,
    wear_after: Option<u32>,
    counters: Arc<PluginCounters>,
    script: Script,
    /// Shared by several fakes: the order plugins were called in, by name.
    journal: Arc<Mutex<Vec<String>>>,
    /// The detail fields it reads; `None`: the whole detail.
    projection: Option<Projection>,
}

impl FakePlugin {
    /// A fake `role` called `name`, and its script.
    pub(super) fn new(name: &str, role: Role) -> (Self, Script) {
        let script = Script::default();
        let plugin = FakePlugin {
            name: name.to_string(),
            role,
            on_error: OnError::FailEvent,
            wear_after: None,
            counters: Arc::new(PluginCounters::new(500)),
            script: script.clone(),
            journal: Arc::default(),
            projection: None,
        };
        (plugin, script)
    }

    /// It reads only `fields` of the detail.
    pub(super) fn reading(mut self, fields: &[&str]) -> Self {
        self.projection = Some(Projection::new(fields).expect("fields that are paths"));
        self
    }

    /// Its failures are skipped (`on_error = "skip"`).
    pub(super) fn skipped_on_error(mut self) -> Self {
        self.on_error = OnError::Skip;
        self
    }

    /// Each instance is worn out after `calls` calls.
    pub(super) fn worn_out_after(mut self, calls: u32) -> Self {
        self.wear_after = Some(calls);
        self
    }

    /// Writes its name into `journal` on every call.
    pub(super) fn journal(mut self, journal: &Arc<Mutex<Vec<String>>>) -> Self {
        self.journal = Arc::clone(journal);
        self
    }

    /// Its shared counters now.
    pub(super) fn counted(&self) -> PluginCalls {
        self.counters.snapshot()
    }
}

/// A live instance of a [`FakePlugin`].
#[derive(Debug)]
pub(super) struct FakeInstance {
    plugin: FakePlugin,
    id: u32,
    calls: u32,
}

impl FakeInstance {
    /// Records the call and takes the reply for it.
    fn answer(&mut self, event: &Event) -> Result<Reply, CallError> {
        self.calls += 1;
        let plugin = &self.plugin;
        plugin
            .journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(plugin.name.clone());
        let mut state = plugin.script.state();
        state.calls.push(Call {
            instance: self.id,
            event: event.id.clone(),
        });
        state.details.push(event.detail.clone());
        let reply = state
            .replies
            .pop_front()
            .or_else(|| state.otherwise.clone());
        match reply {
            Some(Reply::SlowKeep(time)) => {
                drop(state);
                std::thread::sleep(time);
                Ok(Reply::Keep)
            }
            Some(Reply::Trap(code)) => Err(CallError {
                plugin: plugin.name.clone(),
                code: code.into(),
                reason: format!("{} trapped on purpose", plugin.name),
            }),
            Some(reply) => Ok(reply),
            None => Ok(match plugin.role {
                Role::Filter => Reply::Keep,
                Role::Transformer => Reply::Edits(Vec::new()),
                Role::Router => Reply::Route(Vec::new()),
            }),
        }
    }
}

impl StageInstance for FakeInstance {
    fn filter(&mut self, event: &Event) -> Result<Result<bool, String>, CallError> {
        match self.answer(event)? {
            Reply::Keep => Ok(Ok(true)),
            Reply::Drop => Ok(Ok(false)),
            Reply::Refuse(reason) => Ok(Err(reason)),
            other => panic!("a filter cannot answer {other:?}"),
        }
    }

    fn transform(&mut self, event: &Event) -> Result<Result<Transformed, String>, CallError> {
        match self.answer(event)? {
            Reply::Edits(edits) => Ok(Ok(Transformed {
                edits: edits
                    .into_iter()
                    .map(|(field, value)| Edit {
                        field: field.to_string(),
                        value,
                    })
                    .collect(),
                envelope: None,
            })),
            Reply::Refuse(reason) => Ok(Err(reason)),
            other => panic!("a transformer cannot answer {other:?}"),
        }
    }

    fn route(&mut self, event: &Event) -> Result<Result<Vec<Destination>, String>, CallError> {
        match self.answer(event)? {
            Reply::Route(destinations) => Ok(Ok(destinations)),
            Reply::Refuse(reason) => Ok(Err(reason)),
            other => panic!("a router cannot answer {other:?}"),
        }
    }

    fn worn_out(&self) -> bool {
        self.plugin.wear_after.is_some_and(|n| self.calls >= n)
    }

    fn peak_memory_bytes(&self) -> usize {
        0
    }
}

impl StagePlugin for FakePlugin {
    type Instance = FakeInstance;

    fn name(&self) -> &str {
        &self.name
    }

    fn version(&self) -> &str {
        "fake-1"
    }

    fn role(&self) -> Role {
        self.role
    }

    fn on_error(&self) -> OnError {
        self.on_error
    }

    fn projection(&self) -> Option<&Projection> {
        self.projection.as_ref()
    }

    fn may_edit(&self, field: &str) -> bool {
        !field.starts_with("undeclared")
    }

    fn counters(&self) -> &PluginCounters {
        &self.counters
    }

    fn instantiate(&self) -> Result<FakeInstance, PluginError> {
        let mut state = self.script.state();
        if state.refuse_instances > 0 {
            state.refuse_instances -= 1;
            return Err(PluginError::Init {
                plugin: self.name.clone(),
                reason: "refused on purpose".into(),
            });
        }
        state.instances += 1;
        Ok(FakeInstance {
            plugin: self.clone(),
            id: state.instances,
            calls: 0,
        })
    }
}
