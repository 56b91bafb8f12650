//! Tests of `cases`.

use std::sync::atomic::{AtomicUsize, Ordering};

use logbridge::pipeline::Routed;
use serde_json::json;

use super::*;

/// Reads `text` as the cases file `name`, written to a folder of its own (tests run side
/// by side) that is removed after.
fn read_text(name: &str, text: &str) -> Result<Vec<Case>, Vec<Malformed>> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "logbridge-cases-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    let result = read(&file, &Envelope::default());
    std::fs::remove_dir_all(&dir).unwrap();
    result
}

fn messages(errors: Vec<Malformed>) -> Vec<String> {
    errors
        .into_iter()
        .map(|e| {
            let text = e.to_string();
            text[text.find(": ").unwrap() + 2..].to_string()
        })
        .collect()
}

fn routed(buses: &[&str], detail: &str) -> Outcome {
    let event = Envelope::default()
        .auth0_event(r#"{"log_id":"1","date":"2026-01-01T00:00:00Z"}"#)
        .unwrap();
    Outcome::Routed {
        entries: buses
            .iter()
            .map(|bus| Routed {
                bus: (*bus).to_string(),
                event: Event {
                    detail: detail.to_string(),
                    ..event.clone()
                },
            })
            .collect(),
        checked: true,
    }
}

#[test]
fn a_toml_case_reads_its_input_and_expectations_filling_in_id_and_date() {
    let cases = read_text(
        "ok.toml",
        r#"
[[case]]
name = "masked"
input = '{"type":"s","user_name":"jane@example.com"}'
[case.expect]
buses = ["default"]
absent = ["data.ip"]
[case.expect.fields]
"data.user_name" = "***@example.com"
data.type = "s"
"#,
    )
    .unwrap();
    assert_eq!(cases.len(), 1);
    let case = &cases[0];
    assert_eq!(case.name, "masked");
    assert_eq!(case.input.id, "case-1");
    assert_eq!(case.input.time, DEFAULT_DATE);
    assert_eq!(
        case.expect.buses.as_deref(),
        Some(&["default".to_string()][..])
    );
    assert_eq!(
        case.expect.fields,
        // In path order, whatever the file's.
        [
            ("data.type".to_string(), json!("s")),
            ("data.user_name".to_string(), json!("***@example.com")),
        ]
    );
    assert_eq!(case.expect.absent, ["data.ip"]);
}

#[test]
fn a_json_case_file_takes_a_record_as_given() {
    let cases = read_text(
        "ok.json",
        r#"{"case": [{"name": "r", "input": {"log_id": "900", "data": {"type": "f", "date": "2026-11-02T08:00:00Z"}},
            "expect": {"dropped": true, "by": "10-drop-noise"}}]}"#,
    )
    .unwrap();
    assert_eq!(cases[0].input.id, "900");
    assert_eq!(cases[0].input.time, "2026-11-02T08:00:00Z");
    assert_eq!(cases[0].expect.by.as_deref(), Some("10-drop-noise"));
}

#[test]
fn malformed_cases_name_the_case_and_the_key() {
    let errors = read_text(
        "bad.toml",
        r#"
[[case]]
name = "one"
input = '{"type":"s"}'
[case.expect]
bus = ["x"]

[[case]]
name = "two"
input = 'not json'
[case.expect]
dropped = "yes"

[[case]]
input = '{}'
expect = { dropped = true }
"#,
    )
    .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text[0].ends_with(
            "bad.toml: case 1 \"one\": `expect.bus`: unknown key; the keys here are \
             `dropped`, `failed`, `by`, `code`, `buses`, `fields`, `absent`"
        ),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("case 1 \"one\": `expect`: expects nothing")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("case 2 \"two\": `input`: not valid JSON")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("case 2 \"two\": `expect.dropped`: must be true or false")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|t| t.contains("case 3: `name`: missing")),
        "{text:?}"
    );
}

#[test]
fn contradictions_and_files_without_cases_are_refused() {
    let errors = read_text(
        "c.toml",
        "[[case]]\nname = \"x\"\ninput = '{}'\nexpect = { dropped = true, buses = [\"a\"] }\n",
    )
    .unwrap_err();
    assert!(messages(errors)[0].contains("`expect.dropped`: a dropped event has no buses"));
    let errors = read_text("e.toml", "title = \"x\"\n").unwrap_err();
    let text = messages(errors);
    assert!(text[0].starts_with("`title`: unknown key"), "{text:?}");
    assert!(text[1].starts_with("`case`: no cases"), "{text:?}");
    let errors = read_text("t.toml", "[[case]\n").unwrap_err();
    assert!(messages(errors)[0].starts_with("not valid TOML"));
    let errors = read_text(
        "b.toml",
        "[[case]]\nname = \"x\"\ninput = '{\"date\": \"yesterday\"}'\nexpect = { dropped = true }\n",
    )
    .unwrap_err();
    assert!(messages(errors)[0].contains("`input`: the log's `date`"));
}

#[test]
fn check_reports_each_expectation_that_did_not_hold() {
    let expect = Expect {
        buses: Some(vec!["audit".into(), "security".into()]),
        fields: vec![
            ("data.user_name".into(), json!("j***@example.com")),
            ("data.type".into(), json!("f")),
            ("data.missing".into(), json!(1)),
        ],
        absent: vec!["data.ip".into()],
        ..Expect::default()
    };
    let outcome = routed(
        &["security", "security"],
        r#"{"log_id":"1","data":{"type":"f","user_name":"***@example.com","ip":"1.2.3.0"}}"#,
    );
    assert_eq!(
        expect.check(&outcome),
        [
            Mismatch {
                key: "buses".into(),
                expected: r#"["audit","security"]"#.into(),
                got: r#"["security"]"#.into()
            },
            Mismatch {
                key: "data.user_name".into(),
                expected: r#""j***@example.com""#.into(),
                got: r#""***@example.com""#.into()
            },
            Mismatch {
                key: "data.missing".into(),
                expected: "1".into(),
                got: "absent".into()
            },
            Mismatch {
                key: "data.ip".into(),
                expected: "absent".into(),
                got: r#""1.2.3.0""#.into()
            },
        ]
    );
    let in_any_order = Expect {
        buses: Some(vec!["b".into(), "a".into()]),
        ..Expect::default()
    };
    assert!(in_any_order.check(&routed(&["a", "b"], "{}")).is_empty());
}

#[test]
fn check_compares_drops_and_names_the_filter() {
    let dropped = Outcome::Filtered {
        plugin: "10-drop-noise".into(),
    };
    let by_other = Expect {
        dropped: Some(true),
        by: Some("15-other".into()),
        ..Expect::default()
    };
    assert_eq!(
        by_other.check(&dropped),
        [Mismatch {
            key: "by".into(),
            expected: r#""15-other""#.into(),
            got: r#""10-drop-noise""#.into()
        }]
    );
    let wants_buses = Expect {
        buses: Some(vec!["default".into()]),
        ..Expect::default()
    };
    assert_eq!(
        wants_buses.check(&dropped),
        [Mismatch {
            key: "outcome".into(),
            expected: "routed".into(),
            got: "dropped by 10-drop-noise".into()
        }]
    );
    let wants_drop = Expect {
        dropped: Some(true),
        ..Expect::default()
    };
    assert_eq!(
        wants_drop.check(&routed(&["default"], "{}"))[0].got,
        "routed to default"
    );
}

#[test]
fn lookup_walks_objects_and_arrays() {
    let value = json!({"data": {"a": [{"b": 1}]}});
    assert_eq!(lookup(&value, "data.a.0.b"), Some(&json!(1)));
    assert_eq!(lookup(&value, "data.a.1"), None);
    assert_eq!(lookup(&value, "data.x"), None);
}
