//! Reading an event pattern: EventBridge's grammar, its checks in the order AWS makes
//! them, and its reasons word for word. `$or` is expanded here, so a pattern becomes a list
//! of alternatives, each a list of fields that must all be satisfied.
//!
//! Over 400 lines: one reader per matcher kind, checked in AWS's order with AWS's
//! messages; the order of those checks is the contract, so they stay in one file.

use std::collections::HashSet;

use serde_json::Number;

use crate::json::Json;
use crate::values::{IpRange, Wildcard, comparable, not_comparable, parse_cidr, parse_ip};

/// One condition on the values at a field path.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    /// A string, exactly.
    Str(String),
    /// A number: equal as a decimal when comparable, else by its spelling.
    Num { value: Option<f64>, text: String },
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An IP address literal or a `cidr` block, against strings holding an address.
    Ip(IpRange),
    /// `prefix`.
    Prefix(String),
    /// `prefix` with `equals-ignore-case` (lower-cased).
    PrefixIc(String),
    /// `suffix`.
    Suffix(String),
    /// `suffix` with `equals-ignore-case` (lower-cased).
    SuffixIc(String),
    /// `equals-ignore-case` (lower-cased).
    EqIc(String),
    /// `wildcard`.
    Wildcard(Wildcard),
    /// `numeric`: a range of comparable numbers, ends open or closed.
    Range {
        lo: f64,
        lo_open: bool,
        hi: f64,
        hi_open: bool,
    },
    /// `exists`.
    Exists(bool),
    /// `anything-but`.
    Not(Not),
}

/// What `anything-but` excludes.
#[derive(Debug, Clone)]
pub(crate) enum Not {
    Strs(HashSet<String>),
    Nums(Vec<f64>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    Ic(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

/// A field of a pattern: its dotted path and the conditions, any of which satisfies it.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub path: String,
    pub conds: Vec<Cond>,
}

/// One alternative of a pattern (`$or` makes several): all fields must be satisfied.
pub(crate) type Alternative = Vec<Field>;

type Reason = String;

/// Field names `$or` members may not use.
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
];

/// Parses a pattern into its alternatives, or AWS's reason it is not valid.
pub(crate) fn parse(json: &Json) -> Result<Vec<Alternative>, Reason> {
    let Json::Object(members) = json else {
        return Err("Filter is not an object".into());
    };
    let mut alternatives: Vec<Alternative> = Vec::new();
    parse_object(&mut alternatives, &mut Vec::new(), members, false)?;
    Ok(alternatives)
}

fn parse_object(
    alts: &mut Vec<Alternative>,
    path: &mut Vec<String>,
    members: &[(String, Json)],
    in_or: bool,
) -> Result<(), Reason> {
    if members.is_empty() {
        return Err("Empty objects are not allowed".into());
    }
    for (name, value) in members {
        if name == "$or" {
            parse_or(alts, path, value)?;
            continue;
        }
        if in_or && RESERVED_IN_OR.contains(&name.as_str()) {
            return Err(format!(
                "{name} is Ruler reserved fieldName which cannot be used inside $or."
            ));
        }
        match value {
            Json::Object(inner) => {
                path.push(name.clone());
                parse_object(alts, path, inner, in_or)?;
                path.pop();
            }
            Json::Array(items) => {
                let conds = parse_values(items)?;
                let full = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{}.{name}", path.join("."))
                };
                if alts.is_empty() {
                    alts.push(Vec::new());
                }
                for alt in alts.iter_mut() {
                    // A path given twice: the later one wins.
                    alt.retain(|f: &Field| f.path != full);
                    alt.push(Field {
                        path: full.clone(),
                        conds: conds.clone(),
                    });
                }
            }
            _ => return Err(format!("\"{name}\" must be an object or an array")),
        }
    }
    Ok(())
}

fn parse_or(
    alts: &mut Vec<Alternative>,
    path: &mut Vec<String>,
    value: &Json,
) -> Result<(), Reason> {
    let before = std::mem::take(alts);
    let Json::Array(items) = value else {
        return Err("It must be an Array followed with $or.".into());
    };
    for item in items {
        let Json::Object(members) = item else {
            return Err("Only JSON object is allowed in array of $or relationship.".into());
        };
        let mut branch = before.clone();
        if branch.is_empty() {
            branch.push(Vec::new());
        }
        parse_object(&mut branch, path, members, true)?;
        alts.extend(branch);
    }
    if items.len() < 2 {
        return Err("There must have at least 2 Objects in $or relationship.".into());
    }
    Ok(())
}

fn parse_values(items: &[Json]) -> Result<Vec<Cond>, Reason> {
    let mut conds = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Json::Object(members) => conds.push(parse_expression(members)?),
            Json::String(s) => conds.push(match parse_ip(s) {
                Ok(ip) => Cond::Ip(IpRange::single(ip)),
                Err(_) => Cond::Str(s.clone()),
            }),
            Json::Number(n) => conds.push(Cond::Num {
                value: comparable(n),
                text: n.to_string(),
            }),
            Json::Bool(b) => conds.push(Cond::Bool(*b)),
            Json::Null => conds.push(Cond::Null),
            Json::Array(_) => {
                return Err("Match value must be String, number, true, false, or null".into());
            }
        }
    }
    if conds.is_empty() {
        return Err("Empty arrays are not allowed".into());
    }
    Ok(conds)
}

const ONE_KEY: &str = "Only one key allowed in match expression";
const TOO_MANY: &str = "Too many elements in numeric expression";

fn single_key(members: &[(String, Json)], reason: &str) -> Result<(), Reason> {
    if members.len() > 1 {
        return Err(reason.into());
    }
    Ok(())
}

fn string<'a>(value: &'a Json, reason: &str) -> Result<&'a str, Reason> {
    match value {
        Json::String(s) => Ok(s),
        _ => Err(reason.into()),
    }
}

fn parse_expression(members: &[(String, Json)]) -> Result<Cond, Reason> {
    let Some((kind, value)) = members.first() else {
        return Err("Match expression name not found".into());
    };
    let cond = match kind.as_str() {
        "exactly" => Cond::Str(string(value, "exact match pattern must be a string")?.into()),
        "prefix" | "suffix" => {
            let prefix = kind == "prefix";
            if let Json::Object(inner) = value {
                let s = ignore_case_affix(inner, prefix)?;
                if prefix {
                    Cond::PrefixIc(s)
                } else {
                    Cond::SuffixIc(s)
                }
            } else {
                let s = string(value, &format!("{kind} match pattern must be a string"))?;
                if prefix {
                    Cond::Prefix(s.into())
                } else {
                    Cond::Suffix(s.into())
                }
            }
        }
        "numeric" => {
            let Json::Array(items) = value else {
                return Err("Value of numeric must be an array.".into());
            };
            let cond = parse_numeric(items)?;
            single_key(members, TOO_MANY)?;
            return Ok(cond);
        }
        "anything-but" => {
            let cond = parse_anything_but(value)?;
            single_key(members, TOO_MANY)?;
            return Ok(cond);
        }
        "exists" => match value {
            Json::Bool(b) => Cond::Exists(*b),
            _ => return Err("exists match pattern must be either true or false.".into()),
        },
        "cidr" => Cond::Ip(parse_cidr(string(
            value,
            "prefix match pattern must be a string",
        )?)?),
        "equals-ignore-case" => Cond::EqIc(
            string(value, "equals-ignore-case match pattern must be a string")?.to_lowercase(),
        ),
        "wildcard" => Cond::Wildcard(Wildcard::parse(string(
            value,
            "wildcard match pattern must be a string",
        )?)?),
        other => return Err(format!("Unrecognized match type {other}")),
    };
    single_key(members, ONE_KEY)?;
    Ok(cond)
}

fn ignore_case_affix(members: &[(String, Json)], prefix: bool) -> Result<String, Reason> {
    let (name, which) = if prefix {
        ("Prefix", "prefix")
    } else {
        ("Suffix", "suffix")
    };
    let Some((op, value)) = members.first() else {
        return Err(format!("{name} expression name not found"));
    };
    if op != "equals-ignore-case" {
        return Err(format!("Unsupported {which} pattern: {op}"));
    }
    let s = string(value, "equals-ignore-case match pattern must be a string")?;
    single_key(members, ONE_KEY)?;
    Ok(s.to_lowercase())
}

fn number(n: &Number) -> Result<f64, Reason> {
    comparable(n).ok_or_else(|| not_comparable(n))
}

fn parse_numeric(items: &[Json]) -> Result<Cond, Reason> {
    let mut it = items.iter();
    let op = match it.next() {
        Some(Json::String(op)) => op.as_str(),
        Some(other) => return Err(format!("Invalid member in numeric match: {}", other.text())),
        None => return Err("Invalid member in numeric match: ]".into()),
    };
    let operand = it.next();
    let value = |what: &str| match operand {
        Some(Json::Number(n)) => Ok(n),
        _ => Err(format!("Value of {what} must be numeric")),
    };
    let (min, max) = (-f64::MAX, f64::MAX);
    let range = |lo, lo_open, hi, hi_open| Cond::Range {
        lo,
        lo_open,
        hi,
        hi_open,
    };
    match op {
        "=" => {
            let n = value("equals")?;
            if it.next().is_some() {
                return Err(TOO_MANY.into());
            }
            let v = number(n)?;
            Ok(range(v, false, v, false))
        }
        ">" | ">=" => {
            let bottom = value(op)?;
            let Some(next) = it.next() else {
                return Ok(range(number(bottom)?, op == ">", max, false));
            };
            let Json::String(top_op) = next else {
                return Err(format!("Bad value in numeric range: {}", next.text()));
            };
            if top_op != "<" && top_op != "<=" {
                return Err(format!("Bad numeric range operator: {top_op}"));
            }
            let Some(Json::Number(top)) = it.next() else {
                return Err(format!("Value of {top_op} must be numeric"));
            };
            if it.next().is_some() {
                return Err("Too many terms in numeric range expression".into());
            }
            let (lo, hi) = (number(bottom)?, number(top)?);
            if lo >= hi {
                return Err("Bottom must be less than top".into());
            }
            Ok(range(lo, op == ">", hi, top_op == "<"))
        }
        "<" | "<=" => {
            let top = value(op)?;
            if it.next().is_some() {
                return Err(TOO_MANY.into());
            }
            Ok(range(min, false, number(top)?, op == "<"))
        }
        other => Err(format!("Unrecognized numeric range operator: {other}")),
    }
}

fn parse_anything_but(value: &Json) -> Result<Cond, Reason> {
    if let Json::Object(members) = value {
        {
            let Some((op, inner)) = members.first() else {
                return Err("Anything-But expression name not found".into());
            };
            if !matches!(
                op.as_str(),
                "equals-ignore-case" | "prefix" | "suffix" | "wildcard"
            ) {
                return Err(format!("Unsupported anything-but pattern: {op}"));
            }
            check_anything_but_value(inner)?;
            let cond = anything_but_set(op, inner)?;
            single_key(members, TOO_MANY)?;
            return Ok(cond);
        }
    }
    check_anything_but_value(value)?;
    let items: Vec<&Json> = match value {
        Json::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let (mut strs, mut nums) = (HashSet::new(), Vec::new());
    for item in &items {
        match item {
            Json::String(s) => {
                strs.insert(s.clone());
            }
            Json::Number(n) => nums.push(number(n)?),
            _ if matches!(value, Json::Array(_)) => {
                return Err(
                    "Inside anything but list, start|null|boolean is not supported.".into(),
                );
            }
            _ => {
                return Err(
                    "Inside anything-but list, start|null|boolean is not supported.".into(),
                );
            }
        }
    }
    match (strs.is_empty(), nums.is_empty()) {
        (false, true) => Ok(Cond::Not(Not::Strs(strs))),
        (true, false) => Ok(Cond::Not(Not::Nums(nums))),
        _ => Err(
            "Inside anything but list, either all values are number or string, \
                  mixed type is not supported"
                .into(),
        ),
    }
}

fn check_anything_but_value(value: &Json) -> Result<(), Reason> {
    match value {
        Json::Array(_) | Json::String(_) | Json::Number(_) => Ok(()),
        _ => Err("Value of anything-but must be an array or single string/number value.".into()),
    }
}

/// `anything-but` with `equals-ignore-case`, `prefix`, `suffix` or `wildcard`: strings only.
fn anything_but_set(op: &str, value: &Json) -> Result<Cond, Reason> {
    let items: Vec<&Json> = match value {
        Json::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let mut texts = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Json::String(s) if s.is_empty() && (op == "prefix" || op == "suffix") => {
                return Err("Null prefix/suffix not allowed".into());
            }
            Json::String(s) => texts.push(s.clone()),
            _ if op == "equals-ignore-case" => {
                return Err("Inside anything-but/equals-ignore-case list, \
                            number|start|null|boolean is not supported."
                    .into());
            }
            _ if op == "wildcard" => return Err("wildcard match pattern must be a string".into()),
            _ => return Err("prefix/suffix match pattern must be a string".into()),
        }
    }
    Ok(Cond::Not(match op {
        "equals-ignore-case" => Not::Ic(texts.iter().map(|t| t.to_lowercase()).collect()),
        "prefix" => Not::Prefixes(texts),
        "suffix" => Not::Suffixes(texts),
        _ => Not::Wildcards(
            texts
                .iter()
                .map(|t| Wildcard::parse(t))
                .collect::<Result<_, _>>()?,
        ),
    }))
}
