//! Stopping `logbridge serve` whatever clients do: SIGTERM ends it within the shutdown
//! timeout with hostile clients connected; a second signal, or the timeout, stops at once
//! and what was not delivered is in the failure log; `Host::abort` accounts for every
//! event.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use logbridge::Host;
use logbridge_tests::{Served, http, logbridge_bin};
use serde_json::Value;

use crate::serve::{AUTH, post, records};
use crate::serve_hostile::{Hostile, play_hostile};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_within_the_shutdown_timeout_while_hostile_clients_hang_on() -> Result<()> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-stop-hostile");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let output = dir.join("out.jsonl");
    let shutdown_timeout = Duration::from_secs(3);
    let served = Served::start(
        &[
            "--output",
            output.to_str().context("path")?,
            "--data-dir",
            dir.join("data").to_str().context("path")?,
            "--shutdown-timeout-ms",
            &shutdown_timeout.as_millis().to_string(),
            // Far longer than the test: only stopping can close the hostile sockets.
            "--header-timeout",
            "600s",
            "--body-timeout",
            "600s",
            "--idle-timeout",
            "600s",
        ],
        vec![("LOGBRIDGE_AUTHORIZATION", AUTH.to_string())],
    )
    .await?;
    let addr = served.addr;
    let record = records(1, 8)?.remove(0).to_string();
    post(addr, &record, "application/json").await?;
    let mut hostile = tokio::task::JoinSet::new();
    for kind in [Hostile::Idle, Hostile::HalfHeaders, Hostile::SlowBody] {
        for _ in 0..5 {
            use tokio::io::AsyncWriteExt;
            let mut stream = tokio::net::TcpStream::connect(addr).await?;
            stream.write_all(&kind.head()).await?;
            let opened = std::time::Instant::now();
            hostile.spawn(play_hostile(kind, stream, opened, Duration::from_secs(120)));
        }
    }
    // The server has every hostile request head before it is told to stop.
    let health = http(addr, "GET", "/health", &[("Authorization", AUTH)], b"").await?;
    ensure!(health.status == 200, "{health:?}");

    let signalled = std::time::Instant::now();
    served.signal(libc::SIGTERM)?;
    // Generous: it must exit within the shutdown timeout; this only bounds the wait.
    let status = served
        .exited_within(shutdown_timeout + Duration::from_secs(30))
        .await
        .context("SIGTERM did not stop logbridge serve while hostile clients hung on")?;
    let took = signalled.elapsed();
    eprintln!(
        "stopped {took:?} after SIGTERM with 15 hostile clients connected (shutdown timeout \
         {shutdown_timeout:?})"
    );
    ensure!(
        status.success(),
        "the accepted record was delivered: {status}"
    );
    while let Some(closed) = hostile.join_next().await {
        closed??;
    }
    ensure!(
        std::fs::read_to_string(&output)?.lines().count() == 1,
        "the record taken before the signal went out"
    );
    Ok(())
}

/// `logbridge serve` delivering to an EventBridge endpoint that takes connections and
/// never answers, with 30 records taken: every delivery hangs. Returns the server, the
/// records, its data folder and the endpoint's task (abort it when done).
async fn stuck_in_delivery(
    name: &str,
    shutdown_timeout: Duration,
) -> Result<(
    Served,
    Vec<Value>,
    std::path::PathBuf,
    tokio::task::JoinHandle<()>,
)> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let black_hole = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", black_hole.local_addr()?);
    let holding = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = black_hole.accept().await {
            held.push(stream);
        }
    });
    let envs = vec![
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("AWS_CONFIG_FILE", "/dev/null".to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_string()),
        ("LOGBRIDGE_AUTHORIZATION", AUTH.to_string()),
    ];
    let served = Served::start(
        &[
            "--eventbridge",
            "--endpoint-url",
            &endpoint,
            "--data-dir",
            data.to_str().context("path")?,
            "--attempt-timeout-ms",
            "600000",
            "--shutdown-timeout-ms",
            &shutdown_timeout.as_millis().to_string(),
        ],
        envs,
    )
    .await?;
    let records = records(30, 12)?;
    let answer = post(
        served.addr,
        &serde_json::to_string(&records)?,
        "application/json",
    )
    .await?;
    ensure!(answer["accepted"] == 30, "{answer}");
    Ok((served, records, data, holding))
}

/// Every record is in the failure log once, as `aborted`.
async fn all_aborted(data: &Path, records: &[Value]) -> Result<()> {
    let failures = tokio::process::Command::new(logbridge_bin()?)
        .args(["failures", "--json", "--data-dir"])
        .arg(data)
        .output()
        .await?;
    let failures: Vec<Value> = String::from_utf8(failures.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let failed: BTreeSet<&str> = failures
        .iter()
        .filter(|f| f["code"] == "aborted")
        .filter_map(|f| f["event_id"].as_str())
        .collect();
    let expected: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["log_id"].as_str())
        .collect();
    ensure!(
        failed == expected && failures.len() == records.len(),
        "every undelivered event is in the failure log, once, as aborted: {failures:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_at_once_and_what_was_not_delivered_is_in_the_failure_log()
-> Result<()> {
    let (served, records, data, holding) =
        stuck_in_delivery("serve-second-signal", Duration::from_secs(600)).await?;
    let addr = served.addr;
    // A slow client stays connected through both signals.
    let mut slow = tokio::task::JoinSet::new();
    {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(&Hostile::SlowBody.head()).await?;
        let opened = std::time::Instant::now();
        slow.spawn(play_hostile(
            Hostile::SlowBody,
            stream,
            opened,
            Duration::from_secs(120),
        ));
    }

    served.signal(libc::SIGTERM)?;
    // Draining now, and stuck on the deliveries: the listener is closed once the server
    // has stopped taking requests.
    let mut tries = 0;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        tries += 1;
        ensure!(
            tries < 600,
            "still accepting connections 60 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signalled = std::time::Instant::now();
    served.signal(libc::SIGTERM)?;
    let status = served
        .exited_within(Duration::from_secs(30))
        .await
        .context("a second SIGTERM did not stop logbridge serve")?;
    eprintln!("stopped {:?} after the second signal", signalled.elapsed());
    ensure!(
        !status.success(),
        "undelivered events make the exit non-zero: {status}"
    );
    holding.abort();
    while let Some(closed) = slow.join_next().await {
        closed??;
    }
    all_aborted(&data, &records).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_still_hanging_at_the_shutdown_timeout_are_failed_and_it_exits() -> Result<()> {
    let shutdown_timeout = Duration::from_secs(2);
    let (served, records, data, holding) =
        stuck_in_delivery("serve-shutdown-timeout", shutdown_timeout).await?;
    let signalled = std::time::Instant::now();
    served.signal(libc::SIGTERM)?;
    // Generous: it must exit at the shutdown timeout; this only bounds the wait.
    let status = served
        .exited_within(shutdown_timeout + Duration::from_secs(30))
        .await
        .context("logbridge serve outlived its shutdown timeout while deliveries hung")?;
    eprintln!(
        "stopped {:?} after SIGTERM, deliveries hanging, shutdown timeout {shutdown_timeout:?}",
        signalled.elapsed()
    );
    ensure!(!status.success(), "{status}");
    holding.abort();
    all_aborted(&data, &records).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abort_fails_every_event_not_yet_delivered_and_accounts_for_all() -> Result<()> {
    use logbridge::delivery::{PutFuture, Sink};
    /// An EventBridge that never answers.
    struct Hanging;
    impl Sink for Hanging {
        fn put<'a>(&'a self, _bus: &'a str, _entries: &'a [logbridge::Event]) -> PutFuture<'a> {
            Box::pin(std::future::pending())
        }
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-abort");
    let _ = std::fs::remove_dir_all(&dir);
    let host = Host::builder()
        .sink(Hanging)
        .workers(1)
        .queue_capacity(256)
        .data_dir(&dir)
        .build()?;
    // Until the queue stays full: delivery, the hand-over and the queue all back up.
    let records = records(2000, 3)?;
    let mut sent = 0;
    for record in &records {
        let queued = host
            .send_within(
                host.envelope().auth0_event(&record.to_string())?,
                Duration::from_millis(200),
            )
            .await;
        match queued {
            Ok(()) => sent += 1,
            Err(logbridge::Error::Busy) => break,
            Err(e) => return Err(e.into()),
        }
    }
    ensure!(host.queue_depth() > 0, "the queue backed up ({sent} sent)");
    host.abort();
    let report = tokio::time::timeout(Duration::from_secs(60), host.shutdown())
        .await
        .context("shutdown after an abort waited for a sink that never answers")??;
    ensure!(
        report.accepted == sent && report.failed() == sent && report.settled(),
        "every accepted event failed, none lost: {report:?}"
    );
    ensure!(
        report.failed_ingest > 0 && report.failed_delivery() > 0,
        "queued events fail at ingest, routed ones at delivery: {report:?}"
    );
    let failures = tokio::process::Command::new(logbridge_bin()?)
        .args(["failures", "--json", "--data-dir"])
        .arg(&dir)
        .output()
        .await?;
    let rows = String::from_utf8(failures.stdout)?
        .lines()
        .map(serde_json::from_str::<Value>)
        .collect::<Result<Vec<_>, _>>()?;
    ensure!(
        rows.len() as u64 == sent && rows.iter().all(|r| r["code"] == "aborted"),
        "one `aborted` row per event: {} rows",
        rows.len()
    );
    Ok(())
}
