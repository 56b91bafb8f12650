//! The delivery task: takes routed entries, batches them per bus, sends each batch with
//! retries, and records what became of every entry.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::batcher::{Batch, BatchLimits, Batcher};
use super::local::Delivered;
use super::retry::{RetryAction, RetryPolicy, SplitMix64};
use super::sink::{EntryResult, Sink};
use crate::event::Event;
use crate::health::{Failure, Health, Stage};

/// An event bound for one bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The bus name or ARN.
    pub bus: String,
    /// The event, with the destination's `source`/`detail-type` overrides applied.
    pub event: Event,
}

/// How the delivery task batches, retries and overlaps its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// How entries are grouped into calls.
    pub batch: BatchLimits,
    /// How failed entries are retried.
    pub retry: RetryPolicy,
    /// Most batches being sent at once.
    pub max_in_flight: usize,
    /// Once shutdown begins, how long failed entries may still be retried; after it they
    /// fail with the error they last had. An attempt already under way finishes (bounded
    /// by the attempt timeout).
    pub shutdown_timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            batch: BatchLimits::default(),
            retry: RetryPolicy::default(),
            max_in_flight: 8,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// A delivery-stage failure of `event` on `bus`.
pub(crate) fn delivery_failure(
    bus: &str,
    event: Event,
    code: &str,
    message: String,
    attempts: u32,
    first_attempt: SystemTime,
) -> Failure {
    Failure {
        stage: Stage::Delivery,
        event_id: Some(event.id.clone()),
        origin: bus.to_string(),
        version: None,
        code: code.to_string(),
        message,
        attempts,
        first_attempt,
        event: Some(event),
        input: None,
    }
}

/// What finally became of the entries of one batch.
#[derive(Debug, Default)]
pub(crate) struct BatchOutcome {
    /// Entries the bus accepted.
    pub delivered: Vec<Event>,
    /// Entries that failed for good.
    pub failed: Vec<Failure>,
    /// Entry re-sends made.
    pub retried: u64,
    /// `PutEvents` requests made, retries included.
    pub requests: u64,
    /// Entries those requests carried.
    pub sent_entries: u64,
}

impl BatchOutcome {
    fn record(self, bus: &str, health: &Health, subscribers: &broadcast::Sender<Delivered>) {
        health.record_requests(bus, self.requests, self.sent_entries);
        health.record_delivered(bus, self.delivered.len() as u64);
        if subscribers.receiver_count() > 0 {
            for event in self.delivered {
                // No receiver left since the check: nothing to do.
                let _ = subscribers.send(Delivered {
                    bus: bus.to_string(),
                    event,
                });
            }
        }
        if self.retried > 0 {
            health.record_retried(bus, self.retried);
        }
        for failure in self.failed {
            health.record_failure(failure);
        }
    }
}

/// Runs until `routed` is closed and every batch has been answered for good. Entries
/// are expected to have passed [`super::validate`] already (the workers check them).
pub(crate) async fn run(
    routed: async_channel::Receiver<Vec<Routed>>,
    sink: Arc<dyn Sink>,
    config: DeliveryConfig,
    health: Arc<Health>,
    subscribers: broadcast::Sender<Delivered>,
) {
    let mut batcher = Batcher::new(config.batch);
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let deadline: Arc<OnceLock<Instant>> = Arc::default();
    let send = |in_flight: &mut JoinSet<()>, batch: Batch| {
        let (sink, health) = (Arc::clone(&sink), Arc::clone(&health));
        let (deadline, subscribers) = (Arc::clone(&deadline), subscribers.clone());
        in_flight.spawn(async move {
            let bus = batch.bus.clone();
            let rng = SplitMix64::from_entropy();
            send_with_retries(&*sink, batch, config.retry, rng, &deadline)
                .await
                .record(&bus, &health, &subscribers);
        });
    };
    loop {
        while in_flight.len() >= config.max_in_flight.max(1) {
            in_flight.join_next().await;
        }
        let due = batcher.next_due();
        tokio::select! {
            next = routed.recv() => match next {
                Ok(chunk) => {
                    let now = Instant::now();
                    for Routed { bus, event } in chunk {
                        match batcher.push(&bus, event, now) {
                            Ok(ready) => {
                                for batch in ready {
                                    // A chunk may fill several batches: still no more
                                    // than `max_in_flight` calls at once.
                                    while in_flight.len() >= config.max_in_flight.max(1) {
                                        in_flight.join_next().await;
                                    }
                                    send(&mut in_flight, batch);
                                }
                            }
                            Err(oversize) => {
                                let message = format!(
                                    "the entry is {} bytes as EventBridge counts them; a \
                                     PutEvents request may carry at most {} bytes",
                                    oversize.bytes, oversize.limit
                                );
                                health.record_failure(delivery_failure(&oversize.bus, oversize.event, "EntryTooLarge", message, 0, SystemTime::now()));
                            }
                        }
                    }
                }
                Err(_) => {
                    // Shutdown: no more entries will come; retries now have a deadline.
                    let _ = deadline.set(Instant::now() + config.shutdown_timeout);
                    break;
                }
            },
            () = sleep_until(due), if due.is_some() => {
                for batch in batcher.take_due(Instant::now()) {
                    send(&mut in_flight, batch);
                }
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    for batch in batcher.drain() {
        send(&mut in_flight, batch);
    }
    while in_flight.join_next().await.is_some() {}
}

async fn sleep_until(when: Option<Instant>) {
    match when {
        Some(when) => tokio::time::sleep_until(when).await,
        None => tokio::time::sleep(Duration::MAX).await,
    }
}

/// Sends `batch`, then re-sends only its retryable failures, up to the policy's retries,
/// and says what finally became of every entry. Once `deadline` is set, no retry starts
/// after it.
pub(crate) async fn send_with_retries(
    sink: &dyn Sink,
    batch: Batch,
    policy: RetryPolicy,
    rng: SplitMix64,
    deadline: &OnceLock<Instant>,
) -> BatchOutcome {
    let Batch {
        bus, mut entries, ..
    } = batch;
    let first_attempt = SystemTime::now();
    let mut backoff = policy.backoff(rng);
    let mut outcome = BatchOutcome::default();
    let mut attempt = 0u32;
    loop {
        let mut results = sink.put(&bus, &entries).await;
        outcome.requests += 1;
        outcome.sent_entries += entries.len() as u64;
        results.resize_with(entries.len(), || {
            EntryResult::failed(
                "NoResult",
                "the sink answered fewer entries than it was given",
            )
        });
        let failures: Vec<Option<bool>> = results
            .iter()
            .map(|r| match r {
                EntryResult::Delivered => None,
                EntryResult::Failed { retryable, .. } => Some(*retryable),
            })
            .collect();
        let delay = backoff.next().unwrap_or_default();
        let past_deadline = deadline.get().is_some_and(|&d| Instant::now() + delay > d);
        let retrying = !past_deadline
            && matches!(
                policy.action(attempt, &failures),
                RetryAction::Retry | RetryAction::RetryPartial(_)
            );
        let mut retry = Vec::new();
        for (event, result) in entries.into_iter().zip(results) {
            match result {
                EntryResult::Delivered => outcome.delivered.push(event),
                EntryResult::Failed {
                    retryable: true, ..
                } if retrying => retry.push(event),
                EntryResult::Failed {
                    code,
                    mut message,
                    retryable,
                } => {
                    if retryable && past_deadline {
                        message = format!("not retried: the host was shutting down; {message}");
                    }
                    outcome.failed.push(delivery_failure(
                        &bus,
                        event,
                        &code,
                        message,
                        attempt + 1,
                        first_attempt,
                    ));
                }
            }
        }
        if retry.is_empty() {
            return outcome;
        }
        outcome.retried += retry.len() as u64;
        tracing::warn!(bus = %bus, entries = retry.len(), attempt = attempt + 1, "retrying failed entries");
        tokio::time::sleep(delay).await;
        entries = retry;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::delivery::sink::PutFuture;

    /// A sink that answers from a script: for each event id, the answers of its
    /// successive attempts (delivered once the script runs out). Records every call.
    struct ScriptedSink {
        script: Mutex<HashMap<String, Vec<EntryResult>>>,
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl ScriptedSink {
        fn new(script: &[(&str, Vec<EntryResult>)]) -> Arc<Self> {
            Arc::new(ScriptedSink {
                script: Mutex::new(
                    script
                        .iter()
                        .map(|(id, answers)| (id.to_string(), answers.clone()))
                        .collect(),
                ),
                calls: Mutex::new(Vec::new()),
            })
        }

        fn calls(&self) -> Vec<Vec<String>> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl Sink for ScriptedSink {
        fn put<'a>(&'a self, _bus: &'a str, entries: &'a [Event]) -> PutFuture<'a> {
            let ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
            self.calls.lock().unwrap().push(ids.clone());
            let mut script = self.script.lock().unwrap();
            let results = ids
                .iter()
                .map(|id| match script.get_mut(id) {
                    Some(answers) if !answers.is_empty() => answers.remove(0),
                    _ => EntryResult::Delivered,
                })
                .collect();
            Box::pin(async move { results })
        }
    }

    fn event(id: &str) -> Event {
        Event {
            id: id.into(),
            source: "s".into(),
            detail_type: "d".into(),
            time: String::new(),
            resources: Vec::new(),
            detail: "{}".into(),
        }
    }

    fn batch(ids: &[&str]) -> Batch {
        Batch {
            bus: "bus".into(),
            entries: ids.iter().map(|id| event(id)).collect(),
            bytes: 0,
        }
    }

    const FAST: RetryPolicy = RetryPolicy {
        max_retries: 3,
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
    };

    fn throttled() -> EntryResult {
        EntryResult::failed_retryable("ThrottlingException", "slow down")
    }

    #[tokio::test]
    async fn only_failed_entries_are_resent_and_permanent_failures_are_not_retried() {
        let sink = ScriptedSink::new(&[
            ("b", vec![throttled(), throttled()]),
            ("c", vec![EntryResult::failed("MalformedDetail", "bad")]),
        ]);
        let health = Health::new();
        let seed = SplitMix64::seeded(1);
        send_with_retries(
            &*sink,
            batch(&["a", "b", "c"]),
            FAST,
            seed,
            &OnceLock::new(),
        )
        .await
        .record("bus", &health, &broadcast::channel(1).0);

        assert_eq!(
            sink.calls(),
            vec![vec!["a", "b", "c"], vec!["b"], vec!["b"]]
        );
        let report = health.report();
        let bus = report.buses["bus"];
        assert_eq!((bus.delivered, bus.failed, bus.retried), (2, 1, 2));
        let failure = &report.recent_failures[0];
        assert_eq!(
            (failure.code.as_str(), failure.attempts),
            ("MalformedDetail", 1)
        );
        assert_eq!(failure.event.as_ref().map(|e| e.id.as_str()), Some("c"));
    }

    #[tokio::test]
    async fn gives_up_after_three_retries() {
        let sink = ScriptedSink::new(&[("a", vec![throttled(); 10])]);
        let health = Health::new();
        send_with_retries(
            &*sink,
            batch(&["a"]),
            FAST,
            SplitMix64::seeded(2),
            &OnceLock::new(),
        )
        .await
        .record("bus", &health, &broadcast::channel(1).0);

        assert_eq!(sink.calls().len(), 4, "the first attempt and 3 retries");
        let report = health.report();
        assert_eq!(report.buses["bus"].failed, 1);
        assert_eq!(report.recent_failures[0].attempts, 4);
        assert_eq!(report.recent_failures[0].code, "ThrottlingException");
    }

    #[tokio::test]
    async fn a_short_answer_fails_the_unanswered_entries() {
        struct ShortSink;
        impl Sink for ShortSink {
            fn put<'a>(&'a self, _bus: &'a str, _entries: &'a [Event]) -> PutFuture<'a> {
                Box::pin(async { vec![EntryResult::Delivered] })
            }
        }
        let health = Health::new();
        send_with_retries(
            &ShortSink,
            batch(&["a", "b"]),
            FAST,
            SplitMix64::seeded(3),
            &OnceLock::new(),
        )
        .await
        .record("bus", &health, &broadcast::channel(1).0);
        let bus = health.report().buses["bus"];
        assert_eq!((bus.delivered, bus.failed), (1, 1));
    }

    #[tokio::test]
    async fn no_retry_starts_after_the_shutdown_deadline() {
        let sink = ScriptedSink::new(&[("a", vec![throttled(); 10])]);
        let health = Health::new();
        let deadline = OnceLock::new();
        deadline.set(Instant::now()).unwrap();
        send_with_retries(
            &*sink,
            batch(&["a"]),
            FAST,
            SplitMix64::seeded(4),
            &deadline,
        )
        .await
        .record("bus", &health, &broadcast::channel(1).0);
        assert_eq!(sink.calls().len(), 1);
        let failure = &health.report().recent_failures[0];
        assert_eq!(
            (failure.code.as_str(), failure.attempts),
            ("ThrottlingException", 1)
        );
        assert!(
            failure.message.contains("shutting down"),
            "{}",
            failure.message
        );
    }
}
