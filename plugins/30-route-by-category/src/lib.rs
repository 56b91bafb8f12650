//! `30-route-by-category`: a logbridge router that sends security events to one bus and
//! management-API events to another; everything else goes to the default bus.
//!
//! Bus names come from the sidecar `[config]` keys `security_bus` (default `security`)
//! and `audit_bus` (default `audit`). With `detail_type` set, every event this router
//! sees leaves with that detail-type (the default bus included) — a way to tell which
//! version of the routing rules handled an event.

use auth0_rules::Category;
use logbridge_plugin::{Config, ConfigError, Destination, Event, Reads, Result, Router, to};

struct RouteByCategory {
    security: String,
    audit: String,
    detail_type: Option<String>,
}

impl Reads for RouteByCategory {
    const FIELDS: &'static [&'static str] = &["data.type"];
}

/// The value of bus key `key`, which may not be blank.
fn bus(config: &Config, key: &str, default: &str) -> Result<String> {
    match config.str(key) {
        Some(bus) if bus.trim().is_empty() => {
            Err(ConfigError::new(key, "is empty; give the name or ARN of an event bus").into())
        }
        Some(bus) => Ok(bus.to_string()),
        None => Ok(default.to_string()),
    }
}

impl Router for RouteByCategory {
    fn init(config: &Config) -> Result<Self> {
        let detail_type = config.str("detail_type").map(String::from);
        if let Some(chars) = detail_type.as_ref().map(|d| d.chars().count())
            && !(1..=128).contains(&chars)
        {
            return Err(ConfigError::new(
                "detail_type",
                format!("must be 1 to 128 characters (EventBridge's limit), got {chars}"),
            )
            .into());
        }
        Ok(RouteByCategory {
            security: bus(config, "security_bus", "security")?,
            audit: bus(config, "audit_bus", "audit")?,
            detail_type,
        })
    }

    fn route(&self, event: &Event) -> Result<Vec<Destination>> {
        let code = event.str("data.type")?.unwrap_or_default();
        let bus = match auth0_rules::category(&code) {
            Category::Security => &self.security,
            Category::Audit => &self.audit,
            Category::Other => "",
        };
        // No bus and no detail-type: no destination at all, the host's default.
        if bus.is_empty() && self.detail_type.is_none() {
            return Ok(Vec::new());
        }
        Ok(vec![Destination {
            detail_type: self.detail_type.clone(),
            ..to(bus)
        }])
    }
}

logbridge_plugin::export!(RouteByCategory: Router);
