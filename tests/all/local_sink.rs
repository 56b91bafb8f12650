//! What `logbridge run` leaves behind and reports: the local sink's file keeps its
//! one-event-per-line format and is appended to across runs, and the summary's time and
//! rate cover delivery until drained.

use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{Context, Result, ensure};
use logbridge::{Host, JsonLinesSink};
use logbridge_tests::{FaultProxy, Moto, logbridge_bin};
use serde_json::{Value, json};

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn logs(ids: std::ops::Range<usize>) -> String {
    ids.map(|n| {
        json!({"log_id": format!("log-{n}"), "date": "2026-11-25T09:00:00Z", "type": "s"})
            .to_string()
            + "\n"
    })
    .collect()
}

async fn run(dir: &Path, input: &str, extra: &[&str]) -> Result<Output> {
    let input_file = dir.join("input.ndjson");
    std::fs::write(&input_file, input)?;
    Ok(tokio::process::Command::new(logbridge_bin()?)
        .arg("run")
        .arg("--input")
        .arg(&input_file)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(extra)
        .output()
        .await?)
}

/// Each line of `file`, parsed: fails on a line that is not a JSON object.
fn lines(file: &Path) -> Result<Vec<Value>> {
    std::fs::read_to_string(file)?
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .with_context(|| format!("a line that is not JSON: {line:?}"))?;
            ensure!(value.is_object(), "not an object: {line}");
            Ok(value)
        })
        .collect()
}

#[tokio::test]
async fn an_existing_output_is_appended_to_unless_truncation_is_asked_for() -> Result<()> {
    let dir = scratch("local-sink-append");
    let out = dir.join("out.jsonl");
    let out_arg = out.to_str().context("path")?;
    for (ids, extra, expected) in [
        (0..3, vec![], 3),
        (3..5, vec![], 5),
        (5..6, vec!["--truncate-output"], 1),
    ] {
        let mut args = vec!["--output", out_arg];
        args.extend(extra);
        let output = run(&dir, &logs(ids), &args).await?;
        ensure!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(lines(&out)?.len(), expected, "{args:?}");
    }
    assert_eq!(lines(&out)?[0]["id"], "log-5");
    Ok(())
}

/// A record that arrives pretty-printed (JSON over several lines, as a webhook body may
/// be) is written as one compact line.
#[tokio::test]
async fn a_pretty_printed_record_is_written_as_one_line() -> Result<()> {
    let dir = scratch("local-sink-pretty");
    let out = dir.join("out.jsonl");
    let file = std::fs::File::create(&out)?;
    let host = Host::builder()
        .sink(JsonLinesSink::new(file))
        .data_dir(dir.join("data"))
        .build()?;
    let record = json!({
        "log_id": "pretty-1",
        "data": {"log_id": "pretty-1", "date": "2026-11-25T09:00:00Z", "type": "s",
                 "description": "two  spaces\tand a tab", "details": {"n": [1, 2.50]}}
    });
    host.send_auth0(&serde_json::to_string_pretty(&record)?, "test")
        .await?;
    host.send_auth0(&record.to_string().replace("pretty-1", "compact-2"), "test")
        .await?;
    let health = host.shutdown().await?;
    assert_eq!(health.failed(), 0, "{health:?}");
    let written = lines(&out)?;
    assert_eq!(written.len(), 2, "{}", std::fs::read_to_string(&out)?);
    assert_eq!(written[0]["detail"]["data"], record["data"]);
    assert_eq!(
        written[0]["detail"]["data"]["description"],
        "two  spaces\tand a tab"
    );
    Ok(())
}

/// The summary's time runs until delivery is drained: with every PutEvents call held
/// for 2 s by the proxy, a run that reads its input at once cannot report less.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_covers_delivery_until_drained() -> Result<()> {
    let moto = Moto::start()?;
    let proxy = FaultProxy::start(&moto.url())?;
    proxy
        .script(json!([{ "kind": "delay", "seconds": 2, "times": 10 }]))
        .await?;
    let dir = scratch("summary-drained");
    let output = tokio::process::Command::new(logbridge_bin()?)
        .args(["run", "--eventbridge", "--endpoint-url", &proxy.url()])
        .arg("--input")
        .arg({
            let input = dir.join("input.ndjson");
            std::fs::write(&input, logs(0..5))?;
            input
        })
        .arg("--data-dir")
        .arg(dir.join("data"))
        .envs(moto.env())
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success(), "{stderr}");
    let seconds: f64 = stderr
        .split_once("5 events in ")
        .and_then(|(_, rest)| rest.split_once(" s"))
        .context(format!("no summary line: {stderr}"))?
        .0
        .parse()?;
    assert!(
        seconds >= 2.0,
        "the summary says {seconds} s, but delivery took at least 2 s: {stderr}"
    );
    assert_eq!(proxy.put_events_calls().await?, [5]);
    Ok(())
}
