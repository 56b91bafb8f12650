//! Finding the values at dotted paths in a detail: [`Raw`], a value's JSON text, and the
//! one-pass lookup behind `Event::raw` — a byte scan for the details it is sure of, and
//! serde_json for everything else.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One value of the detail as JSON text, borrowed from the detail: what
/// [`Event::raw`](crate::Event::raw) finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raw<'a>(&'a str);

impl<'a> Raw<'a> {
    /// The value's JSON text, exactly as in the detail: `"jane@example.com"`, `42`,
    /// `{"a":1}`, `null`.
    pub fn get(self) -> &'a str {
        self.0
    }

    /// The string the value holds, borrowed unless it has escapes; `None` when the
    /// value is not a JSON string.
    pub fn as_str(self) -> Option<Cow<'a, str>> {
        let inner = self.0.strip_prefix('"')?.strip_suffix('"')?;
        if !inner.contains('\\') {
            // The lookup checked the text: a string without escapes holds no quote.
            return Some(Cow::Borrowed(inner));
        }
        serde_json::from_str::<String>(self.0).ok().map(Cow::Owned)
    }

    /// The value as a `T`, borrowing from the detail where `T` does.
    ///
    /// # Errors
    /// The value is not a `T`.
    pub fn parse<T: Deserialize<'a>>(self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0)
    }

    /// Whether the value is `null`.
    pub fn is_null(self) -> bool {
        self.0 == "null"
    }

    /// Whether the value is a JSON object.
    pub fn is_object(self) -> bool {
        self.0.starts_with('{')
    }

    /// Whether the value is a JSON string.
    pub fn is_string(self) -> bool {
        self.0.starts_with('"')
    }
}

impl fmt::Display for Raw<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Whether `a` and `b` hold the same bytes. Keys and paths are short, and inside a
/// plugin a call to `memcmp` (which compares a byte at a time) costs more than the
/// comparison: this one compares eight bytes at a time, inline.
#[inline]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
    };
    let n = a.len();
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if word(a, at) != word(b, at) {
                return false;
            }
            at += 8;
        }
        // The last eight bytes, overlapping the words before when `n` is not a multiple.
        return word(a, n - 8) == word(b, n - 8);
    }
    let mut diff = 0u8;
    for k in 0..n {
        diff |= a[k] ^ b[k];
    }
    diff == 0
}

/// The values at dotted `paths` in `json`, in their order; a repeated key counts once,
/// the first time. Anything but a JSON object has none of them. Nothing is allocated.
pub(crate) fn lookup_many<'a, const N: usize>(
    json: &'a str,
    paths: [&str; N],
) -> [Option<Raw<'a>>; N] {
    match fast::lookup(json, &paths) {
        Ok(found) => found,
        Err(fast::Unsure) => by_serde(json, paths),
    }
}

/// [`lookup_many`] by serde_json: one pass over each object on the way, whatever the
/// number of paths. What decides when the fast scan is not sure.
pub(crate) fn by_serde<'a, const N: usize>(
    json: &'a str,
    paths: [&str; N],
) -> [Option<Raw<'a>>; N] {
    let mut out = [None; N];
    let mut wanted = [(0, ""); N];
    for (at, path) in paths.iter().enumerate() {
        wanted[at] = (at, *path);
    }
    walk(json, &wanted, &mut out);
    out
}

/// Fills `out` at each wanted index with the value at its path below `json` (at most `N`
/// paths).
fn walk<'a, const N: usize>(
    json: &'a str,
    wanted: &[(usize, &str)],
    out: &mut [Option<Raw<'a>>; N],
) {
    let mut heads = [""; N];
    let mut count = 0;
    for (_, path) in wanted {
        let head = path.split('.').next().unwrap_or(path);
        if !heads[..count].contains(&head) {
            heads[count] = head;
            count += 1;
        }
    }
    let mut de = serde_json::Deserializer::from_str(json);
    let Ok(found) = Find::<N>(&heads[..count]).deserialize(&mut de) else {
        return;
    };
    for (head, raw) in heads[..count].iter().zip(found) {
        let Some(raw) = raw else { continue };
        let mut deeper = [(0, ""); N];
        let mut below = 0;
        for (at, path) in wanted {
            match path.split_once('.') {
                None if path == head => out[*at] = Some(Raw(raw.get())),
                Some((first, rest)) if first == *head => {
                    deeper[below] = (*at, rest);
                    below += 1;
                }
                _ => {}
            }
        }
        if below > 0 {
            walk(raw.get(), &deeper[..below], out);
        }
    }
}

/// Finds some keys' values (at most `N`) in a JSON object; none in anything else.
struct Find<'k, const N: usize>(&'k [&'k str]);

impl<'de, const N: usize> DeserializeSeed<'de> for Find<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Find<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = [None; N];
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match self.0.iter().position(|k| *k == key.0) {
                Some(at) if found[at].is_none() => {
                    found[at] = Some(map.next_value::<&'de RawValue>()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok([None; N])
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok([None; N])
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok([None; N])
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok([None; N])
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok([None; N])
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok([None; N])
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok([None; N])
    }
}

/// A map key, borrowed when it holds no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
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

/// The fast path: one byte scan over the detail that finds every path's value and
/// checks the JSON it passes, for the details it is sure of — a JSON object with no
/// `\u` escape, no escaped key on a wanted path, nothing nested over [`fast::MAX_DEPTH`]
/// deep and no syntax error. Anything else is [`fast::Unsure`], and serde_json decides;
/// so whatever this path answers, [`by_serde`] answers too (a test checks both).
mod fast {
    use super::Raw;

    /// Not sure: serde_json decides.
    pub(super) struct Unsure;

    /// Deeper than this is left to serde_json (which stops at 128).
    pub(super) const MAX_DEPTH: usize = 100;

    /// At most this many paths are looked up in one scan (the set of those still wanted
    /// is a bit mask); more go to serde_json.
    const MAX_PATHS: usize = 64;

    type Scan<T> = Result<T, Unsure>;

    /// The values at dotted `paths` in `json`, when the scan is sure of `json`.
    pub(super) fn lookup<'a, const N: usize>(
        json: &'a str,
        paths: &[&str; N],
    ) -> Scan<[Option<Raw<'a>>; N]> {
        if N > MAX_PATHS {
            return Err(Unsure);
        }
        let mut scan = Scanner {
            bytes: json.as_bytes(),
            at: 0,
            depth: 0,
        };
        let mut spans = [None; N];
        scan.space();
        if scan.peek() != Some(b'{') {
            return Err(Unsure);
        }
        let all = if N == MAX_PATHS {
            u64::MAX
        } else {
            (1u64 << N) - 1
        };
        scan.object(paths, all, &mut spans)?;
        // Like serde_json's walk, what follows the object is not looked at.
        Ok(spans.map(|span| span.map(|(start, end)| Raw(&json[start..end]))))
    }

    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;

    /// A word whose high bit is set in each byte of `word` equal to `byte` (and possibly
    /// in bytes above one that is).
    fn has_byte(word: u64, byte: u8) -> u64 {
        let x = word ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x & HIGHS
    }

    /// A word whose high bit is set in each byte of `word` below 0x20 (and possibly in
    /// bytes above one that is).
    fn has_control(word: u64) -> u64 {
        word.wrapping_sub(ONES * 0x20) & !word & HIGHS
    }

    struct Scanner<'a> {
        bytes: &'a [u8],
        at: usize,
        depth: usize,
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

        /// The value at the cursor, checked and stepped over.
        fn value(&mut self) -> Scan<()> {
            match self.peek().ok_or(Unsure)? {
                b'{' => self.object::<0>(&[], 0, &mut []),
                b'[' => self.array(),
                b'"' => self.string().map(|_| ()),
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
            self.at += 1;
            self.space();
            if self.peek() == Some(close) {
                self.at += 1;
                self.depth -= 1;
                return Ok(true);
            }
            Ok(false)
        }

        /// After a member or an element: `,` or the closing `close`. `Ok(true)` when
        /// the container ended.
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

        /// The object at the cursor. `rest` holds, for each path in `wanted` (a bit
        /// mask over them), what is left of it at this level (`type` of `data.type`
        /// inside `data`); `spans` gets the span (start, end) of each path's value.
        fn object<const N: usize>(
            &mut self,
            rest: &[&str; N],
            wanted: u64,
            spans: &mut [Option<(usize, usize)>; N],
        ) -> Scan<()> {
            if self.open(b'}')? {
                return Ok(());
            }
            // Paths whose member at this level was met already: the first one counts.
            let mut met = 0u64;
            loop {
                if self.peek() != Some(b'"') {
                    return Err(Unsure);
                }
                let key_start = self.at + 1;
                let plain = self.string()?;
                let key = &self.bytes[key_start..self.at - 1];
                self.space();
                if self.peek() != Some(b':') {
                    return Err(Unsure);
                }
                self.at += 1;
                self.space();
                let open = wanted & !met;
                let (mut ends, mut deeper) = (0u64, 0u64);
                let mut below = [""; N];
                // A key with a dot in it is on no path (paths are split at dots).
                if open != 0 && !key.contains(&b'.') {
                    if !plain {
                        // serde_json decodes the key before matching it.
                        return Err(Unsure);
                    }
                    for (at, path) in rest.iter().enumerate() {
                        if open & (1 << at) == 0 {
                            continue;
                        }
                        // The cheap tests first: where the key would end in the path.
                        let path = path.as_bytes();
                        let ending = match path.get(key.len()) {
                            None if path.len() == key.len() => true,
                            Some(b'.') => false,
                            _ => continue,
                        };
                        if !super::same(&path[..key.len()], key) {
                            continue;
                        }
                        if ending {
                            ends |= 1 << at;
                        } else {
                            deeper |= 1 << at;
                            below[at] = &rest[at][key.len() + 1..];
                        }
                    }
                }
                let here = ends | deeper;
                if here == 0 {
                    self.value()?;
                } else {
                    met |= here;
                    let start = self.at;
                    if deeper != 0 && self.peek() == Some(b'{') {
                        self.object(&below, deeper, spans)?;
                    } else {
                        self.value()?;
                    }
                    for (at, span) in spans.iter_mut().enumerate() {
                        if ends & (1 << at) != 0 {
                            *span = Some((start, self.at));
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
                self.value()?;
                if self.next(b']')? {
                    return Ok(());
                }
            }
        }

        /// The string opening at the cursor; the cursor ends past its closing quote.
        /// `Ok(true)` when it holds no escape.
        fn string(&mut self) -> Scan<bool> {
            self.at += 1;
            let mut plain = true;
            loop {
                // Eight bytes at a time up to a quote, a backslash or a control character.
                while let Some(chunk) = self.bytes.get(self.at..self.at + 8) {
                    let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
                    let found = has_byte(word, b'"') | has_byte(word, b'\\') | has_control(word);
                    if found != 0 {
                        // The lowest flagged byte is a real match.
                        self.at += (found.trailing_zeros() / 8) as usize;
                        break;
                    }
                    self.at += 8;
                }
                match self.peek().ok_or(Unsure)? {
                    b'"' => {
                        self.at += 1;
                        return Ok(plain);
                    }
                    b'\\' => match self.bytes.get(self.at + 1) {
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

        /// A number: `-`? (`0` | [1-9] digits) (`.` digits)? ([eE] [+-]? digits)?,
        /// not followed by a digit.
        fn number(&mut self) -> Scan<()> {
            if self.peek() == Some(b'-') {
                self.at += 1;
            }
            match self.peek() {
                Some(b'0') => {
                    self.at += 1;
                    if matches!(self.peek(), Some(b'0'..=b'9')) {
                        return Err(Unsure);
                    }
                }
                Some(b'1'..=b'9') => {
                    self.digits();
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
                self.at += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.at += 1;
                }
                if self.digits() == 0 {
                    return Err(Unsure);
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Raw, by_serde, fast, lookup_many};

    const PATHS: [&str; 7] = [
        "data",
        "data.type",
        "data.user_name",
        "data.ip",
        "data.details.n",
        "log_id",
        "data.details",
    ];

    /// Details that exercise every branch of the fast scan, and some it leaves to serde.
    const DETAILS: &[&str] = &[
        r#"{"log_id":"9001","data":{"type":"s","user_name":"jane@example.com","ip":"203.0.113.7"}}"#,
        r#" { "data" : { "type" : "f" , "ip" : null , "details" : { "n" : -12.5e+3 } } } "#,
        r#"{"data":{"ip":"1.2.3.4","user_name":"j","ip":"5.6.7.8"},"data":{"ip":"x"}}"#,
        r#"{"data":{"type":"s\"q\\\/\b\f\n\r\t","list":[1,[2,{"a":[]}],true,false,null,"x"]}}"#,
        r#"{"data":[{"type":"s"}],"log_id":0}"#,
        r#"{"data":"text","log_id":{}}"#,
        r#"{"data":{"details":[],"type":"s"}}"#,
        r#"{"data":{"details":{"n":{"deep":[{}]}},"type":"x"},"tail":1}"#,
        r#"{"data":{"ty\u0070e":"s"}}"#,
        r#"{"d\"ata":{"type":"s"},"data":{"type":"t"}}"#,
        r#"{"data":{"type":"s"}} trailing"#,
        r#"{"data":{"type":"s"},}"#,
        r#"{"data":{"type":01}}"#,
        r#"{"data":{"type":1.}}"#,
        r#"{"data":{"type":-}}"#,
        r#"{"data":{"type":1e}}"#,
        r#"{"data":{"type":tru}}"#,
        r#"{"data":{"type":"a	b"}}"#,
        r#"[{"data":1}]"#,
        r#""data""#,
        "",
        "{",
        "{}",
        r#"{"data":{}}"#,
        r#"{"log_id":"a","log_id":"b"}"#,
        r#"{"data":{"type":"abcdefghijklmnop\"qrstuvwxyz0123456789","user_name":"abcdefghijklmnopqrstu\\"}}"#,
        r#"{"data.type":"x","dat":1,"data":{"type.":2,"typ":3,"type":"s"}}"#,
    ];

    fn both<'a>(json: &'a str) -> ([Option<Raw<'a>>; 7], [Option<Raw<'a>>; 7]) {
        (lookup_many(json, PATHS), by_serde(json, PATHS))
    }

    #[test]
    fn the_fast_scan_answers_what_serde_answers() {
        for detail in DETAILS {
            let (fast, serde) = both(detail);
            assert_eq!(fast, serde, "{detail}");
        }
    }

    #[test]
    fn every_one_byte_change_and_truncation_agrees_with_serde() {
        let replacements = b"{}[]\":,\\ 0-1.eEtfnu\tx\x01";
        for detail in DETAILS {
            for cut in 0..=detail.len() {
                if let Some(prefix) = detail.get(..cut) {
                    let (fast, serde) = both(prefix);
                    assert_eq!(fast, serde, "{prefix}");
                }
            }
            let bytes = detail.as_bytes();
            for i in 0..bytes.len() {
                for &b in replacements {
                    let mut changed = bytes.to_vec();
                    changed[i] = b;
                    if let Ok(changed) = String::from_utf8(changed) {
                        let (fast, serde) = both(&changed);
                        assert_eq!(fast, serde, "{changed}");
                    }
                    let mut removed = bytes.to_vec();
                    removed.remove(i);
                    if let Ok(removed) = String::from_utf8(removed) {
                        let (fast, serde) = both(&removed);
                        assert_eq!(fast, serde, "{removed}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_fast_scan_takes_the_plain_details_and_leaves_the_odd_ones() {
        let sure = |json: &str| fast::lookup(json, &PATHS).is_ok();
        assert!(sure(DETAILS[0]));
        assert!(sure(DETAILS[1]));
        assert!(sure(DETAILS[3]));
        assert!(!sure(r#"{"data":{"ty\u0070e":"s"}}"#), "a \\u escape");
        assert!(
            !sure(r#"{"da\nta":{}}"#),
            "an escaped key where keys are matched"
        );
        assert!(sure(r#"{"x":{"da\nta":{}}}"#), "an escaped key elsewhere");
        assert!(!sure(&format!("{}{}", "[".repeat(200), "]".repeat(200))));
        let deep = format!(r#"{{"x":{}1{}}}"#, "[".repeat(150), "]".repeat(150));
        assert!(!sure(&deep), "nested past the limit");
        assert_eq!(lookup_many(&deep, PATHS), by_serde(&deep, PATHS));
    }

    #[test]
    fn raw_values_read_as_strings_objects_and_types() {
        let json = r#"{"a":"plain","b":"esc\"aped\u00e9","c":{"n":1},"d":null,"e":7}"#;
        let [a, b, c, d, e] = lookup_many(json, ["a", "b", "c", "d", "e"]).map(Option::unwrap);
        assert!(matches!(
            a.as_str(),
            Some(std::borrow::Cow::Borrowed("plain"))
        ));
        assert_eq!(b.as_str().as_deref(), Some("esc\"apedé"));
        assert!(c.is_object() && !c.is_string() && c.as_str().is_none());
        assert!(d.is_null());
        assert_eq!(e.parse::<u8>().unwrap(), 7);
        assert!(e.parse::<String>().is_err());
        assert_eq!(c.to_string(), r#"{"n":1}"#);
    }

    #[test]
    fn same_agrees_with_equality_at_every_length_and_position() {
        let text: Vec<u8> = (0..40u8).map(|n| b'a' + n % 26).collect();
        for len in 0..=text.len() {
            let a = &text[..len];
            assert!(super::same(a, a), "{len}");
            for other in 0..=text.len() {
                assert_eq!(
                    super::same(a, &text[..other]),
                    len == other,
                    "{len} {other}"
                );
            }
            for at in 0..len {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!super::same(a, &b), "{len} {at}");
            }
        }
    }
}
