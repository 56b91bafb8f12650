//! Hot reload: the compiled-plugin cache, swapping, removing and adding plugins while the
//! host runs, broken replacements that must not take the running version down, the folder
//! watcher, and swaps under load that lose nothing.
//!
//! Over 400 lines: the reload scenarios share the variant-building and swap helpers at
//! the top, and each scenario is one short test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use logbridge::{ChannelSink, Delivered, Host, PluginEngine, PluginLimits, PluginSet};
use logbridge_tests::{copy_of_plugins, fixture, generate_logs};
use serde_json::json;
use tokio::sync::mpsc::Receiver;

use crate::auth0::{AUDIT, DROPPED, SECURITY, log_of};

/// A private copy of the example plugins folder.
fn plugins_copy(name: &str) -> PathBuf {
    copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("reload-{name}")))
}

fn log(id: &str, code: &str) -> String {
    json!({"log_id": id, "date": "2026-11-25T09:00:00Z", "type": code, "ip": "198.51.100.7"})
        .to_string()
}

async fn host(dir: &Path, capacity: usize) -> (Host, Receiver<Delivered>) {
    let (sink, rx) = ChannelSink::new(capacity);
    let host = Host::builder()
        .plugins_dir(dir)
        .cache_dir(dir.join("cache"))
        .sink(sink)
        .workers(2)
        .build()
        .expect("host");
    (host, rx)
}

/// Sends one log and returns the bus it was delivered to (`None`: filtered).
async fn route_of(
    host: &Host,
    rx: &mut Receiver<Delivered>,
    id: &str,
    code: &str,
) -> Option<String> {
    let before = host.health().filtered;
    host.send_auth0(&log(id, code), "test").await.unwrap();
    loop {
        if let Ok(delivered) = rx.try_recv() {
            assert_eq!(delivered.event.id, id);
            return Some(delivered.bus);
        }
        if host.health().filtered > before {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn set_security_bus(dir: &Path, bus: &str) {
    std::fs::write(
        dir.join("30-route-by-category.toml"),
        format!("[config]\nsecurity_bus = \"{bus}\"\naudit_bus = \"audit\"\n"),
    )
    .unwrap();
}

#[test]
fn a_warm_cache_loads_without_compiling_and_a_corrupt_entry_is_recompiled() {
    let dir = plugins_copy("cache");
    let cache = dir.join("cache");
    let engine = || {
        PluginEngine::new(PluginLimits {
            max_instances: 16,
            ..PluginLimits::default()
        })
        .unwrap()
        .with_cache(&cache)
    };
    let cold = engine();
    PluginSet::load_dir(&cold, &dir).unwrap();
    let stats = cold.cache().unwrap().stats();
    assert_eq!((stats.hits, stats.misses, stats.stored), (0, 3, 3));

    let warm = engine();
    PluginSet::load_dir(&warm, &dir).unwrap();
    let stats = warm.cache().unwrap().stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.rejected),
        (3, 0, 0),
        "nothing compiled"
    );

    // Flip one byte in the middle of one entry.
    let entry = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&entry, bytes).unwrap();
    let checked = engine();
    let set = PluginSet::load_dir(&checked, &dir).unwrap();
    let stats = checked.cache().unwrap().stats();
    assert_eq!(
        (stats.hits, stats.rejected, stats.stored),
        (2, 1, 1),
        "recompiled, rewritten"
    );
    assert_eq!(set.plugins().len(), 3);

    let again = engine();
    PluginSet::load_dir(&again, &dir).unwrap();
    assert_eq!(again.cache().unwrap().stats().hits, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_a_changed_router_and_keeps_the_rest() {
    let dir = plugins_copy("swap");
    let (host, mut rx) = host(&dir, 16).await;
    let mut reloads = host.subscribe_reloads();
    assert_eq!(
        route_of(&host, &mut rx, "a", "f").await.as_deref(),
        Some("security")
    );

    set_security_bus(&dir, "security-v2");
    let outcome = host.reload().await.unwrap();
    assert_eq!(outcome.replaced, ["30-route-by-category"]);
    assert_eq!(outcome.unchanged, ["10-drop-noise", "20-redact"]);
    assert_eq!(
        reloads.recv().await.unwrap(),
        outcome,
        "subscribers hear of it"
    );
    assert_eq!(
        route_of(&host, &mut rx, "b", "f").await.as_deref(),
        Some("security-v2")
    );
    assert_eq!(
        route_of(&host, &mut rx, "c", "seacft").await,
        None,
        "the filter still runs"
    );

    let again = host.reload().await.unwrap();
    assert!(!again.changed(), "nothing changed: {again:?}");
    let health = host.shutdown().await.unwrap();
    assert_eq!(health.reloads, 2);
    assert_eq!(health.plugins.len(), 3);
}

/// A way to break the router plugin on disk, and its name.
type Breakage<'a> = (&'static str, Box<dyn Fn() + 'a>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_replacements_never_take_down_the_running_version() {
    let dir = plugins_copy("broken");
    let (host, mut rx) = host(&dir, 16).await;
    let router = dir.join("30-route-by-category.wasm");
    let original = std::fs::read(&router).unwrap();
    let original_sidecar = std::fs::read(dir.join("30-route-by-category.toml")).unwrap();
    let running_hash = host.plugins()[2].hash().to_string();

    let breakages: Vec<Breakage<'_>> = vec![
        (
            "garbage bytes",
            Box::new(|| std::fs::write(&router, b"not wasm").unwrap()),
        ),
        (
            "the wrong world",
            Box::new(|| {
                std::fs::write(&router, std::fs::read(fixture("not-a-plugin")).unwrap()).unwrap()
            }),
        ),
        (
            "a truncated file",
            Box::new(|| std::fs::write(&router, &original[..original.len() / 3]).unwrap()),
        ),
        (
            "an init error",
            Box::new(|| {
                std::fs::write(&router, &original).unwrap();
                std::fs::write(
                    dir.join("30-route-by-category.toml"),
                    "[config]\nsecurity_buss = \"x\"\n",
                )
                .unwrap();
            }),
        ),
    ];
    for (n, (what, breakage)) in breakages.iter().enumerate() {
        breakage();
        let outcome = host.reload().await.unwrap();
        assert_eq!(outcome.failed.len(), 1, "{what}: {outcome:?}");
        assert_eq!(outcome.failed[0].plugin, "30-route-by-category");
        assert!(outcome.failed[0].kept_previous, "{what}");
        assert!(!outcome.changed(), "{what}: the running set stays");
        assert_eq!(host.plugins()[2].hash(), running_hash, "{what}");
        let id = format!("after-{n}");
        assert_eq!(
            route_of(&host, &mut rx, &id, "f").await.as_deref(),
            Some("security"),
            "{what}"
        );
    }
    let health = host.health();
    assert_eq!(health.plugin_load_errors.len(), 4);
    assert!(
        health.plugin_load_errors[0]
            .error
            .contains("not WebAssembly")
    );
    assert!(health.plugin_load_errors[3].error.contains("security_buss"));

    std::fs::write(dir.join("30-route-by-category.toml"), original_sidecar).unwrap();
    let healed = host.reload().await.unwrap();
    assert!(healed.failed.is_empty() && !healed.changed(), "{healed:?}");
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_plugin_stops_and_comes_back_when_added() {
    let dir = plugins_copy("remove");
    let (host, mut rx) = host(&dir, 16).await;
    assert_eq!(route_of(&host, &mut rx, "a", "seacft").await, None);

    let parked = dir.with_extension("parked.wasm");
    std::fs::rename(dir.join("10-drop-noise.wasm"), &parked).unwrap();
    let outcome = host.reload().await.unwrap();
    assert_eq!(outcome.removed, ["10-drop-noise"]);
    assert_eq!(
        route_of(&host, &mut rx, "b", "seacft").await.as_deref(),
        Some("default")
    );

    std::fs::rename(&parked, dir.join("10-drop-noise.wasm")).unwrap();
    let outcome = host.reload().await.unwrap();
    assert_eq!(outcome.added, ["10-drop-noise"]);
    assert_eq!(route_of(&host, &mut rx, "c", "seacft").await, None);
    host.shutdown().await.unwrap();
}

/// A host watching its own copy of the example plugins, and its reloads.
fn watched_host(
    name: &str,
) -> (
    PathBuf,
    Host,
    Receiver<Delivered>,
    tokio::sync::broadcast::Receiver<logbridge::ReloadOutcome>,
) {
    let dir = plugins_copy(name);
    let (sink, rx) = ChannelSink::new(16);
    let host = Host::builder()
        .plugins_dir(&dir)
        .sink(sink)
        .watch_plugins(true)
        .build()
        .unwrap();
    let reloads = host.subscribe_reloads();
    (dir, host, rx, reloads)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_reloads_once_a_file_is_renamed_into_the_folder() {
    let (dir, host, mut rx, mut reloads) = watched_host("watch");
    // Written elsewhere, then renamed in: the way deployments should replace a plugin.
    let staged = dir.with_extension("staged.toml");
    std::fs::write(&staged, "[config]\nsecurity_bus = \"watched\"\n").unwrap();
    std::fs::rename(&staged, dir.join("30-route-by-category.toml")).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let outcome = reloads.recv().await.unwrap();
            if outcome.changed() {
                return outcome;
            }
        }
    })
    .await
    .expect("the watcher reloaded");
    assert_eq!(outcome.replaced, ["30-route-by-category"]);
    assert_eq!(
        route_of(&host, &mut rx, "w", "f").await.as_deref(),
        Some("watched")
    );
    host.shutdown().await.unwrap();
}

/// `bytes` with a custom section appended: the same component, new bytes.
fn with_custom_section(bytes: &[u8], n: u8) -> Vec<u8> {
    let name = b"logbridge-test";
    let mut out = bytes.to_vec();
    out.push(0); // custom section
    out.push(u8::try_from(1 + name.len() + 1).unwrap());
    out.push(u8::try_from(name.len()).unwrap());
    out.extend_from_slice(name);
    out.push(n);
    out
}

/// The next reload the watcher makes that changes something or fails something.
async fn next_reload(
    reloads: &mut tokio::sync::broadcast::Receiver<logbridge::ReloadOutcome>,
) -> logbridge::ReloadOutcome {
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let outcome = reloads.recv().await.unwrap();
            if outcome.changed() || !outcome.failed.is_empty() {
                return outcome;
            }
        }
    })
    .await
    .expect("the watcher reloaded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_bytes_renamed_in_are_compiled_while_the_folder_settles_and_broken_ones_are_refused() {
    let (dir, host, mut rx, mut reloads) = watched_host("watch-bytes");
    let router = dir.join("30-route-by-category.wasm");
    let original = std::fs::read(&router).unwrap();
    let staged = dir.with_extension("staged");
    std::fs::create_dir_all(&staged).unwrap();
    // New bytes and a new sidecar, renamed in one after the other, as a deployment does:
    // the build started when the component arrived is the one the reload runs.
    std::fs::write(staged.join("r.wasm"), with_custom_section(&original, 1)).unwrap();
    std::fs::write(staged.join("r.toml"), "[config]\nsecurity_bus = \"v1\"\n").unwrap();
    std::fs::rename(staged.join("r.wasm"), &router).unwrap();
    std::fs::rename(staged.join("r.toml"), router.with_extension("toml")).unwrap();
    let outcome = next_reload(&mut reloads).await;
    assert_eq!(outcome.replaced, ["30-route-by-category"], "{outcome:?}");
    let running = host.plugins()[2].hash().to_string();
    assert_eq!(
        running,
        logbridge::plugin::sha256_hex(&with_custom_section(&original, 1))
    );
    assert_eq!(
        route_of(&host, &mut rx, "v1", "f").await.as_deref(),
        Some("v1")
    );

    // Half a component, renamed in: its build fails; the reload says why and keeps v1.
    std::fs::write(staged.join("r.wasm"), &original[..original.len() / 2]).unwrap();
    std::fs::rename(staged.join("r.wasm"), &router).unwrap();
    let outcome = next_reload(&mut reloads).await;
    assert_eq!(outcome.failed.len(), 1, "{outcome:?}");
    assert!(outcome.failed[0].kept_previous);
    assert!(
        outcome.failed[0].error.contains("does not compile"),
        "{outcome:?}"
    );
    assert_eq!(host.plugins()[2].hash(), running);
    assert_eq!(
        route_of(&host, &mut rx, "still-v1", "f").await.as_deref(),
        Some("v1")
    );

    // Written in place (closed after writing, not renamed): compiled as it closes.
    std::fs::write(&router, with_custom_section(&original, 2)).unwrap();
    let outcome = next_reload(&mut reloads).await;
    assert_eq!(outcome.replaced, ["30-route-by-category"], "{outcome:?}");
    assert_eq!(
        host.plugins()[2].hash(),
        logbridge::plugin::sha256_hex(&with_custom_section(&original, 2))
    );
    assert_eq!(
        route_of(&host, &mut rx, "v2", "f").await.as_deref(),
        Some("v1")
    );
    host.shutdown().await.unwrap();
}

/// Router version `n`: security events to `sec-N`, every entry tagged `Auth0 log vN`.
fn set_router_version(dir: &Path, n: u32) {
    std::fs::write(
        dir.join("30-route-by-category.toml"),
        format!(
            "[config]\nsecurity_bus = \"sec-{n}\"\naudit_bus = \"audit\"\n\
             detail_type = \"Auth0 log v{n}\"\n"
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_swaps_under_load_account_for_every_event_once() {
    // Offered at 20,000 events/s, in steps of 100 every 5 ms, while the router is
    // replaced 20 times, 60 ms apart.
    const EVENTS: usize = 40_000;
    const RATE: f64 = 20_000.0;
    const STEP: usize = 100;
    let dir = plugins_copy("load");
    set_router_version(&dir, 0);
    let (host, mut rx) = host(&dir, EVENTS + 1).await;
    let input = generate_logs(EVENTS, 21, &[]).unwrap();
    let lines: Vec<String> = input.lines().map(str::to_owned).collect();
    let types: BTreeMap<String, String> = lines
        .iter()
        .map(|l| {
            let log = log_of(&serde_json::from_str(l).unwrap()).clone();
            (
                log["log_id"].as_str().unwrap().to_string(),
                log["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    let sender = {
        let host = host.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            for (k, chunk) in lines.chunks(STEP).enumerate() {
                let due = started + Duration::from_secs_f64((k * STEP) as f64 / RATE);
                tokio::time::sleep_until(due).await;
                for line in chunk {
                    host.send_auth0(line, "load").await.unwrap();
                }
            }
            started.elapsed()
        })
    };
    for version in 1..=20 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        set_router_version(&dir, version);
        let outcome = host.reload().await.unwrap();
        assert_eq!(outcome.replaced, ["30-route-by-category"], "swap {version}");
    }
    let sending = sender.await.unwrap();
    let health = host.shutdown().await.unwrap();
    eprintln!(
        "offered {EVENTS} events in {sending:.2?}: {:.0} events/s",
        EVENTS as f64 / sending.as_secs_f64()
    );

    let mut seen = BTreeMap::new();
    let mut versions = BTreeMap::new();
    while let Ok(d) = rx.try_recv() {
        *seen.entry(d.event.id.clone()).or_insert(0) += 1;
        let version: u32 = d
            .event
            .detail_type
            .strip_prefix("Auth0 log v")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{} has no version tag", d.event.detail_type));
        *versions.entry(version).or_insert(0) += 1;
        let code = types[&d.event.id].as_str();
        let expected = if SECURITY.contains(&code) {
            format!("sec-{version}")
        } else if AUDIT.contains(&code) {
            "audit".to_string()
        } else {
            "default".to_string()
        };
        assert_eq!(
            d.bus, expected,
            "{} ({code}) was tagged by router v{version}, which would send it elsewhere",
            d.event.id
        );
    }
    eprintln!("events per router version: {versions:?}");
    assert!(seen.values().all(|&n| n == 1), "nothing delivered twice");
    assert_eq!(health.accepted, EVENTS as u64);
    assert_eq!(health.failed(), 0, "{health:?}");
    assert_eq!(
        health.filtered + seen.len() as u64,
        EVENTS as u64,
        "every event accounted for"
    );
    assert!(
        versions.len() > 1,
        "events flowed across swaps: {versions:?}"
    );
    assert_eq!(health.reloads, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_counts_calls_per_plugin_version() {
    const EVENTS: usize = 2_000;
    let dir = plugins_copy("counters");
    let (host, mut rx) = host(&dir, EVENTS + 10).await;
    let input = generate_logs(EVENTS, 5, &[]).unwrap();
    let dropped = input
        .lines()
        .filter(|l| {
            let line = serde_json::from_str(l).unwrap();
            DROPPED.contains(&log_of(&line)["type"].as_str().unwrap())
        })
        .count() as u64;
    let kept = EVENTS as u64 - dropped;
    for line in input.lines() {
        host.send_auth0(line, "counters").await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !host.health().settled() {
        assert!(std::time::Instant::now() < deadline, "{:?}", host.health());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let health = host.health();
    let by_name = |name: &str| health.plugin(name).unwrap().calls;
    let filter = by_name("10-drop-noise");
    assert_eq!(
        (filter.calls, filter.kept, filter.dropped, filter.errors),
        (EVENTS as u64, kept, dropped, 0)
    );
    for name in ["20-redact", "30-route-by-category"] {
        let plugin = by_name(name);
        assert_eq!((plugin.calls, plugin.errors), (kept, 0), "{name}");
        assert_eq!((plugin.kept, plugin.dropped), (0, 0), "{name}");
    }

    // A new router version starts from zero; the unchanged plugins keep counting.
    while rx.try_recv().is_ok() {}
    set_security_bus(&dir, "security-v2");
    host.reload().await.unwrap();
    assert_eq!(
        route_of(&host, &mut rx, "c1", "f").await.as_deref(),
        Some("security-v2")
    );
    let health = host.shutdown().await.unwrap();
    let by_name = |name: &str| health.plugin(name).unwrap().calls;
    assert_eq!(by_name("30-route-by-category").calls, 1);
    assert_eq!(by_name("10-drop-noise").calls, EVENTS as u64 + 1);
}
