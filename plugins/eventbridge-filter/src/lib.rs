//! `eventbridge-filter`: a logbridge filter whose rules are EventBridge event patterns in
//! its sidecar's `[[rule]]` tables (`name`, `pattern`, `action = "drop"`). An event that
//! matches any rule is dropped; every other event is kept. An invalid pattern refuses the
//! plugin at load with AWS's reason.

use std::cell::RefCell;

use event_pattern::Scratch;
use event_pattern::rules::{Role, RuleSet, envelope};
use exports::logbridge::plugin::filter::{Event, Guest as Filter};
use exports::logbridge::plugin::lifecycle::Guest as Lifecycle;

wit_bindgen::generate!({
    path: "../../wit",
    world: "configurable-filter-plugin",
});

thread_local! {
    static RULES: RefCell<Option<(RuleSet, Scratch)>> = const { RefCell::new(None) };
}

struct EventBridgeFilter;

impl Lifecycle for EventBridgeFilter {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let rules = RuleSet::from_config(&config, Role::Filter)?;
        logbridge::plugin::log::log(
            logbridge::plugin::log::Level::Info,
            &format!("{} drop rules compiled", rules.rules().len()),
        );
        RULES.with(|cell| *cell.borrow_mut() = Some((rules, Scratch::default())));
        Ok(())
    }
}

impl Filter for EventBridgeFilter {
    fn filter(event: Event) -> bool {
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
            match state.as_mut() {
                Some((rules, scratch)) => rules.dropped_by(&seen, scratch).is_none(),
                None => true,
            }
        })
    }
}

export!(EventBridgeFilter);
