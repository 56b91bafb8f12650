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

/// Records of every shape the mapping meets: what Auth0 sends, and odd and wrong ones.
fn corpus() -> Vec<String> {
    let wrapped = |log: &str| format!(r#"{{"log_id":"90020261101","data":{log}}}"#);
    let nested = |levels: usize| {
        format!(
            r#"{{"log_id":"a","date":"2026-11-01T00:00:00Z","d":{}{}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    let rich = r#"{"date":"2026-11-02T08:00:00.026Z","type":"mgmt_api_read","ip":"192.0.2.159","user_name":"dara@example.org","is_mobile":false,"details":{"completedAt":1793606400639,"prompts":[{"elapsedTime":72,"name":"login-id"}],"response":{"body":{},"statusCode":200},"ratio":-0.5},"location_info":{"latitude":25.69,"longitude":-100.32},"log_id":"9002026110208000002658255360400717039350569552028118971"}"#;
    let mut records = vec![
        LOG.to_string(),
        wrapped(LOG),
        rich.to_string(),
        wrapped(rich),
        format!("  \n{}\t ", wrapped(LOG)),
        r#"{"_id":"abc","date":"2019-01-01T00:00:00Z","type":"f"}"#.into(),
        r#"{"log_id":"outer","data":{"_id":"old","date":"2026-11-01T00:00:00Z"}}"#.into(),
        r#"{"data":{"log_id":"inner","date":"2026-11-01T00:00:00Z"}}"#.into(),
        r#"{"log_id":"a\"b","date":"2026-11-01T00:00:00Z"}"#.into(),
        r#"{"log_id":"a\u0041","date":"2026-11-01T00:00:00Z"}"#.into(),
        r#"{"log_id":"é€𝄞","date":"2026-11-01T00:00:00Z","name":"ünï"}"#.into(),
        r#"{"log_id":null,"_id":"x","date":"2026-11-01T00:00:00Z"}"#.into(),
        r#"{"log_id":"a","date":"2026-11-01T00:00:00Z","data":null}"#.into(),
        r#"{"log_id":"a","date":5,"data":{"date":"2026-11-01T00:00:00Z"}}"#.into(),
        r#"{"log_id":"a","data":{"date":"2026-11-01T00:00:00Z","data":1,"data":2}}"#.into(),
        r#"{"log_id":"a","log_id":"b","date":"2026-11-01T00:00:00Z"}"#.into(),
        r#"{"log_id":"a","data":{},"data":{}}"#.into(),
        r#"{"log_id":"a","date":"2026-11-01T00:00:00Z","t":"x","t":"y"}"#.into(),
        r#"{"log_id":"a","data":[]}"#.into(),
        r#"{"log_id":"a","data":"s"}"#.into(),
        r#"{"log_id":"","date":"2026-11-01T00:00:00Z"}"#.into(),
        r#"{"log_id":"a","date":"yesterday"}"#.into(),
        r#"{"log_id":"a"}"#.into(),
        r#"{}"#.into(),
        r#"{"log_id":"a","date":"2026-11-01T00:00:00Z","n":9223372036854775807,"m":-9223372036854775808}"#.into(),
        r#"{"log_id":"a","date":"2026-11-01T00:00:00Z","n":9223372036854775808}"#.into(),
        r#"{"log_id":"a","date":"2026-11-01T00:00:00Z","n":123456789012345678,"f":1e400,"g":2.5E-3}"#.into(),
        r#"{"log_id":"a","date":"2026-11-01T00:00:00Z","s":"tab	in"}"#.into(),
        r#"{"log_id":"a","date":"2026-11-01T00:00:00Z"} trailing"#.into(),
        "[1,2]".into(),
        "\"x\"".into(),
        "{not json".into(),
        nested(MAX_DETAIL_DEPTH - 2),
        nested(MAX_DETAIL_DEPTH - 1),
        nested(MAX_DETAIL_DEPTH),
        wrapped(&nested(MAX_DETAIL_DEPTH - 2)),
        wrapped(&nested(MAX_DETAIL_DEPTH - 1)),
    ];
    records.push(wrapped(&records[records.len() - 3]));
    records
}

#[test]
fn what_auth0_sends_is_read_in_the_fast_pass() {
    let rich = &corpus()[2];
    for record in [
        LOG.to_string(),
        rich.clone(),
        format!(r#"{{"log_id":"90020261101","data":{LOG}}}"#),
        format!(r#"{{"log_id":"9","data":{rich}}}"#),
    ] {
        let picked = picked(&record).expect("the fast pass takes a plain Auth0 record");
        assert!(picked.checked, "{record}");
    }
    // What it leaves to serde: an escape in a field it reads, a repeated one.
    for record in [
        r#"{"log_id":"a\"b","date":"2026-11-01T00:00:00Z"}"#,
        r#"{"log_id":"a","log_id":"b","date":"2026-11-01T00:00:00Z"}"#,
        r#"{"log_id":"a","date":"2026-11-01T00:00:00Z","data":null}"#,
    ] {
        assert!(picked(record).is_none(), "{record}");
    }
}

/// What `auth0_event` makes of `record` must be what the serde parse alone makes of it.
fn agrees(envelope: &Envelope, record: &str) -> bool {
    let fast = envelope.auth0_event(record);
    let slow = envelope.parsed(record.trim());
    assert_eq!(fast, slow, "the fast pass and serde disagree on {record:?}");
    picked(record.trim()).is_some()
}

#[test]
fn the_fast_pass_maps_every_record_as_the_serde_parse_does() {
    let envelope = Envelope::default();
    let (mut records, mut fast) = (0, 0);
    let mut check = |record: &str| {
        records += 1;
        fast += usize::from(agrees(&envelope, record));
    };
    for record in corpus() {
        check(&record);
        let bytes = record.as_bytes();
        for at in 0..bytes.len() {
            check(&String::from_utf8_lossy(&bytes[..at]));
            if !bytes[at].is_ascii() {
                continue;
            }
            let mut cut = bytes.to_vec();
            cut.remove(at);
            check(&String::from_utf8_lossy(&cut));
            for &b in b"\"\\{}[]:,09-.eE n\x01a" {
                let mut changed = bytes.to_vec();
                changed[at] = b;
                check(std::str::from_utf8(&changed).expect("ASCII for ASCII"));
            }
        }
    }
    // The comparison means something only if the fast pass took a good share.
    assert!(fast * 4 > records, "the fast pass took {fast} of {records}");
}
