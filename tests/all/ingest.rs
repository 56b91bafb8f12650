//! Blame where it belongs: a log EventBridge would refuse whatever the plugins do — an
//! integer outside the signed 64-bit range however it is written, nesting deeper than
//! the supported limit — fails at stage `ingest` before any plugin runs, and no plugin
//! is marked `degraded` for it.

use std::path::Path;

use logbridge::event::MAX_DETAIL_DEPTH;
use logbridge::health::{FailureFilter, FailureLog, PluginStatus};
use logbridge::{ChannelSink, Error, Event, Host, Stage};
use logbridge_tests::{copy_of_plugins, logbridge_bin};
use serde_json::json;

/// Logs that can never be delivered, each with a detail value that EventBridge refuses.
fn undeliverable() -> Vec<(String, String)> {
    let nested = |levels: usize| format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
    [
        ("i64-max-plus-1", "9223372036854775808".to_string()),
        ("beyond-u64", "18446744073709551616".to_string()),
        ("below-i64-min", "-9223372036854775809".to_string()),
        ("hundred-digits", "7".repeat(100)),
        ("deep", nested(200)),
        ("just-too-deep", nested(MAX_DETAIL_DEPTH - 1)),
    ]
    .into_iter()
    .map(|(id, value)| {
        let log = format!(
            r#"{{"log_id":"{id}","date":"2026-11-25T09:00:00Z","type":"f","user_name":"eve@example.com","details":{{"n":{value}}}}}"#
        );
        (id.to_string(), log)
    })
    .collect()
}

fn good(n: usize) -> String {
    json!({"log_id": format!("good-{n}"), "date": "2026-11-25T09:00:00Z", "type": "f",
           "user_name": "eve@example.com", "details": {"n": i64::MAX, "m": i64::MIN, "f": 1e300}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_logs_fail_at_ingest_and_no_plugin_is_blamed() {
    let dir = copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join("ingest-blame"));
    let data = dir.join("data");
    let (sink, mut rx) = ChannelSink::new(100);
    let host = Host::builder()
        .plugins_dir(&dir)
        .data_dir(&data)
        .sink(sink)
        .workers(2)
        .build()
        .unwrap();
    let bad = undeliverable();
    for (n, (_, log)) in bad.iter().enumerate() {
        let refused = host.send_auth0(log, &format!("test:{n}")).await;
        assert!(matches!(refused, Err(Error::Event(_))), "{refused:?}");
        host.send_auth0(&good(n), "test").await.unwrap();
    }
    // An embedding app's own event is checked the same way.
    let event = Event {
        id: "app-1".into(),
        source: "app".into(),
        detail_type: "t".into(),
        time: "2026-11-25T09:00:00Z".into(),
        resources: Vec::new(),
        detail: r#"{"n":99999999999999999999}"#.into(),
    };
    assert!(matches!(host.send(event).await, Err(Error::Event(_))));
    let health = host.shutdown().await.unwrap();

    let mut delivered = Vec::new();
    while let Ok(d) = rx.try_recv() {
        delivered.push(d.event.id);
    }
    assert_eq!(delivered.len(), bad.len(), "every good log delivered");
    assert_eq!(health.failed_ingest, bad.len() as u64 + 1);
    assert_eq!(health.failed_plugin(), 0, "{health:?}");
    for plugin in &health.plugins {
        assert_eq!(plugin.calls.errors, 0, "{}", plugin.name);
        assert_eq!(plugin.calls.status, PluginStatus::Ok, "{}", plugin.name);
    }
    let failures = FailureLog::open(&data)
        .unwrap()
        .list(&FailureFilter::default())
        .unwrap();
    assert_eq!(failures.len(), bad.len() + 1);
    for f in &failures {
        assert_eq!(f.stage, Stage::Ingest, "{f:?}");
        assert_eq!(f.code, "bad-input");
        assert!(
            f.message.contains("outside the signed 64-bit range")
                || f.message.contains("nested deeper than 100 levels"),
            "{}",
            f.message
        );
        assert!(f.input.is_some(), "the input is kept");
    }
}

#[tokio::test]
async fn the_cli_names_the_line_of_each_undeliverable_log() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ingest-blame-cli");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bad = undeliverable();
    let mut input = String::new();
    for (n, (_, log)) in bad.iter().enumerate() {
        input.push_str(&good(n));
        input.push('\n');
        input.push_str(log);
        input.push('\n');
    }
    let input_file = dir.join("input.ndjson");
    std::fs::write(&input_file, input).unwrap();
    let output = tokio::process::Command::new(logbridge_bin().unwrap())
        .arg("run")
        .arg("--plugins")
        .arg(logbridge_tests::plugins_dir())
        .arg("--input")
        .arg(&input_file)
        .arg("--output")
        .arg(dir.join("out.jsonl"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "bad input fails the run: {stderr}"
    );
    assert!(
        stderr.contains(&format!("(ingest {}, plugin 0, delivery 0", bad.len())),
        "{stderr}"
    );
    let failures = FailureLog::open(&dir.join("data"))
        .unwrap()
        .list(&FailureFilter::default())
        .unwrap();
    let mut origins: Vec<String> = failures.iter().map(|f| f.origin.clone()).collect();
    origins.sort();
    let mut expected: Vec<String> = (0..bad.len())
        .map(|n| format!("{}:{}", input_file.display(), 2 * n + 2))
        .collect();
    expected.sort();
    assert_eq!(origins, expected);
    let out = std::fs::read_to_string(dir.join("out.jsonl")).unwrap();
    assert_eq!(out.lines().count(), bad.len());
}
