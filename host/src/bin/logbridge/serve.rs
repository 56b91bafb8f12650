//! `logbridge serve`: the HTTP receiver for Auth0's custom-webhook log streams, with the
//! health page and metrics, until Ctrl-C or SIGTERM; then it drains like `run`, within
//! the shutdown timeout whatever clients do. A second signal stops it at once, after
//! writing what was not delivered to the failure log.

use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use anyhow::Context;
use logbridge::config::Config;
use tokio::sync::watch;

use crate::run::{build_host, finish};

/// Counts Ctrl-C and SIGTERM from now on, each signal as it comes.
fn count_signals() -> anyhow::Result<watch::Receiver<u32>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let (count, counted) = watch::channel(0u32);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = terminate.recv() => {}
                Some(()) = interrupt.recv() => {}
                else => return,
            }
            count.send_modify(|n| *n += 1);
        }
    });
    Ok(counted)
}

/// Completes once `n` signals have come.
async fn signalled(mut signals: watch::Receiver<u32>, n: u32) {
    if signals.wait_for(|count| *count >= n).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The process's soft limit of open files, from `/proc/self/limits` (Linux).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// File descriptors kept for everything but client connections: the failure log,
/// plugins, EventBridge connections, the listener.
const FDS_FOR_THE_REST: u64 = 64;

pub(crate) async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let signals = count_signals()?;
    let listen = config.serve.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let mut serve_config = config.serve_config();
    if let Some(limit) = open_file_limit()
        && serve_config.max_connections as u64 + FDS_FOR_THE_REST > limit
    {
        let fitting = limit.saturating_sub(FDS_FOR_THE_REST).max(2);
        tracing::warn!(
            "--max-connections {} does not fit the open-file limit of {limit} (`ulimit -n`); \
             serving at most {fitting} connections — raise the limit to serve more",
            serve_config.max_connections
        );
        serve_config.max_connections = usize::try_from(fitting).unwrap_or(usize::MAX);
    }
    let shutdown_timeout = config.delivery.shutdown_timeout;
    let data_dir = config.data_dir.clone();
    let (host, log) = build_host(&config).await?;
    if serve_config.authorization.is_none() && !address.ip().is_loopback() {
        tracing::warn!(
            "no --authorization is set and {address} is not loopback: anyone who reaches it \
             can post logs"
        );
    }
    // The address, on stdout, so a script can wait for it (port 0 picks a free one).
    println!("listening on http://{address}");

    // Where `logbridge health` finds this server; removed when it stops.
    let _noted = crate::health::ServeRecord::write(&data_dir, address);

    // The first signal stops the server; from then on everything must be over within
    // the shutdown timeout. A second signal, or the timeout, stops at once.
    let first_at = std::sync::Arc::new(std::sync::OnceLock::new());
    let first = {
        let (signals, first_at) = (signals.clone(), std::sync::Arc::clone(&first_at));
        async move {
            signalled(signals, 1).await;
            let _ = first_at.set(tokio::time::Instant::now());
        }
    };
    let serving = logbridge::serve::serve(listener, host.clone(), serve_config, first);
    let mut at_once = tokio::select! {
        served = serving => {
            served.context("the HTTP server failed")?;
            false
        }
        () = signalled(signals.clone(), 2) => true,
    };
    let deadline = *first_at.get().unwrap_or(&tokio::time::Instant::now()) + shutdown_timeout;
    if at_once {
        eprintln!(
            "logbridge: a second signal: stopping at once; what was not delivered goes to \
             the failure log"
        );
        host.abort();
    } else {
        eprintln!("logbridge: stopping; finishing the events already accepted");
    }
    let finishing = finish(host.clone(), &log, started_at, started);
    let mut finishing = std::pin::pin!(finishing);
    loop {
        tokio::select! {
            finished = &mut finishing => return finished,
            () = signalled(signals.clone(), 2), if !at_once => {
                eprintln!(
                    "logbridge: a second signal: stopping at once; what was not delivered \
                     goes to the failure log"
                );
                host.abort();
                at_once = true;
            }
            () = tokio::time::sleep_until(deadline), if !at_once => {
                eprintln!(
                    "logbridge: the shutdown timeout ({} ms) ran out: stopping at once; what \
                     was not delivered goes to the failure log",
                    shutdown_timeout.as_millis()
                );
                host.abort();
                at_once = true;
            }
        }
    }
}
