//! `10-drop-noise`: a logbridge filter that drops high-volume, low-value Auth0 log types.
//!
//! EventBridge bills per event, and a tenant's token exchanges and management-API reads
//! can outnumber every other log many times over. The types to drop come from the
//! `drop_types` key of the sidecar `[config]` table (comma-separated); without it, the
//! defaults in `auth0_rules::DEFAULT_DROP_TYPES` apply. An event whose log type cannot be read is
//! kept: a filter that is unsure never throws data away.

use std::collections::HashSet;
use std::sync::OnceLock;

use exports::logbridge::plugin::filter::{Event, Guest as Filter};
use exports::logbridge::plugin::filter_detail::Guest as FilterDetail;
use exports::logbridge::plugin::lifecycle::Guest as Lifecycle;
use logbridge::plugin::log::{Level, log};

wit_bindgen::generate!({
    path: "../../wit",
    world: "configurable-filter-detail-plugin",
});

static DROP_TYPES: OnceLock<HashSet<String>> = OnceLock::new();

fn default_drop_types() -> HashSet<String> {
    auth0_rules::DEFAULT_DROP_TYPES
        .iter()
        .map(|t| t.to_string())
        .collect()
}

fn drop_types() -> &'static HashSet<String> {
    DROP_TYPES.get_or_init(default_drop_types)
}

struct DropNoise;

impl Lifecycle for DropNoise {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let mut types = None;
        for (key, value) in config {
            match key.as_str() {
                "drop_types" => {
                    let list: HashSet<String> = value
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect();
                    types = Some(list);
                }
                other => {
                    return Err(format!(
                        "unknown config key `{other}`; the only key is `drop_types` \
                         (comma-separated Auth0 log type codes)"
                    ));
                }
            }
        }
        let types = types.unwrap_or_else(default_drop_types);
        log(Level::Info, &format!("dropping {} log types", types.len()));
        DROP_TYPES
            .set(types)
            .map_err(|_| "init called twice".to_string())
    }
}

/// Whether to keep an event with this detail.
fn keep(detail: &str) -> bool {
    match auth0_rules::log_type(detail) {
        Some(code) => !drop_types().contains(code.as_ref()),
        None => true,
    }
}

impl Filter for DropNoise {
    fn filter(event: Event) -> bool {
        keep(&event.detail)
    }
}

/// The light form the host prefers: only the detail crosses into the plugin.
impl FilterDetail for DropNoise {
    fn filter_detail(detail: String) -> bool {
        keep(&detail)
    }
}

export!(DropNoise);
