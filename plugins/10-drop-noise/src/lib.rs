//! `10-drop-noise`: a logbridge filter that drops high-volume, low-value Auth0 log types.
//!
//! EventBridge bills per event, and a tenant's token exchanges and management-API reads
//! can outnumber every other log many times over. The types to drop come from the
//! `drop_types` key of the sidecar `[config]` table (comma-separated); without it, the
//! defaults in `auth0_rules::DEFAULT_DROP_TYPES` apply. An event whose log type cannot be
//! read is kept: a filter that is unsure never throws data away.

use logbridge_plugin::{Config, Event, Filter, Reads, Result, log};

struct DropNoise {
    types: Vec<String>,
}

impl Reads for DropNoise {
    const FIELDS: &'static [&'static str] = &["data.type"];
}

impl Filter for DropNoise {
    fn init(config: &Config) -> Result<Self> {
        let types = config
            .list("drop_types")
            .unwrap_or_else(|| auth0_rules::DEFAULT_DROP_TYPES.to_vec());
        log::info(&format!("dropping {} log types", types.len()));
        Ok(DropNoise {
            types: types.into_iter().map(String::from).collect(),
        })
    }

    fn filter(&self, event: &Event) -> Result<bool> {
        Ok(event
            .str("data.type")?
            .is_none_or(|code| !self.types.iter().any(|t| *t == code)))
    }
}

logbridge_plugin::export!(DropNoise: Filter);
