//! The example pipeline through the library API into the in-process channel sink:
//! what each plugin does to real Auth0 logs, and that every event is accounted for.
//!
//! Over 400 lines: one test per example-plugin rule on real logs, sharing the pipeline
//! helpers here.

use std::collections::BTreeMap;

use logbridge::{ChannelSink, Delivered, Host};
use logbridge_tests::{generate_logs, plugins_dir};
use serde_json::{Value, json};

use crate::auth0::{assert_redacted, expected_bus, id_of, log_of};

async fn run_through_examples(lines: &[String]) -> (Vec<Delivered>, logbridge::HealthReport) {
    let (sink, mut rx) = ChannelSink::new(lines.len() + 1);
    let host = Host::builder()
        .plugins_dir(plugins_dir())
        .sink(sink)
        .workers(2)
        .build()
        .expect("host");
    for (n, line) in lines.iter().enumerate() {
        // Bad records are counted by the host and need no handling here.
        let _ = host.send_auth0(line, &format!("line {}", n + 1)).await;
    }
    let health = host.shutdown().await.expect("shutdown");
    let mut delivered = Vec::new();
    while let Ok(d) = rx.try_recv() {
        delivered.push(d);
    }
    (delivered, health)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_plugin_does_its_job_on_hand_made_logs() {
    let log = |id: &str, code: &str, ip: &str| {
        json!({"log_id": id, "date": "2026-11-01T10:00:00.123Z", "type": code,
               "user_name": "jane.doe@example.com", "ip": ip, "tenant_name": "acme"})
        .to_string()
    };
    let lines = vec![
        log("failed-login", "f", "203.0.113.77"),
        log("token-exchange", "seacft", "203.0.113.1"),
        log("mgmt-call", "sapi", "2001:db8:4aef:6d2e::e211"),
        // The `{"log_id", "data"}` record Auth0 streams send, for a plain login.
        json!({"log_id": "login", "data": serde_json::from_str::<Value>(&log("login", "s", "not-an-ip")).unwrap()})
            .to_string(),
        "{\"this is\": \"not an Auth0 log\"}".to_string(),
    ];
    let (delivered, health) = run_through_examples(&lines).await;

    let by_id: BTreeMap<&str, &Delivered> =
        delivered.iter().map(|d| (d.event.id.as_str(), d)).collect();
    assert_eq!(
        by_id.keys().copied().collect::<Vec<_>>(),
        ["failed-login", "login", "mgmt-call"]
    );
    assert_eq!(by_id["failed-login"].bus, "security");
    assert_eq!(by_id["mgmt-call"].bus, "audit");
    assert_eq!(by_id["login"].bus, "default");

    let data = |id: &str| -> Value {
        let detail: Value = serde_json::from_str(&by_id[id].event.detail).unwrap();
        assert_eq!(detail["log_id"], id, "detail.log_id");
        detail["data"].clone()
    };
    assert_eq!(data("failed-login")["user_name"], "***@example.com");
    assert_eq!(data("failed-login")["ip"], "203.0.113.0");
    assert_eq!(data("mgmt-call")["ip"], "2001:db8:4aef::");
    assert!(
        data("login").get("ip").is_none(),
        "an ip that cannot be masked is removed"
    );
    assert_eq!(by_id["login"].event.time, "2026-11-01T10:00:00.123Z");
    assert_eq!(by_id["login"].event.detail_type, "Auth0 log");

    assert_eq!(health.accepted, 5);
    assert_eq!(health.filtered_by.get("10-drop-noise"), Some(&1));
    assert_eq!(health.failed_ingest, 1, "the record without log_id/date");
    assert_eq!(health.delivered(), 3);
    assert!(health.settled(), "{health:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_logs_are_filtered_redacted_and_routed_as_predicted() {
    let input = generate_logs(2000, 5, &[]).unwrap();
    let lines: Vec<String> = input.lines().map(str::to_owned).collect();
    let originals: BTreeMap<String, Value> = lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let log = log_of(&v).clone();
            (id_of(&log).to_string(), log)
        })
        .collect();
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for log in originals.values() {
        if let Some(bus) = expected_bus(log) {
            *expected.entry(bus).or_default() += 1;
        }
    }

    let (delivered, health) = run_through_examples(&lines).await;

    let mut got: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &delivered {
        *got.entry(d.bus.as_str()).or_default() += 1;
        let original = &originals[&d.event.id];
        assert_eq!(
            Some(d.bus.as_str()),
            expected_bus(original),
            "bus of {}",
            d.event.id
        );
        let detail: Value = serde_json::from_str(&d.event.detail).unwrap();
        assert_redacted(original, &detail["data"]);
    }
    assert_eq!(got, expected);
    assert_eq!(health.accepted, lines.len() as u64);
    assert_eq!(
        health.filtered + health.delivered(),
        lines.len() as u64,
        "every generated log is filtered or delivered: {health:?}"
    );
    assert_eq!(health.failed(), 0, "{health:?}");
    assert!(health.settled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_but_valid_logs_pass_intact() {
    // Unicode and U+2028 in text, 20–120 KB blobs, missing user fields, deep nesting,
    // a null ip: all valid, so all are delivered or filtered, and redacted correctly.
    let input = generate_logs(600, 3, &["--edge-cases"]).unwrap();
    let lines: Vec<String> = input.lines().map(str::to_owned).collect();
    let originals: BTreeMap<String, Value> = lines
        .iter()
        .map(|l| {
            let log = log_of(&serde_json::from_str(l).unwrap()).clone();
            (id_of(&log).to_string(), log)
        })
        .collect();
    let (delivered, health) = run_through_examples(&lines).await;
    assert_eq!(health.failed(), 0, "{health:?}");
    assert_eq!(health.filtered + health.delivered(), lines.len() as u64);
    for d in &delivered {
        let detail: Value = serde_json::from_str(&d.event.detail).unwrap();
        assert_redacted(&originals[&d.event.id], &detail["data"]);
    }
    assert!(
        delivered.iter().any(|d| d.event.detail.len() > 20_000),
        "the large edge cases made it through"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_see_every_delivered_entry_and_send_batch_applies_backpressure() {
    use logbridge::{Envelope, JsonLinesSink};
    let host = Host::builder()
        .plugins_dir(plugins_dir())
        .sink(JsonLinesSink::new(std::io::sink()))
        .queue_capacity(2)
        .build()
        .unwrap();
    let mut subscriber = host.subscribe();
    let envelope = Envelope::default();
    let events: Vec<_> = (0..50)
        .map(|n| {
            let log = serde_json::json!({"log_id": format!("sub-{n}"), "date": "2026-11-25T09:00:00Z",
                                         "type": if n % 2 == 0 { "f" } else { "s" }});
            envelope.auth0_event(&log.to_string()).unwrap()
        })
        .collect();
    // 50 events through a queue of 2: send_batch waits for room instead of failing.
    host.send_batch(events).await.unwrap();
    let health = host.shutdown().await.unwrap();
    assert_eq!(health.accepted, 50);
    let mut seen = BTreeMap::new();
    while let Ok(delivered) = subscriber.try_recv() {
        seen.insert(delivered.event.id, delivered.bus);
    }
    assert_eq!(
        seen.len(),
        50,
        "every delivered entry reached the subscriber"
    );
    assert_eq!(seen["sub-0"], "security");
    assert_eq!(seen["sub-1"], "default");
}

/// What the example rules make of an Auth0 log's detail, run natively on the whole
/// detail (`auth0-rules`): dropped, refused by the redactor, or routed to a bus with a
/// redacted detail.
#[derive(Debug, PartialEq)]
enum Native {
    Dropped,
    Refused(String),
    Routed(&'static str, Value),
}

fn native(detail: &str) -> Native {
    if let Some(code) = auth0_rules::log_type(detail)
        && auth0_rules::DEFAULT_DROP_TYPES.contains(&code.as_ref())
    {
        return Native::Dropped;
    }
    let redacted = match auth0_rules::redact(detail) {
        Ok(redacted) => redacted.detail.unwrap_or_else(|| detail.to_string()),
        Err(reason) => return Native::Refused(reason),
    };
    let code = auth0_rules::log_type(&redacted).unwrap_or_default();
    let bus = match auth0_rules::category(&code) {
        auth0_rules::Category::Security => "security",
        auth0_rules::Category::Audit => "audit",
        auth0_rules::Category::Other => "default",
    };
    Native::Routed(
        bus,
        serde_json::from_str(&redacted).expect("a redacted detail"),
    )
}

#[test]
fn the_example_plugins_handed_only_their_fields_agree_with_the_rules_run_on_whole_logs() {
    use logbridge::pipeline::{Outcome, Pipeline};
    use logbridge::{Envelope, PluginEngine, PluginLimits, PluginSet};

    let engine = PluginEngine::new(PluginLimits::default()).expect("engine");
    let projected = PluginSet::load_dir(&engine, &plugins_dir()).expect("projected set");
    assert!(projected.plugins().iter().all(|p| p.projection().is_some()));
    let mut a = Pipeline::new(std::sync::Arc::new(projected), "default");

    let mut text = generate_logs(3000, 23, &[]).expect("logs");
    text += &generate_logs(300, 5, &["--edge-cases"]).expect("edge-case logs");
    // Values the redactor removes or keeps, in every position within `data`.
    for (n, data) in [
        r#"{"ip":"not-an-ip","type":"s","user_name":"a@b.example"}"#,
        r#"{"type":"s","ip":42,"user_name":"jane"}"#,
        r#"{"type":"f","user_name":"x@y.example","ip":"2001:db8:4aef:6d2e::e211"}"#,
        r#"{"type":"s","ip":null}"#,
        r#"{"type":"fp","user_name":"a\u0040b.example","ip":"10.1.2.3"}"#,
    ]
    .iter()
    .enumerate()
    {
        let mut log: Value = serde_json::from_str(data).unwrap();
        log["log_id"] = json!(format!("hand-{n}"));
        log["date"] = json!("2026-11-01T10:00:00.000Z");
        text += &format!("{log}\n");
    }
    // What the scan hands over whole: a repeated declared key, a lone surrogate.
    text += r#"{"log_id":"dup","date":"2026-11-01T10:00:00.000Z","type":"s","ip":"1.2.3.4","ip":"5.6.7.8"}"#;
    text += "\n";
    text += r#"{"log_id":"sur","date":"2026-11-01T10:00:00.000Z","type":"s","user_name":"\udc00"}"#;
    text += "\n";
    let envelope = Envelope::default();
    let (mut routed, mut redacted, mut filtered, mut byte_equal, mut seen_odd) = (0, 0, 0, 0, 0);
    for line in text.lines() {
        let Ok(event) = envelope.auth0_event(line) else {
            continue;
        };
        let original = event.detail.clone();
        let id = event.id.clone();
        let with = a.run(event);
        match (id.as_str(), &with) {
            ("dup", Outcome::Routed { entries, .. }) => {
                let detail = &entries[0].event.detail;
                assert!(
                    !detail.contains("1.2.3.4") && !detail.contains("5.6.7.8"),
                    "a repeated ip left unmasked: {detail}"
                );
                seen_odd += 1;
                continue;
            }
            // Not JSON serde takes: the redactor finds no user name to mask, and the
            // delivery check refuses the record as it came.
            ("sur", Outcome::Routed { checked, .. }) => {
                assert!(!checked, "a record the scan refused is checked on delivery");
                seen_odd += 1;
                continue;
            }
            ("dup" | "sur", other) => panic!("{id}: {other:?}"),
            _ => {}
        }
        let expected = native(&original);
        match (&with, &expected) {
            (Outcome::Routed { entries, checked }, Native::Routed(bus, detail)) => {
                assert!(checked, "a projected pipeline checks what it routes");
                assert_eq!(entries.len(), 1, "{line}");
                assert_eq!(entries[0].bus, *bus, "{line}");
                let got: Value = serde_json::from_str(&entries[0].event.detail).unwrap();
                assert_eq!(&got, detail, "{line}");
                routed += 1;
                redacted += usize::from(entries[0].event.detail != original);
                byte_equal += usize::from(
                    auth0_rules::redact(&original)
                        .unwrap()
                        .detail
                        .is_none_or(|d| d == entries[0].event.detail),
                );
            }
            (Outcome::Filtered { plugin }, Native::Dropped) => {
                assert_eq!(plugin, "10-drop-noise");
                filtered += 1;
            }
            (Outcome::Failed(failure), Native::Refused(reason)) => {
                assert_eq!(
                    (
                        failure.plugin.as_str(),
                        failure.code.as_str(),
                        &failure.reason
                    ),
                    ("20-redact", "plugin-error", reason)
                );
            }
            // What EventBridge refuses (an integer beyond 64 bits): the host's check, which
            // the native rules do not make.
            (Outcome::Failed(failure), _) if failure.code == "malformed-output" => {}
            (got, want) => panic!("{line}: the pipeline gave {got:?}, the rules {want:?}"),
        }
    }
    assert!(
        routed > 1500 && filtered > 500,
        "routed {routed}, filtered {filtered}"
    );
    assert!(redacted > 1000, "only {redacted} details were redacted");
    assert_eq!(
        byte_equal, routed,
        "the edits spliced into the log give the native rules' bytes"
    );
    assert_eq!(seen_odd, 2, "both odd records went through the pipeline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routed_entry_does_not_wait_for_a_busy_queue_to_drain() {
    // One good event, then a flood of events that all fail their check (nothing else is
    // routed): the worker's outbox never fills, and its queue stays busy for a while.
    let (sink, mut rx) = ChannelSink::new(16);
    let host = Host::builder()
        .sink(sink)
        .workers(1)
        .queue_capacity(200_000)
        .build()
        .expect("host");
    let event = |id: String, detail: &str| logbridge::Event {
        id,
        source: "logbridge.auth0".into(),
        detail_type: "Auth0 log".into(),
        time: String::new(),
        resources: Vec::new(),
        detail: detail.into(),
    };
    let mut batch = vec![event("wanted".into(), "{}")];
    batch.extend((0..100_000).map(|n| event(format!("bad-{n}"), "[]")));
    let sender = host.clone();
    let feeding = tokio::spawn(async move { sender.send_batch(batch).await });
    let delivered = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
        .await
        .expect("the good event is delivered")
        .expect("an entry");
    let still_queued = host.queue_depth();
    assert_eq!(delivered.event.id, "wanted");
    assert!(still_queued > 0, "the entry waited until the queue drained");
    feeding.await.expect("feeder").expect("sent");
    let report = host.shutdown().await.expect("shutdown");
    assert_eq!(report.buses["default"].delivered, 1);
    assert_eq!(report.buses["default"].failed, 100_000);
}

#[test]
fn a_plugin_that_asks_for_the_envelope_gets_it_and_the_others_do_not() {
    use logbridge::pipeline::{Outcome, Pipeline};
    use logbridge::{PluginEngine, PluginLimits, PluginSet};

    let engine = PluginEngine::new(PluginLimits::default()).expect("engine");
    let examples = PluginSet::load_dir(&engine, &plugins_dir()).expect("the examples");
    assert!(
        examples.plugins().iter().all(|p| !p.reads().envelope()),
        "no example plugin reads the envelope"
    );

    // A filter that reads the envelope, ahead of the examples.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pipeline-envelope");
    let dir = logbridge_tests::copy_of_plugins(dir);
    std::fs::copy(
        logbridge_tests::fixture("envelope-filter"),
        dir.join("05-envelope-filter.wasm"),
    )
    .expect("the fixture");
    let set = PluginSet::load_dir(&engine, &dir).expect("the set");
    let full = &set.plugins()[0];
    assert_eq!(full.name(), "05-envelope-filter");
    assert!(full.reads().envelope() && full.projection().is_none());
    let mut pipeline = Pipeline::new(std::sync::Arc::new(set), "default");
    let envelope = logbridge::Envelope::default();
    let log = |id: &str| {
        json!({"log_id": id, "date": "2026-11-01T10:00:00.000Z", "type": "f",
               "user_name": "jane@example.com", "ip": "203.0.113.7"})
        .to_string()
    };
    let dropped = pipeline.run(envelope.auth0_event(&log("drop-1")).unwrap());
    assert_eq!(
        dropped,
        Outcome::Filtered {
            plugin: "05-envelope-filter".into()
        }
    );
    match pipeline.run(envelope.auth0_event(&log("keep-1")).unwrap()) {
        Outcome::Routed { entries, .. } => {
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].bus, "security");
            let detail: Value = serde_json::from_str(&entries[0].event.detail).unwrap();
            assert_eq!(detail["data"]["ip"], "203.0.113.0");
            assert_eq!(detail["data"]["user_name"], "***@example.com");
            assert_eq!(entries[0].event.id, "keep-1");
        }
        other => panic!("expected a routed event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entry_moves_on_without_waiting_for_more_traffic() {
    // Bursts to two workers: one may find the queue emptied by the other right
    // after it routed an event. Each burst must be delivered before the next is sent,
    // so an entry held back for "the next event" would never arrive.
    const BURST: usize = 40;
    let (sink, mut rx) = ChannelSink::new(64);
    let host = Host::builder().sink(sink).workers(2).build().expect("host");
    let event = |id: String| logbridge::Event {
        id,
        source: "logbridge.auth0".into(),
        detail_type: "Auth0 log".into(),
        time: String::new(),
        resources: Vec::new(),
        detail: "{}".into(),
    };
    for round in 0..1000 {
        let burst: Vec<_> = (0..BURST).map(|n| event(format!("r{round}-{n}"))).collect();
        host.send_batch(burst).await.expect("sent");
        for _ in 0..BURST {
            tokio::time::timeout(std::time::Duration::from_secs(2), rx.recv())
                .await
                .unwrap_or_else(|_| panic!("round {round}: an entry waited for more traffic"))
                .expect("an entry");
        }
    }
    let report = host.shutdown().await.expect("shutdown");
    assert_eq!(report.buses["default"].delivered, 1000 * BURST as u64);
}
