//! The fast path of a projection scan: one pass over the bytes that finds the declared
//! fields and checks the detail, for the details it is sure of. Anything unusual — an
//! escaped key on a declared path, a `\u` escape, a control character, a number with an
//! exponent or more than 18 integer digits, a repeated declared key, deep nesting, any
//! syntax error — is left to the serde walk, which decides. So what this path accepts,
//! the walk accepts too, with the same spans (a test checks both on every detail it has).
//! A scan for a few fields only ([`scan_until`], for a filter) stops once it found them.
//!
//! The same pass reads the few fields the Auth0 mapping needs from each incoming record
//! ([`Picker`]), so a record is parsed and checked once on its way in.

use super::{Node, Spans};
use crate::json_scan::{has_byte, has_control};

/// Why a scan stopped before the end.
pub(super) enum Halt {
    /// Not sure: the serde walk decides.
    Unsure,
    /// Every wanted field was found (a scan for some fields only).
    Found,
}

/// A few fields read from JSON objects in the one fast pass, which also checks the whole
/// object as EventBridge would check a detail: the ingest mapping reads `log_id` and
/// `date` this way instead of parsing each record twice and checking it a third time.
#[derive(Debug)]
pub(crate) struct Picker {
    root: Node,
    nodes: usize,
    /// Each path's node, in the order the paths were given.
    ids: Vec<usize>,
}

impl Picker {
    /// A picker of `paths`: object keys joined by dots. A path may lie inside another.
    pub(crate) fn new(paths: &[&str]) -> Self {
        let mut root = Node::default();
        for path in paths {
            root.insert(path, false);
        }
        let nodes = root.number();
        let ids = paths
            .iter()
            .map(|path| {
                path.split('.')
                    .try_fold(&root, |node, key| node.child(key))
                    .expect("every path was inserted")
                    .id
            })
            .collect();
        Picker { root, nodes, ids }
    }

    /// The JSON text of each path's value in `json` (`None` where it is absent), when
    /// the fast pass is sure of `json`: a JSON object whose integers fit in 64 bits,
    /// nested at most 100 deep, with none of the picked keys repeated. `None` when it is
    /// not sure — anything unusual, valid or not — and a full parse must decide.
    pub(crate) fn pick<'a>(&self, json: &'a str) -> Option<Picked<'a>> {
        let mut scanner = Scanner::new(json, self.nodes, None);
        scanner.top(&self.root).ok()?;
        Some(Picked {
            values: self
                .ids
                .iter()
                .map(|&id| scanner.spans.0[id].value.clone().map(|range| &json[range]))
                .collect(),
            deepest: scanner.deepest,
        })
    }
}

/// What [`Picker::pick`] found in one JSON object.
#[derive(Debug)]
pub(crate) struct Picked<'a> {
    /// The JSON text of each path's value, in the picker's order; `None` where absent.
    pub(crate) values: Vec<Option<&'a str>>,
    /// How deep objects and arrays nest in it, the object itself being level 1.
    pub(crate) deepest: usize,
}

type Scan<T> = Result<T, Halt>;

/// Deeper than this is left to the walk (serde_json stops at 128 levels).
const MAX_DEPTH: usize = 100;

/// Integer parts this long always fit in an `i64`.
const SAFE_DIGITS: usize = 18;

/// The spans of the fields under `root` in `json`, which is a JSON object as EventBridge
/// takes it; `Err(Halt::Unsure)` when the walk must decide.
pub(super) fn scan(root: &Node, nodes: usize, json: &str) -> Scan<Spans> {
    let mut scanner = Scanner::new(json, nodes, None);
    scanner.top(root)?;
    Ok(scanner.spans)
}

/// Which fields a scan looks for before it may stop: the nodes marked in `nodes`, `left`
/// of them not found yet.
pub(super) struct Want<'w> {
    pub(super) nodes: &'w [bool],
    pub(super) left: usize,
}

/// [`scan`] that stops as soon as every field `want` names was found: `Ok((spans,
/// true))` then, with the spans found so far and nothing known of the rest of `json`;
/// `Ok((spans, false))` when it got to the end, as [`scan`] would have.
pub(super) fn scan_until(
    root: &Node,
    nodes: usize,
    json: &str,
    want: Want<'_>,
) -> Scan<(Spans, bool)> {
    let mut scanner = Scanner::new(json, nodes, Some(want));
    match scanner.top(root) {
        Ok(()) => Ok((scanner.spans, false)),
        Err(Halt::Found) => Ok((scanner.spans, true)),
        Err(Halt::Unsure) => Err(Halt::Unsure),
    }
}

/// The scan's state. The cursor is not part of it: each step takes the position it
/// starts at and answers where it ended, so the cursor stays in a register.
struct Scanner<'a> {
    bytes: &'a [u8],
    spans: Spans,
    depth: usize,
    /// The deepest `depth` reached.
    deepest: usize,
    /// The fields to stop at, once all are found.
    want: Option<Want<'a>>,
}

impl<'a> Scanner<'a> {
    fn new(json: &'a str, nodes: usize, want: Option<Want<'a>>) -> Self {
        Scanner {
            bytes: json.as_bytes(),
            spans: Spans::new(nodes),
            depth: 0,
            deepest: 0,
            want,
        }
    }

    /// Scans the whole text: one object, with nothing but whitespace around it.
    fn top(&mut self, root: &Node) -> Scan<()> {
        let bytes = self.bytes;
        let at = space(bytes, 0);
        if bytes.get(at) != Some(&b'{') {
            return Err(Halt::Unsure);
        }
        let at = self.object(at, Some(root))?;
        if space(bytes, at) != bytes.len() {
            return Err(Halt::Unsure);
        }
        Ok(())
    }

    /// Notes that node `id` was found: `Err(Halt::Found)` when it was the last field the
    /// scan wanted.
    #[inline]
    fn found(&mut self, id: usize) -> Scan<()> {
        if let Some(want) = &mut self.want
            && want.nodes[id]
        {
            want.left -= 1;
            if want.left == 0 {
                return Err(Halt::Found);
            }
        }
        Ok(())
    }

    /// The value at `at`; `node` when it sits at a declared path (an object's members
    /// are then matched against the node's children). Answers where the value ends.
    fn value(&mut self, at: usize, node: Option<&Node>) -> Scan<usize> {
        let bytes = self.bytes;
        match bytes.get(at).copied().ok_or(Halt::Unsure)? {
            b'{' => self.object(at, node),
            b'[' => self.array(at),
            b'"' => string(bytes, at + 1).map(|(end, _)| end),
            b't' => literal(bytes, at, b"true"),
            b'f' => literal(bytes, at, b"false"),
            b'n' => literal(bytes, at, b"null"),
            b'-' | b'0'..=b'9' => number(bytes, at),
            _ => Err(Halt::Unsure),
        }
    }

    /// Steps into the container opening at `at`, which `close` ends: where its first
    /// member starts, or `Err(end)` with where it ends when it is empty.
    #[inline]
    fn open(&mut self, at: usize, close: u8) -> Scan<Result<usize, usize>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Halt::Unsure);
        }
        self.deepest = self.deepest.max(self.depth);
        let at = space(self.bytes, at + 1);
        if self.bytes.get(at) == Some(&close) {
            self.depth -= 1;
            return Ok(Err(at + 1));
        }
        Ok(Ok(at))
    }

    /// After a member or an element at `at`: `,` (then whitespace) or the closing
    /// `close`. `Ok(Ok(next))` where the next one starts, `Ok(Err(end))` when the
    /// container ended.
    #[inline]
    fn next(&mut self, at: usize, close: u8) -> Scan<Result<usize, usize>> {
        let at = space(self.bytes, at);
        match self.bytes.get(at) {
            Some(b',') => Ok(Ok(space(self.bytes, at + 1))),
            Some(&c) if c == close => {
                self.depth -= 1;
                Ok(Err(at + 1))
            }
            _ => Err(Halt::Unsure),
        }
    }

    fn object(&mut self, at: usize, node: Option<&Node>) -> Scan<usize> {
        if let Some(node) = node {
            self.spans.0[node.id].object = true;
        }
        let bytes = self.bytes;
        let mut at = match self.open(at, b'}')? {
            Ok(first) => first,
            Err(end) => return Ok(end),
        };
        loop {
            if bytes.get(at) != Some(&b'"') {
                return Err(Halt::Unsure);
            }
            let key_start = at + 1;
            let (end, plain) = string(bytes, key_start)?;
            let key = &bytes[key_start..end - 1];
            at = space(bytes, end);
            if bytes.get(at) != Some(&b':') {
                return Err(Halt::Unsure);
            }
            at = space(bytes, at + 1);
            let child = match node {
                Some(node) if !node.children.is_empty() => {
                    if !plain {
                        // The walk decodes the key before matching it.
                        return Err(Halt::Unsure);
                    }
                    node.children
                        .iter()
                        .find(|(k, _)| k.as_bytes() == key)
                        .map(|(_, child)| child)
                }
                _ => None,
            };
            at = match child {
                // The common member: a string off every declared path.
                None if bytes.get(at) == Some(&b'"') => string(bytes, at + 1)?.0,
                None => self.value(at, None)?,
                Some(child) => {
                    let slot = &self.spans.0[child.id];
                    if slot.value.is_some() || slot.object {
                        return Err(Halt::Unsure);
                    }
                    if child.leaf {
                        let inside = (!child.children.is_empty()).then_some(child);
                        let end = self.value(at, inside)?;
                        self.spans.0[child.id].value = Some(at..end);
                        self.found(child.id)?;
                        end
                    } else {
                        self.value(at, Some(child))?
                    }
                }
            };
            at = match self.next(at, b'}')? {
                Ok(next) => next,
                Err(end) => return Ok(end),
            };
        }
    }

    fn array(&mut self, at: usize) -> Scan<usize> {
        let mut at = match self.open(at, b']')? {
            Ok(first) => first,
            Err(end) => return Ok(end),
        };
        loop {
            at = self.value(at, None)?;
            at = match self.next(at, b']')? {
                Ok(next) => next,
                Err(end) => return Ok(end),
            };
        }
    }
}

/// Where the whitespace at `at` ends.
#[inline]
fn space(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The string whose contents start at `at`: where it ends (past its closing quote), and
/// whether it holds no escape.
#[inline]
fn string(bytes: &[u8], mut at: usize) -> Scan<(usize, bool)> {
    let mut plain = true;
    loop {
        while let Some(chunk) = bytes.get(at..at + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let found = has_byte(word, b'"') | has_byte(word, b'\\') | has_control(word);
            if found != 0 {
                // The lowest flagged byte is a real match.
                at += (found.trailing_zeros() / 8) as usize;
                break;
            }
            at += 8;
        }
        match bytes.get(at).copied().ok_or(Halt::Unsure)? {
            b'"' => return Ok((at + 1, plain)),
            b'\\' => match bytes.get(at + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                    plain = false;
                    at += 2;
                }
                _ => return Err(Halt::Unsure),
            },
            0..0x20 => return Err(Halt::Unsure),
            _ => at += 1,
        }
    }
}

/// The literal `word` at `at`: where it ends.
fn literal(bytes: &[u8], at: usize, word: &[u8]) -> Scan<usize> {
    if bytes[at..].starts_with(word) {
        Ok(at + word.len())
    } else {
        Err(Halt::Unsure)
    }
}

/// Where the digits at `at` end.
fn digits(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b'0'..=b'9')) {
        at += 1;
    }
    at
}

/// A number at `at`: `-`? (`0` | digits) (`.` digits)?, its integer part at most
/// [`SAFE_DIGITS`] long; an exponent is left to the walk. Answers where it ends.
fn number(bytes: &[u8], mut at: usize) -> Scan<usize> {
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at) {
        Some(b'0') => at += 1,
        Some(b'1'..=b'9') => {
            let end = digits(bytes, at);
            if end - at > SAFE_DIGITS {
                return Err(Halt::Unsure);
            }
            at = end;
        }
        _ => return Err(Halt::Unsure),
    }
    if bytes.get(at) == Some(&b'.') {
        let end = digits(bytes, at + 1);
        if end == at + 1 {
            return Err(Halt::Unsure);
        }
        at = end;
    }
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        return Err(Halt::Unsure);
    }
    Ok(at)
}
