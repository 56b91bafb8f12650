//! The failure log's one writer: failures and bus deliveries go through a bounded
//! channel to a thread of its own, off the async runtime, which writes them in batched
//! transactions. A full channel makes the sender wait; nothing is dropped. Failures that
//! cannot be written (a full disk) are held and retried, and health says why meanwhile.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

use super::Failure;
use super::metrics::Metrics;
use super::store::FailureStore;
use crate::journal::Ticket;

/// Failures (and delivery notes) that may wait for the writer before a sender waits.
pub(crate) const FAILURE_QUEUE: usize = 1024;

/// At most this many failures go into one transaction.
pub(super) const FAILURE_BATCH: usize = 256;

/// What the writer is handed.
enum Write {
    /// A failure, and its event's hold on its write-ahead log row.
    Failure(Box<Failure>, Ticket),
    /// A bus accepted entries at this time.
    Delivered(String, SystemTime),
    /// Answered once everything sent before it is written.
    Barrier(mpsc::Sender<()>),
}

/// The sending end of the writer, and its thread.
pub(crate) struct FailureWriter {
    tx: Option<SyncSender<Write>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    metrics: Arc<Metrics>,
}

impl FailureWriter {
    /// Starts the writer thread for `store`; write errors are counted in `metrics`.
    pub(crate) fn start(
        store: Arc<dyn FailureStore>,
        metrics: Arc<Metrics>,
        capacity: usize,
    ) -> Self {
        let (tx, rx) = mpsc::sync_channel(capacity.max(1));
        let counted = Arc::clone(&metrics);
        let spawned = std::thread::Builder::new()
            .name("logbridge-failures".into())
            .spawn(move || run(&*store, &counted, &rx));
        match spawned {
            Ok(thread) => FailureWriter {
                tx: Some(tx),
                thread: Mutex::new(Some(thread)),
                metrics,
            },
            Err(e) => {
                tracing::error!("cannot start the thread that writes the failure log: {e}");
                FailureWriter {
                    tx: None,
                    thread: Mutex::default(),
                    metrics,
                }
            }
        }
    }

    /// Hands `failure` to the writer, waiting while its queue is full; `ticket` is
    /// finished once it is written.
    pub(crate) fn record(&self, failure: Failure, ticket: Ticket) {
        if let Err(Write::Failure(failure, ticket)) =
            self.send(Write::Failure(Box::new(failure), ticket))
        {
            let mut held = Held::default();
            held.push(*failure, ticket);
            held.give_up(&self.metrics, "the failure log's writer is not running");
        }
    }

    /// Hands a bus's delivery at `at` to the writer.
    pub(crate) fn delivered(&self, bus: &str, at: SystemTime) {
        if self.send(Write::Delivered(bus.to_string(), at)).is_err() {
            tracing::warn!(
                bus,
                "could not note a delivery: the failure log's writer is not running"
            );
        }
    }

    /// Waits until everything handed over so far is written (or failed to be).
    pub(crate) fn flush(&self) {
        let (ack, acked) = mpsc::channel();
        if self.send(Write::Barrier(ack)).is_ok() {
            let _ = blocking(|| acked.recv());
        }
    }

    fn send(&self, write: Write) -> Result<(), Write> {
        let Some(tx) = &self.tx else {
            return Err(write);
        };
        match tx.try_send(write) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(write)) => blocking(|| tx.send(write)).map_err(|e| e.0),
            Err(TrySendError::Disconnected(write)) => Err(write),
        }
    }
}

impl Drop for FailureWriter {
    /// Closes the channel and waits until the writer has written what it holds.
    fn drop(&mut self) {
        self.tx.take();
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the thread that writes the failure log panicked");
        }
    }
}

/// Runs `f`, which may wait, telling the async runtime when it runs on one of its
/// workers so other tasks move meanwhile.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// How often failures that could not be written are tried again.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Failures waiting to be written, with their tickets.
#[derive(Default)]
struct Held {
    failures: Vec<Failure>,
    tickets: Vec<Ticket>,
}

impl Held {
    fn push(&mut self, failure: Failure, ticket: Ticket) {
        self.failures.push(failure);
        self.tickets.push(ticket);
    }

    fn len(&self) -> usize {
        self.failures.len()
    }

    /// Writes what is held in one transaction. When that fails, everything stays held
    /// (to be tried again) and health says why.
    fn write(&mut self, store: &dyn FailureStore, metrics: &Metrics) {
        if self.failures.is_empty() {
            return;
        }
        let blocked = &metrics.failure_log_blocked;
        match store.record_batch(&self.failures) {
            Ok(()) => {
                self.failures.clear();
                for ticket in self.tickets.drain(..) {
                    ticket.finish();
                }
                if blocked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()
                    .is_some()
                {
                    tracing::info!("the failure log can be written again; intake resumes");
                }
            }
            Err(e) => {
                let why = format!(
                    "the failure log cannot be written: {e}; {} failure(s) are held in \
                     memory and retried, and intake stops until they are written",
                    self.failures.len()
                );
                let mut blocked = blocked.lock().unwrap_or_else(|e| e.into_inner());
                if blocked.is_none() {
                    tracing::error!("{why}");
                }
                *blocked = Some(why);
            }
        }
    }

    /// The writer stops with failures it could not write: the events of those that hold
    /// a write-ahead log row are resumed at the next start; the others are lost.
    fn give_up(&mut self, metrics: &Metrics, error: &str) {
        let mut lost = 0;
        for (failure, ticket) in self.failures.drain(..).zip(self.tickets.drain(..)) {
            if ticket.is_durable() {
                tracing::error!(
                    event_id = failure.event_id.as_deref().unwrap_or("-"),
                    "could not write a failure to the failure log; the event stays in the \
                     write-ahead log and is taken again at the next start: {error}"
                );
            } else {
                tracing::error!(
                    event_id = failure.event_id.as_deref().unwrap_or("-"),
                    "could not write a failure to the failure log; the event is lost: {error}"
                );
                lost += 1;
            }
            // Dropped unfinished: a durable row stays.
            drop(ticket);
        }
        metrics.failure_log_errors.fetch_add(lost, Ordering::AcqRel);
    }
}

/// The writer: takes what is queued, up to [`FAILURE_BATCH`] failures at a time, and
/// writes it in order until the channel closes and is empty. Failures it cannot write
/// are held and tried again every [`RETRY_EVERY`]; a few last tries once the channel
/// closes.
fn run(store: &dyn FailureStore, metrics: &Metrics, rx: &Receiver<Write>) {
    let mut held = Held::default();
    loop {
        let first = if held.len() == 0 {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(RETRY_EVERY)
        };
        let first = match first {
            Ok(write) => write,
            Err(RecvTimeoutError::Timeout) => {
                held.write(store, metrics);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut next = Some(first);
        while let Some(write) = next.take() {
            match write {
                Write::Failure(failure, ticket) => {
                    held.push(*failure, ticket);
                    if held.len() % FAILURE_BATCH == 0 {
                        held.write(store, metrics);
                    }
                }
                Write::Delivered(bus, at) => {
                    held.write(store, metrics);
                    if let Err(e) = store.record_delivered(&bus, at) {
                        tracing::warn!(bus, "could not note a delivery in the failure log: {e}");
                    }
                }
                Write::Barrier(ack) => {
                    held.write(store, metrics);
                    let _ = ack.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        held.write(store, metrics);
    }
    for _ in 0..4 {
        if held.len() == 0 {
            return;
        }
        std::thread::sleep(RETRY_EVERY);
        held.write(store, metrics);
    }
    let why = metrics.blocked().unwrap_or_default();
    held.give_up(metrics, &why);
}
