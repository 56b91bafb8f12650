//! Fast first loads: a large plugin not yet in the compiled-plugin cache serves events on
//! its baseline (Winch) build at once, and its optimized (Cranelift) build is swapped in
//! by a reload when ready, losing nothing. The example plugins are small, so the tests
//! lower the size from which a plugin counts as large.

use std::path::Path;
use std::time::{Duration, Instant};

use logbridge::{ChannelSink, CompiledPlugin, Compiler, Host, PluginLimits};
use logbridge_tests::{copy_of_plugins, generate_logs};
use serde_json::Value;

use crate::auth0::{assert_redacted, expected_bus, id_of, log_of};

fn compilers(plugins: &[std::sync::Arc<CompiledPlugin>]) -> Vec<Compiler> {
    plugins.iter().map(|p| p.compiler()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_plugin_serves_at_once_and_its_optimized_build_is_swapped_in_losing_nothing() {
    let dir = copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join("tiering"));
    let lines: Vec<String> = generate_logs(3000, 41, &[])
        .expect("logs")
        .lines()
        .map(String::from)
        .collect();
    let (sink, mut rx) = ChannelSink::new(lines.len() + 1);
    let host = Host::builder()
        .plugins_dir(&dir)
        .cache_dir(dir.join("cache"))
        .plugin_limits(PluginLimits {
            fast_first_compile_bytes: Some(0),
            ..PluginLimits::default()
        })
        .sink(sink)
        .workers(2)
        .build()
        .expect("host");

    // Events flow from the start, whichever build runs; the swap happens under them.
    let mut seen_baseline = false;
    let deadline = Instant::now() + Duration::from_secs(300);
    for (n, line) in lines.iter().enumerate() {
        seen_baseline |= compilers(&host.plugins()).contains(&Compiler::Winch);
        host.send_auth0(line, &format!("line {n}"))
            .await
            .expect("sent");
        if n % 100 == 0 {
            tokio::task::yield_now().await;
        }
    }
    while compilers(&host.plugins()).contains(&Compiler::Winch) {
        assert!(
            Instant::now() < deadline,
            "the optimized builds were not swapped in: {:?}",
            compilers(&host.plugins())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen_baseline,
        "the plugins first ran on their baseline build"
    );
    assert_eq!(compilers(&host.plugins()), [Compiler::Cranelift; 3]);
    let health = host.shutdown().await.expect("shutdown");
    assert!(
        health.reloads >= 1,
        "the swap is a reload (nothing else reloads here)"
    );

    // Every log is accounted for, and each delivered one is what the rules make of it.
    let mut delivered = std::collections::BTreeMap::new();
    while let Ok(d) = rx.try_recv() {
        delivered.insert(d.event.id.clone(), d);
    }
    let mut dropped = 0;
    for line in &lines {
        let original: Value = serde_json::from_str(line).expect("a log");
        let log = log_of(&original);
        match expected_bus(log) {
            None => {
                dropped += 1;
                assert!(!delivered.contains_key(id_of(log)), "{line}");
            }
            Some(bus) => {
                let d = delivered
                    .get(id_of(log))
                    .unwrap_or_else(|| panic!("lost: {line}"));
                assert_eq!(d.bus, bus, "{line}");
                let detail: Value = serde_json::from_str(&d.event.detail).expect("a detail");
                assert_redacted(log, &detail["data"]);
            }
        }
    }
    assert_eq!(delivered.len() + dropped, lines.len());
    assert_eq!(health.filtered, dropped as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_size_or_from_the_cache_a_plugin_is_compiled_optimized_only() {
    let dir = copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join("tiering-small"));
    let host = Host::builder()
        .plugins_dir(&dir)
        .sink(ChannelSink::new(1).0)
        .build()
        .expect("host");
    // The example plugins are far below the default size (1 MiB).
    assert_eq!(compilers(&host.plugins()), [Compiler::Cranelift; 3]);
    host.shutdown().await.expect("shutdown");
}
