//! Benchmark (not a test): HTTP ingest. Batches of 100 Auth0 log records (`JSONARRAY`)
//! are posted over loopback to the receiver by 4 concurrent senders, into a host with no
//! plugins (the receiver and queue alone) and with the three example plugins; the rate at
//! which records are accepted and delivered is reported beside the same host fed through
//! `Host::send` in-process, as the baseline.
//!
//! Run: `scripts/build-plugins.sh target/example && target/debug/logbridge sample
//! --count 20000 --seed 7 > target/example/logs.ndjson && cargo run -p logbridge-benches
//! --bin bench_http -- target/example/plugins target/example/logs.ndjson`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use logbridge::serve::ServeConfig;
use logbridge::{ChannelSink, Host};
use logbridge_benches::{LocalServer, post};
use serde_json::Value;

const BATCH: usize = 100;
const SENDERS: usize = 4;

fn host(plugins: Option<&Path>) -> Result<(Host, tokio::task::JoinHandle<usize>)> {
    let (sink, mut rx) = ChannelSink::new(4096);
    let mut builder = Host::builder().sink(sink).workers(2);
    if let Some(dir) = plugins {
        builder = builder.plugins_dir(dir);
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
    let (host, drain) = host(plugins)?;
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

/// The same records posted over HTTP in batches.
async fn over_http(plugins: Option<&Path>, records: &[String]) -> Result<f64> {
    let (host, drain) = host(plugins)?;
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
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let bodies = Arc::clone(&bodies);
        senders.push(tokio::spawn(async move {
            for body in bodies.iter().skip(s).step_by(SENDERS) {
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
    drain.await?;
    ensure!(
        report.settled() && report.accepted == records.len() as u64,
        "{report:?}"
    );
    Ok(records.len() as f64 / elapsed.as_secs_f64())
}

#[tokio::main]
async fn main() -> Result<()> {
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
        let baseline = in_process(dir, &records).await?;
        let served = over_http(dir, &records).await?;
        println!(
            "{what}: {} records in batches of {BATCH}, {SENDERS} senders: HTTP {served:.0} \
             events/s, in-process {baseline:.0} events/s (HTTP/in-process {:.2})",
            records.len(),
            served / baseline
        );
    }
    Ok(())
}
