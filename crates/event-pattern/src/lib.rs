//! Amazon EventBridge event patterns: parsed with AWS's validation (and AWS's reasons when
//! a pattern is refused), and many named patterns compiled into one [`Matcher`].
//!
//! ```
//! use event_pattern::{Matcher, Pattern};
//!
//! let failed = Pattern::parse(r#"{"detail": {"data": {"type": ["f", "fp"]}}}"#).unwrap();
//! let tokens = Pattern::parse(r#"{"detail": {"data": {"type": [{"prefix": "se"}]}}}"#).unwrap();
//! let matcher = Matcher::new([failed, tokens]);
//!
//! let event = serde_json::json!({"source": "auth0", "detail": {"data": {"type": "fp"}}});
//! assert_eq!(matcher.matching(&event), vec![0]);
//!
//! let refused = Pattern::parse(r#"{"detail": {"data": {"type": []}}}"#).unwrap_err();
//! assert_eq!(refused.to_string(), "Event pattern is not valid. Reason: Empty arrays are not allowed");
//! ```
//!
//! The semantics are EventBridge's: exact strings, numbers, booleans and `null`; `prefix`,
//! `suffix` (also with `equals-ignore-case`), `equals-ignore-case`, `wildcard`,
//! `anything-but` (values, lists, `prefix`, `suffix`, `wildcard`, `equals-ignore-case`),
//! `numeric` ranges, `exists`, `cidr` (IPv4 and IPv6), `$or`; a pattern field matches an
//! array in the event when any element does; nested objects join their keys with dots.

mod eval;
mod flat;
mod index;
mod json;
mod parse;
pub mod rules;
mod values;

use std::fmt;

use serde_json::Value;

use crate::flat::{Flat, Paths};
use crate::index::{FieldId, PathIndex};
use crate::parse::{Alternative, Cond, Not};

/// The most places one input may be at once across a field's wildcard patterns: above it
/// AWS refuses the pattern as too complex.
const MAX_WILDCARD_COMPLEXITY: usize = 10;

/// Why a pattern is not valid: AWS's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    reason: String,
}

impl PatternError {
    /// The reason alone, without the `Event pattern is not valid.` preamble.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event pattern is not valid. Reason: {}", self.reason)
    }
}

impl std::error::Error for PatternError {}

/// A valid event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    alternatives: Vec<Alternative>,
}

impl Pattern {
    /// Parses a pattern from its JSON text, with AWS's checks.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let json: json::Json = serde_json::from_str(text).map_err(|e| PatternError {
            reason: format!("the pattern is not JSON: {e}"),
        })?;
        Pattern::from_json(&json)
    }

    /// Parses a pattern already read as JSON (object members in the map's order).
    pub fn from_value(value: &Value) -> Result<Pattern, PatternError> {
        Pattern::from_json(&json::Json::from(value))
    }

    fn from_json(json: &json::Json) -> Result<Pattern, PatternError> {
        let alternatives = parse::parse(json).map_err(|reason| PatternError { reason })?;
        check_wildcards(&alternatives)?;
        Ok(Pattern { alternatives })
    }

    /// Whether the pattern matches `event` (EventBridge's `TestEventPattern`).
    pub fn matches(&self, event: &Value) -> bool {
        !Matcher::new([self.clone()]).matching(event).is_empty()
    }
}

/// Refuses a pattern whose wildcards on one field could make matching slow.
fn check_wildcards(alternatives: &[Alternative]) -> Result<(), PatternError> {
    let mut by_path: Vec<(&str, Vec<&values::Wildcard>)> = Vec::new();
    for field in alternatives.iter().flatten() {
        for cond in &field.conds {
            let found: Vec<&values::Wildcard> = match cond {
                Cond::Wildcard(w) => vec![w],
                Cond::Not(Not::Wildcards(ws)) => ws.iter().collect(),
                _ => continue,
            };
            let slot = match by_path.iter().position(|(p, _)| *p == field.path) {
                Some(i) => i,
                None => {
                    by_path.push((&field.path, Vec::new()));
                    by_path.len() - 1
                }
            };
            for w in found {
                if !by_path[slot].1.contains(&w) {
                    by_path[slot].1.push(w);
                }
            }
        }
    }
    for (_, wildcards) in by_path {
        if values::complexity(&wildcards) > MAX_WILDCARD_COMPLEXITY {
            return Err(PatternError {
                reason: "Rule is too complex - try using fewer wildcard characters or fewer \
                         repeating character sequences after a wildcard character"
                    .into(),
            });
        }
    }
    Ok(())
}

/// One alternative of one rule, compiled.
#[derive(Debug)]
struct Alt {
    rule: u32,
    fields: Vec<(u32, Vec<Cond>)>,
    /// How many of its fields the index answers for.
    indexed: u32,
}

/// Many patterns compiled into one matcher; rules are numbered in the order given.
#[derive(Debug)]
pub struct Matcher {
    rules: usize,
    paths: Paths,
    index: Vec<PathIndex>,
    alts: Vec<Alt>,
    /// The alternative each indexed field belongs to.
    owner: Vec<u32>,
    /// Alternatives with no indexed field: candidates for every event.
    always: Vec<u32>,
}

impl Matcher {
    /// Compiles `patterns`; rule `i` is the `i`-th pattern.
    pub fn new(patterns: impl IntoIterator<Item = Pattern>) -> Matcher {
        let mut matcher = Matcher {
            rules: 0,
            paths: Paths::default(),
            index: Vec::new(),
            alts: Vec::new(),
            owner: Vec::new(),
            always: Vec::new(),
        };
        for pattern in patterns {
            let rule = matcher.rules as u32;
            matcher.rules += 1;
            for alternative in pattern.alternatives {
                matcher.add(rule, alternative);
            }
        }
        matcher.index.iter_mut().for_each(PathIndex::build);
        matcher
    }

    fn add(&mut self, rule: u32, alternative: Alternative) {
        let alt = self.alts.len() as u32;
        let mut fields = Vec::with_capacity(alternative.len());
        let mut indexed = 0;
        for field in alternative {
            let path = self.paths.intern(&field.path);
            if path as usize == self.index.len() {
                self.index.push(PathIndex::default());
            }
            if field.conds.iter().all(PathIndex::indexable) {
                let id = self.owner.len() as FieldId;
                self.owner.push(alt);
                for cond in &field.conds {
                    self.index[path as usize].add(cond, id);
                }
                indexed += 1;
            }
            fields.push((path, field.conds));
        }
        if indexed == 0 {
            self.always.push(alt);
        }
        self.alts.push(Alt {
            rule,
            fields,
            indexed,
        });
    }

    /// Reads an event from JSON text keeping only what the rules can look at (other
    /// members are skipped without being built): the cheap way to match text.
    pub fn parse_event(&self, text: &str) -> serde_json::Result<Value> {
        flat::parse_pruned(text, &self.paths, "")
    }

    /// [`Matcher::parse_event`] for the part of an event under `path` (`"detail"`, say):
    /// put the value back under that path before matching.
    pub fn parse_part(&self, path: &str, text: &str) -> serde_json::Result<Value> {
        flat::parse_pruned(text, &self.paths, path)
    }

    /// How many rules were compiled.
    pub fn len(&self) -> usize {
        self.rules
    }

    /// Whether no rule was compiled.
    pub fn is_empty(&self) -> bool {
        self.rules == 0
    }

    /// The rules that match `event`, in rule order.
    pub fn matching(&self, event: &Value) -> Vec<usize> {
        let mut out = Vec::new();
        self.matching_with(event, &mut Scratch::default(), &mut out);
        out
    }

    /// [`Matcher::matching`] into `out` (cleared first), reusing `scratch` between events
    /// so matching allocates little.
    pub fn matching_with(&self, event: &Value, scratch: &mut Scratch, out: &mut Vec<usize>) {
        out.clear();
        scratch.prepare(self);
        let generation = scratch.generation;
        let flat = Flat::new(event, &self.paths);
        let Scratch {
            field_seen,
            alt_seen,
            alt_hits,
            rule_seen,
            candidates,
            checked,
            ..
        } = scratch;
        for leaf in &flat.leaves {
            self.index[leaf.path as usize].hits(leaf.value, &mut |id: FieldId| {
                let id = id as usize;
                if field_seen[id] == generation {
                    return;
                }
                field_seen[id] = generation;
                let alt = self.owner[id] as usize;
                if alt_seen[alt] != generation {
                    alt_seen[alt] = generation;
                    alt_hits[alt] = 0;
                }
                alt_hits[alt] += 1;
                if alt_hits[alt] == self.alts[alt].indexed {
                    candidates.push(alt as u32);
                }
            });
        }
        candidates.extend_from_slice(&self.always);
        *checked = candidates.len();
        for &alt in candidates.iter() {
            let alt = &self.alts[alt as usize];
            let rule = alt.rule as usize;
            if rule_seen[rule] == generation {
                continue;
            }
            let fields = alt.fields.iter().map(|(p, c)| (*p, c.as_slice()));
            if eval::alternative_matches(fields, &flat) {
                rule_seen[rule] = generation;
                out.push(rule);
            }
        }
        candidates.clear();
        out.sort_unstable();
    }
}

/// Per-event working memory for [`Matcher::matching_with`]; one per thread.
#[derive(Debug, Default)]
pub struct Scratch {
    generation: u32,
    field_seen: Vec<u32>,
    alt_seen: Vec<u32>,
    alt_hits: Vec<u32>,
    rule_seen: Vec<u32>,
    candidates: Vec<u32>,
    /// How many alternatives the last event checked in full (the rest were ruled out by
    /// the index).
    checked: usize,
}

impl Scratch {
    fn prepare(&mut self, matcher: &Matcher) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped: forget every mark so none is mistaken for this event's.
            self.field_seen.iter_mut().for_each(|m| *m = 0);
            self.alt_seen.iter_mut().for_each(|m| *m = 0);
            self.rule_seen.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
        self.field_seen.resize(matcher.owner.len(), 0);
        self.alt_seen.resize(matcher.alts.len(), 0);
        self.alt_hits.resize(matcher.alts.len(), 0);
        self.rule_seen.resize(matcher.rules, 0);
    }
}

/// Why `test_event_pattern` could not answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestError {
    /// The pattern is not valid.
    Pattern(PatternError),
    /// The event is not a JSON object.
    Event(String),
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestError::Pattern(e) => e.fmt(f),
            TestError::Event(reason) => write!(f, "the event is not valid: {reason}"),
        }
    }
}

impl std::error::Error for TestError {}

/// EventBridge's `TestEventPattern`: whether `pattern` matches `event`, both JSON text.
pub fn test_event_pattern(pattern: &str, event: &str) -> Result<bool, TestError> {
    let pattern = Pattern::parse(pattern).map_err(TestError::Pattern)?;
    let event: Value =
        serde_json::from_str(event).map_err(|e| TestError::Event(format!("not JSON: {e}")))?;
    if !event.is_object() {
        return Err(TestError::Event("it must be a JSON object".into()));
    }
    Ok(pattern.matches(&event))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index, not a loop over rules, decides which rules are looked at: of 1,000
    /// rules on one field, an event is checked in full against only those its value hits.
    #[test]
    fn an_event_is_checked_only_against_the_rules_its_values_hit() {
        let patterns = (0..1000).map(|i| {
            let text = match i % 4 {
                0 => format!(r#"{{"detail": {{"type": ["t{i}"]}}}}"#),
                1 => format!(r#"{{"detail": {{"type": [{{"prefix": "p{i}-"}}]}}}}"#),
                2 => format!(
                    r#"{{"detail": {{"n": [{{"numeric": [">=", {i}, "<", {}]}}]}}}}"#,
                    i + 1
                ),
                _ => format!(
                    r#"{{"detail": {{"ip": [{{"cidr": "10.{}.{}.0/24"}}]}}}}"#,
                    i / 256,
                    i % 256
                ),
            };
            Pattern::parse(&text).unwrap()
        });
        let matcher = Matcher::new(patterns);
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        for (event, rule) in [
            (serde_json::json!({"detail": {"type": "t400"}}), 400),
            (serde_json::json!({"detail": {"type": "p401-x"}}), 401),
            (serde_json::json!({"detail": {"n": 402.5}}), 402),
            (serde_json::json!({"detail": {"ip": "10.1.147.9"}}), 403),
        ] {
            matcher.matching_with(&event, &mut scratch, &mut out);
            assert_eq!(out, [rule], "{event}");
            assert_eq!(
                scratch.checked, 1,
                "{event}: checked {} rules in full",
                scratch.checked
            );
        }
        matcher.matching_with(
            &serde_json::json!({"detail": {"type": "none"}}),
            &mut scratch,
            &mut out,
        );
        assert!(out.is_empty());
        assert_eq!(scratch.checked, 0);
    }
}
