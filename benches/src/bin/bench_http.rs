//! Benchmark (not a test): HTTP ingest. Batches of 100 Auth0 log records (`JSONARRAY`)
//! are posted over loopback to the receiver by 4 concurrent senders, into a host with no
//! plugins (the receiver and queue alone) and with the three example plugins; the rate at
//! which records are accepted and delivered is reported beside the same host fed through
//! `Host::send` in-process, as the baseline (alternated, best of 3 each). Then the same
//! HTTP ingest with the write-ahead log (`durability = "disk"`: every record on disk before
//! its 200) against memory, in the same run: the rate, `fsync`s per second and the log's
//! size.
//!
//! Run: `scripts/build-plugins.sh target/example && target/debug/logbridge sample
//! --count 20000 --seed 7 > target/example/logs.ndjson && cargo run -p logbridge-benches
//! --bin bench_http -- target/example/plugins target/example/logs.ndjson`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use logbridge::serve::ServeConfig;
use logbridge::{ChannelSink, Durability, Host};
use logbridge_benches::{LocalServer, post};
use serde_json::Value;

const BATCH: usize = 100;
const SENDERS: usize = 4;

fn host(
    plugins: Option<&Path>,
    disk: Option<&Path>,
) -> Result<(Host, tokio::task::JoinHandle<usize>)> {
    let (sink, mut rx) = ChannelSink::new(4096);
    let mut builder = Host::builder().sink(sink).workers(2);
    if let Some(dir) = plugins {
        builder = builder.plugins_dir(dir);
    }
    if let Some(dir) = disk {
        let _ = std::fs::remove_dir_all(dir);
        builder = builder.data_dir(dir).durability(Durability::Disk);
    }
    let host = builder.build()?;
    let drain = tokio::spawn(async move {
        let mut n = 0;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    });
    Ok((host, drain))
}

/// Events through `Host::send_auth0`, in-process: the baseline.
async fn in_process(plugins: Option<&Path>, records: &[String]) -> Result<f64> {
    let (host, drain) = host(plugins, None)?;
    let started = Instant::now();
    for record in records {
        host.send_auth0(record, "bench").await?;
    }
    let report = host.shutdown().await?;
    let elapsed = started.elapsed();
    drain.await?;
    ensure!(report.settled(), "{report:?}");
    Ok(records.len() as f64 / elapsed.as_secs_f64())
}

/// What one HTTP run measured.
struct Served {
    /// Events per second, from the first post until all were delivered.
    rate: f64,
    /// With the write-ahead log: `fsync`s per second, and its largest size seen (bytes)
    /// and pending events.
    fsyncs_per_s: f64,
    max_bytes: u64,
    max_pending: u64,
    /// Cores busy on average (process CPU time over wall time).
    cores: f64,
}

/// The same records posted over HTTP in batches; with `disk`, a write-ahead log there.
async fn over_http(
    plugins: Option<&Path>,
    disk: Option<&Path>,
    records: &[String],
    senders_count: usize,
) -> Result<Served> {
    let (host, drain) = host(plugins, disk)?;
    let config = ServeConfig {
        queue_wait: Duration::from_secs(30),
        ..ServeConfig::default()
    };
    let server = LocalServer::start(host.clone(), config).await?;
    let addr = server.addr;
    let bodies: Vec<String> = records
        .chunks(BATCH)
        .map(|chunk| format!("[{}]", chunk.join(",")))
        .collect();
    let bodies = Arc::new(bodies);
    let started = Instant::now();
    let cpu_started = logbridge_benches::cpu_seconds();
    // The log's size, sampled while the load lasts.
    let watched = host.clone();
    let largest = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let seen = Arc::clone(&largest);
    let sampler = tokio::spawn(async move {
        loop {
            if let Some(journal) = watched.health().journal {
                seen[0].fetch_max(journal.bytes, Ordering::Relaxed);
                seen[1].fetch_max(journal.pending, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut senders = Vec::new();
    for s in 0..senders_count {
        let bodies = Arc::clone(&bodies);
        senders.push(tokio::spawn(async move {
            for body in bodies.iter().skip(s).step_by(senders_count) {
                let (status, answer) = post(addr, "/logs", body.as_bytes()).await?;
                ensure!(status == 200, "{status} {answer}");
            }
            anyhow::Ok(())
        }));
    }
    for sender in senders {
        sender.await??;
    }
    server.stop().await?;
    let report = host.shutdown().await?;
    let elapsed = started.elapsed();
    sampler.abort();
    let (max_bytes, max_pending) = (
        largest[0].load(Ordering::Relaxed),
        largest[1].load(Ordering::Relaxed),
    );
    drain.await?;
    ensure!(
        report.settled() && report.accepted == records.len() as u64,
        "{report:?}"
    );
    let seconds = elapsed.as_secs_f64();
    let cores = (logbridge_benches::cpu_seconds() - cpu_started) / seconds;
    Ok(Served {
        cores,
        rate: records.len() as f64 / seconds,
        fsyncs_per_s: report
            .journal
            .as_ref()
            .map_or(0.0, |j| j.fsyncs as f64 / seconds),
        max_bytes,
        max_pending,
    })
}

/// The allocator the `logbridge` command runs on, so the figures are the command's.
#[global_allocator]
static ALLOCATOR: logbridge::allocator::Allocator = logbridge::allocator::ALLOCATOR;

#[tokio::main]
async fn main() -> Result<()> {
    logbridge::allocator::configure();
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench_http PLUGINS_DIR LOGS.ndjson";
    let plugins = PathBuf::from(args.next().context(usage)?);
    let logs = PathBuf::from(args.next().context(usage)?);
    // The records a log stream sends: {"log_id", "data"}.
    let records: Vec<String> = std::fs::read_to_string(&logs)
        .with_context(|| format!("cannot read {}", logs.display()))?
        .lines()
        .map(|line| {
            let log: Value = serde_json::from_str(line)?;
            let log = log.get("data").cloned().unwrap_or(log);
            anyhow::Ok(serde_json::json!({"log_id": log["log_id"], "data": log}).to_string())
        })
        .collect::<Result<_>>()?;
    for (what, dir) in [
        ("no plugins", None),
        ("example plugins", Some(plugins.as_path())),
    ] {
        // Alternated, three times, best of each: one run alone can land on a slow
        // moment of the machine.
        let (mut baseline, mut served) = (0.0f64, 0.0f64);
        for _ in 0..3 {
            baseline = baseline.max(in_process(dir, &records).await?);
            served = served.max(over_http(dir, None, &records, SENDERS).await?.rate);
        }
        println!(
            "{what}: {} records in batches of {BATCH}, {SENDERS} senders, best of 3: HTTP \
             {served:.0} events/s, in-process {baseline:.0} events/s (HTTP/in-process {:.2})",
            records.len(),
            served / baseline
        );
        if dir.is_some() {
            println!(
                "  goal: HTTP ingest with the example plugins at least 100k events/s: {:.0}k \
                 (durability memory) — {} ({:.2}× in-process, this run; with the write-ahead \
                 log, below)",
                served / 1e3,
                logbridge_benches::verdict(served >= 100_000.0),
                served / baseline
            );
        }
    }
    let journal = std::env::temp_dir().join(format!("bench-http-journal-{}", std::process::id()));
    for (what, dir, senders) in [
        ("no plugins", None, SENDERS),
        ("example plugins", Some(plugins.as_path()), SENDERS),
        ("example plugins", Some(plugins.as_path()), 4 * SENDERS),
    ] {
        // Alternated, three times, so neither gets the quieter moments of the machine.
        let mut memory = Vec::new();
        let mut disk = Vec::new();
        for _ in 0..3 {
            memory.push(over_http(dir, None, &records, senders).await?);
            disk.push(over_http(dir, Some(&journal), &records, senders).await?);
        }
        let best = |runs: &[Served]| runs.iter().map(|r| r.rate).fold(0.0, f64::max);
        let (memory_rate, disk_rate) = (best(&memory), best(&disk));
        let fsyncs = disk.iter().map(|r| r.fsyncs_per_s).fold(0.0, f64::max);
        let bytes = disk.iter().map(|r| r.max_bytes).max().unwrap_or(0);
        let pending = disk.iter().map(|r| r.max_pending).max().unwrap_or(0);
        let cores = |runs: &[Served]| runs.iter().map(|r| r.cores).sum::<f64>() / runs.len() as f64;
        let (memory_cores, disk_cores) = (cores(&memory), cores(&disk));
        println!(
            "{what}, {senders} senders, durability: disk {disk_rate:.0} events/s, memory {memory_rate:.0} \
             events/s (disk/memory {:.2}; goal >= 0.70); {fsyncs:.0} fsyncs/s ({:.0} events \
             per fsync); write-ahead log at most {:.1} MiB, {pending} events pending; cores \
             busy: disk {disk_cores:.2}, memory {memory_cores:.2}",
            disk_rate / memory_rate,
            disk_rate / fsyncs.max(1.0),
            bytes as f64 / f64::from(1 << 20)
        );
        if dir.is_some() {
            println!(
                "  goal: HTTP ingest with the example plugins at least 100k events/s, \
                 durability disk: {:.0}k — {}",
                disk_rate / 1e3,
                logbridge_benches::verdict(disk_rate >= 100_000.0)
            );
        }
    }
    let _ = std::fs::remove_dir_all(&journal);
    Ok(())
}
