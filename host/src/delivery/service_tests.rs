//! Tests of the delivery task: per-entry retries, partial resends, short answers, the
//! shutdown deadline and abort, against scripted sinks.

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
        tickets: ids.iter().map(|_| Ticket::default()).collect(),
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
async fn an_abort_fails_what_is_in_flight_batched_and_still_coming() {
    /// Never answers.
    struct Hanging;
    impl Sink for Hanging {
        fn put<'a>(&'a self, _bus: &'a str, _entries: &'a [Event]) -> PutFuture<'a> {
            Box::pin(std::future::pending())
        }
    }
    let routed = |bus: &str, ids: std::ops::Range<u32>| -> Vec<(Routed, Ticket)> {
        ids.map(|n| {
            let routed = Routed {
                bus: bus.into(),
                event: event(&format!("{bus}-{n}")),
            };
            (routed, Ticket::default())
        })
        .collect()
    };
    let (tx, rx) = async_channel::bounded(16);
    let (abort, aborted) = tokio::sync::watch::channel(false);
    let health = Arc::new(Health::new());
    let config = DeliveryConfig {
        batch: BatchLimits {
            linger: Duration::from_secs(600),
            ..BatchLimits::default()
        },
        ..DeliveryConfig::default()
    };
    let task = tokio::spawn(run(
        rx,
        None,
        Arc::new(Hanging),
        config,
        Arc::clone(&health),
        broadcast::channel(1).0,
        aborted,
    ));
    // A full batch for `a` goes out and hangs; three for `b` wait to fill a batch.
    tx.send(routed("a", 0..10)).await.unwrap();
    tx.send(routed("b", 0..3)).await.unwrap();
    while !tx.is_empty() {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    abort.send(true).unwrap();
    // Still coming after the abort: a worker finishing the events in its hands.
    tx.send(routed("b", 3..5)).await.unwrap();
    drop(tx);
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("an abort ends delivery without waiting for the sink")
        .unwrap();
    let report = health.report();
    assert_eq!(report.buses["a"].failed, 10, "in flight");
    assert_eq!(report.buses["b"].failed, 5, "batched, and still coming");
    assert!(
        report
            .recent_failures
            .iter()
            .all(|f| f.code == ABORTED && f.event.is_some()),
        "{:?}",
        report.recent_failures
    );
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
