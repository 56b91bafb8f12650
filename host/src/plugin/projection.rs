//! Parse-once projection: a plugin that declares the detail fields it reads is handed a
//! detail holding only those, and a transformer's answer is merged back into the full one.
//!
//! Most plugins look at two or three fields of a kilobyte of JSON; parsing the whole
//! detail inside WebAssembly is what a plugin call would spend its time on. With
//! `[projection] fields = ["data.type"]` in its sidecar, a plugin is passed
//! `{"data":{"type":"s"}}` instead. A transformer answers in the same shape: each declared
//! field it returns replaces the original value, each it leaves out is removed, a field it
//! does not declare is refused, and everything else in the detail stays byte for byte.
//!
//! The host finds every projected plugin's fields in one borrowing scan of the detail
//! ([`Projector::scan`]: native code, nothing built but their positions), which also
//! checks the detail as EventBridge would, and reuses it for every plugin until a
//! transformer changes the detail. A projected transformer's edits move the positions
//! along instead of forcing another scan.
//!
//! Paths are object keys joined by dots (`data.details.ip`); a path inside an array
//! cannot be declared. A detail that is not a JSON object EventBridge would take is
//! handed over whole.
//!
//! One file of about 750 lines, tests apart: the node tree, the borrowing walk and the
//! two merges (in place, and the rebuild) share the private `Node` and `Spans` and their
//! positions; split, those would have to be visible to the whole plugin module.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::delivery::Checked;

/// One level of declared paths. Children are few (a handful of fields), so a list beats
/// a map.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Node {
    /// Index into the spans of one scan.
    id: usize,
    /// Some plugin declared exactly this path.
    leaf: bool,
    /// This node's key as a JSON string, quotes and escapes included.
    quoted: String,
    children: Vec<(String, Node)>,
}

impl Node {
    fn child(&self, key: &str) -> Option<&Node> {
        self.children.iter().find(|(k, _)| k == key).map(|(_, n)| n)
    }

    /// Adds `path`. With `covering`, a declared path swallows everything below it (one
    /// plugin's view); without, deeper paths are kept under it (the union of plugins).
    fn insert(&mut self, path: &str, covering: bool) {
        let mut node = self;
        for key in path.split('.') {
            if covering && node.leaf {
                return;
            }
            let at = match node.children.iter().position(|(k, _)| k == key) {
                Some(at) => at,
                None => {
                    let child = Node {
                        quoted: serde_json::to_string(key).expect("a string serializes"),
                        ..Node::default()
                    };
                    node.children.push((key.to_string(), child));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[at].1;
        }
        node.leaf = true;
        if covering {
            node.children.clear();
        }
    }

    /// Numbers the nodes depth-first; returns how many there are.
    fn number(&mut self) -> usize {
        fn walk(node: &mut Node, next: &mut usize) {
            node.id = *next;
            *next += 1;
            for (_, child) in &mut node.children {
                walk(child, next);
            }
        }
        let mut next = 0;
        walk(self, &mut next);
        next
    }
}

/// The detail fields one plugin declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    fields: Vec<String>,
    root: Node,
    nodes: usize,
    /// Every declared field's own key and node id, found once here rather than on every
    /// merge.
    leaves: Vec<(String, usize)>,
}

impl Serialize for Projection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(serializer)
    }
}

impl Projection {
    /// A projection over dotted `fields`, e.g. `["data.type", "data.ip"]`.
    ///
    /// # Errors
    /// No fields, or a field with an empty segment (`data..ip`, `.type`).
    pub(crate) fn new<S: AsRef<str>>(fields: &[S]) -> Result<Self, String> {
        if fields.is_empty() {
            return Err(
                "`projection.fields` is empty; list the detail fields the plugin \
                        reads, e.g. [\"data.type\"], or leave the table out"
                    .into(),
            );
        }
        let mut root = Node::default();
        for field in fields {
            let field = field.as_ref();
            if field.split('.').any(str::is_empty) {
                return Err(format!(
                    "`projection.fields`: `{field}` is not a path; write object keys joined \
                     by dots, e.g. `data.type`"
                ));
            }
            root.insert(field, true);
        }
        let nodes = root.number();
        let mut leaves = Vec::new();
        collect_leaves(&root, "", &mut leaves);
        Ok(Projection {
            fields: fields.iter().map(|f| f.as_ref().to_string()).collect(),
            leaves,
            root,
            nodes,
        })
    }

    /// The declared fields, as written.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }
}

/// Where declared paths sit in one detail, by node: a declared field's value bytes, and
/// whether the value at a path is an object (known for the objects on the way to declared
/// fields, and for declared fields with other declared fields inside).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Spans(Vec<Slot>);

/// What one scan found at one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Slot {
    /// The value's bytes, for a declared field.
    value: Option<Range<usize>>,
    /// The value is an object.
    object: bool,
}

impl Spans {
    fn new(nodes: usize) -> Self {
        Spans(vec![Slot::default(); nodes])
    }
}

/// What merging a projected transformer's answer made of the detail.
#[derive(Debug)]
pub(crate) enum Merged {
    /// The answer changed nothing.
    Unchanged,
    /// The new detail, and where the fields sit in it — `None` when only another scan
    /// can tell.
    Changed {
        detail: String,
        spans: Option<Spans>,
    },
}

/// The projections of one plugin set, together: scans a detail once for all of them.
#[derive(Debug, Clone)]
pub(crate) struct Projector {
    root: Node,
    nodes: usize,
    /// Nodes with declared paths below them, by id.
    deep: Vec<bool>,
    /// Per plugin with a projection: its own node ids mapped to this union's.
    maps: Vec<Option<Vec<usize>>>,
}

impl Projector {
    /// The union of `projections` (one per plugin, in set order); `None` when no plugin
    /// has one.
    pub(crate) fn new(projections: &[Option<&Projection>]) -> Option<Self> {
        if projections.iter().all(Option::is_none) {
            return None;
        }
        let mut root = Node::default();
        for projection in projections.iter().flatten() {
            for field in &projection.fields {
                root.insert(field, false);
            }
        }
        let nodes = root.number();
        let mut deep = vec![false; nodes];
        fn mark(node: &Node, deep: &mut [bool]) {
            deep[node.id] = !node.children.is_empty();
            for (_, child) in &node.children {
                mark(child, deep);
            }
        }
        mark(&root, &mut deep);
        let maps = projections
            .iter()
            .map(|projection| {
                projection.map(|p| {
                    let mut map = vec![0; p.nodes];
                    fn pair(own: &Node, union: &Node, map: &mut [usize]) {
                        map[own.id] = union.id;
                        for (key, child) in &own.children {
                            let union = union.child(key).expect("the union holds every path");
                            pair(child, union, map);
                        }
                    }
                    pair(&p.root, &root, &mut map);
                    map
                })
            })
            .collect();
        Some(Projector {
            root,
            nodes,
            deep,
            maps,
        })
    }

    /// Finds every declared field in `detail`, checking the rest as EventBridge would
    /// (a JSON object, integers within 64 bits). `None` when the detail does not pass.
    pub(crate) fn scan(&self, detail: &str) -> Option<Spans> {
        walk(&self.root, self.nodes, detail, false).ok()
    }

    /// The detail to hand plugin `plugin`, as a new string.
    #[cfg(test)]
    fn project(
        &self,
        plugin: usize,
        projection: &Projection,
        detail: &str,
        spans: &Spans,
    ) -> String {
        let mut out = String::new();
        self.project_into(plugin, projection, detail, spans, &mut out);
        out
    }

    /// Writes the detail to hand plugin `plugin` into `out` (emptied first): only its
    /// declared fields, cut from `detail` whose fields sit at `spans`.
    pub(crate) fn project_into(
        &self,
        plugin: usize,
        projection: &Projection,
        detail: &str,
        spans: &Spans,
        out: &mut String,
    ) {
        let map = self.maps[plugin].as_deref().expect("a projected plugin");
        out.clear();
        write_object(&projection.root, map, detail, spans, out);
    }

    /// Merges plugin `plugin`'s answer (in its projected shape) into `detail`, whose
    /// fields sit at `spans`: declared fields present in `answer` replace the original
    /// values, declared fields missing from it are removed.
    ///
    /// # Errors
    /// `answer` is not a JSON object, has fields the plugin does not declare, puts
    /// something other than an object where a declared path needs one, or holds what
    /// EventBridge would refuse (an integer beyond 64 bits).
    pub(crate) fn merge(
        &self,
        plugin: usize,
        projection: &Projection,
        detail: &str,
        spans: &Spans,
        answer: &str,
    ) -> Result<Merged, String> {
        let map = self.maps[plugin].as_deref().expect("a projected plugin");
        let given = walk(&projection.root, projection.nodes, answer, true)
            .map_err(|e| format!("the transformed detail does not fit the projection: {e}"))?;

        // (union node, bytes to replace in `detail`, new text)
        let mut edits: Vec<(usize, Range<usize>, &str)> = Vec::new();
        let mut general = false;
        for (key, id) in &projection.leaves {
            let union = map[*id];
            match (&spans.0[union].value, &given.0[*id].value) {
                (Some(at), Some(new)) => {
                    if detail[at.clone()] != answer[new.clone()] {
                        edits.push((union, at.clone(), &answer[new.clone()]));
                    }
                }
                (Some(at), None) => match member_span(detail, key, at.clone()) {
                    Some(member) => edits.push((union, member, "")),
                    None => general = true,
                },
                (None, Some(_)) => general = true,
                (None, None) => {}
            }
        }
        edits.sort_by_key(|(_, range, _)| range.start);
        // Two removals sharing a comma overlap: left to the general path.
        general |= edits.windows(2).any(|w| w[1].1.start < w[0].1.end);
        if general {
            let merged = rebuild(&projection.root, detail, Some(answer), "")?;
            return Ok(Merged::Changed {
                detail: merged,
                spans: None,
            });
        }
        if edits.is_empty() {
            return Ok(Merged::Unchanged);
        }
        let mut merged = String::with_capacity(detail.len() + 16);
        let mut at = 0;
        for (_, range, text) in &edits {
            merged.push_str(&detail[at..range.start]);
            merged.push_str(text);
            at = range.end;
        }
        merged.push_str(&detail[at..]);
        let spans = self.shift(spans, &edits);
        Ok(Merged::Changed {
            detail: merged,
            spans,
        })
    }

    /// `spans` after `edits` (sorted, disjoint); `None` when an edited field had declared
    /// fields inside it, whose new places only a scan can tell.
    fn shift(&self, spans: &Spans, edits: &[(usize, Range<usize>, &str)]) -> Option<Spans> {
        if edits.iter().any(|(union, _, _)| self.deep[*union]) {
            return None;
        }
        let mut shifted = spans.clone();
        for (id, slot) in shifted.0.iter_mut().enumerate() {
            let span = &mut slot.value;
            let Some(range) = span else { continue };
            if let Some(k) = edits.iter().position(|(union, _, _)| *union == id) {
                let (_, edited, text) = &edits[k];
                let start = moved(edited.start, &edits[..k]);
                *span = if text.is_empty() {
                    None
                } else {
                    Some(start..start + text.len())
                };
            } else {
                *span = Some(moved(range.start, edits)..moved(range.end, edits));
            }
        }
        Some(shifted)
    }
}

/// Scans all of `json` for the paths below `root` (numbered up to `nodes`); `answer`
/// makes it strict, as for a transformer's answer (see [`Walk`]).
fn walk(root: &Node, nodes: usize, json: &str, answer: bool) -> Result<Spans, serde_json::Error> {
    let mut spans = Spans::new(nodes);
    let mut de = serde_json::Deserializer::from_str(json);
    Walk {
        node: root,
        spans: &mut spans,
        base: json.as_ptr() as usize,
        answer,
        path: String::new(),
        top: true,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(spans)
}

/// Where byte `at` of the old text is after `edits` before it.
fn moved(at: usize, edits: &[(usize, Range<usize>, &str)]) -> usize {
    let mut to = at as isize;
    for (_, range, text) in edits {
        if range.end <= at {
            to += text.len() as isize - range.len() as isize;
        }
    }
    to as usize
}

/// Every declared leaf below `node`, with its own key and id.
fn collect_leaves(node: &Node, key: &str, out: &mut Vec<(String, usize)>) {
    if node.leaf {
        out.push((key.to_string(), node.id));
    }
    for (k, child) in &node.children {
        collect_leaves(child, k, out);
    }
}

/// Writes the projected object for `node` (a plugin's) into `out`.
fn write_object(node: &Node, map: &[usize], detail: &str, spans: &Spans, out: &mut String) {
    out.push('{');
    let mut first = true;
    for (_, child) in &node.children {
        let union = map[child.id];
        let value = if child.leaf {
            match &spans.0[union].value {
                Some(at) => Some(&detail[at.clone()]),
                None => continue,
            }
        } else if spans.0[union].object {
            None
        } else {
            continue;
        };
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&child.quoted);
        out.push(':');
        match value {
            Some(text) => out.push_str(text),
            None => write_object(child, map, detail, spans, out),
        }
    }
    out.push('}');
}

/// The general merge, for what an in-place edit cannot do (a field to insert, a key
/// written with escapes): the objects on the way to declared fields are written anew
/// from `detail` and `answer`, members in their order; every other value is copied as it
/// is, byte for byte. A declared field the answer has replaces the original (or is added
/// at the end of its object), one it lacks is removed.
fn rebuild(node: &Node, detail: &str, answer: Option<&str>, path: &str) -> Result<String, String> {
    let members = object_members(detail).ok_or_else(|| {
        format!("cannot merge the answer: `{path}` is not an object in the detail")
    })?;
    let given = match answer {
        Some(answer) => object_members(answer)
            .ok_or_else(|| format!("the transformed detail's `{path}` must be an object"))?,
        None => Vec::new(),
    };
    let find = |key: &str| given.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    let mut out = String::with_capacity(detail.len() + 16);
    out.push('{');
    let mut written: Vec<&str> = Vec::new();
    let push = |out: &mut String, key: &str, value: &str| {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).expect("a string serializes"));
        out.push(':');
        out.push_str(value);
    };
    for (key, value) in &members {
        match node.child(key) {
            None => push(&mut out, key, value.get()),
            // A repeated declared key: the first one stands for it.
            Some(_) if written.contains(&key.as_ref()) => {}
            Some(child) => {
                written.push(key);
                let here = if path.is_empty() {
                    key.to_string()
                } else {
                    format!("{path}.{key}")
                };
                if child.leaf {
                    if let Some(new) = find(key) {
                        push(&mut out, key, new.get());
                    }
                } else {
                    let inner = rebuild(child, value.get(), find(key).map(RawValue::get), &here)?;
                    push(&mut out, key, &inner);
                }
            }
        }
    }
    for (key, child) in &node.children {
        if written.contains(&key.as_str()) {
            continue;
        }
        let Some(new) = find(key) else { continue };
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if child.leaf {
            push(&mut out, key, new.get());
        } else {
            let inner = rebuild(child, "{}", Some(new.get()), &here)?;
            push(&mut out, key, &inner);
        }
    }
    out.push('}');
    Ok(out)
}

/// The members of a JSON object, in order, values as written; `None` when `json` is not
/// an object.
fn object_members(json: &str) -> Option<Vec<(Cow<'_, str>, &RawValue)>> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(Cow<'de, str>, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::new();
            while let Some(Key(key)) = map.next_key()? {
                members.push((key, map.next_value()?));
            }
            Ok(members)
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let members = de.deserialize_map(Members).ok()?;
    de.end().ok()?;
    Some(members)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The text to cut to remove member `"key": value` (value at `value`), with the comma
/// that separates it from a neighbour; `None` when the key is written with escapes.
fn member_span(json: &str, key: &str, value: Range<usize>) -> Option<Range<usize>> {
    let bytes = json.as_bytes();
    let back = |mut at: usize| {
        while at > 0 && is_space(bytes[at - 1]) {
            at -= 1;
        }
        at
    };
    let skip = |mut at: usize| {
        while at < bytes.len() && is_space(bytes[at]) {
            at += 1;
        }
        at
    };
    let colon = back(value.start);
    if colon == 0 || bytes[colon - 1] != b':' {
        return None;
    }
    let key_end = back(colon - 1);
    let quoted = serde_json::to_string(key).ok()?;
    let key_start = key_end.checked_sub(quoted.len())?;
    if json.get(key_start..key_end)? != quoted {
        return None;
    }
    let before = back(key_start);
    match before.checked_sub(1).map(|at| bytes[at]) {
        Some(b',') => Some(before - 1..value.end),
        Some(b'{') => {
            let after = skip(value.end);
            match bytes.get(after) {
                Some(b',') => Some(key_start..skip(after + 1)),
                Some(b'}') => Some(key_start..value.end),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A map key, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// One level of a scan: records where declared paths are and checks everything on the
/// way (integers within 64 bits). Scanning a transformer's `answer`, a key the projection
/// does not declare, or a non-object where it declares fields inside, is an error.
struct Walk<'a> {
    node: &'a Node,
    spans: &'a mut Spans,
    base: usize,
    answer: bool,
    path: String,
    top: bool,
}

impl Walk<'_> {
    fn not_object<E: de::Error>(&self) -> Result<(), E> {
        if self.top {
            Err(E::custom("the detail is not a JSON object"))
        } else if self.answer {
            Err(E::custom(format!(
                "`{}` must be an object: the projection declares fields inside it",
                self.path
            )))
        } else {
            Ok(())
        }
    }

    /// The walk one level down, into `key`'s value, for `child`.
    fn below<'b>(&'b mut self, child: &'b Node, key: &str) -> Walk<'b> {
        let path = self.path_to(key);
        Walk {
            node: child,
            spans: &mut *self.spans,
            base: self.base,
            answer: self.answer,
            path,
            top: false,
        }
    }

    #[cold]
    #[inline(never)]
    fn repeated<E: de::Error>(&self, key: &str) -> E {
        E::custom(format!("`{}` appears more than once", self.path_to(key)))
    }

    #[cold]
    #[inline(never)]
    fn undeclared<E: de::Error>(&self, key: &str) -> E {
        E::custom(format!(
            "the answer has `{}`, which is not among the fields the plugin's projection \
             declares; declare it in `projection.fields` or leave it out",
            self.path_to(key)
        ))
    }

    /// The dotted path of `key` under this level, for an error about the answer; a scan
    /// of the detail reports no paths and builds none.
    fn path_to(&self, key: &str) -> String {
        if !self.answer {
            String::new()
        } else if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.spans.0[self.node.id].object = true;
        while let Some(Key(key)) = map.next_key()? {
            let Some(child) = self.node.child(&key) else {
                if self.answer {
                    return Err(self.undeclared(&key));
                }
                map.next_value::<Checked>()?;
                continue;
            };
            let slot = &self.spans.0[child.id];
            if slot.value.is_some() || slot.object {
                // Which one would a plugin see, which one be edited? Neither: such a detail
                // is handed over whole, an answer like it refused.
                return Err(self.repeated(&key));
            }
            if child.leaf {
                let raw: &'de RawValue = map.next_value()?;
                // A string without escapes holds nothing to check (its escapes, and any
                // other value, are checked on their own).
                let text = raw.get();
                if !text.starts_with('"') || text.contains('\\') {
                    serde_json::from_str::<Checked>(text).map_err(de::Error::custom)?;
                }
                let start = text.as_ptr() as usize - self.base;
                self.spans.0[child.id].value = Some(start..start + text.len());
                if !child.children.is_empty() {
                    // Other plugins declared fields inside this one: look inside it too.
                    let mut inner = serde_json::Deserializer::from_str(raw.get());
                    self.below(child, &key)
                        .deserialize(&mut inner)
                        .map_err(de::Error::custom)?;
                }
            } else {
                map.next_value_seed(self.below(child, &key))?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        self.not_object()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_object()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_object()
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        if n > i64::MAX as u64 {
            return Err(E::custom(format!(
                "the integer {n} does not fit in a signed 64-bit integer"
            )));
        }
        self.not_object()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_object()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_object()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_object()
    }
}

#[cfg(test)]
#[path = "projection_tests.rs"]
mod tests;
