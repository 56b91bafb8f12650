//! Replay: re-sends failed deliveries from the failure log and marks what succeeds, so
//! replaying twice never delivers an event twice from the log.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::SystemTime;

use serde::Serialize;
use tokio::time::Instant;

use super::batcher::Batcher;
use super::retry::SplitMix64;
use super::service::{DeliveryConfig, send_with_retries};
use super::sink::Sink;
use super::validate::validate;
use crate::event::Event;
use crate::health::{FailureFilter, FailureLog, FailureLogError, FailureStore, Stage};

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Failure-log rows considered.
    pub rows: usize,
    /// Distinct entries (bus and event) sent.
    pub sent: usize,
    /// Entries delivered; their rows are marked replayed.
    pub delivered: usize,
    /// Entries that failed again; their rows are updated.
    pub failed: usize,
    /// Rows with no stored event to send (recorded before there was an event).
    pub skipped: usize,
}

/// Re-sends the delivery failures in `log` that match `filter` and are not yet replayed,
/// through `sink` with `config`'s batching and retries. Delivered rows are marked replayed;
/// rows that fail again get their attempts, code and message updated.
pub async fn replay(
    log: &FailureLog,
    sink: &dyn Sink,
    filter: &FailureFilter,
    config: &DeliveryConfig,
) -> Result<ReplayReport, FailureLogError> {
    let filter = FailureFilter {
        stage: Some(Stage::Delivery),
        include_replayed: false,
        ..filter.clone()
    };
    let rows = log.list(&filter)?;
    let mut report = ReplayReport {
        rows: rows.len(),
        ..ReplayReport::default()
    };
    // The same event may have failed more than once (say, in two runs): send it once and
    // settle every row it has.
    let mut rows_of: HashMap<(String, String), Vec<i64>> = HashMap::new();
    let mut batcher = Batcher::new(config.batch);
    let mut batches = Vec::new();
    for row in rows {
        let Some(entry) = row.entry else {
            report.skipped += 1;
            continue;
        };
        let event = Event::from(entry);
        let key = (row.origin.clone(), event.id.clone());
        let first = !rows_of.contains_key(&key);
        rows_of.entry(key).or_default().push(row.id);
        if !first {
            continue;
        }
        if let Err(problem) = validate(&event) {
            log.record_retry(
                row.id,
                0,
                problem.code(),
                &problem.to_string(),
                SystemTime::now(),
            )?;
            report.failed += 1;
            continue;
        }
        match batcher.push(&row.origin, event, Instant::now()) {
            Ok(ready) => {
                report.sent += 1;
                batches.extend(ready);
            }
            Err(oversize) => {
                let message = format!(
                    "the entry is {} bytes; the limit is {}",
                    oversize.bytes, oversize.limit
                );
                log.record_retry(row.id, 0, "EntryTooLarge", &message, SystemTime::now())?;
                report.failed += 1;
            }
        }
    }
    batches.extend(batcher.drain());

    for batch in batches {
        let bus = batch.bus.clone();
        let no_deadline = OnceLock::new();
        let rng = SplitMix64::from_entropy();
        let outcome = send_with_retries(sink, batch, config.retry, rng, &no_deadline).await;
        let now = SystemTime::now();
        if !outcome.delivered.is_empty() {
            log.record_delivered(&bus, now)?;
        }
        for event in outcome.delivered {
            for &id in rows_of.get(&(bus.clone(), event.id)).into_iter().flatten() {
                log.mark_replayed(id, now)?;
            }
            report.delivered += 1;
        }
        for failure in outcome.failed {
            let event_id = failure.event_id.clone().unwrap_or_default();
            for &id in rows_of.get(&(bus.clone(), event_id)).into_iter().flatten() {
                log.record_retry(id, failure.attempts, &failure.code, &failure.message, now)?;
            }
            report.failed += 1;
        }
    }
    Ok(report)
}
