//! Tests of `rules`.

use super::*;

fn config(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn event(kind: &str) -> Value {
    envelope(
        "auth0",
        "Auth0 log",
        "2026-11-02T08:00:00Z",
        &[],
        serde_json::json!({"log_id": "1", "data": {"type": kind}}),
    )
}

#[test]
fn a_router_sends_to_the_union_of_matching_buses() {
    let rules = RuleSet::from_config(
        &config(&[
            ("rule.0.name", "failed"),
            (
                "rule.0.pattern",
                r#"{"detail": {"data": {"type": ["f", "fp"]}}}"#,
            ),
            ("rule.0.bus", "security"),
            ("rule.1.name", "all-from-auth0"),
            ("rule.1.pattern", r#"{"source": ["auth0"]}"#),
            ("rule.1.bus", "archive"),
            ("rule.2.name", "also-security"),
            (
                "rule.2.pattern",
                r#"{"detail-type": [{"prefix": "Auth0"}], "detail": {"data": {"type": ["fp"]}}}"#,
            ),
            ("rule.2.bus", "security"),
        ]),
        Role::Router,
    )
    .unwrap();
    let mut scratch = Scratch::default();
    let mut buses = Vec::new();
    rules.buses(&event("fp"), &mut scratch, &mut buses);
    assert_eq!(buses, ["security", "archive"]);
    rules.buses(&event("s"), &mut scratch, &mut buses);
    assert_eq!(buses, ["archive"]);
}

#[test]
fn a_pruned_detail_matches_as_the_whole_one_does() {
    let rules = RuleSet::from_config(
        &config(&[
            ("rule.0.name", "n"),
            ("rule.0.pattern", r#"{"detail": {"data": {"type": ["f"], "details": {"n": [{"numeric": [">", 1]}]}, "tags": [{"exists": false}]}}}"#),
            ("rule.0.bus", "b"),
        ]),
        Role::Router,
    )
    .unwrap();
    let mut scratch = Scratch::default();
    let mut buses = Vec::new();
    for (detail, expected) in [
        (
            r#"{"log_id": "1", "data": {"type": "f", "other": {"x": [1, 2]}, "details": {"n": 2, "m": "x"}}}"#,
            true,
        ),
        (
            r#"{"log_id": "1", "data": {"type": "f", "details": {"n": 1}}}"#,
            false,
        ),
        (
            r#"{"log_id": "1", "data": {"type": "f", "details": {"n": 2}, "tags": ["a"]}}"#,
            false,
        ),
    ] {
        let whole: Value = serde_json::from_str(detail).unwrap();
        let pruned = rules.parse_detail(detail).unwrap();
        assert!(
            pruned["data"].get("other").is_none(),
            "unread members are not built"
        );
        for value in [whole, pruned] {
            let event = envelope("s", "t", "2026-11-02T08:00:00Z", &[], value);
            rules.buses(&event, &mut scratch, &mut buses);
            assert_eq!(!buses.is_empty(), expected, "{detail}");
        }
    }
}

#[test]
fn a_filter_drops_what_a_drop_rule_matches() {
    let rules = RuleSet::from_config(
        &config(&[
            ("rule.0.name", "token-noise"),
            (
                "rule.0.pattern",
                r#"{"detail": {"data": {"type": [{"prefix": "se"}]}}}"#,
            ),
            ("rule.0.action", "drop"),
        ]),
        Role::Filter,
    )
    .unwrap();
    let mut scratch = Scratch::default();
    assert_eq!(
        rules
            .dropped_by(&event("seacft"), &mut scratch)
            .map(|r| r.name.as_str()),
        Some("token-noise")
    );
    assert!(rules.dropped_by(&event("s"), &mut scratch).is_none());
}

#[test]
fn bad_rules_are_refused_with_what_to_fix() {
    for (pairs, role, says) in [
        (
            vec![
                ("rule.0.name", "x"),
                ("rule.0.pattern", r#"{"source": []}"#),
                ("rule.0.bus", "b"),
            ],
            Role::Router,
            "rule `x`: Event pattern is not valid. Reason: Empty arrays are not allowed",
        ),
        (
            vec![
                ("rule.0.name", "x"),
                ("rule.0.pattern", r#"{"source": ["a"]}"#),
            ],
            Role::Router,
            "has no `bus`",
        ),
        (
            vec![
                ("rule.0.name", "x"),
                ("rule.0.pattern", r#"{"source": ["a"]}"#),
                ("rule.0.action", "drop"),
            ],
            Role::Router,
            "drop rules go to the filter",
        ),
        (
            vec![
                ("rule.0.name", "x"),
                ("rule.0.pattern", r#"{"source": ["a"]}"#),
                ("rule.0.bus", "b"),
            ],
            Role::Filter,
            "this is the filter",
        ),
        (
            vec![
                ("rule.0.pattern", r#"{"source": ["a"]}"#),
                ("rule.0.bus", "b"),
            ],
            Role::Router,
            "rule 1 has no `name`",
        ),
        (
            vec![("security_bus", "s")],
            Role::Router,
            "unknown config key `security_bus`",
        ),
        (vec![], Role::Router, "no rules"),
    ] {
        let err = RuleSet::from_config(&config(&pairs), role).unwrap_err();
        assert!(err.to_string().contains(says), "{pairs:?}: {err}");
    }
}
