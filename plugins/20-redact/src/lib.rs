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
//! The rules live in the `auth0-rules` crate: a borrowing parse finds the two values and
//! the masked ones are spliced into the original text, so the rest of the log is passed on
//! byte for byte and nothing else is built.

use exports::logbridge::plugin::transformer::{Event, Guest as Transformer};
use exports::logbridge::plugin::transformer_detail::Guest as TransformerDetail;
use logbridge::plugin::log::{Level, log};

wit_bindgen::generate!({
    path: "../../wit",
    world: "transformer-detail-plugin",
});

struct Redact;

/// The redacted detail, or `detail` itself when nothing needed masking.
fn redact(detail: String) -> Result<String, String> {
    let redacted = auth0_rules::redact(&detail)?;
    if let Some(warning) = redacted.warning {
        log(Level::Warn, warning);
    }
    Ok(redacted.detail.unwrap_or(detail))
}

impl Transformer for Redact {
    fn transform(mut event: Event) -> Result<Event, String> {
        event.detail = redact(std::mem::take(&mut event.detail))?;
        Ok(event)
    }
}

/// The light form the host prefers: only the detail crosses, both ways.
impl TransformerDetail for Redact {
    fn transform_detail(detail: String) -> Result<String, String> {
        redact(detail)
    }
}

export!(Redact);
