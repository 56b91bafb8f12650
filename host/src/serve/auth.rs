//! Who may do what: posting logs takes the exact `Authorization` value the log stream
//! sends; reading — the health page, its JSON, metrics — also takes HTTP Basic with that
//! value (or its token after the scheme) as the password, so a person's browser can open
//! them.

use super::receiver::same_secret;

/// The challenge a refused read answers with, so a browser asks for a user and password.
pub(super) const CHALLENGE: &str = "Basic realm=\"logbridge\", charset=\"UTF-8\"";

/// Whether the `Authorization` header `given` may post (`reading` false) or read
/// (`reading` true) when `expected` is configured. Every comparison is made in constant
/// time, and all of them are made whatever the first one found.
pub(super) fn authorized(given: &[u8], expected: &str, reading: bool) -> bool {
    let exact = same_secret(given, expected.as_bytes());
    if !reading {
        return exact;
    }
    let basic = basic_password(given).is_some_and(|password| {
        let whole = same_secret(&password, expected.as_bytes());
        let token = expected
            .split_once(' ')
            .is_some_and(|(_, token)| same_secret(&password, token.trim_start().as_bytes()));
        whole | token
    });
    exact | basic
}

/// The password of a `Basic` header (any user name); `None` for any other header.
fn basic_password(header: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(header).ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(encoded.trim())?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some(decoded[colon + 1..].to_vec())
}

/// Standard base64 (padding optional); `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().take_while(|&c| c != b'=') {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Bearer s3cret";

    #[test]
    fn a_browser_reads_with_basic_and_the_token_as_password() {
        // "anyone:s3cret", "me:Bearer s3cret", "x:wrong"
        assert!(authorized(b"Basic YW55b25lOnMzY3JldA==", SECRET, true));
        assert!(authorized(b"basic bWU6QmVhcmVyIHMzY3JldA", SECRET, true));
        assert!(!authorized(b"Basic eDp3cm9uZw==", SECRET, true));
        assert!(!authorized(b"Basic !!!", SECRET, true));
        assert!(!authorized(b"", SECRET, true));
        assert!(
            authorized(SECRET.as_bytes(), SECRET, true),
            "the exact value reads too"
        );
    }

    #[test]
    fn posting_takes_only_the_exact_value() {
        assert!(authorized(SECRET.as_bytes(), SECRET, false));
        assert!(!authorized(b"Basic YW55b25lOnMzY3JldA==", SECRET, false));
        assert!(!authorized(b"s3cret", SECRET, false));
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert_eq!(base64_decode("").unwrap(), b"");
    }
}
