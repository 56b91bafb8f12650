//! The pipeline driven by native fake plugins ([`super::fake`]): stage order, instance
//! lifecycle, containment and the output checks, without WebAssembly.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use super::fake::{Call, FakePlugin, Reply, Script};
use super::stages::Stages;
use super::{Outcome, OutputRules, PluginFailure};
use crate::event::Event;
use crate::plugin::{Destination, Role};

fn event(id: &str) -> Event {
    Event {
        id: id.into(),
        source: "logbridge.auth0".into(),
        detail_type: "Auth0 log".into(),
        time: "2026-11-01T00:00:00Z".into(),
        resources: Vec::new(),
        detail: format!(r#"{{"log_id":"{id}","data":{{"type":"s"}}}}"#),
    }
}

fn stages(plugins: &[FakePlugin]) -> Stages<FakePlugin> {
    Stages::new(plugins.to_vec(), "default".into(), OutputRules::default())
}

fn to(bus: &str) -> Destination {
    Destination {
        bus: bus.into(),
        source: None,
        detail_type: None,
    }
}

fn calls(instance: u32, events: &[&str]) -> Vec<Call> {
    events
        .iter()
        .map(|e| Call {
            instance,
            event: (*e).to_string(),
        })
        .collect()
}

fn buses(outcome: &Outcome) -> Vec<&str> {
    match outcome {
        Outcome::Routed { entries, .. } => entries.iter().map(|e| e.bus.as_str()).collect(),
        other => panic!("expected the event routed, got {other:?}"),
    }
}

fn failure(outcome: Outcome) -> PluginFailure {
    match outcome {
        Outcome::Failed(failure) => *failure,
        other => panic!("expected a plugin failure, got {other:?}"),
    }
}

#[test]
fn a_dropping_filter_ends_the_event_with_its_name_and_later_plugins_are_not_called() {
    let (keeper, _) = FakePlugin::new("10-keep", Role::Filter);
    let (dropper, drops) = FakePlugin::new("20-drop", Role::Filter);
    let (after, after_calls) = FakePlugin::new("30-after", Role::Filter);
    let (transformer, transformed) = FakePlugin::new("40-t", Role::Transformer);
    drops.otherwise(Reply::Drop);
    let mut stages = stages(&[keeper, dropper.clone(), after, transformer]);
    let outcome = stages.run(event("e1"));
    assert_eq!(
        outcome,
        Outcome::Filtered {
            plugin: "20-drop".into()
        }
    );
    assert!(after_calls.calls().is_empty() && transformed.calls().is_empty());
    drop(stages);
    let counted = dropper.counted();
    assert_eq!((counted.calls, counted.dropped, counted.kept), (1, 1, 0));
}

#[test]
fn a_transformer_error_fails_the_event_with_code_plugin_error() {
    let (transformer, script) = FakePlugin::new("20-redact", Role::Transformer);
    script.reply(Reply::Refuse("no user_name".into()));
    let mut stages = stages(std::slice::from_ref(&transformer));
    let failure = failure(stages.run(event("e1")));
    assert_eq!(failure.plugin, "20-redact");
    assert_eq!(failure.version, "fake-1");
    assert_eq!(failure.code, "plugin-error");
    assert_eq!(failure.reason, "no user_name");
    assert_eq!(
        failure.event,
        event("e1"),
        "the event as the plugin received it"
    );
    drop(stages);
    assert_eq!(transformer.counted().errors, 1);
}

#[test]
fn a_trap_throws_the_instance_away_and_the_next_call_gets_a_fresh_one() {
    let (transformer, script) = FakePlugin::new("20-t", Role::Transformer);
    script.reply(Reply::Edits(vec![("data.a", Some("1".into()))]));
    script.reply(Reply::Trap("panic"));
    let mut stages = stages(std::slice::from_ref(&transformer));
    assert_eq!(buses(&stages.run(event("e1"))), ["default"]);
    let failure = failure(stages.run(event("e2")));
    assert_eq!(
        (failure.code.as_str(), failure.plugin.as_str()),
        ("panic", "20-t")
    );
    assert_eq!(buses(&stages.run(event("e3"))), ["default"]);
    let mut expected = calls(1, &["e1", "e2"]);
    expected.extend(calls(2, &["e3"]));
    assert_eq!(script.calls(), expected);
    drop(stages);
    let counted = transformer.counted();
    assert_eq!((counted.instances, counted.errors), (2, 1));
}

#[test]
fn a_worn_out_instance_is_replaced_before_the_next_call() {
    let (filter, script) = FakePlugin::new("10-f", Role::Filter);
    let filter = filter.worn_out_after(2);
    let mut stages = stages(std::slice::from_ref(&filter));
    for id in ["e1", "e2", "e3", "e4", "e5"] {
        assert_eq!(buses(&stages.run(event(id))), ["default"]);
    }
    let mut expected = calls(1, &["e1", "e2"]);
    expected.extend(calls(2, &["e3", "e4"]));
    expected.extend(calls(3, &["e5"]));
    assert_eq!(script.calls(), expected);
    assert_eq!(script.instances(), 3);
    drop(stages);
    assert_eq!(filter.counted().errors, 0, "wearing out is not a failure");
}

#[test]
fn a_plugin_that_cannot_be_instantiated_fails_the_event_and_is_tried_again_next_time() {
    let (router, script) = FakePlugin::new("50-r", Role::Router);
    script.refuse_instances(1);
    let mut stages = stages(&[router]);
    let failure = failure(stages.run(event("e1")));
    assert_eq!(failure.code, "instantiate");
    assert!(
        failure.reason.contains("refused on purpose"),
        "{}",
        failure.reason
    );
    assert_eq!(buses(&stages.run(event("e2"))), ["default"]);
    assert_eq!(script.calls(), calls(1, &["e2"]));
}

#[test]
fn a_skipped_plugin_failure_lets_the_event_go_on_as_if_it_were_not_there() {
    let (broken, broken_script) = FakePlugin::new("20-broken", Role::Transformer);
    let broken = broken.skipped_on_error();
    broken_script.otherwise(Reply::Trap("deadline"));
    let (next, next_script) = FakePlugin::new("30-next", Role::Transformer);
    next_script.otherwise(Reply::Edits(vec![("next", Some("true".into()))]));
    let (router, _) = FakePlugin::new("50-r", Role::Router);
    let mut stages = stages(&[broken.clone(), next, router]);
    match stages.run(event("e1")) {
        Outcome::Routed { entries, .. } => {
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].bus, "default");
            assert_eq!(
                entries[0].event.detail,
                r#"{"log_id":"e1","data":{"type":"s"},"next":true}"#
            );
        }
        other => panic!("expected the event to go on, got {other:?}"),
    }
    assert_eq!(next_script.calls(), calls(1, &["e1"]));
    drop(stages);
    assert_eq!(broken.counted().errors, 1);
}

#[test]
fn routers_answers_are_unioned_and_deduplicated_in_order() {
    let (a, a_script) = FakePlugin::new("50-a", Role::Router);
    let (b, b_script) = FakePlugin::new("60-b", Role::Router);
    a_script.otherwise(Reply::Route(vec![to("security"), to("")]));
    let renamed = Destination {
        source: Some("other.source".into()),
        ..to("audit")
    };
    b_script.otherwise(Reply::Route(vec![to("default"), renamed, to("security")]));
    let mut stages = stages(&[a, b]);
    let outcome = stages.run(event("e1"));
    assert_eq!(buses(&outcome), ["security", "default", "audit"]);
    let Outcome::Routed { entries, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(entries[2].event.source, "other.source");
    assert_eq!(entries[0].event.source, "logbridge.auth0");
}

#[test]
fn one_routers_repeated_destinations_count_once_in_the_order_first_named() {
    let (a, a_script) = FakePlugin::new("50-a", Role::Router);
    let renamed = Destination {
        source: Some("other.source".into()),
        ..to("audit")
    };
    a_script.otherwise(Reply::Route(vec![
        to("security"),
        to("audit"),
        to(""),
        to("security"),
        renamed.clone(),
        to("default"),
        to("audit"),
        renamed,
    ]));
    let outcome = stages(&[a]).run(event("e1"));
    assert_eq!(buses(&outcome), ["security", "audit", "default", "audit"]);
    let Outcome::Routed { entries, .. } = outcome else {
        unreachable!()
    };
    assert_eq!(entries[3].event.source, "other.source");
    assert_eq!(entries[1].event.source, "logbridge.auth0");
}

#[test]
fn empty_answers_and_no_router_mean_the_default_bus() {
    let (a, _) = FakePlugin::new("50-a", Role::Router);
    let (b, _) = FakePlugin::new("60-b", Role::Router);
    assert_eq!(buses(&stages(&[a, b]).run(event("e1"))), ["default"]);
    assert_eq!(buses(&stages(&[]).run(event("e2"))), ["default"]);
}

#[test]
fn a_route_to_a_bus_the_host_does_not_know_fails_the_event() {
    let (router, script) = FakePlugin::new("50-r", Role::Router);
    script.otherwise(Reply::Route(vec![to("nowhere")]));
    let rules = OutputRules {
        buses: Some(Arc::new(BTreeSet::from(["default".to_string()]))),
        ..OutputRules::default()
    };
    let mut stages = Stages::new(vec![router], "default".into(), rules);
    let failure = failure(stages.run(event("e1")));
    assert_eq!(
        (failure.code.as_str(), failure.plugin.as_str()),
        ("unknown-bus", "50-r")
    );
    assert!(failure.reason.contains("`nowhere`"), "{}", failure.reason);
}

#[test]
fn a_transformed_event_too_large_or_with_bad_edits_fails_the_event() {
    let (transformer, script) = FakePlugin::new("20-t", Role::Transformer);
    script.reply(Reply::Edits(vec![(
        "data.blob",
        Some(format!(r#""{}""#, "x".repeat(600))),
    )]));
    script.reply(Reply::Edits(vec![("data.n", Some("[1,".into()))]));
    script.reply(Reply::Edits(vec![("undeclared.x", Some("1".into()))]));
    script.reply(Reply::Edits(vec![("data..x", Some("1".into()))]));
    script.reply(Reply::Edits(vec![("data.type.x", Some("1".into()))]));
    script.reply(Reply::Edits(vec![(
        "data.n",
        Some("123456789012345678901".into()),
    )]));
    for field in [".data", "data.", ""] {
        script.reply(Reply::Edits(vec![(field, Some("1".into()))]));
    }
    let rules = OutputRules {
        buses: None,
        max_entry_bytes: 512,
    };
    let mut stages = Stages::new(vec![transformer], "default".into(), rules);
    let oversize = failure(stages.run(event("e1")));
    assert_eq!(oversize.code, "oversize-output");
    assert!(
        oversize.reason.contains("at most 512 bytes"),
        "{}",
        oversize.reason
    );
    for (id, says) in [
        ("e2", "the new value of `data.n` is not JSON"),
        ("e3", "edited `undeclared.x`, which is not among the fields"),
        ("e4", "edited `data..x`, which is not a field path"),
        ("e5", "a value on its path is not a JSON object"),
        ("e6", "123456789012345678901"),
        ("e7", "edited `.data`, which is not a field path"),
        ("e8", "edited `data.`, which is not a field path"),
        ("e9", "edited ``, which is not a field path"),
    ] {
        let failed = failure(stages.run(event(id)));
        assert_eq!(failed.code, "malformed-output", "{id}");
        assert!(failed.reason.contains(says), "{id}: {}", failed.reason);
        // The failure row keeps the event as it was before the transformer.
        assert_eq!(failed.event, event(id), "{id}");
    }
}

#[test]
fn an_envelope_a_transformer_left_alone_is_not_blamed_on_it() {
    let (transformer, script) = FakePlugin::new("20-t", Role::Transformer);
    script.otherwise(Reply::Edits(vec![("data.type", Some(r#""f""#.into()))]));
    let mut stages = stages(&[transformer]);
    // A detail-type EventBridge refuses (over 128 characters), from the event itself.
    let mut long = event("e1");
    long.detail_type = "x".repeat(129);
    match stages.run(long) {
        // Routed unchecked: delivery's own check refuses it, not this plugin.
        Outcome::Routed { entries, checked } => {
            assert!(!checked);
            assert_eq!(
                entries[0].event.detail,
                r#"{"log_id":"e1","data":{"type":"f"}}"#
            );
        }
        other => panic!("expected the event routed unchecked, got {other:?}"),
    }
}

#[test]
fn edits_set_add_and_remove_fields_and_keep_every_other_byte() {
    let (transformer, script) = FakePlugin::new("20-t", Role::Transformer);
    script.reply(Reply::Edits(vec![
        ("data.type", Some(r#""f""#.into())),
        ("data.new.deep", Some("[1, 2]".into())),
        ("log_id", None),
        ("data.absent", None),
    ]));
    script.reply(Reply::Edits(vec![("data.type", Some(r#""s""#.into()))]));
    let mut stages = stages(std::slice::from_ref(&transformer));
    let detail = |outcome: Outcome| match outcome {
        Outcome::Routed { mut entries, .. } => entries.remove(0).event.detail,
        other => panic!("expected the event routed, got {other:?}"),
    };
    let mut spaced = event("e1");
    spaced.detail = r#"{"log_id": "e1", "data": {"type": "s", "n": 1.50}}"#.into();
    assert_eq!(
        detail(stages.run(spaced)),
        r#"{"data":{"type":"f","n":1.50,"new":{"deep":[1, 2]}}}"#
    );
    // Setting a field to the value it has changes nothing, spaces included.
    let mut same = event("e2");
    same.detail = r#"{"log_id": "e2", "data": {"type":"s"}}"#.into();
    assert_eq!(detail(stages.run(same.clone())), same.detail);
}

#[test]
fn a_plugin_err_from_any_role_is_a_plugin_error_with_its_message() {
    for role in [Role::Filter, Role::Transformer, Role::Router] {
        let (plugin, script) = FakePlugin::new("20-p", role);
        script.reply(Reply::Refuse("ValueError: no user".into()));
        let failed = failure(stages(&[plugin]).run(event("e1")));
        assert_eq!(
            (failed.code.as_str(), failed.reason.as_str()),
            ("plugin-error", "ValueError: no user"),
            "{role}"
        );
    }
}

#[test]
fn stages_run_filters_then_transformers_then_routers_whatever_the_order_given() {
    let journal = Arc::new(Mutex::new(Vec::new()));
    let fake = |name: &str, role| -> (FakePlugin, Script) {
        let (plugin, script) = FakePlugin::new(name, role);
        (plugin.journal(&journal), script)
    };
    let (r1, _) = fake("10-router", Role::Router);
    let (t1, _) = fake("20-transformer", Role::Transformer);
    let (f1, _) = fake("30-filter", Role::Filter);
    let (r2, _) = fake("40-router", Role::Router);
    let (t2, _) = fake("50-transformer", Role::Transformer);
    let (f2, _) = fake("60-filter", Role::Filter);
    let mut stages = stages(&[r1, t1, f1, r2, t2, f2]);
    assert_eq!(buses(&stages.run(event("e1"))), ["default"]);
    assert_eq!(
        *journal.lock().unwrap(),
        [
            "30-filter",
            "60-filter",
            "20-transformer",
            "50-transformer",
            "10-router",
            "40-router"
        ]
    );
}

#[test]
fn only_a_transformers_checked_output_skips_the_delivery_check() {
    let (filter, _) = FakePlugin::new("10-f", Role::Filter);
    let checked = |outcome: Outcome| match outcome {
        Outcome::Routed { checked, .. } => checked,
        other => panic!("expected the event routed, got {other:?}"),
    };
    assert!(!checked(stages(&[filter]).run(event("e1"))));
    // A transformer that changes nothing leaves the check to delivery; one whose edits
    // were applied checked the detail it made.
    let (idle, _) = FakePlugin::new("20-t", Role::Transformer);
    assert!(!checked(stages(&[idle]).run(event("e2"))));
    let (editing, script) = FakePlugin::new("20-t", Role::Transformer);
    script.otherwise(Reply::Edits(vec![("data.n", Some("1".into()))]));
    assert!(checked(stages(&[editing]).run(event("e3"))));
}

#[test]
fn the_mean_call_time_is_that_of_the_calls_timed_not_spread_over_every_call() {
    let (slow, script) = FakePlugin::new("10-slow", Role::Filter);
    script.otherwise(Reply::SlowKeep(std::time::Duration::from_millis(2)));
    let mut stages = stages(std::slice::from_ref(&slow));
    for n in 0..40 {
        assert!(matches!(
            stages.run(event(&format!("e{n}"))),
            Outcome::Routed { .. }
        ));
    }
    drop(stages);
    let counted = slow.counted();
    assert_eq!(counted.calls, 40);
    // Every call sleeps 2 ms, so every timed call took at least that; a mean taken over
    // all 40 calls with only one in eight timed would be an eighth of it.
    assert!(
        counted.mean_call_us >= 2_000,
        "mean call time {} µs, every call took at least 2,000",
        counted.mean_call_us
    );
}

#[test]
fn a_filter_is_handed_its_fields_without_the_rest_being_scanned_and_what_goes_on_is_checked() {
    let (filter, filter_script) = FakePlugin::new("10-f", Role::Filter);
    let filter = filter.reading(&["data.type"]);
    let (redact, redact_script) = FakePlugin::new("20-t", Role::Transformer);
    let redact = redact.reading(&["data.ip"]);
    filter_script
        .reply(Reply::Drop)
        .reply(Reply::Keep)
        .reply(Reply::Keep);
    let mut pipeline = stages(&[filter, redact]);
    // The detail breaks after `data.type`: not a JSON object EventBridge takes.
    let broken = |id: &str| Event {
        detail: format!(r#"{{"log_id":"{id}","data":{{"type":"fp","ip":"1.2.3.4","n":1e999}}}}"#),
        ..event(id)
    };
    // Dropped: only `data.type` was read, and the filter saw just that.
    assert!(matches!(
        pipeline.run(broken("e1")),
        Outcome::Filtered { plugin } if plugin == "10-f"
    ));
    // Kept: the next plugin needs the whole detail scanned, which does not pass, so it
    // is handed the detail whole, and the event is not taken as checked.
    match pipeline.run(broken("e2")) {
        Outcome::Routed { checked, entries } => {
            assert!(
                !checked,
                "an unchecked detail must be checked before delivery"
            );
            assert!(entries[0].event.detail.contains("1e999"));
        }
        other => panic!("expected the event to go on, got {other:?}"),
    }
    // A detail that passes: each plugin sees its own fields, and the event is checked.
    match pipeline.run(event("e3")) {
        Outcome::Routed { checked, .. } => assert!(checked),
        other => panic!("expected the event to go on, got {other:?}"),
    }
    assert_eq!(
        filter_script.details(),
        [
            r#"{"data":{"type":"fp"}}"#,
            r#"{"data":{"type":"fp"}}"#,
            r#"{"data":{"type":"s"}}"#
        ]
    );
    assert_eq!(
        redact_script.details(),
        [broken("e2").detail.as_str(), r#"{"data":{}}"#]
    );

    // With no other plugin that reads fields, what goes on is scanned to the end before
    // it leaves the pipeline, as when the filter's scan read it all.
    let (filter, _) = FakePlugin::new("10-f", Role::Filter);
    let (router, router_script) = FakePlugin::new("30-r", Role::Router);
    let mut routing = stages(&[filter.reading(&["data.type"]), router]);
    for (event, valid) in [(event("e4"), true), (broken("e5"), false)] {
        match routing.run(event) {
            Outcome::Routed { checked, .. } => assert_eq!(checked, valid),
            other => panic!("expected the event to go on, got {other:?}"),
        }
    }
    assert_eq!(
        router_script.details(),
        [event("e4").detail, broken("e5").detail]
    );
}
