//! Parse-once projection: a plugin that declares the detail fields it reads is handed a
//! detail holding only those, and a transformer's edits are applied to the full one.
//!
//! Most plugins look at two or three fields of a kilobyte of JSON; parsing the whole
//! detail inside WebAssembly is what a plugin call would spend its time on. A plugin whose
//! `init` declares `data.type` is passed `{"data":{"type":"s"}}` instead. A transformer
//! answers with edits (set or remove a field); every field it does not name stays byte
//! for byte.
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
//! Over 400 lines, tests apart: the node tree, the borrowing walk and the two ways of
//! editing (in place, and the rebuild) share the private `Node` and `Spans` and their
//! positions; split, those would have to be visible to the whole plugin module.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::bindings::Edit;
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

/// What applying a transformer's edits made of the detail.
#[derive(Debug)]
pub(crate) enum Merged {
    /// The edits changed nothing.
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
    /// Per plugin with a projection: which union nodes are its declared fields, and how
    /// many, for a scan that stops once it found them ([`Projector::scan_for`]).
    wanted: Vec<Option<(Vec<bool>, usize)>>,
}

/// What [`Projector::scan_for`] found.
#[derive(Debug)]
pub(crate) enum ScanFor {
    /// Every field of the plugin, found before the end of the detail: enough to project
    /// the detail for it, and nothing known of the rest.
    Found(Spans),
    /// The whole detail, as [`Projector::scan`] has it: `None` when it does not pass.
    Whole(Option<Spans>),
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
        let maps: Vec<Option<Vec<usize>>> = projections
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
        let wanted = projections
            .iter()
            .zip(&maps)
            .map(|(projection, map)| {
                let (projection, map) = (projection.as_ref()?, map.as_ref()?);
                let mut nodes = vec![false; nodes];
                for (_, own) in &projection.leaves {
                    nodes[map[*own]] = true;
                }
                let count = nodes.iter().filter(|&&wanted| wanted).count();
                Some((nodes, count))
            })
            .collect();
        Some(Projector {
            root,
            nodes,
            deep,
            maps,
            wanted,
        })
    }

    /// Finds every declared field in `detail`, checking the rest as EventBridge would
    /// (a JSON object, integers within 64 bits). `None` when the detail does not pass.
    pub(crate) fn scan(&self, detail: &str) -> Option<Spans> {
        match fast::scan(&self.root, self.nodes, detail) {
            Ok(spans) => Some(spans),
            Err(_) => self.walked(detail),
        }
    }

    /// [`scan`](Self::scan) by the serde walk, for what the fast scan leaves: escapes in
    /// keys, repeated keys, long integers, text that does not parse.
    fn walked(&self, detail: &str) -> Option<Spans> {
        walk(&self.root, self.nodes, detail).ok()
    }

    /// Scans `detail` for plugin `plugin`'s fields only: stops once it found them all
    /// ([`ScanFor::Found`], the rest of the detail neither read nor checked), else goes on
    /// to the end, as [`Projector::scan`] does. For a filter: an event it drops is never
    /// scanned further.
    pub(crate) fn scan_for(&self, plugin: usize, detail: &str) -> ScanFor {
        let Some((nodes, count)) = &self.wanted[plugin] else {
            return ScanFor::Whole(self.scan(detail));
        };
        let want = fast::Want {
            nodes,
            left: *count,
        };
        match fast::scan_until(&self.root, self.nodes, detail, want) {
            Ok((spans, true)) => ScanFor::Found(spans),
            Ok((spans, false)) => ScanFor::Whole(Some(spans)),
            Err(_) => ScanFor::Whole(self.walked(detail)),
        }
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

    /// The union node declared exactly at dotted `path`, with its own key.
    fn leaf<'p>(&self, path: &'p str) -> Option<(usize, &'p str)> {
        let mut node = &self.root;
        // Split by hand: a `char` pattern's searcher costs more than these short paths.
        let mut rest = path;
        loop {
            match rest.as_bytes().iter().position(|&b| b == b'.') {
                Some(dot) => {
                    node = node.child(&rest[..dot])?;
                    rest = &rest[dot + 1..];
                }
                None => {
                    node = node.child(rest)?;
                    return node.leaf.then_some((node.id, rest));
                }
            }
        }
    }

    /// Applies a transformer's `edits` to `detail`, whose fields sit at `spans`. An edit
    /// of a declared field found by the scan is spliced into the text in place, and the
    /// positions moved along; any other (a field to add, a path below a declared field,
    /// the same field twice) goes through [`edit_detail`].
    ///
    /// # Errors
    /// An edit's path runs through a value that is not an object.
    pub(crate) fn apply(
        &self,
        detail: &str,
        spans: &Spans,
        edits: &[Edit],
    ) -> Result<Merged, String> {
        // (union node, bytes to replace in `detail`, new text)
        let mut splices: Vec<(usize, Range<usize>, &str)> = Vec::with_capacity(edits.len());
        let mut general = false;
        for edit in edits {
            let Some((union, key)) = self.leaf(&edit.field) else {
                general = true;
                break;
            };
            if splices.iter().any(|(done, _, _)| *done == union) {
                general = true;
                break;
            }
            match (&spans.0[union].value, edit.value.as_deref()) {
                (Some(at), Some(new)) => {
                    if detail[at.clone()] != *new {
                        splices.push((union, at.clone(), new));
                    }
                }
                (Some(at), None) => match member_span(detail, key, at.clone()) {
                    Some(member) => splices.push((union, member, "")),
                    None => general = true,
                },
                (None, Some(_)) => general = true,
                (None, None) => {}
            }
            if general {
                break;
            }
        }
        splices.sort_by_key(|(_, range, _)| range.start);
        // Two removals sharing a comma, or a field inside another: the general path.
        general |= splices.windows(2).any(|w| w[1].1.start < w[0].1.end);
        if general {
            let edited = edit_detail(detail, edits)?;
            return Ok(if edited == detail {
                Merged::Unchanged
            } else {
                Merged::Changed {
                    detail: edited,
                    spans: None,
                }
            });
        }
        if splices.is_empty() {
            return Ok(Merged::Unchanged);
        }
        let mut merged = String::with_capacity(detail.len() + 16);
        let mut at = 0;
        for (_, range, text) in &splices {
            merged.push_str(&detail[at..range.start]);
            merged.push_str(text);
            at = range.end;
        }
        merged.push_str(&detail[at..]);
        let spans = self.shift(spans, &splices);
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

/// Scans all of `json` for the paths below `root` (numbered up to `nodes`).
fn walk(root: &Node, nodes: usize, json: &str) -> Result<Spans, serde_json::Error> {
    let mut spans = Spans::new(nodes);
    let mut de = serde_json::Deserializer::from_str(json);
    Walk {
        node: root,
        spans: &mut spans,
        base: json.as_ptr() as usize,
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

/// `detail` with `edits` applied one after the other, for what an in-place splice cannot
/// do. Only the objects on an edited path are written anew (members in their order, keys
/// as JSON strings); every other value is copied byte for byte.
///
/// # Errors
/// An edit's path runs through a value that is not an object.
pub(crate) fn edit_detail(detail: &str, edits: &[Edit]) -> Result<String, String> {
    let mut current = Cow::Borrowed(detail);
    for edit in edits {
        let keys: Vec<&str> = edit.field.split('.').collect();
        if let Some(next) = edit_object(&current, &keys, edit.value.as_deref(), &edit.field)? {
            current = Cow::Owned(next);
        }
    }
    Ok(current.into_owned())
}

/// The object `json` with the member at `keys` set to `value`, or removed when `value` is
/// `None`; `None` when that changes nothing. Missing objects on the way are created.
fn edit_object(
    json: &str,
    keys: &[&str],
    value: Option<&str>,
    field: &str,
) -> Result<Option<String>, String> {
    let members = object_members(json).ok_or_else(|| {
        format!("cannot apply the edit of `{field}`: a value on its path is not a JSON object")
    })?;
    let (key, rest) = keys.split_first().expect("a path has at least one key");
    let at = members.iter().position(|(k, _)| k == key);
    let new: Option<Cow<'_, str>> = if rest.is_empty() {
        match (at, value) {
            (None, None) => return Ok(None),
            (Some(i), Some(v)) if members[i].1.get() == v => return Ok(None),
            (_, v) => v.map(Cow::Borrowed),
        }
    } else {
        let inner = match at {
            Some(i) => members[i].1.get(),
            None if value.is_none() => return Ok(None),
            None => "{}",
        };
        match edit_object(inner, rest, value, field)? {
            Some(text) => Some(Cow::Owned(text)),
            None => return Ok(None),
        }
    };
    let mut out = String::with_capacity(json.len() + 16);
    out.push('{');
    let push = |out: &mut String, key: &str, value: &str| {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(key).expect("a string serializes"));
        out.push(':');
        out.push_str(value);
    };
    for (i, (k, v)) in members.iter().enumerate() {
        if Some(i) == at {
            if let Some(new) = &new {
                push(&mut out, k, new);
            }
        } else if k != key {
            // A repeated key goes with the edit of its first occurrence: a value the
            // plugin never saw must not stay beside the one it changed.
            push(&mut out, k, v.get());
        }
    }
    if at.is_none()
        && let Some(new) = &new
    {
        push(&mut out, key, new);
    }
    out.push('}');
    Ok(Some(out))
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
/// way (integers within 64 bits).
struct Walk<'a> {
    node: &'a Node,
    spans: &'a mut Spans,
    base: usize,
    top: bool,
}

impl Walk<'_> {
    fn not_object<E: de::Error>(&self) -> Result<(), E> {
        if self.top {
            Err(E::custom("the detail is not a JSON object"))
        } else {
            Ok(())
        }
    }

    /// The walk one level down, into `key`'s value, for `child`.
    fn below<'b>(&'b mut self, child: &'b Node) -> Walk<'b> {
        Walk {
            node: child,
            spans: &mut *self.spans,
            base: self.base,
            top: false,
        }
    }

    #[cold]
    #[inline(never)]
    fn repeated<E: de::Error>(key: &str) -> E {
        E::custom(format!("`{key}` appears more than once"))
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
                map.next_value::<Checked>()?;
                continue;
            };
            let slot = &self.spans.0[child.id];
            if slot.value.is_some() || slot.object {
                // Which one would a plugin see, which one be edited? Neither: such a detail
                // is handed over whole.
                return Err(Self::repeated(&key));
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
                    self.below(child)
                        .deserialize(&mut inner)
                        .map_err(de::Error::custom)?;
                }
            } else {
                map.next_value_seed(self.below(child))?;
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

#[path = "projection_scan.rs"]
mod fast;
pub(crate) use fast::Picker;

#[cfg(test)]
#[path = "projection_tests.rs"]
mod tests;
