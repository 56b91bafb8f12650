//! `eventbridge-router`: a logbridge router whose rules are EventBridge event patterns in
//! its sidecar's `[[rule]]` tables (`name`, `pattern`, `bus`). An event goes to the buses
//! of every rule it matches; matching no rule, to the default bus. An invalid pattern
//! refuses the plugin at load with AWS's reason.

use std::cell::RefCell;

use event_pattern::Scratch;
use event_pattern::rules::{Role, RuleSet};
use logbridge_plugin::{Config, Destination, Error, Event, Reads, Result, Router, log, to};

struct EventBridgeRouter {
    rules: RuleSet,
    scratch: RefCell<Scratch>,
}

impl Reads for EventBridgeRouter {
    // Patterns may name `source`, `detail-type`, `time` and `resources`.
    const ENVELOPE: bool = true;
}

impl Router for EventBridgeRouter {
    fn init(config: &Config) -> Result<Self> {
        let rules = RuleSet::from_config(config.pairs(), Role::Router).map_err(Error::msg)?;
        log::info(&format!("{} routing rules compiled", rules.rules().len()));
        Ok(EventBridgeRouter {
            rules,
            scratch: RefCell::default(),
        })
    }

    fn route(&self, event: &Event) -> Result<Vec<Destination>> {
        let envelope = event.envelope().ok_or("the host sent no envelope")?;
        let seen = self.rules.event(
            &envelope.source,
            &envelope.detail_type,
            &envelope.time,
            &envelope.resources,
            event.detail(),
        );
        let mut buses = Vec::new();
        self.rules
            .buses(&seen, &mut self.scratch.borrow_mut(), &mut buses);
        Ok(buses.into_iter().map(to).collect())
    }
}

logbridge_plugin::export!(EventBridgeRouter: Router);
