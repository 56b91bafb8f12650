//! Tests of the health module.

use super::*;

fn delivery_failure(bus: &str) -> Failure {
    Failure {
        stage: Stage::Delivery,
        event_id: Some("e".into()),
        origin: bus.into(),
        version: None,
        code: FailureCode::EventBridge("InternalFailure".into()),
        message: "down".into(),
        attempts: 4,
        first_attempt: SystemTime::now(),
        event: None,
        input: None,
    }
}

#[test]
fn deliveries_are_noted_once_a_second_and_never_over_a_later_failure() {
    let dir = std::env::temp_dir().join(format!("logbridge-noted-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let log = Arc::new(FailureLog::open(&dir).unwrap());
    let health = Health::with_store(Arc::clone(&log) as Arc<dyn FailureStore>);
    let state = |log: &FailureLog| {
        log.bus_states()
            .unwrap()
            .into_iter()
            .find(|b| b.bus == "security")
            .expect("the bus is known")
    };

    health.record_delivered("security", 10);
    health.flush_failures();
    let first = state(&log)
        .last_delivered
        .expect("the first delivery is written");
    // Within the second: held back, not written.
    std::thread::sleep(Duration::from_millis(5));
    health.record_delivered("security", 10);
    health.flush_failures();
    assert_eq!(state(&log).last_delivered.as_deref(), Some(first.as_str()));
    // Shutdown writes what was held back.
    health.note_deliveries();
    assert_ne!(state(&log).last_delivered.as_deref(), Some(first.as_str()));

    // A delivery held back, then a failure: the failure stands at shutdown.
    health.record_delivered("security", 10);
    health.record_failure(delivery_failure("security"));
    health.note_deliveries();
    assert!(
        state(&log).failing_since.is_some(),
        "a held-back delivery cleared the failure that came after it"
    );
    // The next delivery after a failure is written at once.
    health.record_delivered("security", 10);
    health.flush_failures();
    assert!(state(&log).failing_since.is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
