//! Benchmark suite (not a test): every figure beside a baseline measured in the same run,
//! as a ratio.
//!
//! - `pipeline`: the three example plugins (filter, redact, route) against the very same
//!   rules (`auth0-rules`) called natively, one thread, best of several alternating rounds;
//!   also with the entry check natively, without call deadlines and without projection.
//! - `scaling`: the whole host (queue, workers, plugins, batching, delivery to a sink that
//!   only counts) with 1 and with 2 workers.
//! - `delivery`: the whole host delivering with `PutEvents` to an in-process
//!   EventBridge-compatible endpoint: events/s, and entries per `PutEvents` call, against
//!   the same run into the counting sink.
//! - `rss`: resident memory of a host with 10 plugins, before and after events, and its
//!   peak, against the same process before any plugin was loaded. Run it alone: it reads
//!   the process's own memory figures.
//!
//! Run: `scripts/bench.sh [GROUP...]` (builds the plugins, generates the logs, runs this).
//! Directly: `cargo run -p logbridge-benches --bin bench -- PLUGINS_DIR LOGS.ndjson
//! [GROUP...]`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use auth0_rules::Category;
use logbridge::delivery::{EntryResult, EventBridgeOptions, EventBridgeSink, PutFuture, Sink};
use logbridge::pipeline::{Outcome, Pipeline};
use logbridge::{Envelope, Event, Host, PluginEngine, PluginLimits, PluginSet};

const ROUNDS: usize = 5;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench PLUGINS_DIR LOGS.ndjson [pipeline|scaling|delivery|rss ...]";
    let plugins = PathBuf::from(args.next().context(usage)?);
    let logs = PathBuf::from(args.next().context(usage)?);
    let mut groups: Vec<String> = args.collect();
    if groups.is_empty() {
        groups = ["pipeline", "scaling", "delivery"]
            .map(String::from)
            .to_vec();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    for group in &groups {
        match group.as_str() {
            "pipeline" => pipeline(&plugins, &read_events(&logs)?)?,
            "scaling" => runtime.block_on(scaling(&plugins, read_events(&logs)?))?,
            "delivery" => runtime.block_on(delivery(&plugins, read_events(&logs)?))?,
            "rss" => runtime.block_on(rss(&plugins, &logs))?,
            other => bail!("unknown group `{other}`; {usage}"),
        }
    }
    Ok(())
}

/// The generated logs, mapped to events as the host's ingest does.
fn read_events(logs: &Path) -> Result<Vec<Event>> {
    let envelope = Envelope::default();
    let text =
        std::fs::read_to_string(logs).with_context(|| format!("cannot read {}", logs.display()))?;
    Ok(text
        .lines()
        .map(|line| envelope.auth0_event(line))
        .collect::<Result<_, _>>()?)
}

fn per_event(elapsed: Duration, events: usize) -> f64 {
    elapsed.as_secs_f64() * 1e6 / events as f64
}

fn rate(elapsed: Duration, events: usize) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

// --- pipeline ------------------------------------------------------------------------

/// The example pipeline's three steps, natively: what the plugins do, without the
/// sandbox. Returns the bus, or `None` when the event is filtered.
fn native(
    event: &mut Event,
    drop: &std::collections::HashSet<String>,
) -> Result<Option<&'static str>> {
    if let Some(code) = auth0_rules::log_type(&event.detail)
        && drop.contains(code.as_ref())
    {
        return Ok(None);
    }
    let redacted = auth0_rules::redact(&event.detail).map_err(anyhow::Error::msg)?;
    if let Some(detail) = redacted.detail {
        event.detail = detail;
    }
    let code = auth0_rules::log_type(&event.detail).unwrap_or_default();
    Ok(Some(match auth0_rules::category(&code) {
        Category::Security => "security",
        Category::Audit => "audit",
        Category::Other => "default",
    }))
}

/// The native steps over `events`; with `check`, each routed entry is also checked as
/// the host checks every entry it did not check itself before `PutEvents` (the plugin
/// pipeline's scan does that check on the way).
fn native_round(events: &[Event], check: bool) -> Result<(Duration, usize)> {
    let drop = auth0_rules::DEFAULT_DROP_TYPES
        .iter()
        .map(|t| t.to_string())
        .collect();
    let mut routed = 0;
    let started = Instant::now();
    for event in events {
        let mut event = event.clone();
        if native(&mut event, &drop)?.is_some() {
            if check {
                logbridge::delivery::validate(&event)?;
            }
            routed += 1;
        }
        std::hint::black_box(&event);
    }
    Ok((started.elapsed(), routed))
}

fn plugin_round(set: &Arc<PluginSet>, events: &[Event]) -> Result<(Duration, usize)> {
    let mut pipeline = Pipeline::new(Arc::clone(set), "default");
    // Instances are made on first use; that is start-up, not per-event cost.
    pipeline.run(events[0].clone());
    let mut routed = 0;
    let started = Instant::now();
    for event in events {
        match pipeline.run(event.clone()) {
            Outcome::Routed { entries, .. } => {
                routed += 1;
                std::hint::black_box(&entries);
            }
            Outcome::Filtered { .. } => {}
            Outcome::Failed(failure) => bail!("{} failed: {}", failure.plugin, failure.reason),
        }
    }
    Ok((started.elapsed(), routed))
}

/// A copy of the plugins folder with the `[projection]` tables cut from the sidecars:
/// every plugin handed the whole detail.
fn without_projection(plugins: &Path) -> Result<PathBuf> {
    let dir = tempdir("whole-detail")?;
    for entry in std::fs::read_dir(plugins)? {
        let path = entry?.path();
        let to = dir.join(path.file_name().context("a file")?);
        if path.extension().is_some_and(|x| x == "toml") {
            let mut keep = true;
            let text: String = std::fs::read_to_string(&path)?
                .lines()
                .filter(|line| {
                    if line.starts_with('[') {
                        keep = line.trim() != "[projection]";
                    }
                    keep
                })
                .map(|line| format!("{line}\n"))
                .collect();
            std::fs::write(to, text)?;
        } else {
            std::fs::copy(&path, to)?;
        }
    }
    Ok(dir)
}

fn clone_round(events: &[Event]) -> Duration {
    let started = Instant::now();
    for event in events {
        std::hint::black_box(event.clone());
    }
    started.elapsed()
}

fn pipeline(plugins: &Path, events: &[Event]) -> Result<()> {
    let set = |deadlines: bool| -> Result<Arc<PluginSet>> {
        let engine = PluginEngine::new(PluginLimits {
            deadlines,
            ..PluginLimits::default()
        })?;
        Ok(Arc::new(PluginSet::load_dir(&engine, plugins)?))
    };
    let with = set(true)?;
    let without = set(false)?;
    let whole = {
        let engine = PluginEngine::new(PluginLimits::default())?;
        Arc::new(PluginSet::load_dir(&engine, &without_projection(plugins)?)?)
    };
    let mut best = [Duration::MAX; 6];
    let mut routed = [0; 5];
    for _ in 0..ROUNDS + 1 {
        let (native, n) = native_round(events, false)?;
        let (checked, c) = native_round(events, true)?;
        let (plugins, p) = plugin_round(&with, events)?;
        let (unguarded, u) = plugin_round(&without, events)?;
        let (unprojected, w) = plugin_round(&whole, events)?;
        best[0] = best[0].min(native);
        best[1] = best[1].min(checked);
        best[2] = best[2].min(plugins);
        best[3] = best[3].min(unguarded);
        best[4] = best[4].min(clone_round(events));
        best[5] = best[5].min(unprojected);
        routed = [n, c, p, u, w];
    }
    if routed.iter().any(|&r| r != routed[0]) {
        bail!("native and plugin pipelines disagree: routed {routed:?}");
    }
    let n = events.len();
    println!(
        "pipeline: {n} events ({} routed), one thread, best of {} rounds; ratios against the \
         native rules",
        routed[0],
        ROUNDS + 1
    );
    println!(
        "  native rules                  {:>6.2} µs/event {:>8.0} events/s  (baseline)",
        per_event(best[0], n),
        rate(best[0], n)
    );
    for (label, time) in [
        ("native rules + entry check    ", best[1]),
        ("3 plugins                     ", best[2]),
        ("3 plugins, no call deadline   ", best[3]),
        ("3 plugins, no projection      ", best[5]),
    ] {
        println!(
            "  {label}{:>6.2} µs/event {:>8.0} events/s  ratio {:.2}",
            per_event(time, n),
            rate(time, n),
            time.as_secs_f64() / best[0].as_secs_f64()
        );
    }
    println!(
        "  3 plugins against native rules + entry check: ratio {:.2}",
        best[2].as_secs_f64() / best[1].as_secs_f64()
    );
    println!(
        "  (every row includes cloning the event: {:.2} µs/event)",
        per_event(best[4], n)
    );
    Ok(())
}

// --- whole host ----------------------------------------------------------------------

/// A sink that accepts everything and counts calls and entries.
#[derive(Default)]
struct Counting {
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

struct HostRun {
    elapsed: Duration,
    delivered: u64,
}

/// Runs `events` through a host with `workers` workers into `sink`; the time runs from
/// the first event offered to the last one delivered (shutdown drains).
async fn host_run(
    plugins: &Path,
    workers: usize,
    sink: Arc<dyn Sink>,
    events: Vec<Event>,
) -> Result<HostRun> {
    let data = tempdir("host")?;
    let host = Host::builder()
        .plugins_dir(plugins)
        // Shared by every run: plugins are compiled once, as a restart finds them.
        .cache_dir(
            std::env::temp_dir().join(format!("logbridge-bench-{}-cache", std::process::id())),
        )
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
    let delivered = report.buses.values().map(|b| b.delivered).sum();
    let _ = std::fs::remove_dir_all(&data);
    Ok(HostRun { elapsed, delivered })
}

fn tempdir(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("logbridge-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn scaling(plugins: &Path, events: Vec<Event>) -> Result<()> {
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
    Ok(())
}

// --- delivery ------------------------------------------------------------------------

/// An in-process endpoint that answers `PutEvents` as EventBridge does, for every entry,
/// and counts calls and entries.
struct FakeEventBridge {
    url: String,
    calls: Arc<AtomicU64>,
    entries: Arc<AtomicU64>,
}

async fn fake_eventbridge() -> Result<FakeEventBridge> {
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

async fn delivery(plugins: &Path, events: Vec<Event>) -> Result<()> {
    let n = events.len();
    let server = fake_eventbridge().await?;
    let sdk = logbridge_benches::local_sdk_config(&server.url).await;
    let mut best = [Duration::MAX; 2];
    let mut per_call = 0.0;
    for _ in 0..3 {
        let counting = host_run(plugins, 2, Arc::new(Counting::default()), events.clone()).await?;
        best[0] = best[0].min(counting.elapsed);
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
        }
    }
    println!("delivery: {n} events, 2 workers, PutEvents to an in-process endpoint, best of 3");
    println!(
        "  counting sink       {:>9.0} events/s  (baseline)",
        rate(best[0], n)
    );
    println!(
        "  PutEvents over HTTP {:>9.0} events/s  ratio {:.2}  {per_call:.2} entries per PutEvents",
        rate(best[1], n),
        best[1].as_secs_f64() / best[0].as_secs_f64()
    );
    Ok(())
}

// --- memory --------------------------------------------------------------------------

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn memory() -> Result<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> Result<f64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/self/status"))?;
        let kib: f64 = line
            .split_whitespace()
            .nth(1)
            .context("malformed /proc/self/status")?
            .parse()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// A folder of 10 plugins: the three examples and seven more filters (copies of the
/// first, each its own plugin with its own instances).
fn ten_plugins(plugins: &Path) -> Result<PathBuf> {
    let dir = tempdir("ten-plugins")?;
    for entry in std::fs::read_dir(plugins)? {
        let path = entry?.path();
        std::fs::copy(&path, dir.join(path.file_name().context("a file")?))?;
    }
    let filter = plugins.join("10-drop-noise.wasm");
    for k in 1..=7 {
        std::fs::copy(&filter, dir.join(format!("1{k}-drop-noise-copy.wasm")))?;
    }
    let count = std::fs::read_dir(&dir)?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        })
        .count();
    if count != 10 {
        bail!("expected 10 plugins in {}, made {count}", dir.display());
    }
    Ok(dir)
}

async fn rss(plugins: &Path, logs: &Path) -> Result<()> {
    let (before, _) = memory()?;
    let folder = ten_plugins(plugins)?;
    let data = tempdir("rss")?;
    // Compile once into the cache, as a restart would find it.
    Host::builder()
        .plugins_dir(&folder)
        .cache_dir(data.join("cache"))
        .data_dir(&data)
        .sink(Counting::default())
        .build()?
        .shutdown()
        .await?;
    let host = Host::builder()
        .plugins_dir(&folder)
        .cache_dir(data.join("cache"))
        .data_dir(&data)
        .workers(2)
        .sink(Counting::default())
        .build()?;
    let (loaded, _) = memory()?;
    let envelope = Envelope::default();
    // Streamed from the file, so the logs themselves do not count.
    let mut sent = 0;
    // The kernel's high-water mark lags the resident figure a little: the peak reported
    // is the larger of it and every sample taken on the way.
    let mut sampled: f64 = loaded;
    for line in std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(logs)?)) {
        host.send(envelope.auth0_event(&line?)?).await?;
        sent += 1;
        if sent % 1000 == 0 {
            sampled = sampled.max(memory()?.0);
        }
    }
    while host.queue_depth() > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, _) = memory()?;
    host.shutdown().await?;
    let (_, high_water) = memory()?;
    let peak = high_water.max(sampled).max(idle);
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&folder);
    println!("rss: a host with 10 plugins (cached), 2 workers, {sent} events");
    println!("  before loading      {before:>7.1} MiB  (baseline)");
    println!(
        "  10 plugins loaded   {loaded:>7.1} MiB  (+{:.1})",
        loaded - before
    );
    println!(
        "  idle after events   {idle:>7.1} MiB  (+{:.1})",
        idle - before
    );
    println!("  peak                {peak:>7.1} MiB");
    Ok(())
}
