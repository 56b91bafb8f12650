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

/// A copy of the example plugins with the `[projection]` tables cut out of their
/// sidecars: every plugin is handed the whole detail.
fn examples_without_projection(dir: std::path::PathBuf) -> std::path::PathBuf {
    let dir = logbridge_tests::copy_of_plugins(dir);
    let mut cut = 0;
    for entry in std::fs::read_dir(&dir).expect("the copy") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a sidecar");
        let mut keep = true;
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| {
                if line.starts_with('[') {
                    keep = line.trim() != "[projection]";
                    cut += usize::from(!keep);
                }
                keep
            })
            .collect();
        std::fs::write(&path, kept.join("\n")).expect("a rewritten sidecar");
    }
    assert_eq!(cut, 3, "every example plugin declares a projection");
    dir
}

#[test]
fn projection_changes_nothing_but_what_plugins_are_handed() {
    use logbridge::pipeline::{Outcome, Pipeline};
    use logbridge::{Envelope, PluginEngine, PluginLimits, PluginSet};

    let scratch = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let whole = examples_without_projection(scratch.join("pipeline-whole-detail"));
    let engine = PluginEngine::new(PluginLimits::default()).expect("engine");
    let projected = PluginSet::load_dir(&engine, &plugins_dir()).expect("projected set");
    let unprojected = PluginSet::load_dir(&engine, &whole).expect("whole-detail set");
    assert!(
        projected
            .plugins()
            .iter()
            .all(|p| p.settings().projection.is_some())
    );
    assert!(
        unprojected
            .plugins()
            .iter()
            .all(|p| p.settings().projection.is_none())
    );
    let mut a = Pipeline::new(std::sync::Arc::new(projected), "default");
    let mut b = Pipeline::new(std::sync::Arc::new(unprojected), "default");

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
    let (mut routed, mut redacted, mut filtered, mut seen_odd) = (0, 0, 0, 0);
    for line in text.lines() {
        let Ok(event) = envelope.auth0_event(line) else {
            continue;
        };
        let original = event.detail.clone();
        let id = event.id.clone();
        let with = a.run(event.clone());
        let without = b.run(event);
        assert_eq!(with, without, "for {line}");
        match (id.as_str(), &with) {
            ("dup", Outcome::Routed { entries, .. }) => {
                let detail = &entries[0].event.detail;
                assert!(
                    !detail.contains("1.2.3.4") && !detail.contains("5.6.7.8"),
                    "a repeated ip left unmasked: {detail}"
                );
                seen_odd += 1;
            }
            ("sur", Outcome::Failed(failure)) => {
                assert_eq!(failure.code, "malformed-output");
                seen_odd += 1;
            }
            ("dup" | "sur", other) => panic!("{id}: {other:?}"),
            _ => {}
        }
        match with {
            Outcome::Routed { entries, checked } => {
                assert!(checked, "a projected pipeline checks what it routes");
                routed += 1;
                redacted += usize::from(entries[0].event.detail != original);
            }
            Outcome::Filtered { .. } => filtered += 1,
            // The same failure either way (asserted above), e.g. an integer EventBridge
            // refuses.
            Outcome::Failed(_) => {}
        }
    }
    assert!(
        routed > 1500 && filtered > 500,
        "routed {routed}, filtered {filtered}"
    );
    assert!(redacted > 1000, "only {redacted} details were redacted");
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
fn the_light_form_is_preferred_and_the_full_form_still_works() {
    use logbridge::pipeline::{Outcome, Pipeline};
    use logbridge::{PluginEngine, PluginLimits, PluginSet};

    let engine = PluginEngine::new(PluginLimits::default()).expect("engine");
    let examples = PluginSet::load_dir(&engine, &plugins_dir()).expect("the examples");
    assert!(
        examples.plugins().iter().all(|p| p.has_light_form()),
        "every example plugin exports the light form"
    );

    // A full-form filter ahead of the light-form examples: it sees the envelope.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pipeline-full-form");
    let dir = logbridge_tests::copy_of_plugins(dir);
    std::fs::copy(
        logbridge_tests::fixture("full-form-filter"),
        dir.join("05-full-form-filter.wasm"),
    )
    .expect("the fixture");
    let set = PluginSet::load_dir(&engine, &dir).expect("the set");
    let full = &set.plugins()[0];
    assert_eq!(full.name(), "05-full-form-filter");
    assert!(!full.has_light_form());
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
            plugin: "05-full-form-filter".into()
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
