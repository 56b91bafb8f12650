//! The compiled rule set: for every field path, indexes from values to the fields they
//! satisfy (hash maps of exact values, prefix and suffix tables by length, interval tables
//! for numbers and addresses). An event's leaves are looked up once each; an alternative
//! becomes a candidate when all its indexed fields are hit, and only candidates are
//! checked in full. Cost grows with what an event matches, not with the number of rules.

use std::collections::HashMap;

use crate::flat::Scalar;
use crate::parse::Cond;
use crate::values::{Wildcard, comparable, ip_key, order_key, parse_ip};

/// Which indexed field (by global number) a hit satisfies.
pub(crate) type FieldId = u32;

/// Strings of one length class: a table per length that occurs.
#[derive(Debug, Default)]
struct Affixes {
    by_text: HashMap<String, Vec<FieldId>>,
    lengths: Vec<usize>,
}

impl Affixes {
    fn add(&mut self, text: &str, id: FieldId) {
        self.by_text.entry(text.to_owned()).or_default().push(id);
        if let Err(at) = self.lengths.binary_search(&text.len()) {
            self.lengths.insert(at, text.len());
        }
    }

    fn hits(&self, value: &str, prefix: bool, out: &mut impl FnMut(FieldId)) {
        for &len in &self.lengths {
            if len > value.len() {
                break;
            }
            let part = if prefix {
                value.get(..len)
            } else {
                value.get(value.len() - len..)
            };
            if let Some(ids) = part.and_then(|p| self.by_text.get(p)) {
                ids.iter().copied().for_each(&mut *out);
            }
        }
    }
}

/// Intervals over an ordered key, answering "which intervals hold this point" by one
/// binary search: every endpoint and every gap between endpoints has its list.
#[derive(Debug, Default)]
struct Intervals {
    pending: Vec<(u128, bool, u128, bool, FieldId)>,
    points: Vec<u128>,
    /// Slot 2i+1 is point i; slot 2i is the gap just below point i; the last slot is above
    /// every point.
    slots: Vec<Vec<FieldId>>,
}

impl Intervals {
    fn add(&mut self, lo: u128, lo_open: bool, hi: u128, hi_open: bool, id: FieldId) {
        self.pending.push((lo, lo_open, hi, hi_open, id));
    }

    fn build(&mut self) {
        let mut points: Vec<u128> = self.pending.iter().flat_map(|p| [p.0, p.2]).collect();
        points.sort_unstable();
        points.dedup();
        let mut slots = vec![Vec::new(); 2 * points.len() + 1];
        for &(lo, lo_open, hi, hi_open, id) in &self.pending {
            let at = |key| points.binary_search(&key).expect("an endpoint");
            let first = 2 * at(lo) + if lo_open { 2 } else { 1 };
            let last = 2 * at(hi) + if hi_open { 0 } else { 1 };
            for slot in slots.iter_mut().take(last + 1).skip(first) {
                slot.push(id);
            }
        }
        self.points = points;
        self.slots = slots;
    }

    fn hits(&self, key: u128, out: &mut impl FnMut(FieldId)) {
        if self.slots.is_empty() {
            return;
        }
        let slot = match self.points.binary_search(&key) {
            Ok(i) => 2 * i + 1,
            Err(i) => 2 * i,
        };
        self.slots[slot].iter().copied().for_each(out);
    }
}

/// Everything indexed for one path.
#[derive(Debug, Default)]
pub(crate) struct PathIndex {
    strs: HashMap<String, Vec<FieldId>>,
    nums: HashMap<u64, Vec<FieldId>>,
    num_texts: HashMap<String, Vec<FieldId>>,
    literals: [Vec<FieldId>; 3],
    ignore_case: HashMap<String, Vec<FieldId>>,
    prefixes: Affixes,
    suffixes: Affixes,
    prefixes_ic: Affixes,
    suffixes_ic: Affixes,
    wildcards: Vec<(Wildcard, FieldId)>,
    numbers: Intervals,
    v4: Intervals,
    v6: Intervals,
    exists: Vec<FieldId>,
    has_ic: bool,
    has_ip: bool,
}

fn literal(value: Scalar) -> Option<usize> {
    match value {
        Scalar::Bool(false) => Some(0),
        Scalar::Bool(true) => Some(1),
        Scalar::Null => Some(2),
        _ => None,
    }
}

impl PathIndex {
    /// Whether the index can answer for `cond` (`anything-but` and `exists: false` are
    /// checked on candidates instead).
    pub(crate) fn indexable(cond: &Cond) -> bool {
        !matches!(cond, Cond::Not(_) | Cond::Exists(false))
    }

    /// Indexes `cond` as satisfying field `id`.
    pub(crate) fn add(&mut self, cond: &Cond, id: FieldId) {
        match cond {
            Cond::Str(s) => self.strs.entry(s.clone()).or_default().push(id),
            Cond::Num { value, text } => {
                if let Some(v) = value {
                    self.nums.entry(v.to_bits()).or_default().push(id);
                }
                self.num_texts.entry(text.clone()).or_default().push(id);
            }
            Cond::Bool(b) => self.literals[usize::from(*b)].push(id),
            Cond::Null => self.literals[2].push(id),
            Cond::Ip(range) => {
                self.has_ip = true;
                let table = if range.v6 { &mut self.v6 } else { &mut self.v4 };
                table.add(range.lo, false, range.hi, false, id);
            }
            Cond::Prefix(p) => self.prefixes.add(p, id),
            Cond::Suffix(s) => self.suffixes.add(s, id),
            Cond::PrefixIc(p) => {
                self.has_ic = true;
                self.prefixes_ic.add(p, id);
            }
            Cond::SuffixIc(s) => {
                self.has_ic = true;
                self.suffixes_ic.add(s, id);
            }
            Cond::EqIc(s) => {
                self.has_ic = true;
                self.ignore_case.entry(s.clone()).or_default().push(id);
            }
            Cond::Wildcard(w) => self.wildcards.push((w.clone(), id)),
            Cond::Range {
                lo,
                lo_open,
                hi,
                hi_open,
            } => self
                .numbers
                .add(order_key(*lo), *lo_open, order_key(*hi), *hi_open, id),
            Cond::Exists(_) => self.exists.push(id),
            Cond::Not(_) => unreachable!("anything-but is never indexed"),
        }
    }

    /// Finishes the interval tables once every condition is in.
    pub(crate) fn build(&mut self) {
        self.numbers.build();
        self.v4.build();
        self.v6.build();
    }

    /// Calls `out` with every indexed field that `value` satisfies (perhaps repeatedly).
    pub(crate) fn hits(&self, value: Scalar, out: &mut impl FnMut(FieldId)) {
        self.exists.iter().copied().for_each(&mut *out);
        match value {
            Scalar::Str(s) => {
                if let Some(ids) = self.strs.get(s) {
                    ids.iter().copied().for_each(&mut *out);
                }
                self.prefixes.hits(s, true, out);
                self.suffixes.hits(s, false, out);
                if self.has_ic {
                    let lower = s.to_lowercase();
                    if let Some(ids) = self.ignore_case.get(&lower) {
                        ids.iter().copied().for_each(&mut *out);
                    }
                    self.prefixes_ic.hits(&lower, true, out);
                    self.suffixes_ic.hits(&lower, false, out);
                }
                for (wildcard, id) in &self.wildcards {
                    if wildcard.matches(s) {
                        out(*id);
                    }
                }
                if self.has_ip
                    && let Ok(ip) = parse_ip(s)
                {
                    let (v6, key) = ip_key(ip);
                    if v6 { &self.v6 } else { &self.v4 }.hits(key, out);
                }
            }
            Scalar::Num(n) => {
                if !self.num_texts.is_empty()
                    && let Some(ids) = self.num_texts.get(&n.to_string())
                {
                    ids.iter().copied().for_each(&mut *out);
                }
                if let Some(v) = comparable(n) {
                    if let Some(ids) = self.nums.get(&v.to_bits()) {
                        ids.iter().copied().for_each(&mut *out);
                    }
                    self.numbers.hits(order_key(v), out);
                }
            }
            other => {
                if let Some(slot) = literal(other) {
                    self.literals[slot].iter().copied().for_each(&mut *out);
                }
            }
        }
    }
}
