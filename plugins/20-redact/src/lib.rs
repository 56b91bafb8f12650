//! `20-redact`: a logbridge transformer that masks personal data in Auth0 logs.
//!
//! - `data.user_name`: when it is an e-mail address, the local part becomes `***`
//!   (`jane.doe@example.com` → `***@example.com`); other user names are kept.
//! - `data.ip`: the last octet of an IPv4 address becomes `0` (`203.0.113.77` →
//!   `203.0.113.0`); the last 80 bits of an IPv6 address become zero, keeping the /48
//!   (`2001:db8:4aef:6d2e::e211` → `2001:db8:4aef::`). A value that is not an IP
//!   address is removed, since it cannot be masked safely.
//!
//! An event whose `detail` has no `data` object is refused with an error, which sends
//! it to the failure log rather than letting it through unredacted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use exports::logbridge::plugin::transformer::{Event, Guest as Transformer};
use logbridge::plugin::log::{Level, log};
use serde_json::{Map, Value};

wit_bindgen::generate!({
    path: "../../wit",
    world: "transformer-plugin",
});

/// Masks the local part of an e-mail address; `None` when `name` is not one.
fn mask_email(name: &str) -> Option<String> {
    let (local, domain) = name.rsplit_once('@')?;
    if local.is_empty() || domain.is_empty() {
        return None;
    }
    Some(format!("***@{domain}"))
}

/// Masks the host part of an IP address; `None` when `ip` is not one.
fn mask_ip(ip: &str) -> Option<String> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            Some(Ipv4Addr::new(a, b, c, 0).to_string())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 80) - 1);
            Some(Ipv6Addr::from(bits).to_string())
        }
    }
}

fn redact(log_data: &mut Map<String, Value>) {
    if let Some(Value::String(name)) = log_data.get_mut("user_name")
        && let Some(masked) = mask_email(name)
    {
        *name = masked;
    }
    match log_data.get("ip") {
        Some(Value::String(ip)) => match mask_ip(ip) {
            Some(masked) => {
                log_data.insert("ip".into(), Value::String(masked));
            }
            None => {
                log(
                    Level::Warn,
                    "removed an `ip` value that is not an IP address",
                );
                log_data.remove("ip");
            }
        },
        Some(Value::Null) | None => {}
        Some(_) => {
            log(Level::Warn, "removed an `ip` value that is not a string");
            log_data.remove("ip");
        }
    }
}

struct Redact;

impl Transformer for Redact {
    fn transform(mut event: Event) -> Result<Event, String> {
        let mut detail: Value = serde_json::from_str(&event.detail)
            .map_err(|e| format!("detail is not valid JSON: {e}"))?;
        let Some(Value::Object(data)) = detail.get_mut("data") else {
            return Err("detail has no `data` object; expected an Auth0 log record \
                        {\"log_id\": ..., \"data\": {...}}"
                .into());
        };
        redact(data);
        event.detail = detail.to_string();
        Ok(event)
    }
}

export!(Redact);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_email_local_part_only() {
        assert_eq!(
            mask_email("jane.doe@example.com").as_deref(),
            Some("***@example.com")
        );
        assert_eq!(
            mask_email("a@b@example.com").as_deref(),
            Some("***@example.com")
        );
        assert_eq!(mask_email("jane"), None);
        assert_eq!(mask_email("@example.com"), None);
    }

    #[test]
    fn masks_ip_host_bits() {
        assert_eq!(mask_ip("203.0.113.77").as_deref(), Some("203.0.113.0"));
        assert_eq!(
            mask_ip("2001:db8:4aef:6d2e::e211").as_deref(),
            Some("2001:db8:4aef::")
        );
        assert_eq!(mask_ip("not-an-ip"), None);
    }
}
