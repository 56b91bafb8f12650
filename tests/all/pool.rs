//! The instance pool: sized from the plugins a host loads and its workers, and moved to
//! a larger one by a reload that outgrows it — every worker holding an instance of every
//! plugin, with no event failing for want of room.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use logbridge::{ChannelSink, Delivered, Host};
use logbridge_tests::fixture;
use serde_json::json;
use tokio::sync::mpsc::Receiver;

const WORKERS: usize = 4;

/// More plugins than a pool of 256, or of 68 instances per worker, holds for 4 workers.
const PLUGINS: usize = 70;

/// Puts copies `from..to` of a filter that keeps these events into `dir`.
fn add_filters(dir: &Path, from: usize, to: usize) {
    let filter = std::fs::read(fixture("envelope-filter")).expect("the fixture");
    for n in from..to {
        std::fs::write(dir.join(format!("f{n:03}.wasm")), &filter).expect("a copy");
    }
}

fn folder(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pool-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// Instances made so far, per plugin.
fn instances(host: &Host) -> BTreeMap<String, u64> {
    host.plugins()
        .iter()
        .map(|p| (p.name().to_string(), p.counters().snapshot().instances))
        .collect()
}

/// Sends events until every worker has made an instance of every plugin (each plugin
/// counted `WORKERS` more instances than in `before`); every event must be delivered.
async fn run_on_every_worker(
    host: &Host,
    rx: &mut Receiver<Delivered>,
    next_id: &mut u64,
    before: &BTreeMap<String, u64>,
) {
    for _round in 0..200 {
        for _ in 0..64 {
            *next_id += 1;
            let log = json!({"log_id": format!("e{next_id}"), "date": "2026-11-25T09:00:00Z",
                "type": "s"});
            host.send_auth0(&log.to_string(), "test").await.unwrap();
        }
        for _ in 0..64 {
            delivered_or_failed(host, rx).await;
        }
        let now = instances(host);
        let everywhere = now
            .iter()
            .all(|(name, n)| n - before.get(name).copied().unwrap_or(0) >= WORKERS as u64);
        if everywhere {
            assert_eq!(host.health().failed(), 0);
            return;
        }
    }
    panic!(
        "after 200 rounds some worker had not run every plugin: {:?}",
        instances(host)
    );
}

/// Waits for the next delivery; fails at once when an event failed instead.
async fn delivered_or_failed(host: &Host, rx: &mut Receiver<Delivered>) {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if rx.try_recv().is_ok() {
            return;
        }
        let health = host.health();
        assert_eq!(
            health.failed(),
            0,
            "events failed for want of room in the instance pool? by plugin: {:?}",
            health.failed_by_plugin
        );
        assert!(
            tokio::time::Instant::now() < give_up,
            "an event was neither delivered nor failed"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_plugins_on_many_workers_fit_and_a_reload_that_doubles_them_twice_works() {
    let dir = folder("grow");
    add_filters(&dir, 0, PLUGINS);
    let (sink, mut rx) = ChannelSink::new(1024);
    let host = Host::builder()
        .plugins_dir(&dir)
        .cache_dir(dir.join("cache"))
        .sink(sink)
        .workers(WORKERS)
        .build()
        .expect("a host with many plugins starts");
    let mut next_id = 0;
    run_on_every_worker(&host, &mut rx, &mut next_id, &BTreeMap::new()).await;

    // Twice the plugins: within the room the pool keeps for a reload.
    add_filters(&dir, PLUGINS, 2 * PLUGINS);
    let before = instances(&host);
    let outcome = host.reload().await.unwrap();
    assert_eq!(
        (outcome.added.len(), outcome.unchanged.len()),
        (PLUGINS, PLUGINS)
    );
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    run_on_every_worker(&host, &mut rx, &mut next_id, &before).await;

    // Twice that: more than the pool holds, so the set moves to a larger one; the
    // plugins left as they were keep their counters.
    add_filters(&dir, 2 * PLUGINS, 4 * PLUGINS);
    let before = instances(&host);
    let outcome = host.reload().await.unwrap();
    assert_eq!(
        (outcome.added.len(), outcome.unchanged.len()),
        (2 * PLUGINS, 2 * PLUGINS)
    );
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    let kept = instances(&host);
    assert_eq!(kept["f000"], before["f000"], "counters carried over");
    run_on_every_worker(&host, &mut rx, &mut next_id, &before).await;

    let health = host.shutdown().await.unwrap();
    assert_eq!(health.failed(), 0);
    assert_eq!(health.delivered(), next_id);
    assert_eq!(health.plugins.len(), 4 * PLUGINS);
}
