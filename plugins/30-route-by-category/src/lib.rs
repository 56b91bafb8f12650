//! `30-route-by-category`: a logbridge router that sends security events to one bus and
//! management-API events to another; everything else goes to the default bus.
//!
//! Bus names come from the sidecar `[config]` keys `security_bus` (default `security`)
//! and `audit_bus` (default `audit`). With `detail_type` set, every event this router
//! sees leaves with that detail-type (the default bus included) — a way to tell which
//! version of the routing rules handled an event.

use std::sync::OnceLock;

use auth0_rules::Category;
use exports::logbridge::plugin::lifecycle::Guest as Lifecycle;
use exports::logbridge::plugin::router::{Destination, Event, Guest as Router};
use exports::logbridge::plugin::router_detail::Guest as RouterDetail;

wit_bindgen::generate!({
    path: "../../wit",
    world: "configurable-router-detail-plugin",
});

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

/// Where an event with this detail goes.
fn route(detail: &str) -> Vec<Destination> {
    let code = auth0_rules::log_type(detail).unwrap_or_default();
    let settings = settings();
    match auth0_rules::category(&code) {
        Category::Security => to(&settings.security),
        Category::Audit => to(&settings.audit),
        Category::Other => to(""),
    }
}

impl Router for RouteByCategory {
    fn route(event: Event) -> Vec<Destination> {
        route(&event.detail)
    }
}

/// The light form the host prefers: only the detail crosses into the plugin.
impl RouterDetail for RouteByCategory {
    fn route_detail(detail: String) -> Vec<Destination> {
        route(&detail)
    }
}

export!(RouteByCategory);
