//! Tests of the failure log's one writer: batches, a drain when the health goes, a full
//! queue that makes the sender wait, and a write error that shows in health.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::writer::FAILURE_BATCH;
use super::*;

/// A store that remembers each batch's event ids, can be held shut, and can fail.
#[derive(Default)]
struct Fake {
    batches: Mutex<Vec<Vec<String>>>,
    /// While true, writes wait.
    shut: Mutex<bool>,
    opened: Condvar,
    /// Set once a write is waiting at the shut gate.
    waiting: AtomicBool,
    fail: AtomicBool,
}

impl Fake {
    fn shut() -> Arc<Self> {
        let fake = Fake::default();
        *fake.shut.lock().unwrap() = true;
        Arc::new(fake)
    }

    fn open(&self) {
        *self.shut.lock().unwrap() = false;
        self.opened.notify_all();
    }

    fn written(&self) -> Vec<String> {
        self.batches.lock().unwrap().concat()
    }
}

impl FailureStore for Fake {
    fn record(&self, failure: &Failure) -> Result<(), FailureLogError> {
        self.record_batch(std::slice::from_ref(failure))
    }

    fn record_batch(&self, failures: &[Failure]) -> Result<(), FailureLogError> {
        let mut shut = self.shut.lock().unwrap();
        while *shut {
            self.waiting.store(true, Ordering::SeqCst);
            shut = self.opened.wait(shut).unwrap();
        }
        drop(shut);
        if self.fail.load(Ordering::SeqCst) {
            return Err(FailureLogError {
                path: "fake".into(),
                message: "disk full".into(),
            });
        }
        let ids = failures.iter().filter_map(|f| f.event_id.clone()).collect();
        self.batches.lock().unwrap().push(ids);
        Ok(())
    }

    fn list(&self, _: &FailureFilter) -> Result<Vec<StoredFailure>, FailureLogError> {
        Ok(Vec::new())
    }

    fn mark_replayed(&self, _: i64, _: SystemTime) -> Result<(), FailureLogError> {
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

fn failure(n: usize) -> Failure {
    Failure {
        stage: Stage::Plugin,
        event_id: Some(format!("e{n}")),
        origin: "20-redact".into(),
        version: None,
        code: "trap".into(),
        message: "unreachable".into(),
        attempts: 1,
        first_attempt: SystemTime::now(),
        event: None,
        input: None,
    }
}

/// Waits (up to a generous limit) until `done` holds.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("e{n}")).collect()
}

#[test]
fn failures_queued_while_a_write_runs_go_in_one_batch() {
    let fake = Fake::shut();
    let health = Health::with_store(Arc::clone(&fake) as Arc<dyn FailureStore>);
    health.record_failure(failure(0));
    wait_until("the first write is under way", || {
        fake.waiting.load(Ordering::SeqCst)
    });
    for n in 1..100 {
        health.record_failure(failure(n));
    }
    fake.open();
    health.flush_failures();
    assert_eq!(fake.written(), ids(0..100), "every failure, in order");
    let batches = fake.batches.lock().unwrap().len();
    assert!(
        batches <= 2,
        "99 failures queued behind one write took {batches} writes"
    );
}

#[test]
fn dropping_the_health_writes_everything_sent() {
    let fake = Arc::new(Fake::default());
    let health = Health::with_store(Arc::clone(&fake) as Arc<dyn FailureStore>);
    for n in 0..2000 {
        health.record_failure(failure(n));
    }
    drop(health);
    assert_eq!(fake.written(), ids(0..2000));

    // The same with the SQLite log, read back at once.
    let dir = std::env::temp_dir().join(format!("logbridge-writer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let log = Arc::new(FailureLog::open(&dir).unwrap());
    let health = Health::with_store(Arc::clone(&log) as Arc<dyn FailureStore>);
    for n in 0..700 {
        health.record_failure(failure(n));
    }
    drop(health);
    let rows = log.list(&FailureFilter::default()).unwrap();
    assert_eq!(rows.len(), 700);
    assert_eq!(rows[699].event_id.as_deref(), Some("e699"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_full_queue_makes_the_sender_wait_and_drops_nothing() {
    let fake = Fake::shut();
    let capacity = 4;
    let health = Arc::new(Health::with_store_queue(
        Arc::clone(&fake) as Arc<dyn FailureStore>,
        capacity,
    ));
    let total = FAILURE_BATCH + capacity + 50;
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (health, sent) = (Arc::clone(&health), Arc::clone(&sent));
        std::thread::spawn(move || {
            for n in 0..total {
                health.record_failure(failure(n));
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    wait_until("the writer waits on the store", || {
        fake.waiting.load(Ordering::SeqCst)
    });
    // However long it is given, the sender cannot get further than one batch in the
    // writer's hands and a full queue while the store is shut.
    std::thread::sleep(Duration::from_millis(300));
    let ahead = sent.load(Ordering::SeqCst);
    assert!(
        ahead <= FAILURE_BATCH + capacity,
        "{ahead} failures were taken while the store was shut: they were not held back"
    );
    fake.open();
    sender.join().unwrap();
    health.flush_failures();
    assert_eq!(fake.written(), ids(0..total), "nothing dropped, in order");
    assert_eq!(health.report().failure_log_errors, 0);
}

/// A health whose failure log cannot be written, handed three failures.
fn three_failures_on_a_failing_store() -> (Arc<Fake>, Health) {
    let fake = Arc::new(Fake::default());
    fake.fail.store(true, Ordering::SeqCst);
    let health = Health::with_store(Arc::clone(&fake) as Arc<dyn FailureStore>);
    for n in 0..3 {
        health.record_failure(failure(n));
    }
    health.flush_failures();
    (fake, health)
}

#[test]
fn failures_that_cannot_be_written_are_held_and_written_once_they_can() {
    let (fake, health) = three_failures_on_a_failing_store();
    let report = health.report();
    assert_eq!(report.failure_log_errors, 0, "held, not lost");
    let why = report.failure_log_blocked.clone().expect("health says why");
    assert!(why.contains("3 failure(s) are held"), "{why}");
    assert_eq!(report.verdict().status, Status::Failing);
    assert!(
        report.verdict().reasons[0].starts_with("intake stopped: the failure log cannot"),
        "{:?}",
        report.verdict().reasons
    );
    // Space returns: the writer tries again by itself.
    fake.fail.store(false, Ordering::SeqCst);
    wait_until("the held failures are written", || {
        fake.written().len() == 3
    });
    assert_eq!(fake.written(), ids(0..3), "in order");
    wait_until("health no longer says intake stopped", || {
        health.report().failure_log_blocked.is_none()
    });
    let reasons = health.report().verdict().reasons;
    assert!(
        reasons.iter().all(|r| !r.starts_with("intake stopped")),
        "{reasons:?}"
    );
}

#[test]
fn failures_never_written_are_counted_lost_when_the_writer_stops() {
    let (_fake, health) = three_failures_on_a_failing_store();
    let metrics = Arc::clone(&health.metrics);
    // The writer tries a few more times, then gives up on what has no write-ahead log.
    drop(health);
    assert_eq!(metrics.failure_log_errors.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_on_the_async_runtime_waits_without_stopping_it() {
    let fake = Fake::shut();
    let health = Arc::new(Health::with_store_queue(
        Arc::clone(&fake) as Arc<dyn FailureStore>,
        1,
    ));
    let total = FAILURE_BATCH + 20;
    let sending = {
        let health = Arc::clone(&health);
        tokio::spawn(async move {
            for n in 0..total {
                health.record_failure(failure(n));
            }
        })
    };
    // The runtime still runs other tasks while the sender waits.
    let other = tokio::spawn(async { 7 }).await.unwrap();
    assert_eq!(other, 7);
    fake.open();
    sending.await.unwrap();
    health.flush_failures();
    assert_eq!(fake.written(), ids(0..total));
}
