//! `logbridge serve`: the HTTP receiver for Auth0's custom-webhook log streams, with the
//! health page and metrics, until Ctrl-C or SIGTERM; then it drains like `run`.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use logbridge::serve::ServeConfig;

use crate::args::ServeArgs;
use crate::run::{build_host, finish};

/// Completes on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let started_at = SystemTime::now();
    let started = Instant::now();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    anyhow::ensure!(
        args.authorization.as_deref() != Some(""),
        "the authorization value is empty; give the exact Authorization header value the \
         log stream sends, or leave it unset on a loopback listener"
    );
    let data_dir = args.host.data.data_dir.clone();
    let (host, log) = build_host(args.host).await?;
    if args.authorization.is_none() && !address.ip().is_loopback() {
        tracing::warn!(
            "no --authorization is set and {address} is not loopback: anyone who reaches it \
             can post logs"
        );
    }
    let config = ServeConfig {
        authorization: args.authorization,
        max_body_bytes: args.max_body,
        queue_wait: Duration::from_millis(args.queue_wait_ms),
        dedupe_window: args.dedupe_window,
        ..ServeConfig::default()
    };
    // The address, on stdout, so a script can wait for it (port 0 picks a free one).
    println!("listening on http://{address}");
    // Where `logbridge health` finds this server; removed when it stops.
    let _noted = crate::health::ServeRecord::write(&data_dir, address);
    logbridge::serve::serve(listener, host.clone(), config, stop_signal())
        .await
        .context("the HTTP server failed")?;
    eprintln!("logbridge: stopping; finishing the events already accepted");
    finish(host, &log, started_at, started.elapsed()).await
}
