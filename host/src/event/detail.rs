//! Checks an event's detail the way EventBridge will take it, before any plugin runs:
//! every integer within the signed 64-bit range however it is written, and nesting no
//! deeper than [`MAX_DETAIL_DEPTH`]. A detail that fails here could never be delivered,
//! so it is the input's fault, not a plugin's.

use crate::json_scan::string_end;

/// The deepest nesting of objects and arrays a detail may have (the detail object itself
/// is level 1). EventBridge documents no limit; plugins parse details with their
/// language's JSON parser, and Rust's `serde_json` stops at 128 levels, so this leaves
/// room for a transformer to wrap what it was given.
pub const MAX_DETAIL_DEPTH: usize = 100;

/// Why a detail cannot be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DetailProblem {
    /// An integer outside `i64::MIN..=i64::MAX`.
    #[error(
        "the integer {0} is outside the signed 64-bit range EventBridge accepts; send it as \
         a string or a decimal"
    )]
    IntegerOutOfRange(String),
    /// Objects and arrays nested deeper than [`MAX_DETAIL_DEPTH`].
    #[error("objects and arrays are nested deeper than {MAX_DETAIL_DEPTH} levels")]
    TooDeep,
}

/// The longest integer quoted in a [`DetailProblem`].
const QUOTED_DIGITS: usize = 40;

/// Checks `detail` (JSON text, already known to parse) for integers outside `i64` and
/// nesting deeper than [`MAX_DETAIL_DEPTH`]. One pass over the bytes; strings are
/// skipped whole.
pub(crate) fn check_detail(detail: &str) -> Result<(), DetailProblem> {
    let bytes = detail.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = string_end(bytes, i + 1),
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DETAIL_DEPTH {
                    return Err(DetailProblem::TooDeep);
                }
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                let mut integer = true;
                while i < bytes.len() {
                    match bytes[i] {
                        b'0'..=b'9' | b'-' | b'+' => {}
                        b'.' | b'e' | b'E' => integer = false,
                        _ => break,
                    }
                    i += 1;
                }
                let number = &detail[start..i];
                if integer && !fits_i64(number) {
                    let mut quoted: String = number.chars().take(QUOTED_DIGITS).collect();
                    if number.len() > QUOTED_DIGITS {
                        quoted.push_str(&format!("… ({} digits)", number.len()));
                    }
                    return Err(DetailProblem::IntegerOutOfRange(quoted));
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Whether the JSON integer `number` (an optional `-` and digits, no leading zeros) fits
/// in an `i64`.
fn fits_i64(number: &str) -> bool {
    let (negative, digits) = match number.strip_prefix('-') {
        Some(digits) => (true, digits),
        None => (false, number),
    };
    const MAX: &str = "9223372036854775807";
    const MIN_ABS: &str = "9223372036854775808";
    let limit = if negative { MIN_ABS } else { MAX };
    // Same length: digit strings compare like the numbers they spell.
    digits.len() < limit.len() || (digits.len() == limit.len() && digits <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_must_fit_in_i64_however_they_are_written() {
        let ok = |d: &str| check_detail(d).is_ok();
        assert!(ok(
            r#"{"a":9223372036854775807,"b":-9223372036854775808,"c":0,"d":-0}"#
        ));
        assert!(ok(
            r#"{"big":1e300,"dec":92233720368547758080.5,"neg":-1.5E-7}"#
        ));
        assert!(ok(
            r#"{"s":"99999999999999999999999","k\"99999999999999999999":1}"#
        ));
        for bad in [
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "-99999999999999999999",
            &"1".repeat(100),
        ] {
            let detail = format!(r#"{{"data":{{"x":[1,{{"n":{bad}}}]}}}}"#);
            assert!(
                matches!(
                    check_detail(&detail),
                    Err(DetailProblem::IntegerOutOfRange(_))
                ),
                "{bad}"
            );
        }
        let long = check_detail(&format!("{{\"n\":{}}}", "7".repeat(100))).unwrap_err();
        assert!(long.to_string().contains("(100 digits)"), "{long}");
    }

    #[test]
    fn nesting_is_limited_and_brackets_in_strings_do_not_count() {
        let nested = |levels: usize| {
            format!(
                "{}{}",
                r#"{"a":"#.repeat(levels - 1) + "{}",
                "}".repeat(levels - 1)
            )
        };
        assert_eq!(check_detail(&nested(MAX_DETAIL_DEPTH)), Ok(()));
        assert_eq!(
            check_detail(&nested(MAX_DETAIL_DEPTH + 1)),
            Err(DetailProblem::TooDeep)
        );
        let brackets = format!(r#"{{"s":"{}"}}"#, "[{".repeat(500));
        assert_eq!(check_detail(&brackets), Ok(()));
        let arrays = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(check_detail(&arrays), Err(DetailProblem::TooDeep));
    }
}
