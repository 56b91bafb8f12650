//! The fast path of a projection scan: one pass over the bytes that finds the declared
//! fields and checks the detail, for the details it is sure of. Anything unusual — an
//! escaped key on a declared path, a `\u` escape, a control character, a number with an
//! exponent or more than 18 integer digits, a repeated declared key, deep nesting, any
//! syntax error — is left to the serde walk, which decides. So what this path accepts,
//! the walk accepts too, with the same spans (a test checks both on every detail it has).
//!
//! The same pass reads the few fields the Auth0 mapping needs from each incoming record
//! ([`Picker`]), so a record is parsed and checked once on its way in.

use super::{Node, Spans};
use crate::json_scan::{has_byte, has_control};

/// Not sure: the serde walk decides.
pub(super) struct Unsure;

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
        let scanner = scanned(&self.root, self.nodes, json).ok()?;
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

type Scan<T> = Result<T, Unsure>;

/// Deeper than this is left to the walk (serde_json stops at 128 levels).
const MAX_DEPTH: usize = 100;

/// Integer parts this long always fit in an `i64`.
const SAFE_DIGITS: usize = 18;

/// The spans of the fields under `root` in `json`, which is a JSON object as EventBridge
/// takes it; `Err(Unsure)` when the walk must decide.
pub(super) fn scan(root: &Node, nodes: usize, json: &str) -> Scan<Spans> {
    scanned(root, nodes, json).map(|scanner| scanner.spans)
}

/// [`scan`], giving back the scanner at the end.
fn scanned<'a>(root: &Node, nodes: usize, json: &'a str) -> Scan<Scanner<'a>> {
    let mut scanner = Scanner {
        bytes: json.as_bytes(),
        at: 0,
        spans: Spans::new(nodes),
        depth: 0,
        deepest: 0,
    };
    scanner.space();
    if scanner.peek() != Some(b'{') {
        return Err(Unsure);
    }
    scanner.value(Some(root))?;
    scanner.space();
    if scanner.at != scanner.bytes.len() {
        return Err(Unsure);
    }
    Ok(scanner)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    spans: Spans,
    depth: usize,
    /// The deepest `depth` reached.
    deepest: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// The value at the cursor; `node` when it sits at a declared path (an object's
    /// members are then matched against the node's children).
    fn value(&mut self, node: Option<&Node>) -> Scan<()> {
        match self.peek().ok_or(Unsure)? {
            b'{' => self.object(node),
            b'[' => self.array(),
            b'"' => {
                self.at += 1;
                self.string().map(|_| ())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Unsure),
        }
    }

    /// Steps into the container opening at the cursor, which `close` ends. `Ok(true)`
    /// when it is empty (and already stepped out of).
    fn open(&mut self, close: u8) -> Scan<bool> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Unsure);
        }
        self.deepest = self.deepest.max(self.depth);
        self.at += 1;
        self.space();
        if self.peek() == Some(close) {
            self.at += 1;
            self.depth -= 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// After a member or an element: `,` (then whitespace) or the closing `close`.
    /// `Ok(true)` when the container ended.
    fn next(&mut self, close: u8) -> Scan<bool> {
        self.space();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                self.space();
                Ok(false)
            }
            Some(c) if c == close => {
                self.at += 1;
                self.depth -= 1;
                Ok(true)
            }
            _ => Err(Unsure),
        }
    }

    fn object(&mut self, node: Option<&Node>) -> Scan<()> {
        if let Some(node) = node {
            self.spans.0[node.id].object = true;
        }
        if self.open(b'}')? {
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(Unsure);
            }
            self.at += 1;
            let key_start = self.at;
            let plain = self.string()?;
            let key = &self.bytes[key_start..self.at - 1];
            self.space();
            if self.peek() != Some(b':') {
                return Err(Unsure);
            }
            self.at += 1;
            self.space();
            let child = match node {
                Some(node) if !node.children.is_empty() => {
                    if !plain {
                        // The walk decodes the key before matching it.
                        return Err(Unsure);
                    }
                    node.children
                        .iter()
                        .find(|(k, _)| k.as_bytes() == key)
                        .map(|(_, child)| child)
                }
                _ => None,
            };
            match child {
                None => self.value(None)?,
                Some(child) => {
                    let slot = &self.spans.0[child.id];
                    if slot.value.is_some() || slot.object {
                        return Err(Unsure);
                    }
                    if child.leaf {
                        let start = self.at;
                        let inside = (!child.children.is_empty()).then_some(child);
                        self.value(inside)?;
                        self.spans.0[child.id].value = Some(start..self.at);
                    } else {
                        self.value(Some(child))?;
                    }
                }
            }
            if self.next(b'}')? {
                return Ok(());
            }
        }
    }

    fn array(&mut self) -> Scan<()> {
        if self.open(b']')? {
            return Ok(());
        }
        loop {
            self.value(None)?;
            if self.next(b']')? {
                return Ok(());
            }
        }
    }

    /// A string whose contents start at the cursor; the cursor ends past its closing
    /// quote. `Ok(true)` when it holds no escape.
    fn string(&mut self) -> Scan<bool> {
        let bytes = self.bytes;
        let mut plain = true;
        loop {
            while let Some(chunk) = bytes.get(self.at..self.at + 8) {
                let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
                let found = has_byte(word, b'"') | has_byte(word, b'\\') | has_control(word);
                if found != 0 {
                    // The lowest flagged byte is a real match.
                    self.at += (found.trailing_zeros() / 8) as usize;
                    break;
                }
                self.at += 8;
            }
            match bytes.get(self.at).copied().ok_or(Unsure)? {
                b'"' => {
                    self.at += 1;
                    return Ok(plain);
                }
                b'\\' => match bytes.get(self.at + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                        plain = false;
                        self.at += 2;
                    }
                    _ => return Err(Unsure),
                },
                0..0x20 => return Err(Unsure),
                _ => self.at += 1,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(Unsure)
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at - start
    }

    /// A number: `-`? (`0` | digits) (`.` digits)?, its integer part at most
    /// [`SAFE_DIGITS`] long; an exponent is left to the walk.
    fn number(&mut self) -> Scan<()> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                if self.digits() > SAFE_DIGITS {
                    return Err(Unsure);
                }
            }
            _ => return Err(Unsure),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err(Unsure);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            return Err(Unsure);
        }
        Ok(())
    }
}
