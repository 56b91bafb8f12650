//! The HTTP receiver: Auth0 log-stream batches posted to `logbridge serve` in all three
//! webhook formats reach moto's buses exactly once; what must be refused is refused and
//! what can never succeed is quarantined once; a full queue answers 429 and loses nothing
//! once the sender retries. Hostile clients are in `serve_hostile`, stopping in
//! `serve_stop`, the health page and `logbridge health` in `health_page`.
//!
//! Over 400 lines: one test per webhook format and refusal, sharing the posting and
//! read-back helpers here; the other concerns already have files of their own.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use logbridge::serve::ServeConfig;
use logbridge::{ChannelSink, Host};
use logbridge_tests::{LocalServer, Moto, Served, generate_logs, http, logbridge_bin, plugins_dir};
use serde_json::{Value, json};

use crate::auth0::{assert_redacted, expected_bus, log_of};

pub(crate) const AUTH: &str = "Bearer logbridge-test-secret";
const BUSES: [&str; 3] = ["default", "security", "audit"];

/// Generated logs as the `{"log_id", "data"}` records a log stream sends.
pub(crate) fn records(n: usize, seed: u64) -> Result<Vec<Value>> {
    generate_logs(n, seed, &[])?
        .lines()
        .map(|line| {
            let log = log_of(&serde_json::from_str(line)?).clone();
            Ok(json!({"log_id": log["log_id"], "data": log}))
        })
        .collect()
}

pub(crate) async fn post(addr: SocketAddr, body: &str, content_type: &str) -> Result<Value> {
    let answer = http(
        addr,
        "POST",
        "/logs",
        &[("Authorization", AUTH), ("Content-Type", content_type)],
        body.as_bytes(),
    )
    .await?;
    ensure!(answer.status == 200, "{} {}", answer.status, answer.body);
    answer.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_batches_in_all_three_formats_reach_the_predicted_buses_once() -> Result<()> {
    let moto = Moto::start()?;
    let records = records(300, 23)?;
    let types: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["data"]["type"].as_str())
        .collect();
    let types: Vec<&str> = types.into_iter().collect();
    let mut queues = BTreeMap::new();
    for bus in BUSES {
        queues.insert(
            bus,
            moto.route_types_to_queues(bus, "logbridge.auth0", &types)
                .await?,
        );
    }
    let data = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-e2e-data");
    let _ = std::fs::remove_dir_all(&data);
    let plugins = plugins_dir();
    let mut envs = moto.env();
    envs.push(("LOGBRIDGE_AUTHORIZATION", AUTH.to_string()));
    let served = Served::start(
        &[
            "--eventbridge",
            "--endpoint-url",
            &moto.url(),
            "--plugins",
            plugins.to_str().context("plugins path")?,
            "--data-dir",
            data.to_str().context("data path")?,
        ],
        envs,
    )
    .await?;
    let addr = served.addr;

    // JSONARRAY, JSONLINES, then JSONOBJECT one record per request.
    let array = serde_json::to_string(&records[..100])?;
    let answer = post(addr, &array, "application/json").await?;
    ensure!(answer["accepted"] == 100, "{answer}");
    let lines: Vec<String> = records[100..200].iter().map(Value::to_string).collect();
    let answer = post(addr, &lines.join("\n"), "application/json").await?;
    ensure!(answer["accepted"] == 100, "{answer}");
    for record in &records[200..] {
        let answer = post(addr, &record.to_string(), "application/json").await?;
        ensure!(answer["accepted"] == 1, "{answer}");
    }
    // Auth0 delivers at least once: the first batch again is all duplicates.
    let answer = post(addr, &array, "application/json").await?;
    ensure!(
        answer["duplicates"] == 100 && answer["accepted"] == 0,
        "{answer}"
    );

    let health = http(addr, "GET", "/health", &[("Authorization", AUTH)], b"")
        .await?
        .json()?;
    ensure!(health["report"]["accepted"] == 300, "{health}");
    ensure!(health["report"]["duplicates"] == 100, "{health}");
    ensure!(
        served.stop().await?,
        "logbridge serve exits 0 after draining"
    );

    let originals: BTreeMap<String, Value> = records
        .iter()
        .map(|r| {
            (
                r["log_id"].as_str().unwrap_or_default().to_string(),
                r["data"].clone(),
            )
        })
        .collect();
    for bus in BUSES {
        let expected: BTreeSet<&String> = originals
            .iter()
            .filter(|(_, log)| expected_bus(log) == Some(bus))
            .map(|(id, _)| id)
            .collect();
        let mut got = BTreeSet::new();
        for queue in &queues[bus] {
            for message in moto.drain_queue(queue).await? {
                let id = message["detail"]["log_id"]
                    .as_str()
                    .context("log_id")?
                    .to_string();
                assert_redacted(&originals[&id], &message["detail"]["data"]);
                ensure!(got.insert(id.clone()), "{id} arrived twice on {bus}");
            }
        }
        let got: BTreeSet<&String> = got.iter().collect();
        ensure!(
            got == expected,
            "bus {bus}: got {got:?}, expected {expected:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiver_refuses_what_it_must_and_records_garbage() -> Result<()> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-refusals");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("data");
    let output = dir.join("out.jsonl");
    let served = Served::start(
        &[
            "--max-body",
            "4kb",
            "--output",
            output.to_str().context("path")?,
            "--data-dir",
            data.to_str().context("path")?,
        ],
        vec![("LOGBRIDGE_AUTHORIZATION", AUTH.to_string())],
    )
    .await?;
    let addr = served.addr;
    let record = records(1, 5)?.remove(0).to_string();

    let none = http(addr, "POST", "/logs", &[], record.as_bytes()).await?;
    ensure!(none.status == 401, "no Authorization: {none:?}");
    let wrong = http(
        addr,
        "POST",
        "/logs",
        &[("Authorization", "Bearer nope")],
        record.as_bytes(),
    )
    .await?;
    ensure!(wrong.status == 401, "wrong Authorization: {wrong:?}");
    let big = vec![b' '; 8 << 10];
    let too_big = http(addr, "POST", "/logs", &[("Authorization", AUTH)], &big).await?;
    ensure!(too_big.status == 413, "oversize: {too_big:?}");
    let health = http(addr, "GET", "/health", &[("Authorization", AUTH)], b"")
        .await?
        .json()?;
    ensure!(
        health["report"]["accepted"] == 0,
        "nothing taken so far: {health}"
    );
    let anonymous = http(addr, "GET", "/metrics", &[], b"").await?;
    ensure!(
        anonymous.status == 401,
        "the pages need the secret too: {anonymous:?}"
    );

    // A body that can never succeed is quarantined and answered 2xx, so a retrying
    // sender does not send it for ever.
    let garbage = http(
        addr,
        "POST",
        "/logs",
        &[("Authorization", AUTH)],
        b"this is not JSON",
    )
    .await?;
    ensure!(garbage.status == 200, "garbage: {garbage:?}");
    let counts = garbage.json()?;
    ensure!(
        counts["rejected"] == 1
            && counts["accepted"] == 0
            && counts["quarantined"]
                .as_str()
                .is_some_and(|e| e.contains("JSON")),
        "{counts}"
    );
    let good = http(
        addr,
        "POST",
        "/",
        &[("Authorization", AUTH)],
        record.as_bytes(),
    )
    .await?;
    ensure!(
        good.status == 200 && good.json()?["accepted"] == 1,
        "{good:?}"
    );

    let page = http(addr, "GET", "/", &[("Authorization", AUTH)], b"").await?;
    ensure!(
        page.status == 200
            && page
                .header("content-type")
                .is_some_and(|c| c.starts_with("text/html"))
    );
    ensure!(
        page.body.contains("bad-input") && page.body.contains("not valid JSON"),
        "{}",
        page.body
    );
    let metrics = http(addr, "GET", "/metrics", &[("Authorization", AUTH)], b"").await?;
    ensure!(
        metrics.body.contains("logbridge_events_accepted_total 2"),
        "{}",
        metrics.body
    );
    ensure!(
        metrics
            .body
            .contains("logbridge_events_failed_total{stage=\"ingest\"} 1"),
        "{}",
        metrics.body
    );

    ensure!(!served.stop().await?, "a run with a failure exits non-zero");
    let failures = tokio::process::Command::new(logbridge_bin()?)
        .args(["failures", "--stage", "ingest", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .await?;
    let failures: Vec<Value> = String::from_utf8(failures.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(failures.len() == 1, "{failures:?}");
    ensure!(failures[0]["input"] == "this is not JSON", "{failures:?}");
    ensure!(
        std::fs::read_to_string(&output)?.lines().count() == 1,
        "the good record went out"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_429_and_nothing_is_lost_once_the_sender_retries() -> Result<()> {
    // A sink nobody reads, tiny queues: the pipeline backs up after a few events.
    let (sink, mut delivered) = ChannelSink::new(1);
    let host = Host::builder()
        .sink(sink)
        .workers(1)
        .queue_capacity(2)
        .build()?;
    let config = ServeConfig {
        queue_wait: Duration::from_millis(50),
        ..ServeConfig::default()
    };
    let server = LocalServer::start(host.clone(), config).await?;
    let addr = server.addr;

    // More records than the queue, the workers, the hand-off and the calls in flight can
    // hold while the sink is not read: with 200 they could all be taken in at once.
    let records = records(2000, 9)?;
    let body = serde_json::to_string(&records)?;
    let first = http(addr, "POST", "/logs", &[], body.as_bytes()).await?;
    ensure!(first.status == 429, "{first:?}");
    ensure!(first.header("retry-after") == Some("1"), "{first:?}");
    let taken = first.json()?["accepted"].as_u64().context("accepted")?;
    ensure!(taken < 2000, "{first:?}");

    // The consumer catches up; the sender retries the same batch until it is taken.
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while let Some(d) = delivered.recv().await {
            ids.push(d.event.id);
        }
        ids
    });
    let mut retries = 0;
    loop {
        let answer = http(addr, "POST", "/logs", &[], body.as_bytes()).await?;
        if answer.status == 200 {
            let json = answer.json()?;
            let (accepted, duplicates) = (json["accepted"].as_u64(), json["duplicates"].as_u64());
            ensure!(
                accepted
                    .zip(duplicates)
                    .is_some_and(|(a, d)| a + d == 2000 && d >= taken),
                "the retry takes the rest and skips what was taken: {json}"
            );
            break;
        }
        ensure!(answer.status == 429, "{answer:?}");
        retries += 1;
        ensure!(retries < 100, "still refused after 100 retries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await?;
    let health = host.shutdown().await?;
    let ids = reader.await?;
    let unique: BTreeSet<&String> = ids.iter().collect();
    ensure!(unique.len() == ids.len(), "nothing delivered twice");
    let expected: BTreeSet<String> = records
        .iter()
        .map(|r| r["log_id"].as_str().unwrap_or_default().to_string())
        .collect();
    ensure!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>() == expected,
        "every record delivered once"
    );
    ensure!(health.accepted == 2000 && health.settled(), "{health:?}");
    ensure!(
        health.duplicates >= taken,
        "the retries' repeats are counted: {health:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_record_is_quarantined_once_and_its_good_neighbours_are_taken() -> Result<()> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-quarantine");
    let _ = std::fs::remove_dir_all(&dir);
    let (sink, mut delivered) = ChannelSink::new(64);
    let host = Host::builder()
        .sink(sink)
        .workers(1)
        .data_dir(&dir)
        .build()?;
    let server = LocalServer::start(host.clone(), ServeConfig::default()).await?;
    let addr = server.addr;
    let good = records(4, 31)?;
    let line = |r: &Value| r.to_string().into_bytes();
    let bad_utf8 = b"{\"log_id\":\"bad-1\",\"data\":{\"description\":\"caf\xe9\"}}".to_vec();
    // JSONLINES: good, not UTF-8, good, not JSON.
    let lines = [
        line(&good[0]),
        bad_utf8.clone(),
        line(&good[1]),
        b"oops, not a record".to_vec(),
    ]
    .join(&b'\n');
    // JSONARRAY: good, an element that is not UTF-8, good.
    let array = [
        b"[".to_vec(),
        line(&good[2]),
        b",".to_vec(),
        b"{\"log_id\":\"bad-2\",\"data\":\"\xff\"}".to_vec(),
        b",".to_vec(),
        line(&good[3]),
        b"]".to_vec(),
    ]
    .concat();
    let mut sent = Vec::new();
    for (path, body) in [("/logs", &lines), ("/api/logs", &array)] {
        for attempt in ["first", "retry"] {
            let answer = http(addr, "POST", path, &[], body).await?;
            ensure!(answer.status == 200, "{path} {attempt}: {answer:?}");
            sent.push(answer.json()?);
        }
    }
    let counts = |v: &Value| {
        (
            v["accepted"].clone(),
            v["duplicates"].clone(),
            v["rejected"].clone(),
        )
    };
    ensure!(
        counts(&sent[0]) == (json!(2), json!(0), json!(2)),
        "{}",
        sent[0]
    );
    ensure!(
        counts(&sent[1]) == (json!(0), json!(4), json!(0)),
        "a retry takes nothing again and adds no failure: {}",
        sent[1]
    );
    ensure!(
        counts(&sent[2]) == (json!(2), json!(0), json!(1)),
        "{}",
        sent[2]
    );
    ensure!(
        counts(&sent[3]) == (json!(0), json!(3), json!(0)),
        "{}",
        sent[3]
    );
    // Nothing in a body is a reason to retry: 200 with zero counts.
    for empty in [&b""[..], &b"  \n"[..], &b"[]"[..]] {
        let answer = http(addr, "POST", "/logs", &[], empty).await?;
        ensure!(
            answer.status == 200 && counts(&answer.json()?) == (json!(0), json!(0), json!(0)),
            "{empty:?}: {answer:?}"
        );
    }
    server.stop().await?;
    let health = host.shutdown().await?;
    ensure!(
        health.accepted == 7 && health.failed_ingest == 3 && health.duplicates == 7,
        "each record counted once: {health:?}"
    );
    ensure!(health.settled(), "{health:?}");
    let mut ids = BTreeSet::new();
    while let Ok(d) = delivered.try_recv() {
        ids.insert(d.event.id);
    }
    let expected: BTreeSet<String> = good
        .iter()
        .map(|r| r["log_id"].as_str().unwrap_or_default().to_string())
        .collect();
    ensure!(ids == expected, "the good records went out: {ids:?}");

    let failures = tokio::process::Command::new(logbridge_bin()?)
        .args(["failures", "--stage", "ingest", "--json", "--data-dir"])
        .arg(&dir)
        .output()
        .await?;
    let failures: Vec<Value> = String::from_utf8(failures.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(failures.len() == 3, "one row per bad record: {failures:#?}");
    let inputs: BTreeSet<&str> = failures
        .iter()
        .filter_map(|f| f["input"].as_str())
        .collect();
    ensure!(
        inputs.contains("oops, not a record")
            && inputs
                .iter()
                .any(|i| i.contains("bad-1") && i.contains("caf"))
            && inputs.iter().any(|i| i.contains("bad-2")),
        "the raw text is kept: {inputs:?}"
    );
    Ok(())
}
