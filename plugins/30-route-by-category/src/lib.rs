//! `30-route-by-category`: a logbridge router that sends security events to one bus and
//! management-API events to another; everything else goes to the default bus.
//!
//! Bus names come from the sidecar `[config]` keys `security_bus` (default `security`)
//! and `audit_bus` (default `audit`).

use std::borrow::Cow;
use std::sync::OnceLock;

use exports::logbridge::plugin::lifecycle::Guest as Lifecycle;
use exports::logbridge::plugin::router::{Destination, Event, Guest as Router};
use serde::Deserialize;

wit_bindgen::generate!({
    path: "../../wit",
    world: "configurable-router-plugin",
});

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

struct Buses {
    security: String,
    audit: String,
}

static BUSES: OnceLock<Buses> = OnceLock::new();

fn buses() -> &'static Buses {
    BUSES.get_or_init(|| Buses {
        security: "security".into(),
        audit: "audit".into(),
    })
}

/// The one field this router reads: `detail.data.type`.
#[derive(Deserialize)]
struct Detail<'a> {
    #[serde(borrow)]
    data: Log<'a>,
}

#[derive(Deserialize)]
struct Log<'a> {
    #[serde(rename = "type", borrow)]
    code: Cow<'a, str>,
}

struct RouteByCategory;

impl Lifecycle for RouteByCategory {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let mut security = "security".to_string();
        let mut audit = "audit".to_string();
        for (key, value) in config {
            let slot = match key.as_str() {
                "security_bus" => &mut security,
                "audit_bus" => &mut audit,
                other => {
                    return Err(format!(
                        "unknown config key `{other}`; known keys: `security_bus`, `audit_bus`"
                    ));
                }
            };
            if value.trim().is_empty() {
                return Err(format!(
                    "`{key}` is empty; give the name or ARN of an event bus"
                ));
            }
            *slot = value;
        }
        BUSES
            .set(Buses { security, audit })
            .map_err(|_| "init called twice".to_string())
    }
}

fn to(bus: &str) -> Vec<Destination> {
    vec![Destination {
        bus: bus.to_string(),
        source: None,
        detail_type: None,
    }]
}

impl Router for RouteByCategory {
    fn route(event: Event) -> Vec<Destination> {
        let Ok(detail) = serde_json::from_str::<Detail>(&event.detail) else {
            return Vec::new();
        };
        let code = detail.data.code.as_ref();
        if SECURITY_TYPES.contains(&code) {
            to(&buses().security)
        } else if AUDIT_TYPES.contains(&code) {
            to(&buses().audit)
        } else {
            Vec::new()
        }
    }
}

export!(RouteByCategory);
