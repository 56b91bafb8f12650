//! Test fixture: a router that sends events whose id starts with `hostile` to a bus that
//! does not exist (`no-such-bus`, or the sidecar's `bus`), and has no opinion on the rest.

use std::sync::OnceLock;

use exports::logbridge::plugin::lifecycle::Guest as Lifecycle;
use exports::logbridge::plugin::router::{Destination, Event, Guest as Router};

wit_bindgen::generate!({
    path: "../../../wit",
    world: "configurable-router-plugin",
});

static BUS: OnceLock<String> = OnceLock::new();

struct HostileRouter;

impl Lifecycle for HostileRouter {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let mut bus = "no-such-bus".to_string();
        for (key, value) in config {
            match key.as_str() {
                "bus" => bus = value,
                other => return Err(format!("unknown config key `{other}`")),
            }
        }
        BUS.set(bus).map_err(|_| "init called twice".to_string())
    }
}

impl Router for HostileRouter {
    fn route(event: Event) -> Vec<Destination> {
        if !event.id.starts_with("hostile") {
            return Vec::new();
        }
        vec![Destination {
            bus: BUS.get().cloned().unwrap_or_else(|| "no-such-bus".into()),
            source: None,
            detail_type: None,
        }]
    }
}

export!(HostileRouter);
