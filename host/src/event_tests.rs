//! Tests of the Auth0 log mapping, envelope checks and EventBridge size accounting.

use super::*;
use serde_json::{Value, json};

const LOG: &str = r#"{"date":"2026-11-01T00:00:00.035Z","type":"s","description":"Success Login","ip":"203.0.113.7","user_name":"jane@example.com","log_id":"90020261101","tenant_name":"acme"}"#;

fn detail(event: &Event) -> Value {
    serde_json::from_str(&event.detail).unwrap()
}

#[test]
fn bare_log_becomes_auth0_shaped_detail() {
    let event = Envelope::default().auth0_event(LOG).unwrap();
    assert_eq!(event.id, "90020261101");
    assert_eq!(event.source, DEFAULT_SOURCE);
    assert_eq!(event.detail_type, "Auth0 log");
    assert_eq!(event.time, "2026-11-01T00:00:00.035Z");
    let log: Value = serde_json::from_str(LOG).unwrap();
    assert_eq!(
        detail(&event),
        json!({"log_id": "90020261101", "data": log})
    );
}

#[test]
fn stream_record_and_bare_log_map_to_the_same_event() {
    let record = format!(r#"{{"log_id":"90020261101","data":{LOG}}}"#);
    let envelope = Envelope::default();
    assert_eq!(
        envelope.auth0_event(&record).unwrap(),
        envelope.auth0_event(LOG).unwrap()
    );
}

#[test]
fn log_json_is_carried_byte_for_byte() {
    let event = Envelope::default().auth0_event(LOG).unwrap();
    assert!(event.detail.ends_with(&format!(",\"data\":{LOG}}}")));
}

#[test]
fn legacy_id_is_accepted() {
    let old = r#"{"_id":"abc","date":"2019-01-01T00:00:00Z","type":"f","isMobile":false}"#;
    assert_eq!(Envelope::default().auth0_event(old).unwrap().id, "abc");
}

#[test]
fn bad_records_say_what_is_wrong() {
    let envelope = Envelope::default();
    let err = |s: &str| envelope.auth0_event(s).unwrap_err();
    assert!(matches!(err("{not json"), EventError::NotJson(_)));
    assert_eq!(err("[1,2]"), EventError::NotAnObject("an array"));
    assert_eq!(err("[1]"), EventError::NotAnObject("an array"));
    assert_eq!(err("7"), EventError::NotAnObject("a number"));
    assert_eq!(err("\"x\""), EventError::NotAnObject("a string"));
    assert_eq!(
        err(r#"{"log_id":"a","data":[]}"#),
        EventError::DataNotAnObject("an array")
    );
    assert_eq!(
        err(r#"{"date":"2026-11-01T00:00:00Z"}"#),
        EventError::MissingLogId
    );
    assert_eq!(
        err(r#"{"log_id":"","date":"2026-11-01T00:00:00Z"}"#),
        EventError::MissingLogId
    );
    assert_eq!(err(r#"{"log_id":"a"}"#), EventError::MissingDate);
    assert!(matches!(
        err(r#"{"log_id":5,"date":"x"}"#),
        EventError::BadField(_)
    ));
    assert_eq!(
        err(r#"{"log_id":"a","date":"yesterday"}"#),
        EventError::BadDate("yesterday".into())
    );
}

#[test]
fn logs_eventbridge_would_refuse_are_bad_input() {
    let envelope = Envelope::default();
    let log =
        |data: &str| format!(r#"{{"log_id":"a","date":"2026-11-01T00:00:00Z","details":{data}}}"#);
    for data in [
        "18446744073709551616",
        "-9223372036854775809",
        &"9".repeat(100),
    ] {
        assert!(matches!(
            envelope.auth0_event(&log(data)),
            Err(EventError::Undeliverable(DetailProblem::IntegerOutOfRange(
                _
            )))
        ));
    }
    // The detail wraps the log: 99 levels of log make 100 of detail.
    let deep = |levels: usize| log(&format!("{}{}", "[".repeat(levels), "]".repeat(levels)));
    assert!(envelope.auth0_event(&deep(MAX_DETAIL_DEPTH - 2)).is_ok());
    assert_eq!(
        envelope.auth0_event(&deep(MAX_DETAIL_DEPTH - 1)),
        Err(EventError::Undeliverable(DetailProblem::TooDeep))
    );
}

#[test]
fn envelope_rejects_what_eventbridge_rejects() {
    assert_eq!(Envelope::new("", "x"), Err(EnvelopeError::EmptySource));
    assert!(matches!(
        Envelope::new("aws.partner/auth0.com/x", "x"),
        Err(EnvelopeError::ReservedSource(_))
    ));
    assert_eq!(
        Envelope::new("a", ""),
        Err(EnvelopeError::DetailTypeLength(0))
    );
    assert_eq!(
        Envelope::new("a", "é".repeat(129)),
        Err(EnvelopeError::DetailTypeLength(129))
    );
    assert!(Envelope::new("a", "é".repeat(128)).is_ok());
}

#[test]
fn entry_size_follows_eventbridge_formula() {
    let event = Event {
        id: "ignored".into(),
        source: "src".into(),
        detail_type: "dt".into(),
        time: "2026-11-01T00:00:00Z".into(),
        resources: vec!["arn:a".into(), "arn:bb".into()],
        detail: "{\"é\":1}".into(),
    };
    assert_eq!(event.entry_size(), 14 + 3 + 2 + 8 + 5 + 6);
    let untimed = Event {
        time: String::new(),
        ..event
    };
    assert_eq!(untimed.entry_size(), 3 + 2 + 8 + 5 + 6);
}
