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
use crate::health::FailureCode;
use crate::health::{Failure, Health, Stage};
use crate::journal::{Journal, Ticket};

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
    code: FailureCode,
    message: String,
    attempts: u32,
    first_attempt: SystemTime,
) -> Failure {
    Failure {
        stage: Stage::Delivery,
        event_id: Some(event.id.clone()),
        origin: bus.to_string(),
        version: None,
        code,
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
    /// Their holds on their events' write-ahead log rows.
    pub delivered_tickets: Vec<Ticket>,
    /// Entries that failed for good, each with its hold.
    pub failed: Vec<(Failure, Ticket)>,
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
        for ticket in self.delivered_tickets {
            ticket.finish();
        }
        for (failure, ticket) in self.failed {
            health.record_failure_of(failure, ticket);
        }
    }
}

/// The code of a failure that an abort (see [`crate::Host::abort`]) cut short.
pub(crate) const ABORTED: FailureCode = FailureCode::Aborted;

/// Why an entry an abort cut short was not delivered.
const ABORTED_MESSAGE: &str = "not delivered: logbridge was stopped at once (a second \
     signal, or the shutdown timeout ran out) before this entry was sent or answered; \
     `logbridge replay` re-sends it (a call cut off mid-way may have reached the bus, so \
     a replay may deliver it twice)";

/// The failure of an entry an abort cut short.
fn aborted(bus: &str, event: Event, attempts: u32, first_attempt: SystemTime) -> Failure {
    delivery_failure(
        bus,
        event,
        ABORTED,
        ABORTED_MESSAGE.to_string(),
        attempts,
        first_attempt,
    )
}

/// Completes once `abort` says so (never, if its sender is gone without saying so).
pub(crate) async fn aborted_signal(mut abort: tokio::sync::watch::Receiver<bool>) {
    if abort.wait_for(|aborted| *aborted).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs until `routed` is closed and every batch has been answered for good. Entries
/// are expected to have passed [`super::validate`] already (the workers check them).
///
/// Once `abort` turns true nothing more is sent: calls under way are cut off and every
/// entry not yet delivered — in flight, batched, or still arriving until `routed`
/// closes — fails with code [`ABORTED`].
pub(crate) async fn run(
    routed: async_channel::Receiver<Vec<(Routed, Ticket)>>,
    journal: Option<Arc<Journal>>,
    sink: Arc<dyn Sink>,
    config: DeliveryConfig,
    health: Arc<Health>,
    subscribers: broadcast::Sender<Delivered>,
    abort: tokio::sync::watch::Receiver<bool>,
) {
    let mut batcher = Batcher::new(config.batch);
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let deadline: Arc<OnceLock<Instant>> = Arc::default();
    let send = |in_flight: &mut JoinSet<()>, batch: Batch| {
        let (sink, health) = (Arc::clone(&sink), Arc::clone(&health));
        let (deadline, subscribers) = (Arc::clone(&deadline), subscribers.clone());
        let abort = abort.clone();
        let journal = journal.clone();
        in_flight.spawn(async move {
            let bus = batch.bus.clone();
            let rng = SplitMix64::from_entropy();
            let mut progress = Progress::new(batch);
            progress.journal = journal;
            let cut_off = tokio::select! {
                () = progress.send(&*sink, config.retry, rng, &deadline) => false,
                () = aborted_signal(abort) => true,
            };
            if cut_off {
                progress.abort();
            }
            progress.outcome.record(&bus, &health, &subscribers);
        });
    };
    let fail_all = |bus: &str, events: Vec<Event>, tickets: Vec<Ticket>| {
        let now = SystemTime::now();
        for (event, ticket) in events.into_iter().zip(tickets) {
            health.record_failure_of(aborted(bus, event, 0, now), ticket);
        }
    };
    let mut aborting = std::pin::pin!(aborted_signal(abort.clone()));
    loop {
        while in_flight.len() >= config.max_in_flight.max(1) {
            in_flight.join_next().await;
        }
        let due = batcher.next_due();
        tokio::select! {
            () = &mut aborting => {
                // Calls under way see the abort themselves; fail what waits here and
                // what is still coming, until the workers are done.
                for batch in batcher.drain() {
                    fail_all(&batch.bus, batch.entries, batch.tickets);
                }
                while let Ok(chunk) = routed.recv().await {
                    for (Routed { bus, event }, ticket) in chunk {
                        fail_all(&bus, vec![event], vec![ticket]);
                    }
                }
                while in_flight.join_next().await.is_some() {}
                return;
            }
            next = routed.recv() => match next {
                Ok(chunk) => {
                    let now = Instant::now();
                    for (Routed { bus, event }, ticket) in chunk {
                        match batcher.push(&bus, event, ticket, now) {
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
                                let failure = delivery_failure(&oversize.bus, oversize.event, FailureCode::EntryTooLarge, message, 0, SystemTime::now());
                                health.record_failure_of(failure, oversize.ticket);
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
    let mut progress = Progress::new(batch);
    progress.send(sink, policy, rng, deadline).await;
    progress.outcome
}

/// One batch on its way: what is settled so far and the entries still to send. Kept
/// outside the sending future, so an abort that drops that future mid-call still knows
/// which entries were not delivered.
struct Progress {
    bus: String,
    /// Entries not yet settled: sent next, or being sent.
    pending: Vec<Event>,
    /// Their holds on their events' write-ahead log rows, in the same order.
    tickets: Vec<Ticket>,
    /// Where a call about to carry entries is noted first, when the host keeps one.
    journal: Option<Arc<Journal>>,
    outcome: BatchOutcome,
    attempt: u32,
    first_attempt: SystemTime,
}

impl Progress {
    fn new(batch: Batch) -> Self {
        Progress {
            bus: batch.bus,
            pending: batch.entries,
            tickets: batch.tickets,
            journal: None,
            outcome: BatchOutcome::default(),
            attempt: 0,
            first_attempt: SystemTime::now(),
        }
    }

    /// Fails every entry not yet settled: the sending was cut off.
    fn abort(&mut self) {
        let tickets = std::mem::take(&mut self.tickets);
        for (event, ticket) in std::mem::take(&mut self.pending).into_iter().zip(tickets) {
            let failure = aborted(&self.bus, event, self.attempt + 1, self.first_attempt);
            self.outcome.failed.push((failure, ticket));
        }
    }

    /// Sends the pending entries, then re-sends only their retryable failures, up to the
    /// policy's retries. Between awaits `pending` always holds exactly the entries not yet
    /// settled.
    async fn send(
        &mut self,
        sink: &dyn Sink,
        policy: RetryPolicy,
        rng: SplitMix64,
        deadline: &OnceLock<Instant>,
    ) {
        let mut backoff = policy.backoff(rng);
        let (bus, first_attempt) = (self.bus.clone(), self.first_attempt);
        loop {
            let attempt = self.attempt;
            if let Some(journal) = &self.journal
                && let Some(last) = self.tickets.iter().filter_map(Ticket::seq).max()
            {
                // Noted before the call: after a crash, these may be on the bus already.
                journal.note_sent(last).await;
            }
            let mut results = sink.put(&bus, &self.pending).await;
            let entries = std::mem::take(&mut self.pending);
            let tickets = std::mem::take(&mut self.tickets);
            let outcome = &mut self.outcome;
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
                    RetryAction::Retry | RetryAction::RetryPartial
                );
            let mut retry = Vec::new();
            let mut retry_tickets = Vec::new();
            for ((event, ticket), result) in entries.into_iter().zip(tickets).zip(results) {
                match result {
                    EntryResult::Delivered => {
                        outcome.delivered.push(event);
                        outcome.delivered_tickets.push(ticket);
                    }
                    EntryResult::Failed {
                        retryable: true, ..
                    } if retrying => {
                        retry.push(event);
                        retry_tickets.push(ticket);
                    }
                    EntryResult::Failed {
                        code,
                        mut message,
                        retryable,
                    } => {
                        if retryable && past_deadline {
                            message = format!("not retried: the host was shutting down; {message}");
                        }
                        let failure = delivery_failure(
                            &bus,
                            event,
                            FailureCode::parse(&code),
                            message,
                            attempt + 1,
                            first_attempt,
                        );
                        outcome.failed.push((failure, ticket));
                    }
                }
            }
            if retry.is_empty() {
                return;
            }
            outcome.retried += retry.len() as u64;
            tracing::warn!(bus = %bus, entries = retry.len(), attempt = attempt + 1, "retrying failed entries");
            self.pending = retry;
            self.tickets = retry_tickets;
            self.attempt += 1;
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
