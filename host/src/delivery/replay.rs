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
use crate::health::FailureCode;
use crate::health::{FailureFilter, FailureLogError, FailureStore, Stage};
use crate::journal::Ticket;

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

/// Re-sends the delivery failures in `log` (any [`FailureStore`]: the SQLite
/// [`FailureLog`](crate::health::FailureLog) or another) that match `filter` and are not yet replayed,
/// through `sink` with `config`'s batching and retries. Delivered rows are marked replayed;
/// rows that fail again get their attempts, code and message updated.
pub async fn replay(
    log: &dyn FailureStore,
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
        let event = entry;
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
                &problem.code(),
                &problem.to_string(),
                SystemTime::now(),
            )?;
            report.failed += 1;
            continue;
        }
        match batcher.push(&row.origin, event, Ticket::default(), Instant::now()) {
            Ok(ready) => {
                report.sent += 1;
                batches.extend(ready);
            }
            Err(oversize) => {
                let message = format!(
                    "the entry is {} bytes; the limit is {}",
                    oversize.bytes, oversize.limit
                );
                log.record_retry(
                    row.id,
                    0,
                    &FailureCode::EntryTooLarge,
                    &message,
                    SystemTime::now(),
                )?;
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
        for ticket in outcome.delivered_tickets {
            ticket.finish();
        }
        for (failure, ticket) in outcome.failed {
            ticket.finish();
            let event_id = failure.event_id.clone().unwrap_or_default();
            for &id in rows_of.get(&(bus.clone(), event_id)).into_iter().flatten() {
                log.record_retry(id, failure.attempts, &failure.code, &failure.message, now)?;
            }
            report.failed += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::delivery::ChannelSink;
    use crate::event::Event;
    use crate::health::{Failure, StoredFailure};

    /// A failure store kept in memory: replay needs nothing but the trait.
    #[derive(Default)]
    struct Memory(Mutex<Vec<StoredFailure>>);

    impl FailureStore for Memory {
        fn record(&self, _: &Failure) -> Result<(), FailureLogError> {
            unreachable!("replay records no new failures")
        }

        fn list(&self, filter: &FailureFilter) -> Result<Vec<StoredFailure>, FailureLogError> {
            let rows = self.0.lock().unwrap();
            Ok(rows
                .iter()
                .filter(|r| filter.include_replayed || r.replayed_at.is_none())
                .filter(|r| filter.stage.is_none_or(|s| s == r.stage))
                .cloned()
                .collect())
        }

        fn mark_replayed(&self, id: i64, at: SystemTime) -> Result<(), FailureLogError> {
            let mut rows = self.0.lock().unwrap();
            let row = rows.iter_mut().find(|r| r.id == id).expect("a known row");
            row.replayed_at = Some(crate::health::rfc3339(at));
            Ok(())
        }

        fn record_retry(
            &self,
            _: i64,
            _: u32,
            _: &FailureCode,
            _: &str,
            _: SystemTime,
        ) -> Result<(), FailureLogError> {
            Ok(())
        }
    }

    fn row(id: i64, event_id: &str) -> StoredFailure {
        StoredFailure {
            id,
            stage: Stage::Delivery,
            origin: "security".into(),
            version: None,
            event_id: Some(event_id.into()),
            code: "InternalFailure".into(),
            message: "down".into(),
            attempts: 4,
            first_attempt: "2026-11-25T09:00:00Z".into(),
            last_attempt: "2026-11-25T09:00:01Z".into(),
            entry: Some(Event {
                id: event_id.into(),
                source: "auth0".into(),
                detail_type: "s".into(),
                time: "2026-11-25T09:00:00Z".into(),
                resources: Vec::new(),
                detail: "{\"a\":1}".into(),
            }),
            input: None,
            replayed_at: None,
        }
    }

    #[tokio::test]
    async fn replay_works_through_any_failure_store_and_marks_what_it_delivered() {
        let store = Memory(Mutex::new(vec![row(1, "e1"), row(2, "e2")]));
        let (sink, mut delivered) = ChannelSink::new(16);
        let config = DeliveryConfig::default();
        let report = replay(&store, &sink, &FailureFilter::default(), &config)
            .await
            .unwrap();
        assert_eq!((report.rows, report.delivered), (2, 2));
        assert_eq!(delivered.recv().await.unwrap().event.id, "e1");
        assert_eq!(delivered.recv().await.unwrap().event.id, "e2");
        let again = replay(&store, &sink, &FailureFilter::default(), &config)
            .await
            .unwrap();
        assert_eq!(again.rows, 0, "replayed rows are marked through the store");
    }
}
