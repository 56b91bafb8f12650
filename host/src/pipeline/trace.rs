//! The decision trace of one event ([`Pipeline::run_traced`](super::Pipeline::run_traced)):
//! what each plugin did with it — kept or dropped it, changed which fields, named which
//! buses, failed with which code — as the very stages the host runs saw it.

use serde_json::Value;

use super::stages::Observer;
use crate::event::Event;
use crate::health::FailureCode;
use crate::plugin::{Destination, Role};

/// What the plugins did with one event, in the order they ran.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Trace {
    /// One step per plugin call that answered or failed, in the order of the calls.
    pub steps: Vec<Step>,
}

impl Trace {
    /// The routers that named `bus`, in the order they ran; empty when none did (an
    /// event no router routes goes to the default bus).
    pub fn named_by(&self, bus: &str) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|step| match &step.action {
                Action::Routed { buses } => buses.iter().any(|b| b == bus),
                _ => false,
            })
            .map(|step| step.plugin.as_str())
            .collect()
    }
}

/// One plugin's part in an event's trace.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Step {
    /// The plugin's name (its file name without `.wasm`).
    pub plugin: String,
    /// The stage it ran in.
    pub role: Role,
    /// What it did.
    pub action: Action,
}

/// What a plugin did with an event.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// A filter kept the event.
    Kept,
    /// A filter dropped the event: no later plugin saw it.
    Dropped,
    /// A transformer's answer was accepted; `changes` is empty when it changed nothing.
    Transformed {
        /// What differs between the event before and after, field by field.
        changes: Vec<Change>,
    },
    /// A router named these buses (the default bus filled in for an empty name); empty
    /// when it named none.
    Routed {
        /// The buses, in the router's order.
        buses: Vec<String>,
    },
    /// The plugin failed on the event.
    Failed {
        /// What kind of failure, as the failure log records it.
        code: FailureCode,
        /// Why, for a person.
        reason: String,
        /// Whether the plugin's sidecar says `on_error = "skip"`: the event went on as if
        /// the plugin were not there. Otherwise the event failed here.
        skipped: bool,
    },
}

/// Where a [`Change`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// A field of the entry: `id`, `source`, `detail-type`, `time` or `resources`.
    Entry,
    /// A field inside the detail, by its dotted path from the detail's top
    /// (`data.user_name`), as sidecars' `[projection]` names fields.
    Detail,
}

/// One field a transformer added, removed or changed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Change {
    /// Whether it is a field of the entry or of the detail.
    pub part: Part,
    /// The entry field's name, or the dotted path inside the detail (empty for the whole
    /// detail, when it was not a JSON object before or after).
    pub path: String,
    /// The value before; `None` when the transformer added the field.
    pub before: Option<Value>,
    /// The value after; `None` when the transformer removed the field.
    pub after: Option<Value>,
}

/// The [`Observer`] that writes a [`Trace`].
#[derive(Debug, Default)]
pub(super) struct Tracer {
    pub(super) trace: Trace,
    /// The event as the transformer being called received it.
    before: Option<Event>,
}

impl Tracer {
    fn push(&mut self, plugin: &str, role: Role, action: Action) {
        self.trace.steps.push(Step {
            plugin: plugin.to_string(),
            role,
            action,
        });
    }
}

impl Observer for Tracer {
    const ON: bool = true;

    fn filtered(&mut self, plugin: &str, kept: bool) {
        let action = if kept { Action::Kept } else { Action::Dropped };
        self.push(plugin, Role::Filter, action);
    }

    fn transforming(&mut self, event: &Event) {
        self.before = Some(event.clone());
    }

    fn transformed(&mut self, plugin: &str, after: &Event) {
        let changes = match self.before.take() {
            Some(before) => changes(&before, after),
            None => Vec::new(),
        };
        self.push(plugin, Role::Transformer, Action::Transformed { changes });
    }

    fn routed(&mut self, plugin: &str, destinations: &[Destination]) {
        let buses = destinations.iter().map(|d| d.bus.clone()).collect();
        self.push(plugin, Role::Router, Action::Routed { buses });
    }

    fn failed(
        &mut self,
        plugin: &str,
        role: Role,
        code: &FailureCode,
        reason: &str,
        skipped: bool,
    ) {
        self.before = None;
        let action = Action::Failed {
            code: code.clone(),
            reason: reason.to_string(),
            skipped,
        };
        self.push(plugin, role, action);
    }
}

/// What differs between `before` and `after`: the entry's fields, then the detail's,
/// field by field.
pub(super) fn changes(before: &Event, after: &Event) -> Vec<Change> {
    let mut out = Vec::new();
    let mut entry = |name: &str, a: Value, b: Value| {
        if a != b {
            out.push(Change {
                part: Part::Entry,
                path: name.to_string(),
                before: Some(a),
                after: Some(b),
            });
        }
    };
    let text = |s: &str| Value::String(s.to_string());
    entry("id", text(&before.id), text(&after.id));
    entry("source", text(&before.source), text(&after.source));
    entry(
        "detail-type",
        text(&before.detail_type),
        text(&after.detail_type),
    );
    entry("time", text(&before.time), text(&after.time));
    entry(
        "resources",
        Value::from(before.resources.clone()),
        Value::from(after.resources.clone()),
    );
    if before.detail != after.detail {
        let parse =
            |detail: &str| serde_json::from_str::<Value>(detail).unwrap_or_else(|_| text(detail));
        diff("", &parse(&before.detail), &parse(&after.detail), &mut out);
    }
    out
}

/// Appends the differences between detail values `a` and `b` at `path` to `out`: objects
/// member by member, anything else as a whole.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<Change>) {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    let change = |path: String, before: Option<&Value>, after: Option<&Value>| Change {
        part: Part::Detail,
        path,
        before: before.cloned(),
        after: after.cloned(),
    };
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, old) in a {
                match b.get(key) {
                    Some(new) => diff(&at(key), old, new, out),
                    None => out.push(change(at(key), Some(old), None)),
                }
            }
            for (key, new) in b {
                if !a.contains_key(key) {
                    out.push(change(at(key), None, Some(new)));
                }
            }
        }
        (a, b) if a != b => out.push(change(path.to_string(), Some(a), Some(b))),
        _ => {}
    }
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
