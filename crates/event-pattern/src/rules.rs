//! Named rules as logbridge's `eventbridge-rules` plugins read them from their sidecar's
//! `[[rule]]` tables (`rule.N.name`, `rule.N.pattern`, `rule.N.bus`, `rule.N.action`), and
//! the event as EventBridge's patterns see it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::{Matcher, Pattern, Scratch};

/// Which plugin reads the rules: a router sends matches to buses, a filter drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Every rule has a `bus`; an event goes to the buses of all rules it matches.
    Router,
    /// Every rule has `action = "drop"`; an event matching any of them is dropped.
    Filter,
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the event to this bus (name or ARN; empty for the default bus).
    Route(String),
    /// Drop the event.
    Drop,
}

/// One named rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name, unique in the set.
    pub name: String,
    /// What it does to a matching event.
    pub action: Action,
}

/// Why a plugin's rules were refused: what is wrong and how to fix it (for an invalid
/// pattern, AWS's reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesError(String);

impl std::fmt::Display for RulesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RulesError {}

impl From<RulesError> for String {
    fn from(error: RulesError) -> String {
        error.0
    }
}

/// Rules compiled into one matcher.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    matcher: Matcher,
}

#[derive(Default)]
struct RawRule {
    name: Option<String>,
    pattern: Option<String>,
    bus: Option<String>,
    action: Option<String>,
}

impl RuleSet {
    /// Reads the rules from a plugin's configuration pairs. `Err` says what is wrong and
    /// how to fix it; an invalid pattern gives AWS's reason.
    pub fn from_config(config: &[(String, String)], role: Role) -> Result<RuleSet, RulesError> {
        RuleSet::read(config, role).map_err(RulesError)
    }

    fn read(config: &[(String, String)], role: Role) -> Result<RuleSet, String> {
        let mut raw: BTreeMap<usize, RawRule> = BTreeMap::new();
        for (key, value) in config {
            let parsed = key
                .strip_prefix("rule.")
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(n, field)| Some((n.parse::<usize>().ok()?, field)));
            let Some((n, field)) = parsed else {
                return Err(format!(
                    "unknown config key `{key}`; rules go in `[[rule]]` tables with `name`, \
                     `pattern` and `bus` (or `action = \"drop\"`)"
                ));
            };
            let rule = raw.entry(n).or_default();
            let slot = match field {
                "name" => &mut rule.name,
                "pattern" => &mut rule.pattern,
                "bus" => &mut rule.bus,
                "action" => &mut rule.action,
                other => {
                    return Err(format!(
                        "rule {}: unknown key `{other}`; a rule has `name`, `pattern`, `bus` \
                         and `action`",
                        n + 1
                    ));
                }
            };
            *slot = Some(value.clone());
        }
        if raw.is_empty() {
            return Err(
                "no rules: add `[[rule]]` tables with `name` and `pattern` to the \
                        sidecar"
                    .into(),
            );
        }
        let mut rules = Vec::with_capacity(raw.len());
        let mut patterns = Vec::with_capacity(raw.len());
        for (n, rule) in raw {
            let name = rule
                .name
                .filter(|name| !name.trim().is_empty())
                .ok_or_else(|| format!("rule {} has no `name`; give each rule one", n + 1))?;
            if rules.iter().any(|r: &Rule| r.name == name) {
                return Err(format!(
                    "two rules are named `{name}`; rule names must be unique"
                ));
            }
            let text = rule.pattern.ok_or_else(|| {
                format!("rule `{name}` has no `pattern`; give an EventBridge event pattern (JSON)")
            })?;
            let pattern = Pattern::parse(&text).map_err(|e| format!("rule `{name}`: {e}"))?;
            let action = match (rule.action.as_deref(), rule.bus) {
                (Some("drop"), None) => Action::Drop,
                (Some("drop"), Some(_)) => {
                    return Err(format!(
                        "rule `{name}` drops events and also names a `bus`; remove one"
                    ));
                }
                (None | Some("route"), Some(bus)) => Action::Route(bus),
                (None | Some("route"), None) => {
                    return Err(format!(
                        "rule `{name}` has no `bus`; name the event bus its matches go to \
                         (\"\" for the default bus), or set `action = \"drop\"`"
                    ));
                }
                (Some(other), _) => {
                    return Err(format!(
                        "rule `{name}`: unknown action `{other}`; use \"route\" (the default, \
                         with `bus`) or \"drop\""
                    ));
                }
            };
            match (role, &action) {
                (Role::Router, Action::Drop) => {
                    return Err(format!(
                        "rule `{name}` has `action = \"drop\"`, but this is the router; drop \
                         rules go to the filter (eventbridge-filter.wasm) with its own sidecar"
                    ));
                }
                (Role::Filter, Action::Route(_)) => {
                    return Err(format!(
                        "rule `{name}` routes to a bus, but this is the filter; give it \
                         `action = \"drop\"`, or move it to the router \
                         (eventbridge-router.wasm)"
                    ));
                }
                _ => {}
            }
            rules.push(Rule { name, action });
            patterns.push(pattern);
        }
        Ok(RuleSet {
            rules,
            matcher: Matcher::new(patterns),
        })
    }

    /// The rules, in sidecar order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// An event's detail (JSON text) as the rules need it: only the members they can look
    /// at are built. Give it to [`envelope`].
    pub fn parse_detail(&self, detail: &str) -> serde_json::Result<Value> {
        self.matcher.parse_part("detail", detail)
    }

    /// The event as the rules see it (see [`envelope`]), from its envelope fields and
    /// its detail as JSON text; a detail that does not parse matches only envelope fields.
    pub fn event(
        &self,
        source: &str,
        detail_type: &str,
        time: &str,
        resources: &[String],
        detail: &str,
    ) -> Value {
        let detail = self.parse_detail(detail).unwrap_or_default();
        envelope(source, detail_type, time, resources, detail)
    }

    /// The buses of every route rule `event` matches, each once, in rule order.
    pub fn buses<'s>(&'s self, event: &Value, scratch: &mut Scratch, out: &mut Vec<&'s str>) {
        let mut matched = Vec::new();
        self.matcher.matching_with(event, scratch, &mut matched);
        out.clear();
        for i in matched {
            if let Action::Route(bus) = &self.rules[i].action
                && !out.contains(&bus.as_str())
            {
                out.push(bus);
            }
        }
    }

    /// The first drop rule `event` matches, if any.
    pub fn dropped_by(&self, event: &Value, scratch: &mut Scratch) -> Option<&Rule> {
        let mut matched = Vec::new();
        self.matcher.matching_with(event, scratch, &mut matched);
        matched
            .into_iter()
            .map(|i| &self.rules[i])
            .find(|r| r.action == Action::Drop)
    }
}

/// The event as EventBridge's patterns see it before delivery: `source`, `detail-type`,
/// `time`, `resources` and `detail`. (`id`, `account`, `region` and `version` are set by
/// EventBridge on delivery; a pattern naming them matches nothing here.)
pub fn envelope(
    source: &str,
    detail_type: &str,
    time: &str,
    resources: &[String],
    detail: Value,
) -> Value {
    let mut event = Map::new();
    event.insert("source".into(), Value::from(source));
    event.insert("detail-type".into(), Value::from(detail_type));
    event.insert("time".into(), Value::from(time));
    event.insert(
        "resources".into(),
        Value::Array(resources.iter().map(|r| Value::from(r.as_str())).collect()),
    );
    event.insert("detail".into(), detail);
    Value::Object(event)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
