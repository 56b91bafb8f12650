//! Deciding one alternative of a pattern against a flattened event, condition by
//! condition: the reference semantics the compiled index narrows down to.

use crate::flat::{Flat, Leaf, Scalar};
use crate::parse::{Cond, Not};
use crate::values::{comparable, parse_ip};

/// Whether `cond` holds for one leaf value. `exists: false` never holds for a value; it
/// holds for a path without any.
pub(crate) fn holds(cond: &Cond, value: Scalar) -> bool {
    match (cond, value) {
        (Cond::Str(s), Scalar::Str(v)) => s == v,
        (Cond::Num { value, text }, Scalar::Num(n)) => match (value, comparable(n)) {
            (Some(a), Some(b)) => *a == b,
            _ => *text == n.to_string(),
        },
        (Cond::Bool(b), Scalar::Bool(v)) => *b == v,
        (Cond::Null, Scalar::Null) => true,
        (Cond::Ip(range), Scalar::Str(v)) => parse_ip(v).is_ok_and(|ip| range.contains(ip)),
        (Cond::Prefix(p), Scalar::Str(v)) => v.starts_with(p.as_str()),
        (Cond::Suffix(p), Scalar::Str(v)) => v.ends_with(p.as_str()),
        (Cond::PrefixIc(p), Scalar::Str(v)) => v.to_lowercase().starts_with(p.as_str()),
        (Cond::SuffixIc(p), Scalar::Str(v)) => v.to_lowercase().ends_with(p.as_str()),
        (Cond::EqIc(p), Scalar::Str(v)) => v.to_lowercase() == *p,
        (Cond::Wildcard(w), Scalar::Str(v)) => w.matches(v),
        (
            Cond::Range {
                lo,
                lo_open,
                hi,
                hi_open,
            },
            Scalar::Num(n),
        ) => comparable(n).is_some_and(|v| {
            (if *lo_open { v > *lo } else { v >= *lo })
                && (if *hi_open { v < *hi } else { v <= *hi })
        }),
        (Cond::Exists(exists), _) => *exists,
        (Cond::Not(not), value) => !excluded(not, value),
        _ => false,
    }
}

/// Whether `anything-but` excludes `value`. Each kind excludes only values of its own
/// type: a string list never excludes a number, a prefix never excludes `null`.
fn excluded(not: &Not, value: Scalar) -> bool {
    match (not, value) {
        (Not::Strs(set), Scalar::Str(v)) => set.contains(v),
        (Not::Nums(nums), Scalar::Num(n)) => comparable(n).is_some_and(|v| nums.contains(&v)),
        (Not::Prefixes(ps), Scalar::Str(v)) => ps.iter().any(|p| v.starts_with(p.as_str())),
        (Not::Suffixes(ss), Scalar::Str(v)) => ss.iter().any(|s| v.ends_with(s.as_str())),
        (Not::Ic(set), Scalar::Str(v)) => {
            let lower = v.to_lowercase();
            set.contains(&lower)
        }
        (Not::Wildcards(ws), Scalar::Str(v)) => ws.iter().any(|w| w.matches(v)),
        _ => false,
    }
}

/// A field's conditions against the leaves at its path: the leaves that satisfy it, or
/// `None` when it is not satisfied. An empty list means satisfied by absence.
fn field_leaves<'f, 'e>(conds: &[Cond], leaves: &'f [Leaf<'e>]) -> Option<Vec<&'f Leaf<'e>>> {
    if leaves.is_empty() {
        return conds
            .iter()
            .any(|c| matches!(c, Cond::Exists(false)))
            .then(Vec::new);
    }
    let found: Vec<&Leaf> = leaves
        .iter()
        .filter(|leaf| conds.iter().any(|c| holds(c, leaf.value)))
        .collect();
    (!found.is_empty()).then_some(found)
}

/// Whether an alternative — fields given as `(path id, conditions)` — matches the event:
/// every field satisfied, by leaves that can be taken together (fields in different
/// elements of one array do not combine).
pub(crate) fn alternative_matches<'a>(
    fields: impl Iterator<Item = (u32, &'a [Cond])>,
    flat: &Flat,
) -> bool {
    let mut choices = Vec::new();
    for (path, conds) in fields {
        match field_leaves(conds, flat.at(path)) {
            None => return false,
            Some(found) if found.is_empty() => {}
            Some(found) => choices.push(found),
        }
    }
    if !flat.in_arrays || choices.len() < 2 {
        return true;
    }
    choose(&choices, &mut Vec::new(), flat)
}

fn choose<'f, 'e>(
    choices: &[Vec<&'f Leaf<'e>>],
    taken: &mut Vec<&'f Leaf<'e>>,
    flat: &Flat,
) -> bool {
    let Some((first, rest)) = choices.split_first() else {
        return true;
    };
    for leaf in first {
        if taken.iter().all(|t| flat.consistent(t, leaf)) {
            taken.push(leaf);
            if choose(rest, taken, flat) {
                return true;
            }
            taken.pop();
        }
    }
    false
}
