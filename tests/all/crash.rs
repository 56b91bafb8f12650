//! An acknowledged log is never lost: `logbridge serve` in front of moto, senders that
//! behave like Auth0's log stream (a batch that gets no 2xx is sent again, up to 3 more
//! times), and the server killed with SIGKILL 20 times at random moments, restarted each
//! time on the same data folder. At the end every record that ever got a 2xx is on its
//! bus: once, or more often only within what the restarts counted as possible duplicates
//! (entries a `PutEvents` call had carried when the process died); and the failure log
//! and the write-ahead log pass SQLite's `integrity_check`. And `run --input FILE`
//! killed part-way goes on where it stopped when run again.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use logbridge::health::FAILURE_LOG_FILE;
use logbridge_tests::{Moto, Served, generate_logs, http, logbridge_bin};
use serde_json::{Value, json};

/// SIGKILLs, each followed by a restart.
const KILLS: usize = 20;
/// Senders posting at the same time, as Auth0's stream and its retries do.
const SENDERS: usize = 4;
/// Records per request.
const BATCH: usize = 10;
/// Auth0 retries a failed request up to this many times.
const RETRIES: usize = 3;
/// Log types, one SQS queue each (moto's queues slow down as they fill).
const TYPES: [&str; 5] = ["s", "f", "seacft", "sapi", "fp"];

/// A small random number generator: each run's seed is printed, so a failing run can be
/// told apart from a lucky one.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }
}

fn record(n: u64) -> Value {
    let log_id = format!("9002026{n:010}");
    json!({
        "log_id": log_id,
        "data": {
            "log_id": log_id,
            "date": "2026-12-01T06:00:00.000Z",
            "type": TYPES[(n % TYPES.len() as u64) as usize],
            "description": "crash test",
            "user_name": format!("user{n}@example.com"),
            "ip": "203.0.113.7",
        }
    })
}

/// What the senders saw.
#[derive(Default)]
struct Sent {
    /// Records a 2xx acknowledged.
    acknowledged: BTreeSet<String>,
    /// Requests that got no 2xx after every retry (Auth0 would log them and move on).
    given_up: u64,
    requests: u64,
    refused: BTreeMap<String, u64>,
}

/// Posts `body` as Auth0 does: again on anything but a 2xx or on a connection error, up
/// to [`RETRIES`] times, always to where the server listens now.
async fn post_like_auth0(addr: &Mutex<SocketAddr>, body: &str, sent: &Mutex<Sent>) -> Result<bool> {
    for attempt in 0..=RETRIES {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
        let to = *addr.lock().unwrap();
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            http(
                to,
                "POST",
                "/",
                &[("Content-Type", "application/json")],
                body.as_bytes(),
            ),
        )
        .await;
        let mut sent = sent.lock().unwrap();
        sent.requests += 1;
        let why = match answer {
            Ok(Ok(answer)) if answer.status == 200 => return Ok(true),
            Ok(Ok(answer)) => format!("status {}", answer.status),
            Ok(Err(_)) => "connection error".to_string(),
            Err(_) => "no answer within 10 s".to_string(),
        };
        *sent.refused.entry(why).or_default() += 1;
    }
    Ok(false)
}

/// `logbridge serve` delivering to moto at `endpoint`, on the data folder `data`.
async fn start_server(
    endpoint: &str,
    data: &str,
    env: Vec<(&'static str, String)>,
) -> Result<Served> {
    Served::start(
        &[
            "--eventbridge",
            "--endpoint-url",
            endpoint,
            "--data-dir",
            data,
            "--durability",
            "disk",
        ],
        env,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_20_times_loses_no_acknowledged_record() -> Result<()> {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let moto = Moto::start()?;
    let queues = moto
        .route_types_to_queues("default", "logbridge.auth0", &TYPES)
        .await?;
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("crash-data");
    let _ = std::fs::remove_dir_all(&data);
    let data_arg = data.to_str().context("data path")?.to_string();
    let endpoint = moto.url();
    let start = || start_server(&endpoint, &data_arg, moto.env());
    let mut served = start().await?;
    let addr = Arc::new(Mutex::new(served.addr));
    let sent = Arc::new(Mutex::new(Sent::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (addr, sent, stop, next) = (
            Arc::clone(&addr),
            Arc::clone(&sent),
            Arc::clone(&stop),
            Arc::clone(&next),
        );
        senders.push(tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                let first = next.fetch_add(BATCH as u64, Ordering::AcqRel);
                let batch: Vec<Value> = (first..first + BATCH as u64).map(record).collect();
                let body = serde_json::to_string(&batch)?;
                if post_like_auth0(&addr, &body, &sent).await? {
                    let mut sent = sent.lock().unwrap();
                    for r in &batch {
                        sent.acknowledged
                            .insert(r["log_id"].as_str().unwrap().into());
                    }
                } else {
                    sent.lock().unwrap().given_up += 1;
                }
                // About 80 records a second in all: what moto routes to SQS keeps up.
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            anyhow::Ok(())
        }));
    }

    // Kill at random moments; after each restart, note what it resumed.
    let began = Instant::now();
    let mut possible_duplicates = 0;
    let mut recovered = 0;
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.between(200, 1500))).await;
        served.signal(libc::SIGKILL)?;
        served.exited_within(Duration::from_secs(30)).await?;
        served = start().await?;
        *addr.lock().unwrap() = served.addr;
        let health = http(served.addr, "GET", "/health", &[], b"")
            .await?
            .json()?;
        let journal = &health["report"]["journal"];
        possible_duplicates += journal["possible_duplicates"].as_u64().unwrap_or(0);
        recovered += journal["recovered"].as_u64().unwrap_or(0);
    }
    // Traffic goes on a little after the last restart, then the senders finish.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Release);
    for sender in senders {
        sender.await??;
    }
    // Everything taken is settled before the clean stop.
    let deadline = Instant::now() + Duration::from_secs(180);
    let health = loop {
        let health = http(served.addr, "GET", "/health", &[], b"")
            .await?
            .json()?;
        if health["report"]["journal"]["pending"] == 0 {
            break health;
        }
        ensure!(
            Instant::now() < deadline,
            "not settled 180 s after the last post: {}",
            health["report"]["journal"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ensure!(
        served.stop().await?,
        "logbridge serve exits 0 after draining"
    );
    let elapsed = began.elapsed();

    // Every record on the bus, with its copies.
    let mut copies: BTreeMap<String, u64> = BTreeMap::new();
    for queue in &queues {
        for message in moto.drain_queue(queue).await? {
            let id = message["detail"]["log_id"]
                .as_str()
                .context("a message without detail.log_id")?;
            *copies.entry(id.to_string()).or_default() += 1;
        }
    }
    let sent = sent.lock().unwrap();
    let missing: Vec<&String> = sent
        .acknowledged
        .iter()
        .filter(|id| !copies.contains_key(*id))
        .collect();
    let extra: u64 = copies.values().map(|n| n - 1).sum();
    eprintln!(
        "crash test: {KILLS} SIGKILLs in {elapsed:.1?}; {} requests ({:?} refused), {} \
         given up; {} records acknowledged, {} on the bus ({} extra copies; the restarts \
         resumed {recovered} events and counted {possible_duplicates} possible duplicates), \
         {} missing",
        sent.requests,
        sent.refused,
        sent.given_up,
        sent.acknowledged.len(),
        copies.len(),
        extra,
        missing.len()
    );
    ensure!(
        !sent.acknowledged.is_empty(),
        "nothing was acknowledged: the test proves nothing"
    );
    ensure!(
        missing.is_empty(),
        "acknowledged records are missing from the bus: {:?}",
        &missing[..missing.len().min(20)]
    );
    ensure!(
        extra <= possible_duplicates,
        "{extra} extra copies on the bus, but only {possible_duplicates} were counted as \
         possible duplicates"
    );
    ensure!(
        health["report"]["failure_log_errors"] == 0,
        "{}",
        health["report"]
    );

    // The failure log and the write-ahead log are sound, and nothing failed.
    for file in [FAILURE_LOG_FILE, logbridge::JOURNAL_FILE] {
        let db = rusqlite::Connection::open(data.join(file))?;
        let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        ensure!(check == "ok", "{file}: {check}");
    }
    let db = rusqlite::Connection::open(data.join(FAILURE_LOG_FILE))?;
    let failures: i64 = db.query_row("SELECT COUNT(*) FROM failures", [], |r| r.get(0))?;
    ensure!(failures == 0, "{failures} failures were recorded");
    let db = rusqlite::Connection::open(data.join(logbridge::JOURNAL_FILE))?;
    let left: i64 = db.query_row("SELECT COUNT(*) FROM pending", [], |r| r.get(0))?;
    ensure!(
        left == 0,
        "{left} events are still in the write-ahead log after a clean stop"
    );
    Ok(())
}

/// The ids in a JSON-lines output file; a line cut short by a kill is not a delivery.
fn delivered_ids(output: &Path) -> BTreeMap<String, u64> {
    let mut copies = BTreeMap::new();
    let text = std::fs::read_to_string(output).unwrap_or_default();
    for line in text.lines() {
        if let Ok(entry) = serde_json::from_str::<Value>(line)
            && let Some(id) = entry["id"].as_str()
        {
            *copies.entry(id.to_string()).or_default() += 1;
        }
    }
    copies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_input_goes_on_where_a_killed_run_stopped() -> Result<()> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("crash-run");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let input = dir.join("logs.ndjson");
    let logs = generate_logs(20_000, 16, &[])?;
    std::fs::write(&input, &logs)?;
    let output = dir.join("out.ndjson");
    let run = || {
        let mut command = tokio::process::Command::new(logbridge_bin().unwrap());
        command
            .args(["run", "--durability", "disk", "--input"])
            .arg(&input)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--output")
            .arg(&output)
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        command
    };
    // Killed once some of it is delivered.
    let mut first = run().spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered_ids(&output).len() < 2_000 {
        ensure!(
            Instant::now() < deadline,
            "the first run delivered too little"
        );
        ensure!(
            first.try_wait()?.is_none(),
            "the first run ended before it was killed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.start_kill()?;
    first.wait().await?;
    let before = delivered_ids(&output).len();
    ensure!(
        before < 20_000,
        "the first run finished before the kill: {before}"
    );

    let second = run().output().await?;
    let said = String::from_utf8_lossy(&second.stderr);
    ensure!(second.status.success(), "{said}");
    ensure!(said.contains("resuming"), "the rerun did not go on: {said}");
    let number = |after: &str| -> u64 {
        said.lines()
            .find_map(|l| {
                let rest = l.trim().strip_prefix(after)?;
                rest.split_whitespace().next()?.parse().ok()
            })
            .unwrap_or(0)
    };
    let taken = number("logbridge:");
    let resumed = number("resumed");
    // "resumed N (left unsettled ...; M of them may reach their bus twice)"
    let possible: u64 = said
        .lines()
        .find(|l| l.trim().starts_with("resumed"))
        .and_then(|l| l.split("; ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let copies = delivered_ids(&output);
    let ids: BTreeSet<String> = logs
        .lines()
        .map(|l| {
            let log: Value = serde_json::from_str(l).unwrap();
            log["log_id"].as_str().unwrap().to_string()
        })
        .collect();
    let missing = ids.iter().filter(|id| !copies.contains_key(*id)).count();
    let extra: u64 = copies.values().map(|n| n - 1).sum();
    eprintln!("{said}");
    eprintln!(
        "run killed after {before} of 20000 delivered; the rerun took {taken} events \
         ({resumed} resumed, {possible} possible duplicates), {extra} extra copies, {missing} \
         missing"
    );
    ensure!(missing == 0, "{missing} logs never delivered");
    ensure!(
        taken < 20_000,
        "the rerun read the whole file again ({taken} events)"
    );
    ensure!(
        extra <= possible,
        "{extra} extra copies, more than the {possible} counted as possible duplicates"
    );
    Ok(())
}
