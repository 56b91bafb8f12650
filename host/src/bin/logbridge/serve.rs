//! `logbridge serve`: the HTTP receiver for Auth0's custom-webhook log streams, with the
//! health page and metrics, until Ctrl-C or SIGTERM; then it drains like `run`, within
//! the shutdown timeout whatever clients do. A second signal stops it at once, after
//! writing what was not delivered to the failure log.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use logbridge::serve::ServeConfig;
use tokio::sync::watch;

use crate::args::ServeArgs;
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

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let signals = count_signals()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    anyhow::ensure!(
        args.authorization.as_deref() != Some(""),
        "the authorization value is empty; give the exact Authorization header value the \
         log stream sends, or leave it unset on a loopback listener"
    );
    for (name, value) in [
        ("--header-timeout", args.header_timeout),
        ("--body-timeout", args.body_timeout),
        ("--idle-timeout", args.idle_timeout),
    ] {
        anyhow::ensure!(
            !value.is_zero(),
            "{name} is zero, which would close every connection at once; give e.g. 10s"
        );
    }
    let mut max_connections = args.max_connections;
    if let Some(limit) = open_file_limit()
        && max_connections + FDS_FOR_THE_REST > limit
    {
        let fitting = limit.saturating_sub(FDS_FOR_THE_REST).max(2);
        tracing::warn!(
            "--max-connections {max_connections} does not fit the open-file limit of \
             {limit} (`ulimit -n`); serving at most {fitting} connections — raise the limit \
             to serve more"
        );
        max_connections = fitting;
    }
    let shutdown_timeout = Duration::from_millis(args.host.delivery.shutdown_timeout_ms);
    let data_dir = args.host.data.data_dir.clone();
    let (host, log) = build_host(args.host).await?;
    if args.authorization.is_none() && !address.ip().is_loopback() {
        tracing::warn!(
            "no --authorization is set and {address} is not loopback: anyone who reaches it \
             can post logs"
        );
    }
    let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let config = ServeConfig {
        authorization: args.authorization,
        max_body_bytes: args.max_body,
        queue_wait: Duration::from_millis(args.queue_wait_ms),
        dedupe_window: args.dedupe_window,
        max_requests: as_usize(args.max_requests),
        header_timeout: args.header_timeout,
        body_timeout: args.body_timeout,
        idle_timeout: args.idle_timeout,
        max_connections: as_usize(max_connections),
        health_connections: as_usize(args.health_connections),
        drain_timeout: shutdown_timeout,
        ..ServeConfig::default()
    };
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
    let serving = logbridge::serve::serve(listener, host.clone(), config, first);
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
