//! End to end against a real EventBridge API: the `logbridge` binary runs generated Auth0
//! logs through the three example plugins into moto, whose rules route every bus to an
//! SQS queue; the queues are read back and compared with an independent prediction.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;

use anyhow::{Context, Result, ensure};
use logbridge_tests::{Moto, generate_logs, logbridge_bin, plugins_dir};
use serde_json::Value;

use crate::auth0::{assert_redacted, expected_bus, log_of};

const SOURCE: &str = "logbridge.auth0";
const BUSES: [&str; 3] = ["default", "security", "audit"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_auth0_logs_reach_the_predicted_eventbridge_buses() -> Result<()> {
    let moto = Moto::start()?;
    let input = generate_logs(1000, 11, &[])?;
    let input_file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("eventbridge-e2e.ndjson");
    std::fs::write(&input_file, &input)?;
    let mut originals: BTreeMap<String, Value> = BTreeMap::new();
    let mut expected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for line in input.lines() {
        let log = log_of(&serde_json::from_str(line)?).clone();
        let id = log["log_id"]
            .as_str()
            .context("generated log without log_id")?
            .to_string();
        if let Some(bus) = expected_bus(&log) {
            expected.entry(bus).or_default().insert(id.clone());
        }
        originals.insert(id, log);
    }
    ensure!(
        expected.len() == 3,
        "the input exercises every bus: {expected:?}"
    );

    // Every bus gets a rule and queue for every log type of the input, so an event that
    // reaches the wrong bus is read back too, and caught.
    let types: BTreeSet<&str> = originals
        .values()
        .filter_map(|l| l["type"].as_str())
        .collect();
    let types: Vec<&str> = types.into_iter().collect();
    let mut queues = BTreeMap::new();
    for bus in BUSES {
        queues.insert(bus, moto.route_types_to_queues(bus, SOURCE, &types).await?);
    }

    let output = tokio::process::Command::new(logbridge_bin()?)
        .args([
            "run",
            "--eventbridge",
            "--endpoint-url",
            &moto.url(),
            "--plugins",
        ])
        .arg(plugins_dir())
        .arg("--input")
        .arg(&input_file)
        .arg("--data-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("eventbridge-e2e-data"))
        .envs(moto.env())
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success(), "logbridge run failed:\n{stderr}");
    let filtered = originals.len() - expected.values().map(BTreeSet::len).sum::<usize>();
    ensure!(
        stderr.contains(&format!("filtered  {filtered:>7}")),
        "the summary reports {filtered} filtered:\n{stderr}"
    );

    for bus in BUSES {
        let mut messages = Vec::new();
        for queue in &queues[bus] {
            messages.extend(moto.drain_queue(queue).await?);
        }
        let mut ids = BTreeSet::new();
        for message in &messages {
            assert_eq!(message["source"], SOURCE);
            assert_eq!(message["detail-type"], "Auth0 log");
            let detail = &message["detail"];
            let id = detail["log_id"]
                .as_str()
                .context("detail.log_id")?
                .to_string();
            assert_eq!(
                detail["data"]["log_id"],
                id.as_str(),
                "detail repeats the log_id"
            );
            let original = &originals[&id];
            let date = original["date"].as_str().context("date")?;
            let time = message["time"].as_str().context("time")?;
            assert_eq!(
                time.get(..19),
                date.get(..19),
                "time comes from the log's date"
            );
            assert_redacted(original, &detail["data"]);
            assert!(ids.insert(id.clone()), "{id} delivered twice to {bus}");
        }
        assert_eq!(ids, expected[bus], "what bus `{bus}` received");
    }
    Ok(())
}

/// `logbridge run` with the example plugins, from `input` to the local sink `output`.
async fn run_to_file(input: &Path, output: &Path, data_dir: &Path) -> Result<Output> {
    Ok(tokio::process::Command::new(logbridge_bin()?)
        .args(["run", "--plugins"])
        .arg(plugins_dir())
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_sink_writes_what_would_be_sent() -> Result<()> {
    let input = generate_logs(300, 7, &[])?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let input_file = dir.join("local-sink.ndjson");
    let output_file = dir.join("local-sink.out.jsonl");
    let _ = std::fs::remove_file(&output_file);
    std::fs::write(&input_file, &input)?;
    let output = run_to_file(&input_file, &output_file, &dir.join("local-sink-data")).await?;
    ensure!(
        output.status.success(),
        "logbridge run failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut predicted = 0;
    for line in input.lines() {
        if expected_bus(log_of(&serde_json::from_str(line)?)).is_some() {
            predicted += 1;
        }
    }
    let written = std::fs::read_to_string(&output_file)?;
    let mut count = 0;
    for line in written.lines() {
        let entry: Value = serde_json::from_str(line)?;
        let log = &entry["detail"]["data"];
        assert_eq!(
            entry["bus"],
            expected_bus(log).context("a filtered log was written")?
        );
        count += 1;
    }
    assert_eq!(count, predicted);
    Ok(())
}

#[tokio::test]
async fn bad_input_lines_are_counted_and_fail_the_run() -> Result<()> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let input_file = dir.join("bad-lines.ndjson");
    let data_dir = dir.join("bad-lines-data");
    let _ = std::fs::remove_dir_all(&data_dir);
    let good = generate_logs(3, 2, &[])?;
    std::fs::write(
        &input_file,
        format!("{good}not json\n[1,2]\n{{\"type\":\"s\"}}\n"),
    )?;
    let output = run_to_file(&input_file, &dir.join("bad-lines.out.jsonl"), &data_dir).await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        !output.status.success(),
        "a run with bad lines exits non-zero:\n{stderr}"
    );
    ensure!(stderr.contains("3 of 6 events failed"), "{stderr}");
    ensure!(
        stderr.contains("bad-lines.ndjson:4"),
        "the bad line is named:\n{stderr}"
    );

    // The failure log keeps each bad line, its number and the reason.
    let listed = tokio::process::Command::new(logbridge_bin()?)
        .args(["failures", "--stage", "ingest", "--json", "--data-dir"])
        .arg(&data_dir)
        .output()
        .await?;
    ensure!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let rows: Vec<Value> = String::from_utf8(listed.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let inputs: Vec<&str> = rows.iter().filter_map(|r| r["input"].as_str()).collect();
    assert_eq!(inputs, ["not json", "[1,2]", "{\"type\":\"s\"}"]);
    assert!(
        rows[0]["origin"]
            .as_str()
            .unwrap_or_default()
            .ends_with("bad-lines.ndjson:4")
    );
    assert!(
        rows[2]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("log_id")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_drains_what_was_accepted_and_exits() -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let output_file = dir.join("ctrl-c.out.jsonl");
    let _ = std::fs::remove_file(&output_file);
    let mut child = tokio::process::Command::new(logbridge_bin()?)
        .args(["run", "--input", "-", "--output"])
        .arg(&output_file)
        .arg("--data-dir")
        .arg(dir.join("ctrl-c-data"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    // Forty logs, and stdin left open, as when tailing a live stream.
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin
        .write_all(generate_logs(40, 4, &[])?.as_bytes())
        .await?;
    stdin.flush().await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string(&output_file).map_or(0, |s| s.lines().count()) < 40 {
        ensure!(
            std::time::Instant::now() < deadline,
            "the events were not delivered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let pid = child.id().context("pid")?.to_string();
    let status = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await?;
    ensure!(status.success(), "kill -INT failed");
    let exit = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
        .await
        .context("logbridge did not exit after Ctrl-C")??;
    let stderr = String::from_utf8_lossy(&exit.stderr);
    ensure!(exit.status.success(), "exit after Ctrl-C:\n{stderr}");
    ensure!(stderr.contains("interrupted"), "{stderr}");
    ensure!(stderr.contains("logbridge: 40 events"), "{stderr}");
    drop(stdin);
    Ok(())
}
