//! The rules of the three example plugins — drop noisy log types, redact personal data,
//! route by category — as plain Rust over an event's `detail` JSON.
//!
//! The plugins in `10-drop-noise`, `20-redact` and `30-route-by-category` are thin
//! WebAssembly wrappers around these functions, and the host's benchmark runs the very
//! same functions natively as its baseline, so the two differ only in where they run.
//!
//! Everything reads the detail with a typed, borrowing parse: only the fields a rule needs
//! are picked out, nothing else is built. [`redact`] edits the text in place — the log
//! stays byte for byte what Auth0 sent except for the values it masks.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr};
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Log types dropped when the filter is not configured: failed and successful token
/// exchanges that repeat on every refresh, and management API reads.
pub const DEFAULT_DROP_TYPES: &[&str] = &["seacft", "seccft", "sertft", "mgmt_api_read"];

/// Auth0 log types routed to the security bus: failed logins and signups, failed token
/// exchanges, password changes, rate limits, breached passwords and failed MFA.
pub const SECURITY_TYPES: &[&str] = &[
    "f",
    "fp",
    "fu",
    "fs",
    "feacft",
    "feccft",
    "fertft",
    "fcp",
    "limit_wc",
    "limit_mu",
    "pwd_leak",
    "gd_auth_failed",
];

/// Auth0 log types routed to the audit bus: management API calls, successful or not.
pub const AUDIT_TYPES: &[&str] = &["sapi", "fapi"];

#[derive(Deserialize)]
struct TypeOf<'a> {
    #[serde(borrow)]
    data: LogType<'a>,
}

#[derive(Deserialize)]
struct LogType<'a> {
    #[serde(rename = "type", borrow)]
    code: Cow<'a, str>,
}

/// The Auth0 log type code (`data.type`) of an event's detail; `None` when the detail is
/// not JSON or has no string `data.type`.
pub fn log_type(detail: &str) -> Option<Cow<'_, str>> {
    serde_json::from_str::<TypeOf>(detail)
        .ok()
        .map(|detail| detail.data.code)
}

/// Where a log type is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// One of [`SECURITY_TYPES`].
    Security,
    /// One of [`AUDIT_TYPES`].
    Audit,
    /// Anything else: the default bus.
    Other,
}

/// The category of log type `code`.
pub fn category(code: &str) -> Category {
    if SECURITY_TYPES.contains(&code) {
        Category::Security
    } else if AUDIT_TYPES.contains(&code) {
        Category::Audit
    } else {
        Category::Other
    }
}

/// Masks the local part of an e-mail address; `None` when `name` is not one.
pub fn mask_email(name: &str) -> Option<String> {
    let (local, domain) = name.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    let mut masked = String::with_capacity(4 + domain.len());
    masked.push_str("***@");
    masked.push_str(domain);
    Some(masked)
}

/// Masks the host part of an IP address: the last octet of IPv4, everything past the /48
/// of IPv6. `None` when `ip` is not an IP address.
pub fn mask_ip(ip: &str) -> Option<String> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            // Written out by hand, as is IPv6: this runs on every log, and formatting
            // machinery is dear inside a plugin.
            let mut masked = String::with_capacity(15);
            for octet in &v4.octets()[..3] {
                push_decimal(&mut masked, *octet);
                masked.push('.');
            }
            masked.push('0');
            Some(masked)
        }
        IpAddr::V6(v6) => Some(mask_ipv6(v6)),
    }
}

/// `ip` with its last 80 bits zero (the /48 kept), written as the standard library
/// writes it (RFC 5952: lowercase hexadecimal, the longest run of zero groups as `::`).
/// Only the first three groups can be non-zero, so that run is always the one that ends
/// the address: the groups up to the last non-zero one, then `::`.
fn mask_ipv6(ip: Ipv6Addr) -> String {
    let groups = ip.segments();
    let kept = groups[..3]
        .iter()
        .rposition(|&g| g != 0)
        .map_or(0, |last| last + 1);
    let mut masked = String::with_capacity(16);
    for (k, group) in groups[..kept].iter().enumerate() {
        if k > 0 {
            masked.push(':');
        }
        push_hex(&mut masked, *group);
    }
    masked.push_str("::");
    masked
}

/// Appends `n` in lowercase hexadecimal, without leading zeros, to `out`.
fn push_hex(out: &mut String, n: u16) {
    let digits = (16 - n.leading_zeros()).div_ceil(4).max(1);
    for k in (0..digits).rev() {
        let nibble = (n >> (4 * k)) & 0xf;
        out.push(char::from_digit(u32::from(nibble), 16).expect("a nibble"));
    }
}

/// Appends `n` in decimal to `out`.
fn push_decimal(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + n / 10 % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

/// What [`redact`] made of a detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The new detail; `None` when nothing needed masking and the detail is unchanged.
    pub detail: Option<String>,
    /// Set when an `ip` value was removed because it could not be masked.
    pub warning: Option<&'static str>,
}

const NOT_AN_IP: &str = "removed an `ip` value that is not an IP address";
const IP_NOT_A_STRING: &str = "removed an `ip` value that is not a string";

/// Masks personal data in an Auth0 log record `{"log_id": ..., "data": {...}}`:
/// `data.user_name`, when it is an e-mail address, keeps only its domain
/// (`***@example.com`); `data.ip` keeps its network part (IPv4 /24, IPv6 /48); an `ip`
/// that is not an IP address is removed, since it cannot be masked safely.
///
/// # Errors
/// The detail is not JSON, or has no `data` object: such an event must not go on
/// unredacted.
pub fn redact(detail: &str) -> Result<Redacted, String> {
    match redact_in_place(detail) {
        Some(redacted) => Ok(redacted),
        None => redact_by_value(detail),
    }
}

#[derive(Deserialize)]
struct Spans<'a> {
    #[serde(borrow)]
    data: DataSpans<'a>,
}

#[derive(Deserialize)]
struct DataSpans<'a> {
    #[serde(borrow, default)]
    user_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    ip: Option<&'a RawValue>,
}

/// Where `raw`, a slice of `detail`, sits in it.
fn span_of(detail: &str, raw: &RawValue) -> Range<usize> {
    let start = raw.get().as_ptr() as usize - detail.as_ptr() as usize;
    start..start + raw.get().len()
}

/// A JSON string's value, borrowed when it has no escapes; `None` for other values.
fn string_value(raw: &RawValue) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(raw.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(raw.get())
            .ok()
            .map(Cow::Owned),
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The text to cut to remove member `"key": value` whose value spans `value`, with the
/// comma that separates it from a neighbour; `None` when the key is not written plainly
/// as `"key"` (escapes), which leaves the edit to [`redact_by_value`].
fn member_span(detail: &str, key: &str, value: Range<usize>) -> Option<Range<usize>> {
    let bytes = detail.as_bytes();
    let back = |mut at: usize| {
        while at > 0 && is_space(bytes[at - 1]) {
            at -= 1;
        }
        at
    };
    let colon = back(value.start);
    if colon == 0 || bytes[colon - 1] != b':' {
        return None;
    }
    let key_end = back(colon - 1);
    let quoted_len = key.len() + 2;
    if key_end < quoted_len
        || &detail[key_end - quoted_len..key_end] != format!("\"{key}\"").as_str()
    {
        return None;
    }
    let key_start = key_end - quoted_len;
    let before = back(key_start);
    match bytes.get(before.wrapping_sub(1)) {
        Some(b',') => Some(before - 1..value.end),
        Some(b'{') => {
            let mut after = value.end;
            while after < bytes.len() && is_space(bytes[after]) {
                after += 1;
            }
            match bytes.get(after) {
                Some(b',') => {
                    after += 1;
                    while after < bytes.len() && is_space(bytes[after]) {
                        after += 1;
                    }
                    Some(key_start..after)
                }
                Some(b'}') => Some(key_start..value.end),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The fast path: finds `user_name` and `ip` with a borrowing parse and splices the masked
/// values into the original text. `None` when the detail is anything but a plain record
/// (not JSON, no `data` object, repeated keys, escaped keys): [`redact_by_value`] then
/// decides, and reports the error if there is one.
fn redact_in_place(detail: &str) -> Option<Redacted> {
    let spans: Spans = serde_json::from_str(detail).ok()?;
    let mut edits: Vec<(Range<usize>, Cow<'static, str>)> = Vec::with_capacity(2);
    let mut warning = None;
    if let Some(raw) = spans.data.user_name
        && let Some(name) = string_value(raw)
        && let Some(masked) = mask_email(&name)
    {
        let quoted = serde_json::to_string(&masked).ok()?;
        edits.push((span_of(detail, raw), Cow::Owned(quoted)));
    }
    if let Some(raw) = spans.data.ip {
        let masked = match string_value(raw) {
            Some(ip) => match mask_ip(&ip) {
                Some(masked) => Some(masked),
                None => {
                    warning = Some(NOT_AN_IP);
                    None
                }
            },
            None => {
                warning = Some(IP_NOT_A_STRING);
                None
            }
        };
        match masked {
            Some(masked) => {
                edits.push((span_of(detail, raw), Cow::Owned(format!("\"{masked}\""))));
            }
            None => {
                let member = member_span(detail, "ip", span_of(detail, raw))?;
                edits.push((member, Cow::Borrowed("")));
            }
        }
    }
    if edits.is_empty() {
        return Some(Redacted {
            detail: None,
            warning,
        });
    }
    edits.sort_by_key(|(range, _)| range.start);
    let mut out = String::with_capacity(detail.len());
    let mut at = 0;
    for (range, text) in &edits {
        out.push_str(&detail[at..range.start]);
        out.push_str(text);
        at = range.end;
    }
    out.push_str(&detail[at..]);
    Some(Redacted {
        detail: Some(out),
        warning,
    })
}

/// The general path: parses the whole detail into a [`Value`], edits it, writes it out.
/// Slower, but it takes any JSON; key order is kept when serde_json's `preserve_order`
/// feature is on (the redact plugin turns it on).
fn redact_by_value(detail: &str) -> Result<Redacted, String> {
    let mut value: Value =
        serde_json::from_str(detail).map_err(|e| format!("detail is not valid JSON: {e}"))?;
    let Some(Value::Object(data)) = value.get_mut("data") else {
        return Err("detail has no `data` object; expected an Auth0 log record \
                    {\"log_id\": ..., \"data\": {...}}"
            .into());
    };
    let warning = redact_map(data);
    Ok(Redacted {
        detail: Some(value.to_string()),
        warning,
    })
}

fn redact_map(data: &mut Map<String, Value>) -> Option<&'static str> {
    if let Some(Value::String(name)) = data.get_mut("user_name")
        && let Some(masked) = mask_email(name)
    {
        *name = masked;
    }
    match data.get("ip") {
        Some(Value::String(ip)) => match mask_ip(ip) {
            Some(masked) => {
                data.insert("ip".into(), Value::String(masked));
                None
            }
            None => {
                data.remove("ip");
                Some(NOT_AN_IP)
            }
        },
        Some(Value::Null) | None => None,
        Some(_) => {
            data.remove("ip");
            Some(IP_NOT_A_STRING)
        }
    }
}

#[cfg(test)]
mod tests;
