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
//!
//! It declares the two fields, so the host hands it only those and keeps the rest of the
//! log byte for byte; it answers with edits of the two.

use logbridge_plugin::{Config, Edits, Event, Raw, Reads, Result, Transformer, log};

struct Redact;

impl Reads for Redact {
    const FIELDS: &'static [&'static str] = &["data.user_name", "data.ip"];
}

impl Transformer for Redact {
    fn init(_: &Config) -> Result<Self> {
        Ok(Redact)
    }

    fn transform(&self, event: &Event) -> Result<Edits> {
        // One pass over what the host hands over finds all three.
        let [data, user_name, ip] = event.raws(["data", "data.user_name", "data.ip"])?;
        if !data.is_some_and(Raw::is_object) {
            return Err("detail has no `data` object; expected an Auth0 log record \
                        {\"log_id\": ..., \"data\": {...}}"
                .into());
        }
        let mut edits = Edits::new();
        if let Some(name) = user_name.and_then(Raw::as_str)
            && let Some(masked) = auth0_rules::mask_email(&name)
        {
            edits.set("data.user_name", masked);
        }
        // `null` is no address to leak: left as it is, like an absent one.
        if let Some(ip) = ip.filter(|ip| !ip.is_null()) {
            match ip.as_str().and_then(|ip| auth0_rules::mask_ip(&ip)) {
                Some(masked) => {
                    edits.set("data.ip", masked);
                }
                None => {
                    log::warn(removed(ip));
                    edits.remove("data.ip");
                }
            }
        }
        Ok(edits)
    }
}

/// The warning for an `ip` value that cannot be masked.
fn removed(ip: Raw<'_>) -> &'static str {
    if ip.is_string() {
        "removed an `ip` value that is not an IP address"
    } else {
        "removed an `ip` value that is not a string"
    }
}

logbridge_plugin::export!(Redact: Transformer);
