//! `30-route-by-category`: a logbridge router that sends security events to one bus and
//! management-API events to another; everything else goes to the default bus.
//!
//! Bus names come from the sidecar `[config]` keys `security_bus` (default `security`)
//! and `audit_bus` (default `audit`). With `detail_type` set, every event this router
//! sees leaves with that detail-type (the default bus included) — a way to tell which
//! version of the routing rules handled an event.

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

struct Settings {
    security: String,
    audit: String,
    detail_type: Option<String>,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

fn settings() -> &'static Settings {
    SETTINGS.get_or_init(|| Settings {
        security: "security".into(),
        audit: "audit".into(),
        detail_type: None,
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
        let mut detail_type = None;
        for (key, value) in config {
            match key.as_str() {
                "security_bus" | "audit_bus" if value.trim().is_empty() => {
                    return Err(format!(
                        "`{key}` is empty; give the name or ARN of an event bus"
                    ));
                }
                "security_bus" => security = value,
                "audit_bus" => audit = value,
                "detail_type" if value.is_empty() || value.chars().count() > 128 => {
                    return Err(format!(
                        "`detail_type` must be 1 to 128 characters (EventBridge's limit), \
                         got {}",
                        value.chars().count()
                    ));
                }
                "detail_type" => detail_type = Some(value),
                other => {
                    return Err(format!(
                        "unknown config key `{other}`; known keys: `security_bus`, \
                         `audit_bus`, `detail_type`"
                    ));
                }
            }
        }
        SETTINGS
            .set(Settings {
                security,
                audit,
                detail_type,
            })
            .map_err(|_| "init called twice".to_string())
    }
}

/// One destination: `bus` (empty for the host's default bus), stamped with the
/// configured detail-type if there is one. With neither, no destination at all — the
/// host's default.
fn to(bus: &str) -> Vec<Destination> {
    let detail_type = settings().detail_type.clone();
    if bus.is_empty() && detail_type.is_none() {
        return Vec::new();
    }
    vec![Destination {
        bus: bus.to_string(),
        source: None,
        detail_type,
    }]
}

impl Router for RouteByCategory {
    fn route(event: Event) -> Vec<Destination> {
        let code = serde_json::from_str::<Detail>(&event.detail)
            .map(|detail| detail.data.code)
            .unwrap_or_default();
        let settings = settings();
        if SECURITY_TYPES.contains(&code.as_ref()) {
            to(&settings.security)
        } else if AUDIT_TYPES.contains(&code.as_ref()) {
            to(&settings.audit)
        } else {
            to("")
        }
    }
}

export!(RouteByCategory);
