//! What the pipeline holds plugins' output to before it goes on: a transformer's event
//! must be one EventBridge takes (size, source, detail-type, a JSON object for detail),
//! a router may name only the host's buses; and how the routers' answers become the
//! entries of an [`Outcome::Routed`].

use std::collections::BTreeSet;
use std::sync::Arc;

use super::Outcome;
use crate::delivery::{
    EntryProblem, Routed, check_detail_text, check_detail_type, check_source, check_value,
};
use crate::event::{Event, entry_size};
use crate::health::FailureCode;
use crate::plugin::{Destination, Edit, Envelope};

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

/// Why a plugin call did not give a usable answer.
#[derive(Debug)]
pub(super) struct Fault {
    pub(super) code: FailureCode,
    pub(super) reason: String,
}

impl Fault {
    pub(super) fn new(code: FailureCode, reason: String) -> Self {
        Fault { code, reason }
    }
}

/// A plugin's output EventBridge would refuse.
fn malformed(problem: EntryProblem) -> Fault {
    Fault::new(FailureCode::MalformedOutput, problem.to_string())
}

/// The rules plugins' output is held to, with the bus unrouted events go to.
#[derive(Debug)]
pub(super) struct Output {
    pub(super) default_bus: String,
    pub(super) rules: OutputRules,
}

impl Output {
    /// Checks one of a transformer's edits: its field is a dotted path the plugin may
    /// edit (`may_edit`), and its value JSON that EventBridge takes.
    pub(super) fn check_edit(
        &self,
        edit: &Edit,
        may_edit: impl FnOnce(&str) -> bool,
    ) -> Result<(), Fault> {
        let refuse = |reason: String| Err(Fault::new(FailureCode::MalformedOutput, reason));
        let field = &edit.field;
        // An empty key: at either end, or two dots in a row (as `split('.')` would find).
        if field.is_empty()
            || field.starts_with('.')
            || field.ends_with('.')
            || field.as_bytes().windows(2).any(|pair| pair == b"..")
        {
            return refuse(format!(
                "edited `{field}`, which is not a field path; write object keys joined by \
                 dots, e.g. `data.user_name`"
            ));
        }
        if !may_edit(field) {
            return refuse(format!(
                "edited `{field}`, which is not among the fields the plugin declared in \
                 init's manifest; declare it, or leave it alone"
            ));
        }
        if let Some(value) = &edit.value
            && !plain_string(value)
            && let Err(problem) = check_value(value)
        {
            return refuse(format!(
                "the new value of `{field}` is not JSON EventBridge takes: {problem}"
            ));
        }
        Ok(())
    }

    /// Checks the event a transformer's answer makes of `event` — `detail`, with the
    /// answer's `envelope` when it has one — against what EventBridge takes: its size, its
    /// detail unless `valid` (already known to pass), and the envelope it gave. `event`'s
    /// own source and detail-type are checked on the way to delivery, not blamed on it.
    pub(super) fn check_transformed(
        &self,
        envelope: Option<&Envelope>,
        event: &Event,
        detail: &str,
        valid: bool,
    ) -> Result<(), Fault> {
        let (time, source, detail_type, resources) = match envelope {
            Some(e) => (&e.time, &e.source, &e.detail_type, &e.resources),
            None => (
                &event.time,
                &event.source,
                &event.detail_type,
                &event.resources,
            ),
        };
        let size = entry_size(time, source, detail_type, detail.len(), resources);
        if size > self.rules.max_entry_bytes {
            return Err(Fault::new(
                FailureCode::OversizeOutput,
                format!(
                    "the transformed event is {size} bytes; an entry may be at most {} bytes \
                     (the request-size limit)",
                    self.rules.max_entry_bytes
                ),
            ));
        }
        if envelope.is_some() {
            // The plugin's own envelope; one it left alone is not its to answer for (it
            // is checked on the way to delivery).
            check_source(source).map_err(malformed)?;
            check_detail_type(detail_type).map_err(malformed)?;
        }
        if !valid {
            check_detail_text(detail).map_err(malformed)?;
        }
        Ok(())
    }

    /// A router's answer with the default bus filled in, if every destination is one the
    /// host can deliver to.
    pub(super) fn destinations(&self, answer: Vec<Destination>) -> Result<Vec<Destination>, Fault> {
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
                        FailureCode::UnknownBus,
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

    /// `event` routed to `destinations` (the routers' union, de-duplicated), or to the
    /// default bus when there are none. `valid`: its detail is known to pass the checks.
    pub(super) fn routed(
        &self,
        event: Event,
        destinations: Vec<Destination>,
        valid: bool,
    ) -> Outcome {
        // Entries whose detail is known good skip the check on the way to delivery.
        let checked = valid
            && check_source(&event.source).is_ok()
            && check_detail_type(&event.detail_type).is_ok();
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
}

/// Whether `value` is a JSON string without escapes: nothing in it to check, and the
/// usual value of an edit (a masked name, an address).
fn plain_string(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= 2
        && bytes[0] == b'"'
        && bytes[bytes.len() - 1] == b'"'
        && bytes[1..bytes.len() - 1]
            .iter()
            .all(|&b| b != b'"' && b != b'\\' && b >= 0x20)
}

#[cfg(test)]
mod plain_string_tests {
    use super::plain_string;

    #[test]
    fn only_a_string_without_escapes_or_controls_is_plain() {
        assert!(plain_string(r#""***@example.com""#));
        assert!(plain_string(r#""""#));
        for not in [
            r#""a\"b""#,
            r#""a"b""#,
            "\"a\u{1}\"",
            "\"",
            "12",
            r#"{"a":1}"#,
            "",
        ] {
            assert!(!plain_string(not), "{not}");
        }
    }
}
