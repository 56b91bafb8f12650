//! Test fixture: a filter that reads the envelope. It drops events whose id starts with
//! `drop` and whose source is `logbridge.auth0`, fields only the envelope holds.

use logbridge_plugin::{Config, Event, Filter, Reads, Result};

struct EnvelopeFilter;

impl Reads for EnvelopeFilter {
    const ENVELOPE: bool = true;
}

impl Filter for EnvelopeFilter {
    fn init(_: &Config) -> Result<Self> {
        Ok(EnvelopeFilter)
    }

    fn filter(&self, event: &Event) -> Result<bool> {
        let envelope = event.envelope().ok_or("the host sent no envelope")?;
        Ok(!(envelope.id.starts_with("drop") && envelope.source == "logbridge.auth0"))
    }
}

logbridge_plugin::export!(EnvelopeFilter: Filter);
