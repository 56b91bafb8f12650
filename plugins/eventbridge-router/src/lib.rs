//! `eventbridge-router`: a logbridge router whose rules are EventBridge event patterns in
//! its sidecar's `[[rule]]` tables (`name`, `pattern`, `bus`). An event goes to the buses
//! of every rule it matches; matching no rule, to the default bus. An invalid pattern
//! refuses the plugin at load with AWS's reason.

use std::cell::RefCell;

use event_pattern::Scratch;
use event_pattern::rules::{Role, RuleSet, envelope};
use exports::logbridge::plugin::lifecycle::Guest as Lifecycle;
use exports::logbridge::plugin::router::{Destination, Event, Guest as Router};

wit_bindgen::generate!({
    path: "../../wit",
    world: "configurable-router-plugin",
});

thread_local! {
    static RULES: RefCell<Option<(RuleSet, Scratch)>> = const { RefCell::new(None) };
}

struct EventBridgeRouter;

impl Lifecycle for EventBridgeRouter {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let rules = RuleSet::from_config(&config, Role::Router)?;
        logbridge::plugin::log::log(
            logbridge::plugin::log::Level::Info,
            &format!("{} routing rules compiled", rules.rules().len()),
        );
        RULES.with(|cell| *cell.borrow_mut() = Some((rules, Scratch::default())));
        Ok(())
    }
}

impl Router for EventBridgeRouter {
    fn route(event: Event) -> Vec<Destination> {
        // The host hands over a JSON object; anything else matches only envelope fields.
        let detail = RULES.with(|cell| match cell.borrow().as_ref() {
            Some((rules, _)) => rules.parse_detail(&event.detail).unwrap_or_default(),
            None => serde_json::Value::Null,
        });
        let seen = envelope(
            &event.source,
            &event.detail_type,
            &event.time,
            &event.resources,
            detail,
        );
        RULES.with(|cell| {
            let mut state = cell.borrow_mut();
            let Some((rules, scratch)) = state.as_mut() else {
                return Vec::new();
            };
            let mut buses = Vec::new();
            rules.buses(&seen, scratch, &mut buses);
            buses
                .into_iter()
                .map(|bus| Destination {
                    bus: bus.to_owned(),
                    source: None,
                    detail_type: None,
                })
                .collect()
        })
    }
}

export!(EventBridgeRouter);
