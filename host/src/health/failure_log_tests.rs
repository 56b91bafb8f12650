//! Tests of the SQLite failure log: rows survive reopening, filters, replay marks,
//! corrupt rows, and runs read back typed.

use super::*;
use crate::event::Event;
use crate::health::HealthReport;
use crate::scratch::Scratch;

fn failure(stage: Stage, origin: &str, id: &str) -> Failure {
    Failure {
        stage,
        event_id: Some(id.into()),
        origin: origin.into(),
        version: None,
        code: "ThrottlingException".into(),
        message: "slow down".into(),
        attempts: 4,
        first_attempt: SystemTime::now(),
        event: Some(Event {
            id: id.into(),
            source: "s".into(),
            detail_type: "d".into(),
            time: "2026-11-25T09:00:00Z".into(),
            resources: vec!["arn:x".into()],
            detail: "{\"a\":1}".into(),
        }),
        input: None,
    }
}

fn scratch(name: &str) -> Scratch {
    Scratch::new(name)
}

#[test]
fn a_corrupt_row_is_an_error_not_another_stage() {
    let dir = scratch("failure-log-corrupt");
    let log = FailureLog::open(&dir).unwrap();
    log.record(&failure(Stage::Plugin, "20-redact", "e1"))
        .unwrap();
    let db = Connection::open(dir.join(FAILURE_LOG_FILE)).unwrap();
    db.execute("UPDATE failures SET stage = 'bogus'", [])
        .unwrap();
    let error = log.list(&FailureFilter::default()).unwrap_err();
    assert!(
        error.to_string().contains("unknown stage \"bogus\""),
        "{error}"
    );
    db.execute(
        "UPDATE failures SET stage = 'plugin', entry = '{not json'",
        [],
    )
    .unwrap();
    let error = log.list(&FailureFilter::default()).unwrap_err();
    assert!(error.to_string().contains("stored event"), "{error}");
}

#[test]
fn failures_survive_reopening_and_filter() {
    let dir = scratch("failure-log");
    {
        let log = FailureLog::open(&dir).unwrap();
        log.record(&failure(Stage::Delivery, "security", "e1"))
            .unwrap();
        log.record(&failure(Stage::Delivery, "audit", "e2"))
            .unwrap();
        log.record(&failure(Stage::Plugin, "20-redact", "e3"))
            .unwrap();
    }
    let log = FailureLog::open(&dir).unwrap();
    let all = log.list(&FailureFilter::default()).unwrap();
    assert_eq!(all.len(), 3);
    let e1 = &all[0];
    assert_eq!(
        (e1.stage, e1.origin.as_str(), e1.attempts),
        (Stage::Delivery, "security", 4)
    );
    let entry = e1.entry.clone().unwrap();
    assert_eq!(
        (entry.detail.as_str(), entry.resources.len()),
        ("{\"a\":1}", 1)
    );

    let security = FailureFilter {
        bus: Some("security".into()),
        ..FailureFilter::default()
    };
    assert_eq!(log.list(&security).unwrap().len(), 1);
    let plugins = FailureFilter {
        stage: Some(Stage::Plugin),
        ..FailureFilter::default()
    };
    assert_eq!(
        log.list(&plugins).unwrap()[0].event_id.as_deref(),
        Some("e3")
    );
    let future = FailureFilter {
        since: Some("2999-01-01T00:00:00Z".into()),
        ..FailureFilter::default()
    };
    assert!(log.list(&future).unwrap().is_empty());

    log.mark_replayed(e1.id, SystemTime::now()).unwrap();
    assert_eq!(log.list(&FailureFilter::default()).unwrap().len(), 2);
    assert!(log.get(e1.id).unwrap().unwrap().replayed_at.is_some());
    log.record_retry(
        all[1].id,
        4,
        &FailureCode::parse("InternalFailure"),
        "again",
        SystemTime::now(),
    )
    .unwrap();
    let e2 = log.get(all[1].id).unwrap().unwrap();
    assert_eq!((e2.attempts, e2.code.as_str()), (8, "InternalFailure"));
}

#[test]
fn a_run_reads_back_typed_and_an_older_report_reads_with_defaults() {
    let dir = scratch("failure-log-runs");
    let log = FailureLog::open(&dir).unwrap();
    assert!(log.last_run().unwrap().is_none());
    let mut report = HealthReport {
        accepted: 12,
        filtered: 3,
        ..HealthReport::default()
    };
    report.buses.insert(
        "security".into(),
        crate::health::BusCounts {
            delivered: 9,
            retried: 2,
            last_delivered: Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(9)),
            ..Default::default()
        },
    );
    let started = SystemTime::now();
    log.record_run(started, &report).unwrap();
    let run = log.last_run().unwrap().expect("a run is stored");
    assert_eq!(run.started_at, rfc3339(started));
    assert_eq!(run.report, report);

    // A report as an earlier version wrote it: fewer fields, one it no longer writes.
    let db = Connection::open(dir.join(FAILURE_LOG_FILE)).unwrap();
    db.execute(
        "INSERT INTO runs (started_at, finished_at, report) VALUES ('a', 'b', ?1)",
        [r#"{"accepted": 5, "filtered": 1, "old_field": true,
             "buses": {"audit": {"delivered": 4, "failed": 1, "last_delivered": null}},
             "plugins": [{"name": "10-drop", "role": "filter", "hash": "ab", "loaded_at": "t",
                          "call_timeout_ms": 50, "max_memory_mib": 64, "on_error": "skip",
                          "grants": [], "projection": [], "calls": 7, "kept": 6}]}"#],
    )
    .unwrap();
    let old = log.last_run().unwrap().unwrap().report;
    assert_eq!((old.accepted, old.filtered, old.duplicates), (5, 1, 0));
    assert_eq!(old.buses["audit"].failed, 1);
    assert_eq!(
        (old.plugins[0].calls.calls, old.plugins[0].calls.kept),
        (7, 6)
    );

    // One it cannot read: said so, naming the run.
    db.execute(
        "INSERT INTO runs (started_at, finished_at, report) VALUES ('c', 'd', '{\"accepted\": \"x\"}')",
        [],
    )
    .unwrap();
    let error = log.last_run().unwrap_err().to_string();
    assert!(
        error.contains("report of run 3") && error.contains("cannot be read"),
        "{error}"
    );
}

#[test]
fn a_batch_is_written_in_one_transaction() {
    let dir = scratch("failure-log-batch");
    let log = FailureLog::open(&dir).unwrap();
    let batch: Vec<Failure> = (0..300)
        .map(|n| failure(Stage::Delivery, "security", &format!("e{n}")))
        .collect();
    log.record_batch(&batch).unwrap();
    assert_eq!(log.list(&FailureFilter::default()).unwrap().len(), 300);
    assert!(log.bus_states().unwrap()[0].failing_since.is_some());

    // A batch with a row that cannot be written leaves nothing behind.
    let db = Connection::open(dir.join(FAILURE_LOG_FILE)).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON failures WHEN NEW.event_id = 'bad'
         BEGIN SELECT RAISE(ABORT, 'refused'); END;",
    )
    .unwrap();
    let mixed = vec![
        failure(Stage::Plugin, "20-redact", "ok"),
        failure(Stage::Plugin, "20-redact", "bad"),
    ];
    assert!(log.record_batch(&mixed).is_err());
    assert_eq!(log.list(&FailureFilter::default()).unwrap().len(), 300);
}

/// The JSON an entry has always been stored as; logs written by earlier versions hold it.
const STORED_ENTRY: &str = r#"{"id":"e1","source":"s","detail-type":"d","time":"2026-11-25T09:00:00Z","resources":["arn:x"],"detail":"{\"a\":1}"}"#;

#[test]
fn an_event_is_stored_in_the_same_json_as_before_and_reads_back_from_it() {
    let dir = scratch("failure-log-entry-format");
    let log = FailureLog::open(&dir).unwrap();
    let written = failure(Stage::Plugin, "20-redact", "e1");
    log.record(&written).unwrap();
    let db = Connection::open(dir.join(FAILURE_LOG_FILE)).unwrap();
    let stored: String = db
        .query_row("SELECT entry FROM failures", [], |row| row.get(0))
        .unwrap();
    assert_eq!(stored, STORED_ENTRY);

    // A row an earlier version wrote, by hand: the event comes back whole.
    db.execute(
        "UPDATE failures SET entry = ?1",
        rusqlite::params![STORED_ENTRY],
    )
    .unwrap();
    let rows = log.list(&FailureFilter::default()).unwrap();
    assert_eq!(rows[0].entry, written.event);
}
