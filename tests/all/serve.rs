//! The HTTP receiver: Auth0 log-stream batches posted to `logbridge serve` in all three
//! webhook formats reach moto's buses exactly once; what must be refused is refused and
//! what can never succeed is quarantined once; a full queue answers 429 and loses nothing
//! once the sender retries; the health page, its JSON and the metrics show what happened.
//! Hostile clients — idle sockets, half-sent headers, slow bodies — are closed by their
//! timeouts without starving honest senders, and stopping is bounded whatever they do.

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

const AUTH: &str = "Bearer logbridge-test-secret";
const BUSES: [&str; 3] = ["default", "security", "audit"];

/// Generated logs as the `{"log_id", "data"}` records a log stream sends.
fn records(n: usize, seed: u64) -> Result<Vec<Value>> {
    generate_logs(n, seed, &[])?
        .lines()
        .map(|line| {
            let log = log_of(&serde_json::from_str(line)?).clone();
            Ok(json!({"log_id": log["log_id"], "data": log}))
        })
        .collect()
}

async fn post(addr: SocketAddr, body: &str, content_type: &str) -> Result<Value> {
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

    let records = records(200, 9)?;
    let body = serde_json::to_string(&records)?;
    let first = http(addr, "POST", "/logs", &[], body.as_bytes()).await?;
    ensure!(first.status == 429, "{first:?}");
    ensure!(first.header("retry-after") == Some("1"), "{first:?}");
    let taken = first.json()?["accepted"].as_u64().context("accepted")?;
    ensure!(taken < 200, "{first:?}");

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
                    .is_some_and(|(a, d)| a + d == 200 && d >= taken),
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
    ensure!(health.accepted == 200 && health.settled(), "{health:?}");
    ensure!(
        health.duplicates >= taken,
        "the retries' repeats are counted: {health:?}"
    );
    Ok(())
}

/// The part of `html` from the element with `id` to the end of its table.
fn table<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or(html.len());
    let rest = &html[start..];
    &rest[..rest.find("</table>").unwrap_or(rest.len())]
}

/// Polls `GET /health` until `done` holds for it; fails after 60 s.
async fn wait_for_health(
    addr: SocketAddr,
    auth: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    for _ in 0..600 {
        let health = http(addr, "GET", "/health", &[("Authorization", auth)], b"")
            .await?
            .json()?;
        if done(&health) {
            return Ok(health);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("{what}: not seen within 60 s")
}

/// `logbridge health ARGS --data-dir DATA` with `envs`: (exit 0, stdout, stderr).
async fn health_cli(
    data: &Path,
    args: &[&str],
    envs: Vec<(&'static str, String)>,
) -> Result<(bool, String, String)> {
    let output = tokio::process::Command::new(logbridge_bin()?)
        .arg("health")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("LOGBRIDGE_AUTHORIZATION")
        .envs(envs)
        .output()
        .await?;
    Ok((
        output.status.success(),
        String::from_utf8(output.stdout)?,
        String::from_utf8(output.stderr)?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_take_basic_with_the_token_and_a_challenge_but_posts_take_the_exact_value()
-> Result<()> {
    let host = Host::builder()
        .sink(logbridge::JsonLinesSink::new(std::io::sink()))
        .build()?;
    let config = ServeConfig {
        authorization: Some(AUTH.into()),
        ..ServeConfig::default()
    };
    let server = LocalServer::start(host.clone(), config).await?;
    let addr = server.addr;
    // "someone:logbridge-test-secret": the token after `Bearer`, any user name.
    let basic = "Basic c29tZW9uZTpsb2dicmlkZ2UtdGVzdC1zZWNyZXQ=";

    let page = http(addr, "GET", "/", &[], b"").await?;
    ensure!(page.status == 401, "{page:?}");
    ensure!(
        page.header("www-authenticate")
            .is_some_and(|c| c.starts_with("Basic realm=\"logbridge\"")),
        "a browser is asked for a user and password: {page:?}"
    );
    for path in ["/", "/health", "/metrics"] {
        let read = http(addr, "GET", path, &[("Authorization", basic)], b"").await?;
        ensure!(read.status == 200, "GET {path} with Basic: {read:?}");
    }
    let wrong = http(
        addr,
        "GET",
        "/health",
        &[("Authorization", "Basic c29tZW9uZTpub3BlCg==")],
        b"",
    )
    .await?;
    ensure!(wrong.status == 401, "a wrong password: {wrong:?}");

    let record = records(1, 8)?.remove(0).to_string();
    let posted = http(
        addr,
        "POST",
        "/logs",
        &[("Authorization", basic)],
        record.as_bytes(),
    )
    .await?;
    ensure!(
        posted.status == 401 && posted.header("www-authenticate").is_none(),
        "posting takes only the exact value, and no challenge: {posted:?}"
    );
    let posted = http(
        addr,
        "POST",
        "/logs",
        &[("Authorization", AUTH)],
        record.as_bytes(),
    )
    .await?;
    ensure!(posted.status == 200, "{posted:?}");
    server.stop().await?;
    host.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_logs_in_to_the_health_page_in_a_real_browser_and_sees_what_failed_and_when()
-> Result<()> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-browser");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let output = dir.join("out.jsonl");
    let data = dir.join("data");
    let served = Served::start(
        &[
            "--output",
            output.to_str().context("path")?,
            "--data-dir",
            data.to_str().context("path")?,
        ],
        vec![("LOGBRIDGE_AUTHORIZATION", AUTH.to_string())],
    )
    .await?;
    let addr = served.addr;
    // A record without a log_id: recorded as an ingest failure.
    let bad = json!({"data": {"type": "f", "date": "2026-11-25T09:00:00Z"}}).to_string();
    let answer = http(
        addr,
        "POST",
        "/logs",
        &[("Authorization", AUTH)],
        bad.as_bytes(),
    )
    .await?;
    ensure!(
        answer.status == 200 && answer.json()?["rejected"] == 1,
        "{answer:?}"
    );
    let good = records(1, 4)?.remove(0).to_string();
    let answer = http(
        addr,
        "POST",
        "/logs",
        &[("Authorization", AUTH)],
        good.as_bytes(),
    )
    .await?;
    ensure!(answer.status == 200, "{answer:?}");
    wait_for_health(addr, AUTH, "the good record delivered", |h| {
        h["report"]["buses"]["default"]["delivered"] == 1
    })
    .await?;

    // As a person would: the user and password in the address; the browser answers the
    // server's Basic challenge with them.
    let profile = dir.join("chromium-profile");
    let page = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("http://operator:logbridge-test-secret@{addr}/"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .context("chromium did not render the page within 90 s")?
    .context("cannot run chromium; scripts/setup-test-env.sh installs it")?;
    let dom = String::from_utf8_lossy(&page.stdout);
    ensure!(
        dom.contains("<title>logbridge health</title>"),
        "the browser got in: {dom}"
    );
    ensure!(
        dom.contains("id=\"status\" class=\"badge degraded\">degraded<")
            && dom.contains("records failed at ingest"),
        "an ingest failure degrades the status, and says so: {dom}"
    );
    let failures = table(&dom, "failures");
    ensure!(
        failures.contains("has no `log_id`")
            && failures.contains("<time datetime=\"20")
            && failures.contains(" ago)"),
        "the failure is listed with its time: {failures}"
    );
    ensure!(dom.contains("id=\"uptime\">Up "), "the uptime: {dom}");
    let buses = table(&dom, "buses");
    let default_row = buses
        .split("<tr>")
        .find(|row| row.starts_with("<td>default</td>"))
        .with_context(|| format!("no row for the default bus: {buses}"))?;
    ensure!(
        default_row.starts_with(
            "<td>default</td><td class=\"ok\">ok</td><td><span class=\"when\"><time datetime=\"20"
        ),
        "the bus's last delivery, with its time: {default_row}"
    );
    ensure!(dom.contains("accepted 2"), "the counters: {dom}");
    ensure!(
        !served.stop().await?,
        "a failure makes the run exit non-zero"
    );
    Ok(())
}

/// Connects and sends `head` (which may stop half-way), then reads until the server
/// closes. Returns what was read, or fails when the server has not closed within `limit`.
async fn closed_by_server(addr: SocketAddr, head: &[u8], limit: Duration) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(head).await?;
    let mut answer = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await {
        Err(_) => anyhow::bail!("the server kept the socket open for {limit:?}"),
        // A reset is a close too.
        Ok(Ok(_) | Err(_)) => Ok(String::from_utf8_lossy(&answer).into_owned()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_length_over_the_limit_is_refused_before_the_body_arrives() -> Result<()> {
    let (sink, _delivered) = ChannelSink::new(16);
    let host = Host::builder().sink(sink).workers(1).build()?;
    let config = ServeConfig {
        max_body_bytes: 64 << 10,
        // Long, so only the early refusal can answer within the wait below.
        header_timeout: Duration::from_secs(120),
        body_timeout: Duration::from_secs(120),
        ..ServeConfig::default()
    };
    let server = LocalServer::start(host.clone(), config).await?;
    // The head alone: a body of 100 MB announced, none of it sent.
    let head = format!(
        "POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        100 << 20
    );
    let answer = closed_by_server(server.addr, head.as_bytes(), Duration::from_secs(30))
        .await
        .context("an oversize Content-Length was not refused before its body")?;
    ensure!(
        answer.starts_with("HTTP/1.1 413"),
        "refused with 413: {answer}"
    );
    ensure!(answer.contains("--max-body"), "says what to do: {answer}");
    server.stop().await?;
    let health = host.shutdown().await?;
    ensure!(health.accepted == 0, "{health:?}");
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

/// How a hostile client misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Hostile {
    /// Connects and sends nothing.
    Idle,
    /// Sends half a request head and stops.
    HalfHeaders,
    /// An authorized post declaring a large body, sent a byte at a time.
    SlowBody,
    /// The same, declaring a body over the limit.
    OversizeBody,
    /// The same, without the secret.
    UnauthorizedBody,
}

impl Hostile {
    fn head(self) -> Vec<u8> {
        let post = |auth: &str, length: usize| {
            format!(
                "POST /logs HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {length}\r\n\r\n{{\"log"
            )
            .into_bytes()
        };
        let auth = format!("Authorization: {AUTH}\r\n");
        match self {
            Hostile::Idle => Vec::new(),
            Hostile::HalfHeaders => b"POST /logs HTTP/1.1\r\nHost: x\r\nAuthoriz".to_vec(),
            Hostile::SlowBody => post(&auth, 1 << 20),
            Hostile::OversizeBody => post(&auth, 1 << 30),
            Hostile::UnauthorizedBody => post("", 1 << 20),
        }
    }
}

/// Plays `kind` on `stream` until the server closes it (a slow body keeps trickling a
/// byte every 200 ms); returns how long the socket stayed open, or fails once `limit`
/// has passed.
async fn play_hostile(
    kind: Hostile,
    stream: tokio::net::TcpStream,
    opened: std::time::Instant,
    limit: Duration,
) -> Result<(Hostile, Duration)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut read, mut write) = stream.into_split();
    let trickle = async move {
        if matches!(
            kind,
            Hostile::SlowBody | Hostile::OversizeBody | Hostile::UnauthorizedBody
        ) {
            for _ in 0..10_000 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if write.write_all(b" ").await.is_err() {
                    break;
                }
            }
        }
        std::future::pending::<()>().await;
    };
    let closed = async {
        let mut sink = Vec::new();
        // A reset is a close too.
        let _ = read.read_to_end(&mut sink).await;
    };
    tokio::select! {
        () = closed => Ok((kind, opened.elapsed())),
        () = trickle => unreachable!("the trickle never ends by itself"),
        () = tokio::time::sleep(limit.saturating_sub(opened.elapsed())) => {
            anyhow::bail!("a {kind:?} socket was still open {limit:?} after it connected")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_hostile_sockets_neither_starve_honest_senders_nor_outlive_their_timeouts()
-> Result<()> {
    const HOSTILE: usize = 1000;
    let limit = logbridge_tests::raise_open_file_limit(4 * HOSTILE as u64)?;
    ensure!(
        limit >= 3 * HOSTILE as u64,
        "this test needs ~{} open files and the hard limit is {limit}",
        3 * HOSTILE
    );
    let (sink, mut delivered) = ChannelSink::new(1024);
    let host = Host::builder().sink(sink).workers(2).build()?;
    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while let Some(d) = delivered.recv().await {
            ids.push(d.event.id);
        }
        ids
    });
    let (header_timeout, body_timeout) = (Duration::from_secs(2), Duration::from_secs(3));
    let config = ServeConfig {
        authorization: Some(AUTH.into()),
        header_timeout,
        body_timeout,
        idle_timeout: header_timeout,
        max_connections: 512,
        health_connections: 16,
        ..ServeConfig::default()
    };
    let server = LocalServer::start(host.clone(), config).await?;
    let addr = server.addr;

    // Every hostile socket connects and sends its part before any honest request.
    let kinds = [
        Hostile::Idle,
        Hostile::HalfHeaders,
        Hostile::SlowBody,
        Hostile::Idle,
        Hostile::HalfHeaders,
        Hostile::SlowBody,
        Hostile::OversizeBody,
        Hostile::UnauthorizedBody,
    ];
    // Generous: each must be closed by its timeout; this only bounds the wait.
    let wait_limit = body_timeout + Duration::from_secs(20);
    let mut hostile = tokio::task::JoinSet::new();
    for n in 0..HOSTILE {
        use tokio::io::AsyncWriteExt;
        let kind = kinds[n % kinds.len()];
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let opened = std::time::Instant::now();
        // The server may already have closed it to make room: that is a close too.
        let _ = stream.write_all(&kind.head()).await;
        hostile.spawn(play_hostile(kind, stream, opened, wait_limit));
    }

    let health = http(addr, "GET", "/health", &[("Authorization", AUTH)], b"").await?;
    ensure!(
        health.status == 200,
        "/health beside 1,000 hostile sockets: {health:?}"
    );

    // Honest senders: 4 at once, 40 posts of 5 records each, every post retried until
    // taken so that everything is delivered in the end.
    let honest = records(800, 77)?;
    let mut senders = tokio::task::JoinSet::new();
    for chunk in honest.chunks(200) {
        let bodies: Vec<String> = chunk
            .chunks(5)
            .map(|five| serde_json::to_string(five).unwrap_or_default())
            .collect();
        senders.spawn(async move {
            let mut on_time = 0usize;
            for body in bodies {
                for attempt in 0.. {
                    ensure!(attempt < 100, "a post still not taken after 100 tries");
                    let started = std::time::Instant::now();
                    let answer = tokio::time::timeout(
                        Duration::from_secs(30),
                        http(
                            addr,
                            "POST",
                            "/logs",
                            &[("Authorization", AUTH)],
                            body.as_bytes(),
                        ),
                    )
                    .await;
                    let ok = matches!(&answer, Ok(Ok(a)) if a.status == 200);
                    if attempt == 0 && ok && started.elapsed() <= Duration::from_secs(1) {
                        on_time += 1;
                    }
                    if ok {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Ok::<_, anyhow::Error>(on_time)
        });
    }
    let mut on_time = 0;
    while let Some(sender) = senders.join_next().await {
        on_time += sender??;
    }
    let posts = honest.len() / 5;

    let mut open_for: BTreeMap<Hostile, Duration> = BTreeMap::new();
    while let Some(closed) = hostile.join_next().await {
        let (kind, open) = closed??;
        let longest = open_for.entry(kind).or_default();
        *longest = (*longest).max(open);
    }
    server.stop().await?;
    let report = host.shutdown().await?;
    let ids = reader.await?;
    eprintln!(
        "honest posts answered 200 within 1 s: {on_time} of {posts} ({:.1}%); the longest each \
         kind of hostile socket stayed open: {open_for:?}",
        100.0 * on_time as f64 / posts as f64
    );
    ensure!(
        on_time * 100 >= posts * 95,
        "only {on_time} of {posts} honest posts were answered 200 within 1 s"
    );
    let unique: BTreeSet<&String> = ids.iter().collect();
    let expected: BTreeSet<String> = honest
        .iter()
        .map(|r| r["log_id"].as_str().unwrap_or_default().to_string())
        .collect();
    ensure!(unique.len() == ids.len(), "nothing delivered twice");
    ensure!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>() == expected,
        "every honest record delivered"
    );
    ensure!(
        report.accepted == 800 && report.settled(),
        "nothing but the honest records taken, all settled: {report:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_pages_answer_while_every_ingest_slot_and_connection_is_busy() -> Result<()> {
    // A sink nobody reads yet and a tiny queue: posts wait for room, holding their slots.
    let (sink, mut delivered) = ChannelSink::new(1);
    let host = Host::builder()
        .sink(sink)
        .workers(1)
        .queue_capacity(2)
        .build()?;
    let config = ServeConfig {
        max_requests: 2,
        max_connections: 6,
        health_connections: 2,
        queue_wait: Duration::from_secs(120),
        header_timeout: Duration::from_secs(120),
        body_timeout: Duration::from_secs(120),
        ..ServeConfig::default()
    };
    let server = LocalServer::start(host.clone(), config).await?;
    let addr = server.addr;
    // Far more than the pipeline's queues and delivery's batches can take in while the
    // sink is not read (a few hundred), so both posts stay stuck holding their slots.
    let all = records(2000, 41)?;
    let mut stuck = tokio::task::JoinSet::new();
    for half in all.chunks(1000) {
        let body = serde_json::to_string(half)?;
        stuck.spawn(async move { http(addr, "POST", "/logs", &[], body.as_bytes()).await });
    }
    // Until both ingest slots are taken, a third post may get one.
    let mut tries = 0;
    loop {
        let third = http(addr, "POST", "/logs", &[], b"[]").await?;
        if third.status == 503 && third.body.contains("in progress") {
            break;
        }
        tries += 1;
        ensure!(tries < 200, "the ingest slots never filled: {third:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Two slow bodies take the last ordinary connections. One that the server closes
    // to make room (it may take a new connection for one still waiting for its head) is
    // opened again.
    async fn slow_body(addr: SocketAddr) -> Result<tokio::net::TcpStream> {
        use tokio::io::AsyncWriteExt;
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n[")
            .await?;
        Ok(stream)
    }
    let mut slow = vec![slow_body(addr).await?, slow_body(addr).await?];
    let mut tries = 0;
    loop {
        for stream in &mut slow {
            let closed = !matches!(
                stream.try_read(&mut [0u8; 64]),
                Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock
            );
            if closed {
                *stream = slow_body(addr).await?;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let post = http(addr, "POST", "/logs", &[], b"[]").await?;
        if post.status == 503 && post.body.contains("kept for the health pages") {
            break;
        }
        tries += 1;
        ensure!(
            tries < 200,
            "the ordinary connections never filled: {post:?}"
        );
    }
    for path in ["/health", "/metrics", "/"] {
        let page = http(addr, "GET", path, &[], b"").await?;
        ensure!(
            page.status == 200,
            "{path} while everything is busy: {page:?}"
        );
    }
    // The consumer catches up: the stuck posts finish and nothing was lost.
    drop(slow);
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while delivered.recv().await.is_some() {
            n += 1;
        }
        n
    });
    while let Some(post) = stuck.join_next().await {
        let post = post??;
        ensure!(
            post.status == 200 && post.json()?["accepted"] == 1000,
            "{post:?}"
        );
    }
    server.stop().await?;
    let report = host.shutdown().await?;
    ensure!(reader.await? == 2000, "every record delivered");
    ensure!(report.accepted == 2000 && report.settled(), "{report:?}");
    Ok(())
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_command_shows_a_running_server_and_totals_outlive_a_restart() -> Result<()> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-health-cli");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let data = dir.join("data");
    let output = dir.join("out.jsonl");
    let args = [
        "--output",
        output.to_str().context("path")?,
        "--data-dir",
        data.to_str().context("path")?,
    ];
    let auth = || vec![("LOGBRIDGE_AUTHORIZATION", AUTH.to_string())];
    let first = Served::start(&args, auth()).await?;
    let bad = json!({"data": {"type": "f"}}).to_string();
    http(
        first.addr,
        "POST",
        "/logs",
        &[("Authorization", AUTH)],
        bad.as_bytes(),
    )
    .await?;
    let good = serde_json::to_string(&records(2, 30)?)?;
    let answer = http(
        first.addr,
        "POST",
        "/logs",
        &[("Authorization", AUTH)],
        good.as_bytes(),
    )
    .await?;
    ensure!(answer.status == 200, "{answer:?}");
    wait_for_health(first.addr, AUTH, "both records delivered", |h| {
        h["report"]["buses"]["default"]["delivered"] == 2
    })
    .await?;

    // The running server, found through the data folder, asked with the same secret.
    let (ok, out, err) = health_cli(&data, &[], auth()).await?;
    ensure!(ok, "{out}{err}");
    ensure!(
        out.contains(&format!("live from http://{}", first.addr))
            && out.contains("status: degraded")
            && out.contains("records failed at ingest")
            && out.contains("failed at ingest 1"),
        "the live state: {out}"
    );
    ensure!(
        out.lines().any(|l| l.trim_start().starts_with("default")
            && l.contains("ok")
            && !l.contains("last delivered never")),
        "the bus and its last delivery: {out}"
    );
    let (ok, out, err) = health_cli(&data, &[], Vec::new()).await?;
    ensure!(
        !ok && err.contains("LOGBRIDGE_AUTHORIZATION"),
        "without the secret: a clear refusal\n{out}{err}"
    );
    ensure!(
        !first.stop().await?,
        "the ingest failure makes it exit non-zero"
    );

    // No server: the last finished run, and a line saying so.
    let (ok, out, err) = health_cli(&data, &[], auth()).await?;
    ensure!(ok, "{out}{err}");
    ensure!(
        out.contains("showing the last finished run")
            && out.contains("status: degraded")
            && out.contains("accepted 3"),
        "the stored state: {out}"
    );
    let free = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let (ok, out, _) = health_cli(&data, &["--url", &format!("http://{free}")], auth()).await?;
    ensure!(
        ok && out.contains(&format!("no logbridge serve answers at http://{free}")),
        "{out}"
    );

    // A restart on the same data folder starts from what the first run left.
    let second = Served::start(&args, auth()).await?;
    let carried = http(
        second.addr,
        "GET",
        "/health",
        &[("Authorization", AUTH)],
        b"",
    )
    .await?
    .json()?;
    ensure!(
        carried["report"]["buses"]["default"]["last_delivered"].is_string()
            && carried["status"] == "degraded",
        "the last delivery and the recent ingest failure carry over: {carried}"
    );
    let one = serde_json::to_string(&records(1, 31)?)?;
    let answer = http(
        second.addr,
        "POST",
        "/logs",
        &[("Authorization", AUTH)],
        one.as_bytes(),
    )
    .await?;
    ensure!(answer.status == 200, "{answer:?}");
    let health = wait_for_health(second.addr, AUTH, "the record delivered", |h| {
        h["report"]["buses"]["default"]["delivered"] == 1
    })
    .await?;
    let totals = &health["report"]["totals"];
    ensure!(
        health["report"]["accepted"] == 1
            && totals["accepted"] == 4
            && totals["failed_ingest"] == 1
            && totals["delivered"] == 3
            && totals["buses"]["default"]["delivered"] == 3,
        "this run's counters and the totals since the data folder was created: {health}"
    );
    ensure!(second.stop().await?, "{health}");
    let (_, out, _) = health_cli(&data, &["--json"], auth()).await?;
    let stored: Value = serde_json::from_str(&out)?;
    ensure!(
        stored["live"] == false && stored["totals"]["accepted"] == 4,
        "the totals flushed at shutdown: {stored}"
    );
    Ok(())
}
