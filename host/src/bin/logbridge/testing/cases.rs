//! Case files: TOML (`[[case]]` tables) or JSON (a `case` array), each case an input
//! log and the outcome expected of it — dropped (by which filter), failed (with which
//! code), the buses, the detail's fields after the transformers. Read and checked
//! whole before anything runs: a malformed case names its file, the case and the key.
//!
//! Over 400 lines: most of it is the one validating reader, key by key, which must see the
//! whole file to name the case and key of every mistake; split, the rules of the format
//! would no longer read in one place.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use logbridge::pipeline::Outcome;
use logbridge::{Envelope, Event};
use serde_json::{Map, Value};

/// The `date` given to a case's input log that has none.
const DEFAULT_DATE: &str = "2026-01-01T00:00:00Z";

/// The keys a case takes, and those of its `expect` table.
const CASE_KEYS: &[&str] = &["name", "input", "expect"];
const EXPECT_KEYS: &[&str] = &[
    "dropped", "failed", "by", "code", "buses", "fields", "absent",
];

/// One case: an input event and what is expected of it.
#[derive(Debug)]
pub(super) struct Case {
    /// The file it came from.
    pub(super) file: PathBuf,
    /// Its name.
    pub(super) name: String,
    /// The event made of its input log.
    pub(super) input: Event,
    /// What is expected.
    pub(super) expect: Expect,
}

/// What a case expects. Every given part must hold.
#[derive(Debug, Default)]
pub(super) struct Expect {
    dropped: Option<bool>,
    failed: Option<bool>,
    /// The filter that dropped it, or the plugin that failed.
    by: Option<String>,
    /// The failure code.
    code: Option<String>,
    /// The buses, in any order.
    buses: Option<Vec<String>>,
    /// Detail fields after the transformers, by dotted path, with their values.
    fields: Vec<(String, Value)>,
    /// Detail fields that must not be there.
    absent: Vec<String>,
}

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Mismatch {
    /// What was expected of: `buses`, `dropped`, a field's path...
    pub(super) key: String,
    /// What was expected, as text.
    pub(super) expected: String,
    /// What happened, as text.
    pub(super) got: String,
}

/// A case file that cannot be run as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Malformed {
    file: PathBuf,
    /// The case: its number and name, when the problem is in one.
    case: Option<String>,
    /// The key at fault, dotted (`expect.buses`); empty for the file as a whole.
    key: String,
    message: String,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(case) = &self.case {
            write!(f, ": {case}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The case files `paths` name: files as given, folders by their `*.toml` and `*.json`
/// files in name order.
pub(super) fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(path)
                .with_context(|| format!("cannot read the cases folder {}", path.display()))?
            {
                let file = entry?.path();
                if file.is_file() && matches!(extension(&file), Some("toml" | "json")) {
                    found.push(file);
                }
            }
            if found.is_empty() {
                bail!(
                    "no case files (`*.toml`, `*.json`) in {}; see PLUGINS.md, \"Testing your \
                     routing logic\"",
                    path.display()
                );
            }
            found.sort();
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            bail!("the case file {} does not exist", path.display());
        }
    }
    Ok(files)
}

fn extension(path: &Path) -> Option<&str> {
    path.extension().and_then(|e| e.to_str())
}

/// The cases in `file`, their input logs mapped with `envelope`; or every problem found.
pub(super) fn read(file: &Path, envelope: &Envelope) -> Result<Vec<Case>, Vec<Malformed>> {
    let whole = |message: String| {
        vec![Malformed {
            file: file.to_owned(),
            case: None,
            key: String::new(),
            message,
        }]
    };
    let text = std::fs::read_to_string(file).map_err(|e| whole(format!("cannot read it: {e}")))?;
    let document = match extension(file) {
        Some("toml") => toml::from_str::<toml::Table>(&text)
            .map(|table| json_of(toml::Value::Table(table)))
            .map_err(|e| whole(format!("not valid TOML: {e}")))?,
        Some("json") => serde_json::from_str::<Value>(&text)
            .map_err(|e| whole(format!("not valid JSON: {e}")))?,
        _ => {
            return Err(whole(
                "a case file is TOML (`.toml`) or JSON (`.json`)".to_string(),
            ));
        }
    };
    let mut reader = Reader {
        file,
        case: None,
        problems: Vec::new(),
    };
    let cases = reader.document(&document, envelope);
    if reader.problems.is_empty() {
        Ok(cases)
    } else {
        Err(reader.problems)
    }
}

/// Reads one file's document, keeping every problem it finds.
struct Reader<'a> {
    file: &'a Path,
    /// The case being read, as problems name it.
    case: Option<String>,
    problems: Vec<Malformed>,
}

impl Reader<'_> {
    fn problem(&mut self, key: &str, message: impl Into<String>) {
        self.problems.push(Malformed {
            file: self.file.to_owned(),
            case: self.case.clone(),
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// Reports the keys of `table` not in `known`, naming those that are.
    fn unknown_keys(&mut self, table: &Map<String, Value>, prefix: &str, known: &[&str]) {
        for key in table.keys().filter(|k| !known.contains(&k.as_str())) {
            let list = known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.problem(
                &format!("{prefix}{key}"),
                format!("unknown key; the keys here are {list}"),
            );
        }
    }

    fn document(&mut self, document: &Value, envelope: &Envelope) -> Vec<Case> {
        let Some(top) = document.as_object() else {
            self.problem(
                "",
                "expected a table (TOML) or an object (JSON) with a `case` list",
            );
            return Vec::new();
        };
        self.unknown_keys(top, "", &["case"]);
        let list = match top.get("case") {
            Some(Value::Array(list)) if !list.is_empty() => list,
            Some(Value::Array(_)) | None => {
                self.problem(
                    "case",
                    "no cases; add `[[case]]` tables (TOML) or a `case` array (JSON)",
                );
                return Vec::new();
            }
            Some(_) => {
                self.problem(
                    "case",
                    "must be a list of cases: `[[case]]` tables (TOML) or an array (JSON)",
                );
                return Vec::new();
            }
        };
        let mut names = Vec::new();
        let mut cases = Vec::new();
        for (n, value) in list.iter().enumerate() {
            let number = n + 1;
            self.case = Some(format!("case {number}"));
            let Some(table) = value.as_object() else {
                self.problem(
                    "",
                    "a case must be a table with `name`, `input` and `expect`",
                );
                continue;
            };
            let name = match table.get("name") {
                Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
                Some(_) => {
                    self.problem("name", "must be a non-empty string");
                    continue;
                }
                None => {
                    self.problem(
                        "name",
                        "missing; every case has a name, shown when it fails",
                    );
                    continue;
                }
            };
            self.case = Some(format!("case {number} {name:?}"));
            if names.contains(&name) {
                self.problem("name", "another case in this file has the same name");
            }
            names.push(name.clone());
            self.unknown_keys(table, "", CASE_KEYS);
            let input = match table.get("input") {
                Some(input) => match input_event(input, number, envelope) {
                    Ok(event) => Some(event),
                    Err(message) => {
                        self.problem("input", message);
                        None
                    }
                },
                None => {
                    self.problem(
                        "input",
                        "missing; give the Auth0 log, as JSON text or a table",
                    );
                    None
                }
            };
            let expect = match table.get("expect") {
                Some(Value::Object(expect)) => self.expect(expect),
                Some(_) => {
                    self.problem("expect", "must be a table of expectations");
                    None
                }
                None => {
                    self.problem(
                        "expect",
                        "missing; say what is expected: `dropped`, `failed`, `buses`, \
                         `fields` or `absent`",
                    );
                    None
                }
            };
            if let (Some(input), Some(expect)) = (input, expect) {
                cases.push(Case {
                    file: self.file.to_owned(),
                    name,
                    input,
                    expect,
                });
            }
        }
        cases
    }

    fn expect(&mut self, table: &Map<String, Value>) -> Option<Expect> {
        let before = self.problems.len();
        self.unknown_keys(table, "expect.", EXPECT_KEYS);
        let mut expect = Expect::default();
        let boolean = |this: &mut Self, key: &str| match table.get(key) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                this.problem(&format!("expect.{key}"), "must be true or false");
                None
            }
        };
        expect.dropped = boolean(self, "dropped");
        expect.failed = boolean(self, "failed");
        let text = |this: &mut Self, key: &str| match table.get(key) {
            None => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => {
                this.problem(&format!("expect.{key}"), "must be a non-empty string");
                None
            }
        };
        expect.by = text(self, "by");
        expect.code = text(self, "code");
        let strings = |this: &mut Self, key: &str, what: &str| match table.get(key) {
            None => None,
            Some(Value::Array(items))
                if items
                    .iter()
                    .all(|i| i.as_str().is_some_and(|s| !s.is_empty())) =>
            {
                Some(
                    items
                        .iter()
                        .filter_map(|i| i.as_str().map(str::to_owned))
                        .collect::<Vec<_>>(),
                )
            }
            Some(_) => {
                this.problem(
                    &format!("expect.{key}"),
                    format!("must be a list of {what} (strings)"),
                );
                None
            }
        };
        expect.buses = strings(self, "buses", "bus names");
        if let Some(buses) = &expect.buses
            && buses.is_empty()
        {
            self.problem(
                "expect.buses",
                "is empty; an event that is not dropped always goes to at least one bus \
                 (the default bus when no router names one)",
            );
        }
        expect.absent = strings(self, "absent", "dotted field paths").unwrap_or_default();
        match table.get("fields") {
            None => {}
            Some(Value::Object(fields)) if !fields.is_empty() => {
                for (key, value) in fields {
                    flatten(key.clone(), value, &mut expect.fields);
                }
            }
            Some(_) => self.problem(
                "expect.fields",
                "must be a table of dotted field paths and their values, e.g. \
                 `\"data.user_name\" = \"***@example.com\"`",
            ),
        }
        let routed =
            expect.buses.is_some() || !expect.fields.is_empty() || !expect.absent.is_empty();
        if expect.dropped == Some(true) && (routed || expect.failed == Some(true)) {
            self.problem(
                "expect.dropped",
                "a dropped event has no buses, fields or failure to expect; remove one",
            );
        }
        if expect.failed == Some(true) && routed {
            self.problem(
                "expect.failed",
                "a failed event has no buses or fields to expect; remove one",
            );
        }
        if expect.by.is_some() && expect.dropped != Some(true) && expect.failed != Some(true) {
            self.problem(
                "expect.by",
                "names the filter that dropped the event or the plugin that failed; add \
                 `dropped = true` or `failed = true`",
            );
        }
        if expect.code.is_some() && expect.failed != Some(true) {
            self.problem(
                "expect.code",
                "is the failure code of a failed event; add `failed = true`",
            );
        }
        if expect.dropped.is_none() && expect.failed.is_none() && !routed {
            self.problem(
                "expect",
                "expects nothing; give `dropped`, `failed`, `buses`, `fields` or `absent`",
            );
        }
        (self.problems.len() == before).then_some(expect)
    }
}

/// `value` at `path` as leaf expectations: a non-empty table names the fields within it.
fn flatten(path: String, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                flatten(format!("{path}.{key}"), inner, out);
            }
        }
        _ => out.push((path, value.clone())),
    }
}

/// A TOML value as JSON; a date-time becomes its RFC 3339 text.
fn json_of(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(json_of).collect()),
        toml::Value::Table(table) => {
            Value::Object(table.into_iter().map(|(k, v)| (k, json_of(v))).collect())
        }
    }
}

/// The event case `number`'s input log becomes: a bare Auth0 log or a `{"log_id",
/// "data"}` record, as JSON text or a table, mapped by `envelope` as `logbridge run`
/// maps its input. A log without `log_id` gets `case-NUMBER`, one without `date`
/// [`DEFAULT_DATE`].
fn input_event(input: &Value, number: usize, envelope: &Envelope) -> Result<Event, String> {
    let (mut log, text) = match input {
        Value::String(text) => (
            serde_json::from_str::<Value>(text).map_err(|e| format!("not valid JSON: {e}"))?,
            Some(text.as_str()),
        ),
        Value::Object(_) => (input.clone(), None),
        _ => {
            return Err("must be the Auth0 log: JSON text, or a table".into());
        }
    };
    let Value::Object(outer) = &mut log else {
        return Err(
            "must be a JSON object: an Auth0 log or a {\"log_id\", \"data\"} record".into(),
        );
    };
    let mut filled = false;
    let has_id = |map: &Map<String, Value>| map.contains_key("log_id") || map.contains_key("_id");
    let id = || Value::String(format!("case-{number}"));
    let date = || Value::String(DEFAULT_DATE.to_string());
    let outer_has_id = has_id(outer);
    if let Some(Value::Object(data)) = outer.get_mut("data") {
        if !outer_has_id && !has_id(data) {
            data.insert("log_id".into(), id());
            filled = true;
        }
        if !data.contains_key("date") {
            data.insert("date".into(), date());
            filled = true;
        }
    } else {
        if !outer_has_id {
            outer.insert("log_id".into(), id());
            filled = true;
        }
        if !outer.contains_key("date") {
            outer.insert("date".into(), date());
            filled = true;
        }
    }
    let json = match text {
        Some(text) if !filled => text.to_string(),
        _ => log.to_string(),
    };
    envelope.auth0_event(&json).map_err(|e| e.to_string())
}

/// `value` at dotted `path` (object keys, array indices).
pub(super) fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |value, part| match value {
        Value::Object(map) => map.get(part),
        Value::Array(items) => items.get(part.parse::<usize>().ok()?),
        _ => None,
    })
}

/// What became of an event, in a few words.
pub(super) fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Filtered { plugin } => format!("dropped by {plugin}"),
        Outcome::Failed(failure) => format!(
            "failed at {} ({}): {}",
            failure.plugin, failure.code, failure.reason
        ),
        Outcome::Routed { .. } => format!("routed to {}", buses_of(outcome).join(", ")),
    }
}

/// The buses a routed event goes to, each once, in order.
fn buses_of(outcome: &Outcome) -> Vec<String> {
    let mut buses: Vec<String> = Vec::new();
    if let Outcome::Routed { entries, .. } = outcome {
        for entry in entries {
            if !buses.contains(&entry.bus) {
                buses.push(entry.bus.clone());
            }
        }
    }
    buses
}

fn quoted(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_default()
}

impl Expect {
    /// What did not hold for `outcome`; empty when the case passes.
    pub(super) fn check(&self, outcome: &Outcome) -> Vec<Mismatch> {
        let mut out = Vec::new();
        let mut mismatch = |key: &str, expected: String, got: String| {
            out.push(Mismatch {
                key: key.to_string(),
                expected,
                got,
            });
        };
        let got = describe(outcome);
        match (self.dropped, outcome) {
            (Some(true), Outcome::Filtered { plugin }) => {
                if let Some(by) = self.by.as_ref().filter(|by| *by != plugin) {
                    mismatch("by", format!("{by:?}"), format!("{plugin:?}"));
                }
            }
            (Some(true), _) => mismatch("dropped", "dropped".into(), got.clone()),
            (Some(false), Outcome::Filtered { .. }) => {
                mismatch("dropped", "kept".into(), got.clone());
            }
            _ => {}
        }
        match (self.failed, outcome) {
            (Some(true), Outcome::Failed(failure)) => {
                if let Some(by) = self.by.as_ref().filter(|by| **by != failure.plugin) {
                    mismatch("by", format!("{by:?}"), format!("{:?}", failure.plugin));
                }
                if let Some(code) = self.code.as_ref().filter(|code| failure.code != **code) {
                    mismatch(
                        "code",
                        format!("{code:?}"),
                        format!("{:?}", failure.code.as_str()),
                    );
                }
            }
            (Some(true), _) => mismatch("failed", "failed".into(), got.clone()),
            (Some(false), Outcome::Failed(_)) => {
                mismatch("failed", "not failed".into(), got.clone());
            }
            _ => {}
        }
        let wants_routed =
            self.buses.is_some() || !self.fields.is_empty() || !self.absent.is_empty();
        if !wants_routed {
            return out;
        }
        let Outcome::Routed { entries, .. } = outcome else {
            mismatch("outcome", "routed".into(), got);
            return out;
        };
        if let Some(expected) = &self.buses {
            let actual = buses_of(outcome);
            let mut a = actual.clone();
            let mut e = expected.clone();
            a.sort();
            a.dedup();
            e.sort();
            e.dedup();
            if a != e {
                mismatch("buses", quoted(expected), quoted(&actual));
            }
        }
        // Every entry carries the same detail; destinations change only the envelope.
        let detail = entries
            .first()
            .and_then(|entry| serde_json::from_str::<Value>(&entry.event.detail).ok())
            .unwrap_or(Value::Null);
        for (path, expected) in &self.fields {
            match lookup(&detail, path) {
                Some(actual) if actual == expected => {}
                Some(actual) => mismatch(path, expected.to_string(), actual.to_string()),
                None => mismatch(path, expected.to_string(), "absent".into()),
            }
        }
        for path in &self.absent {
            if let Some(actual) = lookup(&detail, path) {
                mismatch(path, "absent".into(), actual.to_string());
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "cases_tests.rs"]
mod tests;
