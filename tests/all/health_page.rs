//! The health page as a person uses it: HTTP Basic login in a real browser, what failed
//! and when, uptime and per-bus last delivery; the JSON and metrics; `logbridge health`
//! asking a running server, and totals that outlive a restart.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use logbridge::Host;
use logbridge::serve::ServeConfig;
use logbridge_tests::{LocalServer, Served, http, logbridge_bin};
use serde_json::{Value, json};

use crate::serve::{AUTH, records};

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
