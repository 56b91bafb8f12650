//! A webhook body split into its records, on raw bytes, before anything is decoded: the
//! elements of a JSON array, or a sequence of JSON values or lines — so one bad record
//! never takes its neighbours with it.

use crate::json_scan::string_end;

/// The records in a webhook body, each as its own bytes, unparsed and not yet checked
/// to be UTF-8: the elements of a JSON array (`JSONARRAY`), or a sequence of JSON values
/// (`JSONOBJECT`, pretty-printed or not, and `JSONLINES`). A record that is not JSON is
/// taken to end at the end of its line, so one bad record never takes its neighbours
/// with it; an array that does not close is taken line by line. Whitespace around
/// records is left out; a body of only whitespace (or `[]`) has no records.
pub(super) fn split_records(body: &[u8]) -> Vec<&[u8]> {
    let start = skip_space(body, 0);
    if body.get(start) == Some(&b'[')
        && let Some(end) = closing(body, start)
        && skip_space(body, end) == body.len()
    {
        return array_elements(body, start, end);
    }
    let mut records = Vec::new();
    let mut at = start;
    while at < body.len() {
        // A JSON object or array spans as far as it is balanced; anything else, or
        // one that never closes, ends at the end of its line.
        let end = match body[at] {
            b'{' | b'[' => closing(body, at).unwrap_or_else(|| line_end(body, at)),
            _ => line_end(body, at),
        };
        records.push(trim(&body[at..end]));
        at = skip_space(body, end);
    }
    records.retain(|r| !r.is_empty());
    records
}

fn skip_space(body: &[u8], mut at: usize) -> usize {
    while body.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

fn line_end(body: &[u8], at: usize) -> usize {
    body[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(body.len(), |n| at + n)
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes
        && first.is_ascii_whitespace()
    {
        bytes = rest;
    }
    while let [rest @ .., last] = bytes
        && last.is_ascii_whitespace()
    {
        bytes = rest;
    }
    bytes
}

/// The end (one past the closing bracket) of the object or array opening at `at`. Strings
/// are stepped over whole, so brackets and bytes that are not UTF-8 inside them do not
/// count.
fn closing(body: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = at;
    while let Some(&byte) = body.get(i) {
        match byte {
            b'"' => {
                i = string_end(body, i + 1);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The elements of the array from `start` (its `[`) to `end` (past its `]`, as found by
/// [`closing`]): split at the commas outside strings and nested brackets.
fn array_elements(body: &[u8], start: usize, end: usize) -> Vec<&[u8]> {
    let inner = start + 1..end - 1;
    let mut depth = 1usize;
    let mut elements = Vec::new();
    let mut from = inner.start;
    let mut i = inner.start;
    while i < inner.end {
        match body[i] {
            b'"' => {
                i = string_end(body, i + 1);
                continue;
            }
            b',' if depth == 1 => {
                elements.push(trim(&body[from..i]));
                from = i + 1;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    elements.push(trim(&body[from..inner.end]));
    elements.retain(|e| !e.is_empty());
    elements
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(body: &[u8]) -> Vec<String> {
        split_records(body)
            .into_iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }

    #[test]
    fn the_three_webhook_formats_split_into_records() {
        let a = r#"{"log_id":"1","data":{"s":"a, ] } \" ["}}"#;
        let b = r#"{"log_id":"2","data":{}}"#;
        assert_eq!(split(format!("[{a},{b}]").as_bytes()), [a, b]);
        assert_eq!(split(format!(" [ {a} ,\n {b} ]\n").as_bytes()), [a, b]);
        assert_eq!(split(format!("{a}\n{b}\n").as_bytes()), [a, b]);
        assert_eq!(split(format!("{a}\r\n\r\n{b}").as_bytes()), [a, b]);
        assert_eq!(split(a.as_bytes()), [a]);
        let pretty = "{\n  \"log_id\": \"3\",\n  \"data\": {}\n}";
        assert_eq!(split(pretty.as_bytes()), [pretty]);
        assert_eq!(
            split(format!("{pretty}\n{pretty}").as_bytes()),
            [pretty, pretty]
        );
    }

    #[test]
    fn nothing_at_all_is_no_record() {
        assert!(split(b"").is_empty());
        assert!(split(b" \n\r\n ").is_empty());
        assert!(split(b"[]").is_empty());
        assert!(split(b"[ \n ]").is_empty());
    }

    #[test]
    fn a_bad_record_is_split_off_from_its_neighbours() {
        let good = br#"{"log_id":"1","data":{}}"#.as_slice();
        let bad_utf8 = b"{\"log_id\":\"2\",\"data\":{\"n\":\"\xff\xfe\"}}".as_slice();
        let lines = [
            good,
            bad_utf8,
            &b"not JSON at all"[..],
            &b"{\"cut\": "[..],
            good,
        ]
        .join(&b'\n');
        assert_eq!(
            split_records(&lines),
            [
                good,
                bad_utf8,
                &b"not JSON at all"[..],
                &b"{\"cut\":"[..],
                good
            ],
            "JSONLINES: one bad line is one bad record, even one that never closes"
        );
        let array = [b"[".as_slice(), good, b",", bad_utf8, b",", good, b"]"].concat();
        assert_eq!(
            split_records(&array),
            [good, bad_utf8, good],
            "JSONARRAY: an element that is not UTF-8 is split off alone"
        );
        let pretty_bad = b"{\n \"log_id\": \"3\",\n \"data\": \"\xc3\x28\"\n}".as_slice();
        assert_eq!(
            split_records(pretty_bad),
            [pretty_bad],
            "a pretty-printed record with a bad byte stays one record"
        );
        assert_eq!(
            split_records(b"[1, 2"),
            [b"[1, 2".as_slice()],
            "an array that never closes is taken line by line"
        );
    }
}
