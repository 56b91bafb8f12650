//! How `logbridge test` writes a trace and a case's result: text for a person, or one
//! JSON object per line.

use std::fmt::Write;

use logbridge::event::EventError;
use logbridge::pipeline::{Action, Change, Outcome, Part, Trace};
use logbridge::{Event, Role};
use serde_json::{Value, json};

use super::cases::{Case, Mismatch, lookup};

/// The longest value text shows whole; longer ones are cut.
const MAX_VALUE_CHARS: usize = 120;

/// One event's run: what went in, what became of it, and what each plugin did.
pub(super) struct Traced<'a> {
    pub(super) input: &'a Event,
    pub(super) outcome: &'a Outcome,
    pub(super) trace: &'a Trace,
    pub(super) default_bus: &'a str,
}

impl Traced<'_> {
    /// The trace as text (a block of lines) or JSON (one line).
    pub(super) fn render(&self, json: bool) -> String {
        if json {
            format!("{}\n", self.json())
        } else {
            self.text("")
        }
    }

    /// The Auth0 log type of the input, when it has one.
    fn log_type(&self) -> Option<String> {
        let detail: Value = serde_json::from_str(&self.input.detail).ok()?;
        lookup(&detail, "data.type")?.as_str().map(str::to_owned)
    }

    /// The trace as text, every line starting with `indent`.
    pub(super) fn text(&self, indent: &str) -> String {
        let mut out = String::new();
        let _ = write!(out, "{indent}event {}", self.input.id);
        if let Some(log_type) = self.log_type() {
            let _ = write!(out, " (type {log_type})");
        }
        out.push('\n');
        let width = self
            .trace
            .steps
            .iter()
            .map(|s| s.plugin.chars().count())
            .max()
            .unwrap_or(0);
        for step in &self.trace.steps {
            let lines = action_lines(&step.action);
            for (n, line) in lines.iter().enumerate() {
                if n == 0 {
                    let role = role_name(step.role);
                    let _ = writeln!(out, "{indent}  {role:<11} {:<width$}  {line}", step.plugin);
                } else {
                    let _ = writeln!(out, "{indent}  {:<11} {:<width$}  {line}", "", "");
                }
            }
        }
        match self.outcome {
            Outcome::Filtered { plugin } => {
                let _ = writeln!(out, "{indent}  → dropped by {plugin}");
            }
            Outcome::Failed(failure) => {
                let _ = writeln!(
                    out,
                    "{indent}  → failed at {}: {}: {}",
                    failure.plugin, failure.code, failure.reason
                );
            }
            Outcome::Routed { entries, .. } => {
                for entry in entries {
                    let by = self.trace.named_by(&entry.bus);
                    let _ = write!(out, "{indent}  → {}", entry.bus);
                    if by.is_empty() {
                        let _ = write!(out, " (the default bus: no router named a bus)");
                    } else {
                        let _ = write!(out, ", named by {}", by.join(", "));
                    }
                    if entry.event.source != self.input.source {
                        let _ = write!(out, "; source {:?}", entry.event.source);
                    }
                    if entry.event.detail_type != self.input.detail_type {
                        let _ = write!(out, "; detail-type {:?}", entry.event.detail_type);
                    }
                    out.push('\n');
                }
            }
        }
        out
    }

    /// The trace as one JSON object.
    pub(super) fn json(&self) -> Value {
        let steps: Vec<Value> = self
            .trace
            .steps
            .iter()
            .map(|step| {
                let mut object = json!({
                    "plugin": step.plugin,
                    "role": role_name(step.role),
                });
                let extra = match &step.action {
                    Action::Kept => json!({"action": "kept"}),
                    Action::Dropped => json!({"action": "dropped"}),
                    Action::Transformed { changes } => json!({
                        "action": "transformed",
                        "changes": changes.iter().map(change_json).collect::<Vec<_>>(),
                    }),
                    Action::Routed { buses } => json!({"action": "routed", "buses": buses}),
                    Action::Failed {
                        code,
                        reason,
                        skipped,
                    } => json!({
                        "action": "failed",
                        "code": code.as_str(),
                        "reason": reason,
                        "skipped": skipped,
                    }),
                    _ => json!({"action": "other"}),
                };
                merge(&mut object, extra);
                object
            })
            .collect();
        let mut object = json!({
            "event": self.input.id,
            "type": self.log_type(),
            "steps": steps,
        });
        let extra = match self.outcome {
            Outcome::Filtered { plugin } => json!({"outcome": "dropped", "by": plugin}),
            Outcome::Failed(failure) => json!({
                "outcome": "failed",
                "failure": {
                    "plugin": failure.plugin,
                    "code": failure.code.as_str(),
                    "reason": failure.reason,
                },
            }),
            Outcome::Routed { entries, .. } => json!({
                "outcome": "routed",
                "destinations": entries.iter().map(|entry| json!({
                    "bus": entry.bus,
                    "named_by": self.trace.named_by(&entry.bus),
                    "default": self.trace.named_by(&entry.bus).is_empty()
                        && entry.bus == self.default_bus,
                    "source": entry.event.source,
                    "detail-type": entry.event.detail_type,
                })).collect::<Vec<_>>(),
                "detail": entries.first().map(|entry| {
                    serde_json::from_str::<Value>(&entry.event.detail)
                        .unwrap_or_else(|_| Value::String(entry.event.detail.clone()))
                }),
            }),
        };
        merge(&mut object, extra);
        object
    }
}

/// Adds `extra`'s members to `object`.
fn merge(object: &mut Value, extra: Value) {
    if let (Value::Object(object), Value::Object(extra)) = (object, extra) {
        object.extend(extra);
    }
}

fn role_name(role: Role) -> String {
    role.to_string()
}

/// What a plugin did, one line per change.
fn action_lines(action: &Action) -> Vec<String> {
    match action {
        Action::Kept => vec!["kept".into()],
        Action::Dropped => vec!["dropped".into()],
        Action::Transformed { changes } if changes.is_empty() => vec!["unchanged".into()],
        Action::Transformed { changes } => changes.iter().map(change_text).collect(),
        Action::Routed { buses } if buses.is_empty() => vec!["named no bus".into()],
        Action::Routed { buses } => vec![format!("named {}", buses.join(", "))],
        Action::Failed {
            code,
            reason,
            skipped,
        } => {
            let mut line = format!("failed: {code}: {reason}");
            if *skipped {
                line.push_str(" (on_error = \"skip\": the event went on without it)");
            }
            vec![line]
        }
        _ => vec!["(an action this version cannot show)".into()],
    }
}

/// A field's name as a change shows it: the entry field, or the path in the detail.
fn field_name(change: &Change) -> &str {
    match change.part {
        Part::Detail if change.path.is_empty() => "detail",
        _ => &change.path,
    }
}

fn value_text(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_VALUE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
    format!("{cut}…")
}

fn change_text(change: &Change) -> String {
    let field = field_name(change);
    match (&change.before, &change.after) {
        (Some(before), Some(after)) => format!(
            "changed {field}: {} → {}",
            value_text(before),
            value_text(after)
        ),
        (None, Some(after)) => format!("added {field}: {}", value_text(after)),
        (Some(before), None) => format!("removed {field} (was {})", value_text(before)),
        (None, None) => format!("changed {field}"),
    }
}

fn change_json(change: &Change) -> Value {
    json!({
        "part": if change.part == Part::Entry { "entry" } else { "detail" },
        "field": change.path,
        "before": change.before,
        "after": change.after,
    })
}

/// An input line that is not a log.
pub(super) fn invalid(line: u64, error: &EventError, json: bool) -> String {
    if json {
        format!(
            "{}\n",
            json!({"line": line, "outcome": "invalid", "error": error.to_string()})
        )
    } else {
        format!("line {line}: not an Auth0 log, not run: {error}\n")
    }
}

/// A case's result as text: `ok` or `FAIL`, and for a failure what differed and the trace.
pub(super) fn case_text(case: &Case, mismatches: &[Mismatch], traced: &Traced<'_>) -> String {
    if mismatches.is_empty() {
        return format!("  ok    {}\n", case.name);
    }
    let mut out = format!("  FAIL  {}\n", case.name);
    for m in mismatches {
        let _ = writeln!(
            out,
            "        {}: expected {}, got {}",
            m.key, m.expected, m.got
        );
    }
    out.push_str("        trace:\n");
    out.push_str(&traced.text("          "));
    out
}

/// A case's result as one JSON line.
pub(super) fn case_json(case: &Case, mismatches: &[Mismatch], traced: &Traced<'_>) -> String {
    let mismatches: Vec<Value> = mismatches
        .iter()
        .map(|m| json!({"key": m.key, "expected": m.expected, "got": m.got}))
        .collect();
    format!(
        "{}\n",
        json!({
            "file": case.file.display().to_string(),
            "case": case.name,
            "passed": mismatches.is_empty(),
            "mismatches": mismatches,
            "trace": traced.json(),
        })
    )
}
