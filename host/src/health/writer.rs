//! The failure log's one writer: failures and bus deliveries go through a bounded
//! channel to a thread of its own, off the async runtime, which writes them in batched
//! transactions. A full channel makes the sender wait; nothing is dropped.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::SystemTime;

use super::Failure;
use super::metrics::Metrics;
use super::store::FailureStore;

/// Failures (and delivery notes) that may wait for the writer before a sender waits.
pub(crate) const FAILURE_QUEUE: usize = 1024;

/// At most this many failures go into one transaction.
pub(super) const FAILURE_BATCH: usize = 256;

/// What the writer is handed.
enum Write {
    Failure(Box<Failure>),
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

    /// Hands `failure` to the writer, waiting while its queue is full.
    pub(crate) fn record(&self, failure: Failure) {
        if let Err(Write::Failure(failure)) = self.send(Write::Failure(Box::new(failure))) {
            lost(
                &self.metrics,
                &[*failure],
                "the failure log's writer is not running",
            );
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

/// The writer: takes what is queued, up to [`FAILURE_BATCH`] failures at a time, and
/// writes it in order until the channel closes and is empty.
fn run(store: &dyn FailureStore, metrics: &Metrics, rx: &Receiver<Write>) {
    let mut failures = Vec::with_capacity(FAILURE_BATCH);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(write) = next.take() {
            match write {
                Write::Failure(failure) => {
                    failures.push(*failure);
                    if failures.len() == FAILURE_BATCH {
                        write_failures(store, metrics, &mut failures);
                    }
                }
                Write::Delivered(bus, at) => {
                    write_failures(store, metrics, &mut failures);
                    if let Err(e) = store.record_delivered(&bus, at) {
                        tracing::warn!(bus, "could not note a delivery in the failure log: {e}");
                    }
                }
                Write::Barrier(ack) => {
                    write_failures(store, metrics, &mut failures);
                    let _ = ack.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        write_failures(store, metrics, &mut failures);
    }
}

/// Writes `failures` in one transaction and empties it; when that fails, each is
/// counted as lost.
fn write_failures(store: &dyn FailureStore, metrics: &Metrics, failures: &mut Vec<Failure>) {
    if failures.is_empty() {
        return;
    }
    if let Err(e) = store.record_batch(failures) {
        lost(metrics, failures, &e.to_string());
    }
    failures.clear();
}

fn lost(metrics: &Metrics, failures: &[Failure], error: &str) {
    for failure in failures {
        tracing::error!(
            event_id = failure.event_id.as_deref().unwrap_or("-"),
            "could not write a failure to the failure log; the event is lost: {error}"
        );
    }
    metrics
        .failure_log_errors
        .fetch_add(failures.len() as u64, Ordering::AcqRel);
}
