//! Tests of the host builder: settings that exclude each other are refused.

use super::*;
use crate::delivery::{BatchLimits, DeliveryConfig, JsonLinesSink, RetryPolicy};
use crate::plugin::{PluginEngine, PluginLimits, PluginSet};

fn refusal(builder: HostBuilder) -> String {
    match builder.build() {
        Err(Error::Conflict(why)) => why.to_string(),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("built"),
    }
}

#[test]
fn setters_that_exclude_each_other_are_refused_instead_of_one_undoing_the_other() {
    let sink = || JsonLinesSink::new(std::io::sink());
    assert!(
        refusal(
            Host::builder()
                .delivery_config(DeliveryConfig::default())
                .batch_limits(BatchLimits::default())
                .sink(sink())
        )
        .contains("`delivery_config` sets the batch limits too")
    );
    // The other order too: the earlier setter would have been lost.
    assert!(
        refusal(
            Host::builder()
                .retry_policy(RetryPolicy::default())
                .delivery_config(DeliveryConfig::default())
                .sink(sink())
        )
        .contains("retry policy")
    );
    assert_eq!(
        refusal(Host::builder().sink(sink()).sink_arc(Arc::new(sink()))),
        "two sinks were given; give one"
    );
    let engine = PluginEngine::new(PluginLimits::default()).unwrap();
    assert!(
        refusal(
            Host::builder()
                .plugin_set(PluginSet::empty(&engine))
                .plugins_dir("plugins")
                .sink(sink())
        )
        .starts_with("a plugins folder and a loaded plugin set exclude each other")
    );
    assert!(
        refusal(
            Host::builder()
                .plugin_set(PluginSet::empty(&engine))
                .plugin_limits(PluginLimits::default())
                .sink(sink())
        )
        .contains("its own engine's limits")
    );
}

#[test]
fn one_setter_of_each_kind_still_builds() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let host = Host::builder()
            .batch_limits(BatchLimits::default())
            .retry_policy(RetryPolicy::default())
            .sink(JsonLinesSink::new(std::io::sink()))
            .workers(1)
            .build()
            .unwrap();
        host.shutdown().await.unwrap();
    });
}

#[test]
fn a_configuration_changed_after_it_was_read_is_checked_again_by_the_files_rules() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let config = crate::config::Config {
        watch: true,
        ..Default::default()
    };
    let refused = runtime
        .block_on(Host::from_config(&config))
        .err()
        .expect("watch without a plugins folder is refused");
    assert_eq!(
        refused.to_string(),
        "`watch`: watching needs a plugins folder: give `plugins` (--plugins DIR)"
    );
}

/// A host with a write-ahead log in a fresh folder and a queue of `capacity` places.
fn durable_host(name: &str, capacity: usize) -> (Host, PathBuf) {
    let dir = std::env::temp_dir().join(format!("logbridge-host-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let host = Host::builder()
        .sink(JsonLinesSink::new(std::io::sink()))
        .data_dir(&dir)
        .durability(Durability::Disk)
        .queue_capacity(capacity)
        .workers(1)
        .build()
        .unwrap();
    (host, dir)
}

fn log(n: usize) -> Event {
    Envelope::default()
        .auth0_event(&format!(
            r#"{{"log_id":"{n}","date":"2026-12-01T00:00:00Z","type":"s"}}"#
        ))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_take_nothing_leave_the_queue_room_as_it_was() {
    let (host, dir) = durable_host("empty-calls", 2);
    // Batches with nothing to take (all duplicates, all invalid lines) — more of them
    // than the queue has places.
    for n in 0..10 {
        host.accept_within(Vec::new(), Vec::new(), std::time::Duration::from_secs(1))
            .await
            .unwrap();
        let position = InputPosition {
            key: "logs".into(),
            offset: n,
            line: n,
        };
        host.send_read(Vec::new(), Some(position)).await.unwrap();
    }
    for n in 0..10 {
        tokio::time::timeout(std::time::Duration::from_secs(10), host.send(log(n)))
            .await
            .expect("room in the queue was lost")
            .unwrap();
    }
    let report = host.shutdown().await.unwrap();
    assert_eq!(report.delivered(), 10);
    assert_eq!(report.journal.unwrap().pending, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_given_up_on_takes_its_events_whole_or_not_at_all() {
    let (host, dir) = durable_host("cancelled", 4);
    // Callers that stop waiting at every moment of a send.
    for n in 0..200 {
        let wait = std::time::Duration::from_micros(n as u64 * 5);
        let _ = tokio::time::timeout(wait, host.send_batch((0..3).map(|i| log(n * 3 + i)))).await;
    }
    host.send(log(10_000)).await.unwrap();
    // What a caller gave up on goes on in the background: every event written is
    // queued and settled.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let report = host.health();
        let journal = report.journal.clone().unwrap();
        if journal.pending == 0 && report.accepted == journal.appended {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{report:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let report = host.shutdown().await.unwrap();
    assert_eq!(report.delivered(), report.accepted);
    let _ = std::fs::remove_dir_all(&dir);
}
