//! Benchmark (not a test): hot-reload latency and cold start with and without the
//! compiled-plugin cache.
//!
//! Run: `scripts/build-plugins.sh target/example && cargo run -p logbridge-benches
//! --bin bench_reload -- target/example/plugins`
//!
//! - Reload latency: events flow continuously through a host that watches its plugins
//!   folder; a new router version is renamed into the folder 50 times, and the time from
//!   the rename to the first event routed by the new version is measured (p50, p99): with
//!   a changed sidecar only; with new bytes each time whose functions are unchanged (the
//!   in-memory function cache serves them, as it serves a rebuilt plugin's unchanged
//!   standard library and parser); with new bytes and the function cache off, so
//!   every function is compiled; and the same compiled by Winch first (the fast first
//!   compile for plugins of every size), Cranelift's build swapped in behind it.
//! - Cold start: loading 10 distinct plugins with an empty cache vs a warm one, and the
//!   ratio between them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use logbridge::{ChannelSink, Host, PluginEngine, PluginLimits, PluginSet};
use serde_json::json;

/// `bytes` with a custom section appended: the same component, a different content hash.
fn variant(bytes: &[u8], n: u32) -> Vec<u8> {
    let name = b"logbridge-bench";
    let payload = n.to_le_bytes();
    let body_len = 1 + name.len() + payload.len();
    let mut out = bytes.to_vec();
    out.push(0); // custom section
    out.push(u8::try_from(body_len).expect("small section"));
    out.push(u8::try_from(name.len()).expect("short name"));
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn scratch(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("logbridge-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn copy_plugins(from: &Path, to: &Path) -> Result<()> {
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        std::fs::copy(&path, to.join(path.file_name().context("file name")?))?;
    }
    Ok(())
}

/// How a swap's new version is compiled.
#[derive(Clone, Copy)]
enum Swap {
    /// Only the sidecar changes: nothing is compiled.
    Sidecar,
    /// New bytes; Cranelift, with the in-memory function cache serving unchanged functions.
    FunctionCache,
    /// New bytes; Cranelift, every function compiled.
    EveryFunction,
    /// New bytes; every function compiled by Winch first (the fast first compile for
    /// every size), Cranelift's build swapped in when it is ready.
    Winch,
}

async fn reload_latency(plugins: &Path, swap_kind: Swap) -> Result<Vec<Duration>> {
    let dir = scratch(match swap_kind {
        Swap::Sidecar => "reload-config",
        Swap::FunctionCache => "reload-bytes",
        Swap::EveryFunction => "reload-bytes-nocache",
        Swap::Winch => "reload-bytes-winch",
    })?;
    let new_bytes = !matches!(swap_kind, Swap::Sidecar);
    let function_cache = matches!(swap_kind, Swap::Sidecar | Swap::FunctionCache);
    copy_plugins(plugins, &dir)?;
    let router = std::fs::read(dir.join("30-route-by-category.wasm"))?;
    // Small queues, so what the new version processes is seen without a long backlog of
    // events the old version already processed.
    let (sink, mut delivered) = ChannelSink::new(64);
    let host = Host::builder()
        .plugins_dir(&dir)
        .cache_dir(dir.join("cache"))
        .sink(sink)
        .queue_capacity(64)
        .plugin_limits(PluginLimits {
            function_cache_bytes: if function_cache {
                PluginLimits::default().function_cache_bytes
            } else {
                0
            },
            fast_first_compile_bytes: match swap_kind {
                Swap::Winch => Some(0),
                _ => PluginLimits::default().fast_first_compile_bytes,
            },
            ..PluginLimits::default()
        })
        .watch_plugins(true)
        .build()?;
    // A steady stream of failed logins: each is routed to the security bus of the
    // router version that processed it.
    let sender = {
        let host = host.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                let log =
                    json!({"log_id": n.to_string(), "date": "2026-11-25T09:00:00Z", "type": "f"});
                if host.send_auth0(&log.to_string(), "bench").await.is_err() {
                    break;
                }
                n += 1;
                if n.is_multiple_of(64) {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let mut latencies = Vec::new();
    for swap in 0..50u32 {
        let bus = format!("security-{swap}");
        let staged = dir.with_extension("staged");
        std::fs::create_dir_all(&staged)?;
        std::fs::write(
            staged.join("30-route-by-category.toml"),
            format!("[config]\nsecurity_bus = \"{bus}\"\n"),
        )?;
        if new_bytes {
            std::fs::write(
                staged.join("30-route-by-category.wasm"),
                variant(&router, swap),
            )?;
        }
        let started = Instant::now();
        if new_bytes {
            std::fs::rename(
                staged.join("30-route-by-category.wasm"),
                dir.join("30-route-by-category.wasm"),
            )?;
        }
        std::fs::rename(
            staged.join("30-route-by-category.toml"),
            dir.join("30-route-by-category.toml"),
        )?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let d = tokio::time::timeout_at(deadline, delivered.recv())
                .await
                .with_context(|| format!("swap {swap}: no event from the new version within 30 s"))?
                .context("the sink closed")?;
            if d.bus == bus {
                latencies.push(started.elapsed());
                break;
            }
        }
    }
    // Keep receiving while shutdown drains, or delivery would wait for room forever.
    let drain = tokio::spawn(async move { while delivered.recv().await.is_some() {} });
    host.shutdown().await?;
    sender.await?;
    drain.await?;
    let _ = std::fs::remove_dir_all(dir.with_extension("staged"));
    let _ = std::fs::remove_dir_all(&dir);
    latencies.sort();
    Ok(latencies)
}

fn cold_start(plugins: &Path) -> Result<(Duration, Duration)> {
    let dir = scratch("cold")?;
    let originals = ["10-drop-noise", "20-redact", "30-route-by-category"];
    for n in 0..10u32 {
        let original = originals[n as usize % 3];
        let bytes = std::fs::read(plugins.join(format!("{original}.wasm")))?;
        let name = format!("{:02}-{original}", 10 + n);
        std::fs::write(dir.join(format!("{name}.wasm")), variant(&bytes, n))?;
        let sidecar = plugins.join(format!("{original}.toml"));
        if sidecar.exists() {
            std::fs::copy(&sidecar, dir.join(format!("{name}.toml")))?;
        }
    }
    let cache = dir.join("cache");
    let load = || -> Result<Duration> {
        // No in-memory function cache: the 10 plugins are variants of 3, and it would
        // serve their shared functions, flattering the uncached figure.
        let engine = PluginEngine::new(PluginLimits {
            function_cache_bytes: 0,
            ..PluginLimits::default()
        })?
        .with_cache(&cache);
        let started = Instant::now();
        let set = PluginSet::load_dir(&engine, &dir)?;
        let elapsed = started.elapsed();
        anyhow::ensure!(set.plugins().len() == 10);
        Ok(elapsed)
    };
    let uncached = load()?;
    let cached = load()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((uncached, cached))
}

/// The allocator the `logbridge` command runs on, so the figures are the command's.
#[global_allocator]
static ALLOCATOR: logbridge::allocator::Allocator = logbridge::allocator::ALLOCATOR;

#[tokio::main]
async fn main() -> Result<()> {
    logbridge::allocator::configure();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let plugins = PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: bench_reload PLUGINS_DIR")?,
    );
    let (uncached, cached) = cold_start(&plugins)?;
    println!(
        "cold start, 10 plugins: uncached {uncached:.1?}, cached {cached:.1?} ({:.1}x faster)",
        uncached.as_secs_f64() / cached.as_secs_f64()
    );
    let mut every_function_new = Duration::ZERO;
    for (what, swap_kind) in [
        ("new sidecar", Swap::Sidecar),
        (
            "new bytes, unchanged functions from the function cache",
            Swap::FunctionCache,
        ),
        (
            "new bytes, function cache off (every function compiled)",
            Swap::EveryFunction,
        ),
        (
            "new bytes, every function compiled, Winch first (fast_first_compile_bytes = 0)",
            Swap::Winch,
        ),
    ] {
        let latencies = reload_latency(&plugins, swap_kind).await?;
        let p50 = percentile(&latencies, 0.5);
        println!(
            "reload latency, {what}, 50 swaps: p50 {p50:.1?}, p99 {:.1?}, max {:.1?}",
            percentile(&latencies, 0.99),
            latencies[latencies.len() - 1]
        );
        match swap_kind {
            Swap::EveryFunction => every_function_new = p50,
            Swap::Winch => println!(
                "  goal: hot swap p50 < 50 ms when every function is new: {p50:.1?} with \
                 Winch first ({:.2}× the Cranelift p50), {every_function_new:.1?} with \
                 Cranelift — {}",
                p50.as_secs_f64() / every_function_new.as_secs_f64(),
                if p50 < Duration::from_millis(50) {
                    "met with Winch first"
                } else {
                    "not met"
                }
            ),
            _ => {}
        }
    }
    Ok(())
}
