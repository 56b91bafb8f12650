//! The sandbox: a zoo of hostile plugins (built from `plugins/test-fixtures/`), each run
//! between the three example plugins while generated logs flow. For each: the host keeps
//! serving, every accepted event is delivered, filtered or failed, the failure log names
//! the plugin, its version and the reason, and every other event comes out exactly as the
//! example pipeline alone would make it.
//!
//! Over 400 lines: one short test per hostile behaviour, all on this file's zoo and
//! expected-output helpers; split, the list of behaviours would no longer read as one.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use logbridge::health::{FailureFilter, FailureLog, PluginStatus, StoredFailure};
use logbridge::plugin::sha256_hex;
use logbridge::{ChannelSink, Delivered, HealthReport, Host, Stage};
use logbridge_tests::{copy_of_plugins, fixture, generate_logs};
use serde_json::{Value, json};

use crate::auth0::{assert_redacted, expected_bus, log_of};

const HOSTILE: &str = "15-hostile";
const HOSTILE_EVENTS: usize = 5;

/// The example plugins plus `extra` (file stem, fixture, sidecar text), in a fresh folder.
fn folder(name: &str, extra: &[(&str, &str, String)]) -> PathBuf {
    let dir =
        copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sandbox-{name}")));
    for (stem, fixture_name, sidecar) in extra {
        std::fs::copy(fixture(fixture_name), dir.join(format!("{stem}.wasm"))).unwrap();
        std::fs::write(dir.join(format!("{stem}.toml")), sidecar).unwrap();
    }
    dir
}

fn hostile_transformer(name: &str, sidecar: &str) -> PathBuf {
    folder(
        name,
        &[(HOSTILE, "hostile-transformer", sidecar.to_string())],
    )
}

/// A failed login whose id makes the hostile plugins misbehave.
fn hostile_log(n: usize) -> String {
    json!({
        "log_id": format!("hostile-{n}"), "date": "2026-11-25T09:00:00Z", "type": "f",
        "user_name": "mallory@example.com", "ip": "198.51.100.7"
    })
    .to_string()
}

struct Run {
    health: HealthReport,
    delivered: Vec<Delivered>,
    failures: Vec<StoredFailure>,
    originals: BTreeMap<String, Value>,
}

/// Sends 300 generated logs with the hostile ones spread among them, then shuts down.
async fn run(dir: &Path) -> Run {
    let mut lines: Vec<String> = generate_logs(300, 17, &[])
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    for n in 0..HOSTILE_EVENTS {
        lines.insert(n * 60 + 7, hostile_log(n));
    }
    let originals = lines
        .iter()
        .map(|l| {
            let log = log_of(&serde_json::from_str(l).unwrap()).clone();
            (log["log_id"].as_str().unwrap().to_string(), log)
        })
        .collect();
    let data = dir.join("data");
    let (sink, mut rx) = ChannelSink::new(lines.len() + 1);
    let host = Host::builder()
        .plugins_dir(dir)
        .data_dir(&data)
        .sink(sink)
        .workers(2)
        .buses(["security", "audit"])
        .build()
        .expect("the host starts with the hostile plugin in its folder");
    for line in &lines {
        host.send_auth0(line, "sandbox").await.unwrap();
    }
    let health = host.shutdown().await.unwrap();
    let mut delivered = Vec::new();
    while let Ok(d) = rx.try_recv() {
        delivered.push(d);
    }
    let failures = FailureLog::open(&data)
        .unwrap()
        .list(&FailureFilter::default())
        .unwrap();
    Run {
        health,
        delivered,
        failures,
        originals,
    }
}

impl Run {
    /// Every event accounted for once, and every ordinary event exactly as the example
    /// pipeline makes it.
    fn assert_others_unaffected(&self) {
        assert!(self.health.settled(), "{:?}", self.health);
        assert_eq!(self.health.accepted, 300 + HOSTILE_EVENTS as u64);
        assert_eq!(
            self.health.filtered + self.health.failed() + self.delivered.len() as u64,
            self.health.accepted,
            "accepted = delivered + filtered + failed"
        );
        let mut seen = BTreeMap::new();
        for d in &self.delivered {
            *seen.entry(d.event.id.clone()).or_insert(0) += 1;
            if d.event.id.starts_with("hostile") {
                continue;
            }
            let original = &self.originals[&d.event.id];
            assert_eq!(
                Some(d.bus.as_str()),
                expected_bus(original),
                "{}",
                d.event.id
            );
            let detail: Value = serde_json::from_str(&d.event.detail).unwrap();
            assert_redacted(original, &detail["data"]);
        }
        assert!(seen.values().all(|&n| n == 1), "nothing delivered twice");
        let ordinary_routed = self
            .originals
            .iter()
            .filter(|(id, log)| !id.starts_with("hostile") && expected_bus(log).is_some())
            .count();
        let ordinary_delivered = seen.keys().filter(|id| !id.starts_with("hostile")).count();
        assert_eq!(
            ordinary_delivered, ordinary_routed,
            "every ordinary event delivered"
        );
    }

    /// Every hostile event failed at stage `plugin` in `plugin`, with `code`, and a
    /// reason containing `reason`.
    fn assert_hostile_failed(&self, plugin: &str, code: &str, reason: &str) {
        let version = sha256_hex(&std::fs::read(self.plugin_file(plugin)).unwrap());
        let failed: Vec<&StoredFailure> = self
            .failures
            .iter()
            .filter(|f| {
                f.event_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with("hostile"))
            })
            .collect();
        assert_eq!(failed.len(), HOSTILE_EVENTS, "{:#?}", self.failures);
        for f in failed {
            assert_eq!(f.stage, Stage::Plugin);
            assert_eq!(f.origin, plugin);
            assert_eq!(f.version.as_deref(), Some(version.as_str()));
            assert_eq!(f.code, code, "{}", f.message);
            assert!(f.message.contains(reason), "{code}: {}", f.message);
            assert!(f.entry.is_some(), "the event is kept for replay");
        }
        assert_eq!(
            self.failures.len(),
            HOSTILE_EVENTS,
            "only the hostile events failed"
        );
        let info = self.health.plugin(plugin).unwrap();
        assert_eq!(info.calls.errors, HOSTILE_EVENTS as u64);
    }

    fn plugin_file(&self, plugin: &str) -> PathBuf {
        let name = if plugin == HOSTILE {
            "hostile-transformer"
        } else {
            "hostile-router"
        };
        fixture(name)
    }
}

/// One test per hostile behaviour of the transformer fixture: the code and a piece of the
/// reason the failure log must show.
macro_rules! hostile {
    ($($test:ident: $behavior:literal $(+ $extra:literal)? => $code:literal, $reason:literal;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let dir = hostile_transformer(
                stringify!($test),
                concat!("[config]\nbehavior = \"", $behavior, "\"\n" $(, $extra)?),
            );
            let run = run(&dir).await;
            run.assert_others_unaffected();
            run.assert_hostile_failed(HOSTILE, $code, $reason);
        }
    )*};
}

// Every behaviour but the infinite loop gets a long deadline, so that on a busy machine it
// is its own failure that is caught, not the clock.
hostile! {
    an_infinite_loop_is_interrupted_at_its_deadline:
        "spin" => "deadline", "budget of 50 ms of CPU time";
    a_plugin_may_not_sleep:
        "sleep" => "blocking-call", "plugins may not block";
    a_memory_bomb_hits_the_memory_cap:
        "memory-bomb" + "[limits]\ncall_timeout_ms = 5000\n" => "memory-cap", "memory cap of 64 MiB";
    deep_recursion_overflows_the_stack_and_nothing_else:
        "recursion" + "[limits]\ncall_timeout_ms = 5000\n" => "stack-overflow", "stack";
    a_panic_is_reported_with_its_message:
        "panic" + "[limits]\ncall_timeout_ms = 5000\n" => "panic", "hostile plugin panicked on hostile-";
    a_ten_mib_output_is_refused:
        "huge-output" + "[limits]\ncall_timeout_ms = 5000\n" => "oversize-output", "at most 1048576 bytes";
    an_edit_that_is_not_json_is_refused:
        "not-json" + "[limits]\ncall_timeout_ms = 5000\n" => "malformed-output", "the new value of `data.type` is not JSON";
    a_trap_carries_what_the_plugin_last_wrote_to_stderr:
        "last-words" + "[limits]\ncall_timeout_ms = 5000\n" => "trap", "last lines on stderr: Traceback (most recent call last): | ValueError: no user in hostile-";
    an_err_from_transform_fails_the_event:
        "error" + "[limits]\ncall_timeout_ms = 5000\n" => "plugin-error", "refusing hostile-";
    a_plugin_cannot_read_the_hosts_files:
        "read-file" + "[limits]\ncall_timeout_ms = 5000\n" => "plugin-error", "cannot read /etc/passwd";
    a_plugin_sees_no_environment:
        "env" + "[limits]\ncall_timeout_ms = 5000\n" => "plugin-error", "the environment is empty";
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_cannot_open_a_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let dir = hostile_transformer(
        "socket",
        &format!("[config]\nbehavior = \"socket\"\naddress = \"{address}\"\n"),
    );
    let run = run(&dir).await;
    run.assert_others_unaffected();
    run.assert_hostile_failed(
        HOSTILE,
        "plugin-error",
        &format!("cannot connect to {address}"),
    );
    assert!(
        listener.accept().is_err(),
        "nothing connected to the listener"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_to_an_unknown_bus_fails_the_event_in_the_router() {
    let dir = folder(
        "unknown-bus",
        &[("35-hostile-router", "hostile-router", String::new())],
    );
    let run = run(&dir).await;
    run.assert_others_unaffected();
    run.assert_hostile_failed("35-hostile-router", "unknown-bus", "`no-such-bus`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_granted_directory_is_readable_and_shown_in_health() {
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox-grant-data");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("note.txt"), "granted on purpose").unwrap();
    let dir = hostile_transformer(
        "grant",
        &format!(
            "[config]\nbehavior = \"read-file\"\npath = \"/data/note.txt\"\n\
             [grants]\nread_only = {{ \"/data\" = \"{}\" }}\n",
            shared.display()
        ),
    );
    let run = run(&dir).await;
    assert!(run.failures.is_empty(), "{:#?}", run.failures);
    let leaked: Vec<&Delivered> = run
        .delivered
        .iter()
        .filter(|d| d.event.id.starts_with("hostile"))
        .collect();
    assert_eq!(leaked.len(), HOSTILE_EVENTS);
    for d in leaked {
        let detail: Value = serde_json::from_str(&d.event.detail).unwrap();
        assert_eq!(detail["data"]["value"], "granted on purpose");
    }
    let info = run.health.plugin(HOSTILE).unwrap();
    assert_eq!(
        info.grants,
        [format!("read-only /data = {}", shared.display())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_plugin_lets_its_events_through_unchanged() {
    let dir = hostile_transformer(
        "skip",
        "[config]\nbehavior = \"panic\"\n[failures]\non_error = \"skip\"\n",
    );
    let run = run(&dir).await;
    assert!(run.failures.is_empty(), "{:#?}", run.failures);
    assert_eq!(run.health.failed(), 0);
    let hostile: Vec<&Delivered> = run
        .delivered
        .iter()
        .filter(|d| d.event.id.starts_with("hostile"))
        .collect();
    assert_eq!(hostile.len(), HOSTILE_EVENTS);
    for d in hostile {
        assert_eq!(d.bus, "security", "routed as if the plugin were not there");
        let detail: Value = serde_json::from_str(&d.event.detail).unwrap();
        assert_eq!(
            detail["data"]["user_name"], "***@example.com",
            "still redacted"
        );
    }
    let info = run.health.plugin(HOSTILE).unwrap();
    assert_eq!(info.calls.errors, HOSTILE_EVENTS as u64);
    assert_eq!(info.on_error, "skip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_failing_most_recent_calls_is_degraded_then_recovers() {
    let dir = hostile_transformer("breaker", "[config]\nbehavior = \"error\"\n");
    let (sink, mut rx) = ChannelSink::new(1000);
    let host = Host::builder()
        .plugins_dir(&dir)
        .sink(sink)
        .workers(1)
        .build()
        .unwrap();
    let status = |host: &Host| {
        let health = host.health();
        let info = health.plugin(HOSTILE).unwrap().calls;
        (info.status, info.recent_errors)
    };
    let settle = |host: Host| async move {
        while !host.health().settled() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        host
    };
    for n in 0..20 {
        host.send_auth0(&hostile_log(n), "breaker").await.unwrap();
    }
    let host = settle(host).await;
    assert_eq!(status(&host), (PluginStatus::Degraded, 20));
    for n in 0..64 {
        let log = json!({"log_id": format!("ok-{n}"), "date": "2026-11-25T09:00:00Z", "type": "s"});
        host.send_auth0(&log.to_string(), "breaker").await.unwrap();
    }
    let host = settle(host).await;
    assert_eq!(status(&host), (PluginStatus::Ok, 0));
    let health = host.health();
    let calls = health.plugin(HOSTILE).unwrap().calls;
    assert_eq!(
        calls.instances, 21,
        "one instance to start, and a fresh one after each of the 20 failures"
    );
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    host.shutdown().await.unwrap();
    drain.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_are_recycled_by_calls_and_by_memory_high_water() {
    // `hoard` keeps 4 MiB more on every call: an instance that served two of them would
    // pass the 8 MiB cap; recycled once past 4 MiB, none does.
    let dir = hostile_transformer(
        "recycle",
        "[config]\nbehavior = \"hoard\"\n[limits]\nmax_memory_mib = 8\nrecycle_memory_mib = 4\n",
    );
    std::fs::write(
        dir.join("20-redact.toml"),
        "[limits]\nrecycle_after_calls = 10\n",
    )
    .unwrap();
    let run = run(&dir).await;
    assert!(run.failures.is_empty(), "{:#?}", run.failures);
    run.assert_others_unaffected();
    let calls = |name: &str| run.health.plugin(name).unwrap().calls;
    let redact = calls("20-redact");
    assert!(
        redact.instances >= redact.calls / 10,
        "redact recycled every 10 calls: {redact:?}"
    );
    let hoard = calls(HOSTILE);
    assert!(
        hoard.instances >= HOSTILE_EVENTS as u64,
        "every hoarding call recycled its instance: {hoard:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_hostile_files_never_stop_the_running_set() {
    let dir = folder("broken", &[]);
    let (sink, mut rx) = ChannelSink::new(100);
    let host = Host::builder()
        .plugins_dir(&dir)
        .sink(sink)
        .workers(2)
        .build()
        .unwrap();
    for (stem, bytes) in [
        ("15-garbage", b"this is not wasm".to_vec()),
        (
            "16-wrong-world",
            std::fs::read(fixture("not-a-plugin")).unwrap(),
        ),
    ] {
        std::fs::write(dir.join(format!("{stem}.wasm")), bytes).unwrap();
        let outcome = host.reload().await.unwrap();
        assert!(
            outcome.failed.iter().any(|f| f.plugin == stem),
            "{outcome:?}"
        );
        assert!(outcome.added.is_empty() && outcome.removed.is_empty());
        let log = json!({"log_id": format!("after-{stem}"), "date": "2026-11-25T09:00:00Z",
                         "type": "f", "user_name": "eve@example.com"});
        host.send_auth0(&log.to_string(), "broken").await.unwrap();
        let delivered = rx.recv().await.unwrap();
        assert_eq!(delivered.bus, "security");
        assert!(delivered.event.detail.contains("***@example.com"));
    }
    let health = host.shutdown().await.unwrap();
    assert_eq!(health.plugins.len(), 3);
    // The garbage fails on both reloads, the wrong world on the second.
    let failed: Vec<&str> = health
        .plugin_load_errors
        .iter()
        .map(|e| e.plugin.as_str())
        .collect();
    assert_eq!(failed, ["15-garbage", "15-garbage", "16-wrong-world"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_names_the_failing_plugin_version_and_shows_plugin_health() {
    let dir = hostile_transformer("cli", "[config]\nbehavior = \"panic\"\n");
    let data = dir.join("data");
    let input = dir.join("input.ndjson");
    let mut lines = generate_logs(50, 3, &[]).unwrap();
    lines.push_str(&hostile_log(1));
    lines.push('\n');
    std::fs::write(&input, lines).unwrap();
    let version = sha256_hex(&std::fs::read(fixture("hostile-transformer")).unwrap());

    let bin = logbridge_tests::logbridge_bin().unwrap();
    let run = std::process::Command::new(&bin)
        .args(["run", "--plugins"])
        .arg(&dir)
        .arg("--input")
        .arg(&input)
        .args(["--output"])
        .arg(dir.join("out.jsonl"))
        .args(["--bus", "security", "--bus", "audit", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        !run.status.success(),
        "a failed event makes the run exit non-zero"
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("hostile plugin panicked on hostile-1"),
        "the plugin's stderr reaches the host's log: {stderr}"
    );

    let failures = std::process::Command::new(&bin)
        .args(["failures", "--stage", "plugin", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let failures = String::from_utf8_lossy(&failures.stdout);
    assert!(
        failures.contains(&format!("15-hostile@{}", &version[..8])) && failures.contains("panic"),
        "{failures}"
    );

    let health = std::process::Command::new(&bin)
        .args(["health", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let health = String::from_utf8_lossy(&health.stdout);
    assert!(health.contains("plugin 15-hostile"), "{health}");
    assert!(health.contains("errors 1 (1 of the last 64)"), "{health}");
    assert!(
        health.contains("deadline 50 ms  memory 64 MiB  on error fail-event"),
        "{health}"
    );
}
