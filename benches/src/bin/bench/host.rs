//! The `scaling` and `delivery` groups: the whole host into a counting sink with 1 and
//! 2 workers, and through `aws-sdk-eventbridge` to an in-process `PutEvents` endpoint.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use logbridge::delivery::{EntryResult, EventBridgeOptions, EventBridgeSink, PutFuture, Sink};
use logbridge::{Event, Host};

use crate::rate;

/// A sink that accepts everything and counts calls and entries.
#[derive(Default)]
pub(crate) struct Counting {
    calls: AtomicU64,
    entries: AtomicU64,
}

impl Sink for Counting {
    fn put<'a>(&'a self, _bus: &'a str, entries: &'a [Event]) -> PutFuture<'a> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.entries
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        Box::pin(std::future::ready(vec![
            EntryResult::Delivered;
            entries.len()
        ]))
    }
}

pub(crate) struct HostRun {
    elapsed: Duration,
    delivered: u64,
    /// Process CPU time over the same span.
    cpu: Duration,
}

/// Runs `events` through a host with `workers` workers into `sink`; the time runs from
/// the first event offered to the last one delivered (shutdown drains).
pub(crate) async fn host_run(
    plugins: &Path,
    workers: usize,
    sink: Arc<dyn Sink>,
    events: Vec<Event>,
) -> Result<HostRun> {
    let data = tempdir("host")?;
    let host = Host::builder()
        .plugins_dir(plugins)
        // Shared by every run: plugins are compiled once, as a restart finds them.
        .cache_dir(scratch_root().join("cache"))
        .data_dir(&data)
        .workers(workers)
        .buses(["default", "security", "audit"])
        .sink_arc(sink)
        .build()?;
    // Warm the instances: one event per worker, delivered before the clock starts.
    for event in events.iter().take(workers * 4) {
        host.send(event.clone()).await?;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut events = events.into_iter();
    let cpu = logbridge_benches::cpu_seconds();
    let started = Instant::now();
    loop {
        let batch: Vec<Event> = events.by_ref().take(512).collect();
        if batch.is_empty() {
            break;
        }
        host.send_batch(batch).await?;
    }
    let report = host.shutdown().await?;
    let elapsed = started.elapsed();
    let cpu = Duration::from_secs_f64((logbridge_benches::cpu_seconds() - cpu).max(0.0));
    let delivered = report.buses.values().map(|b| b.delivered).sum();
    let _ = std::fs::remove_dir_all(&data);
    Ok(HostRun {
        elapsed,
        delivered,
        cpu,
    })
}

/// Prints how `rate` compares with `goal` events/s, and with the one-pass native rules
/// on one thread measured now (the same machine, the same moment).
pub(crate) fn goal_line(what: &str, rate: f64, goal: f64, events: &[Event]) -> Result<()> {
    let mut native = Duration::MAX;
    for _ in 0..3 {
        native = native.min(crate::pipeline::one_pass_round(events, true)?.0);
    }
    let native = crate::rate(native, events.len());
    println!(
        "  goal: {what} at least {:.0}k events/s: {:.0}k — {} ({:.2}× the one-pass native \
         rules + entry check on one thread, {:.0}k events/s, in this run)",
        goal / 1e3,
        rate / 1e3,
        logbridge_benches::verdict(rate >= goal),
        rate / native,
        native / 1e3
    );
    Ok(())
}

/// This process's scratch folder: every [`tempdir`] is in it, and `main` removes it.
pub(crate) fn scratch_root() -> PathBuf {
    std::env::temp_dir().join(format!("logbridge-bench-{}", std::process::id()))
}

/// An empty folder `name` in this process's scratch folder.
pub(crate) fn tempdir(name: &str) -> Result<PathBuf> {
    let dir = scratch_root().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub(crate) async fn scaling(plugins: &Path, events: Vec<Event>) -> Result<()> {
    let n = events.len();
    let mut best = [Duration::MAX; 2];
    for _ in 0..3 {
        for (k, workers) in [1, 2].into_iter().enumerate() {
            let run = host_run(
                plugins,
                workers,
                Arc::new(Counting::default()),
                events.clone(),
            )
            .await?;
            best[k] = best[k].min(run.elapsed);
        }
    }
    println!("scaling: {n} events through the whole host into a counting sink, best of 3");
    println!(
        "  1 worker   {:>9.0} events/s  (baseline)",
        rate(best[0], n)
    );
    println!(
        "  2 workers  {:>9.0} events/s  ratio {:.2}",
        rate(best[1], n),
        best[0].as_secs_f64() / best[1].as_secs_f64()
    );
    goal_line(
        "whole host, 2 workers, counting sink",
        rate(best[1], n),
        200_000.0,
        &events,
    )?;
    Ok(())
}

/// An in-process endpoint that answers `PutEvents` as EventBridge does, for every entry,
/// and counts calls and entries.
pub(crate) struct FakeEventBridge {
    url: String,
    calls: Arc<AtomicU64>,
    entries: Arc<AtomicU64>,
}

pub(crate) async fn fake_eventbridge() -> Result<FakeEventBridge> {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;

    let calls = Arc::new(AtomicU64::new(0));
    let entries = Arc::new(AtomicU64::new(0));
    let (c, e) = (Arc::clone(&calls), Arc::clone(&entries));
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (calls, entries) = (Arc::clone(&c), Arc::clone(&e));
            async move {
                let target = headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if target != "AWSEvents.PutEvents" {
                    return (StatusCode::BAD_REQUEST, "only PutEvents").into_response();
                }
                // Kept cheap, so the endpoint's own work hardly counts: the entries are
                // counted without being built.
                #[derive(serde::Deserialize)]
                struct Request {
                    #[serde(rename = "Entries")]
                    entries: Vec<serde::de::IgnoredAny>,
                }
                let n = match serde_json::from_slice::<Request>(&body) {
                    Ok(request) => request.entries.len(),
                    Err(_) => return (StatusCode::BAD_REQUEST, "not JSON").into_response(),
                };
                let first = entries.fetch_add(n as u64, Ordering::Relaxed);
                calls.fetch_add(1, Ordering::Relaxed);
                let mut answer = String::with_capacity(40 + 50 * n);
                answer.push_str(r#"{"FailedEntryCount":0,"Entries":["#);
                for i in 0..n as u64 {
                    if i > 0 {
                        answer.push(',');
                    }
                    answer.push_str(&format!(r#"{{"EventId":"{:036}"}}"#, first + i));
                }
                answer.push_str("]}");
                (
                    [(header::CONTENT_TYPE, "application/x-amz-json-1.1")],
                    answer,
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(FakeEventBridge {
        url,
        calls,
        entries,
    })
}

pub(crate) async fn delivery(plugins: &Path, events: Vec<Event>) -> Result<()> {
    let n = events.len();
    let server = fake_eventbridge().await?;
    let sdk = logbridge_benches::local_sdk_config(&server.url).await;
    let mut best = [Duration::MAX; 2];
    let mut per_call = 0.0;
    // Cores busy (process CPU time over wall time) in the best run of each.
    let mut cores = [0.0; 2];
    let mut calls_of_best = 0;
    for _ in 0..3 {
        let counting = host_run(plugins, 2, Arc::new(Counting::default()), events.clone()).await?;
        if counting.elapsed < best[0] {
            best[0] = counting.elapsed;
            cores[0] = counting.cpu.as_secs_f64() / counting.elapsed.as_secs_f64();
        }
        let (calls, entries) = (
            server.calls.load(Ordering::Relaxed),
            server.entries.load(Ordering::Relaxed),
        );
        let sink = EventBridgeSink::from_sdk_config(&sdk, &EventBridgeOptions::default());
        let run = host_run(plugins, 2, Arc::new(sink), events.clone()).await?;
        let calls = server.calls.load(Ordering::Relaxed) - calls;
        let entries = server.entries.load(Ordering::Relaxed) - entries;
        if entries != run.delivered {
            bail!(
                "the endpoint took {entries} entries but the host reports {} delivered",
                run.delivered
            );
        }
        if run.elapsed < best[1] {
            best[1] = run.elapsed;
            per_call = entries as f64 / calls as f64;
            cores[1] = run.cpu.as_secs_f64() / run.elapsed.as_secs_f64();
            calls_of_best = calls;
        }
    }
    println!("delivery: {n} events, 2 workers, PutEvents to an in-process endpoint, best of 3");
    println!(
        "  counting sink       {:>9.0} events/s  (baseline)  cores busy {:.2}",
        rate(best[0], n),
        cores[0]
    );
    println!(
        "  PutEvents over HTTP {:>9.0} events/s  ratio {:.2}  {per_call:.2} entries per PutEvents  \
         cores busy {:.2}",
        rate(best[1], n),
        best[1].as_secs_f64() / best[0].as_secs_f64(),
        cores[1]
    );
    // CPU time beyond the counting run's, per call: the SDK's request pipeline, HTTP, and
    // the endpoint's own (small) work.
    let extra = cores[1] * best[1].as_secs_f64() - cores[0] * best[0].as_secs_f64();
    println!(
        "  CPU per PutEvents beyond the counting sink: {:.0} µs ({calls_of_best} calls; the \
         endpoint's work included)",
        extra * 1e6 / calls_of_best.max(1) as f64
    );
    goal_line(
        "through aws-sdk-eventbridge",
        rate(best[1], n),
        100_000.0,
        &events,
    )?;
    println!(
        "  goal: at least 9.5 entries per PutEvents: {per_call:.2} — {}",
        logbridge_benches::verdict(per_call >= 9.5)
    );
    Ok(())
}
