//! Test fixture: a router that sends events whose id starts with `hostile` to a bus that
//! does not exist (`no-such-bus`, or the sidecar's `bus`), and has no opinion on the rest.

use logbridge_plugin::{Config, Destination, Event, Reads, Result, Router, to};

struct HostileRouter {
    bus: String,
}

impl Reads for HostileRouter {
    const ENVELOPE: bool = true;
}

impl Router for HostileRouter {
    fn init(config: &Config) -> Result<Self> {
        let bus = config.str("bus").unwrap_or("no-such-bus").to_string();
        Ok(HostileRouter { bus })
    }

    fn route(&self, event: &Event) -> Result<Vec<Destination>> {
        let envelope = event.envelope().ok_or("the host sent no envelope")?;
        if !envelope.id.starts_with("hostile") {
            return Ok(Vec::new());
        }
        Ok(vec![to(self.bus.as_str())])
    }
}

logbridge_plugin::export!(HostileRouter: Router);
