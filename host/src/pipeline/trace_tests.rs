//! Tests of `trace`.

use serde_json::json;

use super::super::fake::{FakePlugin, Reply};
use super::super::stages::Stages;
use super::super::{Outcome, OutputRules};
use super::*;

fn event(id: &str, data: &str) -> Event {
    Event {
        id: id.into(),
        source: "logbridge.auth0".into(),
        detail_type: "Auth0 log".into(),
        time: "2026-11-01T00:00:00Z".into(),
        resources: Vec::new(),
        detail: format!(r#"{{"log_id":"{id}","data":{data}}}"#),
    }
}

fn stages(plugins: &[FakePlugin]) -> Stages<FakePlugin> {
    Stages::new(plugins.to_vec(), "default".into(), OutputRules::default())
}

fn traced(stages: &mut Stages<FakePlugin>, event: Event) -> (Outcome, Trace) {
    let mut tracer = Tracer::default();
    let outcome = stages.run_observed(event, &mut tracer);
    (outcome, tracer.trace)
}

fn to(bus: &str) -> Destination {
    Destination {
        bus: bus.into(),
        source: None,
        detail_type: None,
    }
}

fn step(plugin: &str, role: Role, action: Action) -> Step {
    Step {
        plugin: plugin.into(),
        role,
        action,
    }
}

fn detail_change(path: &str, before: Option<Value>, after: Option<Value>) -> Change {
    Change {
        part: Part::Detail,
        path: path.into(),
        before,
        after,
    }
}

#[test]
fn a_kept_event_shows_each_filter_each_transformers_changes_and_each_routers_buses() {
    let (filter, _) = FakePlugin::new("10-keep", Role::Filter);
    let (redact, redacts) = FakePlugin::new("20-redact", Role::Transformer);
    redacts.otherwise(Reply::Edits(vec![
        ("data.ip", None),
        ("data.user_name", Some(r#""***@example.com""#.into())),
        ("data.added", Some("1".into())),
    ]));
    let (same, _) = FakePlugin::new("25-same", Role::Transformer);
    let (security, routes) = FakePlugin::new("30-security", Role::Router);
    routes.otherwise(Reply::Route(vec![to("security"), to("")]));
    let (audit, audits) = FakePlugin::new("40-audit", Role::Router);
    audits.otherwise(Reply::Route(vec![to("security")]));
    let mut stages = stages(&[filter, redact, same, security, audit]);
    let input = event(
        "e1",
        r#"{"type":"f","user_name":"jane@example.com","ip":"203.0.113.77"}"#,
    );
    let (outcome, trace) = traced(&mut stages, input.clone());
    assert_eq!(
        trace.steps,
        [
            step("10-keep", Role::Filter, Action::Kept),
            step(
                "20-redact",
                Role::Transformer,
                Action::Transformed {
                    changes: vec![
                        detail_change("data.ip", Some(json!("203.0.113.77")), None),
                        detail_change(
                            "data.user_name",
                            Some(json!("jane@example.com")),
                            Some(json!("***@example.com"))
                        ),
                        detail_change("data.added", None, Some(json!(1))),
                    ]
                }
            ),
            step(
                "25-same",
                Role::Transformer,
                Action::Transformed { changes: vec![] }
            ),
            step(
                "30-security",
                Role::Router,
                Action::Routed {
                    buses: vec!["security".into(), "default".into()]
                }
            ),
            step(
                "40-audit",
                Role::Router,
                Action::Routed {
                    buses: vec!["security".into()]
                }
            ),
        ]
    );
    assert_eq!(trace.named_by("security"), ["30-security", "40-audit"]);
    assert_eq!(trace.named_by("default"), ["30-security"]);
    // The traced run is the run: the same outcome as an untraced one.
    assert_eq!(outcome, stages.run(input));
}

#[test]
fn a_dropped_event_ends_at_the_filter_that_dropped_it() {
    let (keep, _) = FakePlugin::new("10-keep", Role::Filter);
    let (drop, drops) = FakePlugin::new("20-drop", Role::Filter);
    drops.otherwise(Reply::Drop);
    let (transformer, transformed) = FakePlugin::new("30-t", Role::Transformer);
    let mut stages = stages(&[keep, drop, transformer]);
    let (outcome, trace) = traced(&mut stages, event("e1", r#"{"type":"seacft"}"#));
    assert_eq!(
        outcome,
        Outcome::Filtered {
            plugin: "20-drop".into()
        }
    );
    assert_eq!(
        trace.steps,
        [
            step("10-keep", Role::Filter, Action::Kept),
            step("20-drop", Role::Filter, Action::Dropped),
        ]
    );
    assert!(transformed.calls().is_empty());
}

#[test]
fn failures_show_their_code_and_reason_and_whether_the_event_went_on() {
    let (broken, breaks) = FakePlugin::new("20-broken", Role::Transformer);
    let broken = broken.skipped_on_error();
    breaks.otherwise(Reply::Trap("deadline"));
    let (refuser, refuses) = FakePlugin::new("30-refuse", Role::Transformer);
    refuses.otherwise(Reply::Refuse("no `data` object".into()));
    let (router, routed) = FakePlugin::new("50-r", Role::Router);
    let mut stages = stages(&[broken, refuser, router]);
    let (outcome, trace) = traced(&mut stages, event("e1", "{}"));
    assert!(
        matches!(&outcome, Outcome::Failed(f) if f.plugin == "30-refuse"),
        "{outcome:?}"
    );
    assert_eq!(
        trace.steps,
        [
            step(
                "20-broken",
                Role::Transformer,
                Action::Failed {
                    code: FailureCode::Deadline,
                    reason: "20-broken trapped on purpose".into(),
                    skipped: true
                }
            ),
            step(
                "30-refuse",
                Role::Transformer,
                Action::Failed {
                    code: FailureCode::PluginError,
                    reason: "no `data` object".into(),
                    skipped: false
                }
            ),
        ]
    );
    assert!(routed.calls().is_empty());
}

#[test]
fn a_router_that_names_no_bus_leaves_the_event_to_the_default_bus_named_by_none() {
    let (router, _) = FakePlugin::new("30-r", Role::Router);
    let mut stages = stages(&[router]);
    let (outcome, trace) = traced(&mut stages, event("e1", r#"{"type":"s"}"#));
    assert!(matches!(&outcome, Outcome::Routed { entries, .. } if entries[0].bus == "default"));
    assert_eq!(
        trace.steps,
        [step("30-r", Role::Router, Action::Routed { buses: vec![] })]
    );
    assert!(trace.named_by("default").is_empty());
}

#[test]
fn traced_runs_count_like_untraced_ones() {
    let (filter, _) = FakePlugin::new("10-f", Role::Filter);
    let mut stages = stages(std::slice::from_ref(&filter));
    stages.run(event("e1", "{}"));
    traced(&mut stages, event("e2", "{}"));
    drop(stages);
    let counted = filter.counted();
    assert_eq!((counted.calls, counted.kept), (2, 2));
}

#[test]
fn changes_cover_entry_fields_nested_members_and_details_that_are_not_objects() {
    let before = event("e1", r#"{"a":{"b":1,"c":[1,2]},"d":"x"}"#);
    let after = Event {
        detail_type: "Other".into(),
        resources: vec!["arn:x".into()],
        detail: r#"{"log_id":"e1","data":{"a":{"b":2,"c":[1,2]},"d":"x"}}"#.into(),
        ..before.clone()
    };
    assert_eq!(
        changes(&before, &after),
        [
            Change {
                part: Part::Entry,
                path: "detail-type".into(),
                before: Some(json!("Auth0 log")),
                after: Some(json!("Other")),
            },
            Change {
                part: Part::Entry,
                path: "resources".into(),
                before: Some(json!([])),
                after: Some(json!(["arn:x"])),
            },
            detail_change("data.a.b", Some(json!(1)), Some(json!(2))),
        ]
    );
    let not_json = Event {
        detail: "[1]".into(),
        ..before.clone()
    };
    let whole = changes(&before, &not_json);
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].path, "");
    assert_eq!(whole[0].after, Some(json!([1])));
    assert!(changes(&before, &before).is_empty());
}
