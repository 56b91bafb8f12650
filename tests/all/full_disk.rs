//! A full disk never turns into loss: with the data folder on a small file system filled
//! to the last byte, `serve` stops acknowledging (503 with `Retry-After`, health says
//! why) and `run` stops reading, instead of taking what they cannot keep; both go on
//! once space returns, and every record acknowledged or read is delivered or in the
//! failure log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use logbridge::health::{FailureFilter, FailureLog};
use logbridge_tests::{Served, http, logbridge_bin};
use serde_json::{Value, json};

/// A small tmpfs mounted for one test, unmounted on drop.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    fn mount(name: &str, mib: u32) -> Result<SmallDisk> {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("small-disk-{name}"));
        let _ = std::process::Command::new("umount").arg(&path).status();
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .status()
            .context("cannot run mount")?;
        if !status.success() {
            bail!(
                "cannot mount a {mib} MiB tmpfs at {}: this test needs root (as CI runs)",
                path.display()
            );
        }
        Ok(SmallDisk { path })
    }

    /// Fills what is left of it with one file, to the last byte.
    fn fill(&self) -> Result<()> {
        let mut filler = std::fs::File::create(self.path.join("filler"))?;
        let block = vec![0u8; 64 << 10];
        loop {
            if let Err(e) = filler.write_all(&block) {
                ensure!(e.raw_os_error() == Some(libc::ENOSPC), "filling: {e}");
                break;
            }
        }
        // Smaller writes for the last bytes of the last block.
        while filler.write_all(&[0u8; 512]).is_ok() {}
        while filler.write_all(&[0u8]).is_ok() {}
        Ok(())
    }

    /// Space returns.
    fn free(&self) -> Result<()> {
        Ok(std::fs::remove_file(self.path.join("filler"))?)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

fn record(n: usize) -> Value {
    let log_id = format!("90020260{n:08}");
    json!({"log_id": log_id, "data": {"log_id": log_id, "date": "2026-12-01T06:00:00Z",
           "type": "s", "description": "x".repeat(2000)}})
}

/// The ids of the events in a JSON-lines output file.
fn delivered(output: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    text.lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line)?;
            Ok(entry["id"]
                .as_str()
                .context("an output line without an id")?
                .to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_503_while_the_disk_is_full_and_loses_nothing_it_acknowledged() -> Result<()>
{
    let disk = SmallDisk::mount("serve", 8)?;
    let data = disk.path.join("data");
    let output = Path::new(env!("CARGO_TARGET_TMPDIR")).join("full-disk-serve.ndjson");
    let _ = std::fs::remove_file(&output);
    let served = Served::start(
        &[
            "--data-dir",
            data.to_str().context("path")?,
            "--output",
            output.to_str().context("path")?,
            "--durability",
            "disk",
        ],
        Vec::new(),
    )
    .await?;
    let post = |from: usize| {
        let body = serde_json::to_string(&(from..from + 10).map(record).collect::<Vec<_>>());
        async move {
            let answer = http(served.addr, "POST", "/", &[], body?.as_bytes()).await?;
            anyhow::Ok(answer)
        }
    };
    let mut acknowledged = Vec::new();
    let mut n = 0;
    let answer = post(n).await?;
    ensure!(answer.status == 200, "{answer:?}");
    acknowledged.extend(n..n + 10);
    n += 10;

    disk.fill()?;
    // The log may still have room in pages it holds; it runs out within a few MiB.
    let mut refused = None;
    for _ in 0..400 {
        let answer = post(n).await?;
        match answer.status {
            200 => acknowledged.extend(n..n + 10),
            503 => {
                refused = Some(answer);
                break;
            }
            other => bail!("unexpected status {other}: {}", answer.body),
        }
        n += 10;
    }
    let refused = refused.context("a full disk was never refused with 503")?;
    ensure!(refused.header("retry-after").is_some(), "{refused:?}");
    ensure!(refused.body.contains("disk is full"), "{}", refused.body);
    let health = http(served.addr, "GET", "/health", &[], b"")
        .await?
        .json()?;
    let why = health["report"]["journal"]["error"].as_str().unwrap_or("");
    ensure!(
        why.contains("disk is full"),
        "health does not say why: {health}"
    );
    ensure!(health["status"] == "failing", "{health}");
    // Refused again while full: nothing of those records is taken.
    ensure!(post(n).await?.status == 503);

    disk.free()?;
    let again = post(n).await?;
    ensure!(
        again.status == 200,
        "not taken once space returned: {again:?}"
    );
    acknowledged.extend(n..n + 10);
    let health = http(served.addr, "GET", "/health", &[], b"")
        .await?
        .json()?;
    ensure!(health["report"]["journal"]["error"].is_null(), "{health}");
    ensure!(
        served.stop().await?,
        "logbridge serve exits 0 after draining"
    );

    let got: std::collections::BTreeSet<String> = delivered(&output)?.into_iter().collect();
    let missing: Vec<String> = acknowledged
        .iter()
        .map(|&n| record(n)["log_id"].as_str().unwrap().to_string())
        .filter(|id| !got.contains(id))
        .collect();
    ensure!(
        missing.is_empty(),
        "{} of {} acknowledged records were not delivered: {:?}",
        missing.len(),
        acknowledged.len(),
        &missing[..missing.len().min(10)]
    );
    eprintln!(
        "full disk, serve: {} records acknowledged before and after the disk filled, all \
         delivered; refused with 503 while full",
        acknowledged.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_reading_while_the_disk_is_full_and_keeps_every_bad_record() -> Result<()> {
    let disk = SmallDisk::mount("run", 8)?;
    let data = disk.path.join("data");
    let output = Path::new(env!("CARGO_TARGET_TMPDIR")).join("full-disk-run.ndjson");
    let _ = std::fs::remove_file(&output);
    let mut child = tokio::process::Command::new(logbridge_bin()?)
        .args(["run", "--input", "-", "--durability", "disk", "--data-dir"])
        .arg(&data)
        .arg("--output")
        .arg(&output)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let stderr = child.stderr.take().context("stderr")?;
    let said = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let heard = std::sync::Arc::clone(&said);
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            heard.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    use tokio::io::AsyncWriteExt;
    let good = |range: std::ops::Range<usize>| -> String {
        range
            .map(|n| record(n)["data"].to_string() + "\n")
            .collect()
    };
    stdin.write_all(good(0..100).as_bytes()).await?;
    stdin.flush().await?;
    let wait_for = |what: &'static str, done: &dyn Fn() -> bool| -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            ensure!(Instant::now() < deadline, "waited 60 s for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    };
    wait_for("the first 100 logs to be delivered", &|| {
        delivered(&output).map_or(0, |d| d.len()) == 100
    })?;

    disk.fill()?;
    // 1,500 records that can never become events, then good ones again.
    let bad: String = (0..1500)
        .map(|n| format!("not json, line {n}: {}\n", "y".repeat(300)))
        .collect();
    stdin.write_all(bad.as_bytes()).await?;
    stdin.write_all(good(100..200).as_bytes()).await?;
    stdin.flush().await?;
    wait_for("run to say it stopped reading", &|| {
        said.lock().unwrap().contains("input paused")
    })?;
    disk.free()?;
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .context("run did not finish within 120 s of space returning")??;
    let said = said.lock().unwrap().clone();
    ensure!(
        !said.contains("is lost"),
        "run says it lost something:\n{said}"
    );
    ensure!(
        status.code() == Some(1),
        "run exits 1 when records failed: {status}\n{said}"
    );
    ensure!(said.contains("input resumed"), "{said}");
    let ids = delivered(&output)?;
    ensure!(
        ids.len() == 200,
        "{} of 200 good logs delivered\n{said}",
        ids.len()
    );
    let log = FailureLog::open(&data)?;
    let failures = log.list(&FailureFilter::default())?;
    ensure!(
        failures.len() == 1500 && failures.iter().all(|f| f.stage == logbridge::Stage::Ingest),
        "{} failures in the failure log, 1500 expected\n{said}",
        failures.len()
    );
    eprintln!(
        "full disk, run: stopped reading while full; 200 logs delivered, 1500 bad records kept"
    );
    Ok(())
}
