//! `eventbridge-filter`: a logbridge filter whose rules are EventBridge event patterns in
//! its sidecar's `[[rule]]` tables (`name`, `pattern`, `action = "drop"`). An event that
//! matches any rule is dropped; every other event is kept. An invalid pattern refuses the
//! plugin at load with AWS's reason.

use std::cell::RefCell;

use event_pattern::Scratch;
use event_pattern::rules::{Role, RuleSet};
use logbridge_plugin::{Config, Error, Event, Filter, Reads, Result, log};

struct EventBridgeFilter {
    rules: RuleSet,
    scratch: RefCell<Scratch>,
}

impl Reads for EventBridgeFilter {
    // Patterns may name `source`, `detail-type`, `time` and `resources`.
    const ENVELOPE: bool = true;
}

impl Filter for EventBridgeFilter {
    fn init(config: &Config) -> Result<Self> {
        let rules = RuleSet::from_config(config.pairs(), Role::Filter).map_err(Error::msg)?;
        log::info(&format!("{} drop rules compiled", rules.rules().len()));
        Ok(EventBridgeFilter {
            rules,
            scratch: RefCell::default(),
        })
    }

    fn filter(&self, event: &Event) -> Result<bool> {
        let envelope = event.envelope().ok_or("the host sent no envelope")?;
        let seen = self.rules.event(
            &envelope.source,
            &envelope.detail_type,
            &envelope.time,
            &envelope.resources,
            event.detail(),
        );
        let dropped = self
            .rules
            .dropped_by(&seen, &mut self.scratch.borrow_mut())
            .is_some();
        Ok(!dropped)
    }
}

logbridge_plugin::export!(EventBridgeFilter: Filter);
