//! Walks over JSON text without parsing it: where a string ends, its contents skipped
//! eight bytes at a time. The ingest check, the local sink's compaction and the webhook
//! body splitter all step over strings with it.

/// The index just past the string whose contents start at `i` (after its opening quote),
/// or the end of `bytes` when it does not close. Most of a log is inside strings, so they
/// are skipped eight bytes at a time until a quote or a backslash.
pub(crate) fn string_end(bytes: &[u8], mut i: usize) -> usize {
    loop {
        while let Some(chunk) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let found = has_byte(word, b'"') | has_byte(word, b'\\');
            if found != 0 {
                // The lowest flagged byte is a real match (false flags only sit above one).
                i += (found.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match bytes.get(i) {
            None => return bytes.len(),
            Some(b'"') => return i + 1,
            Some(b'\\') => i += 2,
            Some(_) => i += 1,
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// A word whose high bit is set in each byte of `word` equal to `byte` (and possibly in
/// bytes above one that is).
pub(crate) fn has_byte(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// A word whose high bit is set in each byte of `word` below 0x20, a control character
/// (and possibly in bytes above one that is).
pub(crate) fn has_control(word: u64) -> u64 {
    word.wrapping_sub(ONES * 0x20) & !word & HIGHS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_end_at_their_closing_quote_wherever_it_falls() {
        for text in [
            r#""""#,
            r#""a""#,
            r#""abcdefg""#,
            r#""abcdefgh""#,
            r#""abcdefghijklmnopq""#,
            r#""ab\"cdefghijklm\\""#,
            r#""\\\\\\\\\\\\\\\\\"""#,
            r#""é€𝄞 quoted \" inside \u0041 then more""#,
        ] {
            let padded = format!("{text}, 12345678901234567890]");
            assert_eq!(string_end(padded.as_bytes(), 1), text.len(), "{text}");
        }
        assert_eq!(string_end(b"\"unterminated", 1), 13);
        assert_eq!(string_end(b"\"ends in a backslash\\", 1), 21);
    }
}
