//! The value kinds a pattern compares with: numbers as EventBridge compares them, IP
//! addresses and CIDR blocks, and wildcard strings.

use serde_json::Number;

/// A number EventBridge can compare: the double it is exactly, or `None` when the number
/// has no exact double form (such a number only matches its own spelling).
pub(crate) fn comparable(n: &Number) -> Option<f64> {
    let value = if let Some(i) = n.as_i64() {
        let f = i as f64;
        (f as i128 == i as i128 && f.abs() < 9.3e18).then_some(f)?
    } else if let Some(u) = n.as_u64() {
        let f = u as f64;
        (f < 1.8e19 && f as u128 == u as u128).then_some(f)?
    } else {
        n.as_f64()?
    };
    // EventBridge compares decimals: there is no negative zero.
    Some(if value == 0.0 { 0.0 } else { value })
}

/// A total order on doubles as unsigned integers (negative numbers below positive ones).
pub(crate) fn order_key(f: f64) -> u128 {
    let bits = f.to_bits();
    let key = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    u128::from(key)
}

/// The error AWS gives for a number it cannot compare.
pub(crate) fn not_comparable(n: &Number) -> String {
    format!("Cannot compare number : {n}")
}

/// An IP address: IPv4 and IPv6 are different spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ip {
    V4(u32),
    V6(u128),
}

fn looks_like_v4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn looks_like_v6(s: &str) -> bool {
    s.contains(':') && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
}

fn parse_v4(s: &str) -> Option<u32> {
    let mut out = 0u32;
    for part in s.split('.') {
        let octet: u32 = part.parse().ok()?;
        if octet > 255 {
            return None;
        }
        out = out << 8 | octet;
    }
    Some(out)
}

fn parse_v6(s: &str) -> Option<u128> {
    fn groups(part: &str) -> Option<Vec<u16>> {
        if part.is_empty() {
            return Some(Vec::new());
        }
        part.split(':')
            .map(|g| {
                if g.is_empty() || g.len() > 4 {
                    None
                } else {
                    u16::from_str_radix(g, 16).ok()
                }
            })
            .collect()
    }
    let all: Vec<u16> = match s.split_once("::") {
        Some((head, tail)) => {
            if tail.contains("::") {
                return None;
            }
            let (head, tail) = (groups(head)?, groups(tail)?);
            if head.len() + tail.len() > 7 {
                return None;
            }
            let mut all = head;
            all.resize(8 - tail.len(), 0);
            all.extend(tail);
            all
        }
        None => groups(s)?,
    };
    if all.len() != 8 {
        return None;
    }
    Some(all.iter().fold(0u128, |acc, g| acc << 16 | u128::from(*g)))
}

/// Reads an IP address literal the way EventBridge does: `Err` carries AWS's reason.
pub(crate) fn parse_ip(s: &str) -> Result<Ip, String> {
    let ip = if looks_like_v4(s) {
        parse_v4(s).map(Ip::V4)
    } else if looks_like_v6(s) {
        parse_v6(s).map(|v6| {
            // An IPv4-mapped IPv6 address is the IPv4 address.
            if v6 >> 32 == 0xffff {
                Ip::V4(v6 as u32)
            } else {
                Ip::V6(v6)
            }
        })
    } else {
        return Err(format!("Nonstandard IP address: {s}"));
    };
    ip.ok_or_else(|| format!("Invalid IP address: {s}"))
}

/// An inclusive range of addresses in one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpRange {
    pub v6: bool,
    pub lo: u128,
    pub hi: u128,
}

impl IpRange {
    /// The range holding exactly `ip`.
    pub(crate) fn single(ip: Ip) -> IpRange {
        let (v6, key) = ip_key(ip);
        IpRange {
            v6,
            lo: key,
            hi: key,
        }
    }

    /// Whether `ip` lies in the range.
    pub(crate) fn contains(&self, ip: Ip) -> bool {
        let (v6, key) = ip_key(ip);
        v6 == self.v6 && self.lo <= key && key <= self.hi
    }
}

/// An address as its family and a number.
pub(crate) fn ip_key(ip: Ip) -> (bool, u128) {
    match ip {
        Ip::V4(v4) => (false, u128::from(v4)),
        Ip::V6(v6) => (true, v6),
    }
}

/// Reads a CIDR block (`10.0.0.0/24`, `2001:db8::/32`) with AWS's checks and reasons.
pub(crate) fn parse_cidr(s: &str) -> Result<IpRange, String> {
    // Split on '/' and drop trailing empty parts, as AWS's reader does.
    let mut parts: Vec<&str> = s.split('/').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts.len() != 2 {
        return Err("Malformed CIDR, one '/' required".into());
    }
    let bits: i32 = parts[1]
        .parse()
        .map_err(|_| "Malformed CIDR, mask bits must be an integer".to_string())?;
    if bits < 0 {
        return Err("Malformed CIDR, mask bits must not be negative".into());
    }
    let ip = parse_ip(parts[0])?;
    let (v6, key, width) = match ip {
        Ip::V4(_) if bits > 31 => return Err("IPv4 mask bits must be < 32".into()),
        Ip::V4(v4) => (false, u128::from(v4), 32),
        Ip::V6(_) if bits > 127 => return Err("IPv6 mask bits must be < 128".into()),
        Ip::V6(v6) => (true, v6, 128),
    };
    let host_bits = width - bits as u32;
    let host_mask: u128 = if host_bits == 0 {
        0
    } else {
        (1u128 << host_bits) - 1
    };
    Ok(IpRange {
        v6,
        lo: key & !host_mask,
        hi: key | host_mask,
    })
}

/// One piece of a wildcard pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Piece {
    Byte(u8),
    Star,
}

/// A wildcard pattern: `*` stands for any run of characters, `\*` and `\\` for themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wildcard(pub Vec<Piece>);

impl Wildcard {
    /// Reads a wildcard pattern; `Err` carries AWS's reason (positions count the opening
    /// quote, as AWS's do).
    pub(crate) fn parse(text: &str) -> Result<Wildcard, String> {
        let bytes = text.as_bytes();
        let mut pieces = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'*' if bytes.get(i + 1) == Some(&b'*') => {
                    return Err(format!("Consecutive wildcard characters at pos {}", i + 1));
                }
                b'*' => pieces.push(Piece::Star),
                b'\\' => match bytes.get(i + 1) {
                    Some(&next @ (b'*' | b'\\')) => {
                        pieces.push(Piece::Byte(next));
                        i += 1;
                    }
                    _ => return Err(format!("Invalid escape character at pos {}", i + 1)),
                },
                b => pieces.push(Piece::Byte(b)),
            }
            i += 1;
        }
        Ok(Wildcard(pieces))
    }

    /// Whether `s` matches, in time linear in `s` times the pattern.
    pub(crate) fn matches(&self, s: &str) -> bool {
        let (p, s) = (&self.0, s.as_bytes());
        let (mut pi, mut si) = (0, 0);
        let mut back: Option<(usize, usize)> = None;
        while si < s.len() {
            match p.get(pi) {
                Some(Piece::Star) => {
                    back = Some((pi, si));
                    pi += 1;
                }
                Some(Piece::Byte(b)) if *b == s[si] => {
                    pi += 1;
                    si += 1;
                }
                _ => match back {
                    Some((star, from)) => {
                        pi = star + 1;
                        si = from + 1;
                        back = Some((star, from + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|piece| *piece == Piece::Star)
    }
}

/// How many places in a set of wildcard patterns one worst-case input can be at once: the
/// measure AWS limits so a rule cannot make matching slow.
pub(crate) fn complexity(patterns: &[&Wildcard]) -> usize {
    use std::collections::{BTreeSet, HashSet, VecDeque};
    type State = Vec<(usize, usize)>;
    let closure = |set: &mut BTreeSet<(usize, usize)>| {
        let mut stack: Vec<(usize, usize)> = set.iter().copied().collect();
        while let Some((w, i)) = stack.pop() {
            if patterns[w].0.get(i) == Some(&Piece::Star) && set.insert((w, i + 1)) {
                stack.push((w, i + 1));
            }
        }
    };
    let mut alphabet: BTreeSet<u8> = patterns
        .iter()
        .flat_map(|w| w.0.iter())
        .filter_map(|p| match p {
            Piece::Byte(b) => Some(*b),
            Piece::Star => None,
        })
        .collect();
    alphabet.insert(0);
    let mut start: BTreeSet<(usize, usize)> = (0..patterns.len()).map(|w| (w, 0)).collect();
    closure(&mut start);
    let start: State = start.into_iter().collect();
    let mut seen: HashSet<State> = HashSet::from([start.clone()]);
    let mut queue = VecDeque::from([start]);
    let mut worst = 0;
    while let Some(state) = queue.pop_front() {
        // Only places that can still reach a wildcard's match count.
        worst = worst.max(
            state
                .iter()
                .filter(|(w, i)| *i < patterns[*w].0.len())
                .count(),
        );
        if seen.len() > 20_000 {
            break;
        }
        for &b in &alphabet {
            let mut next = BTreeSet::new();
            for &(w, i) in &state {
                match patterns[w].0.get(i) {
                    Some(Piece::Star) => {
                        next.insert((w, i));
                    }
                    Some(Piece::Byte(c)) if *c == b => {
                        next.insert((w, i + 1));
                    }
                    _ => {}
                }
            }
            closure(&mut next);
            let next: State = next.into_iter().collect();
            if !next.is_empty() && seen.insert(next.clone()) {
                queue.push_back(next);
            }
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complexity_of(text: &str) -> usize {
        complexity(&[&Wildcard::parse(text).unwrap()])
    }

    #[test]
    fn wildcard_complexity_separates_what_aws_accepts_from_what_it_refuses() {
        for accepted in [
            "arn:aws:events:us-east-1:*:event-bus/*",
            "/Users/*/dir/dir/dir/dir/dir/doc.txt",
            "/Users/*/doc.txt",
            "*/dir/*",
        ] {
            let c = complexity_of(accepted);
            eprintln!("{accepted}: {c}");
            assert!(c <= crate::MAX_WILDCARD_COMPLEXITY, "{accepted}: {c}");
        }
        let c = complexity_of("*:*:*:*:*:event-bus/*");
        eprintln!("refused: {c}");
        assert!(c > crate::MAX_WILDCARD_COMPLEXITY);
    }

    #[test]
    fn wildcards_match_like_globs() {
        let w = Wildcard::parse("a*b*c").unwrap();
        assert!(w.matches("abc") && w.matches("aXbYc") && w.matches("abbbc"));
        assert!(!w.matches("ab") && !w.matches("acb"));
        assert!(Wildcard::parse("").unwrap().matches(""));
        assert!(!Wildcard::parse("").unwrap().matches("x"));
        assert!(Wildcard::parse("*").unwrap().matches(""));
    }

    #[test]
    fn cidr_blocks_cover_their_addresses() {
        let block = parse_cidr("10.1.0.0/16").unwrap();
        assert!(block.contains(parse_ip("10.1.255.3").unwrap()));
        assert!(!block.contains(parse_ip("10.2.0.0").unwrap()));
        let v6 = parse_cidr("2001:db8::/32").unwrap();
        assert!(v6.contains(parse_ip("2001:db8:1::").unwrap()));
        assert!(!v6.contains(parse_ip("10.1.0.0").unwrap()));
        assert_eq!(parse_ip("::ffff:a01:203"), Ok(Ip::V4(0x0a01_0203)));
    }
}
