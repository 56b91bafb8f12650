//! The failure log and replay through the `logbridge` binary: deliveries that fail for
//! good land in the failure log, `logbridge failures` lists them, and `logbridge replay`
//! delivers them once the fault clears — exactly once, however often it is run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Result, ensure};
use logbridge_tests::{FaultProxy, Moto, generate_logs, logbridge_bin};
use serde_json::{Value, json};

const SOURCE: &str = "logbridge.auth0";

struct Cli {
    moto: Moto,
    proxy: FaultProxy,
    data_dir: PathBuf,
}

impl Cli {
    async fn logbridge(&self, args: &[&str]) -> Result<(bool, String, String)> {
        let output = tokio::process::Command::new(logbridge_bin()?)
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .envs(self.moto.env())
            .output()
            .await?;
        Ok((
            output.status.success(),
            String::from_utf8(output.stdout)?,
            String::from_utf8(output.stderr)?,
        ))
    }

    async fn failures(&self, extra: &[&str]) -> Result<Vec<Value>> {
        let mut args = vec!["failures", "--json"];
        args.extend(extra);
        let (ok, stdout, stderr) = self.logbridge(&args).await?;
        ensure!(ok, "logbridge failures failed:\n{stderr}");
        Ok(stdout
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_delivers_failed_events_once_the_fault_clears() -> Result<()> {
    let moto = Moto::start()?;
    let queue = moto
        .route_to_queue("default", "replayed", &json!({ "source": [SOURCE] }))
        .await?;
    let proxy = FaultProxy::start(&moto.url())?;
    let data_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay-data");
    let _ = std::fs::remove_dir_all(&data_dir);
    let cli = Cli {
        moto,
        proxy,
        data_dir,
    };

    // No plugins: every generated log goes to the default bus.
    let input = Path::new(env!("CARGO_TARGET_TMPDIR")).join("replay.ndjson");
    std::fs::write(&input, generate_logs(25, 3, &[])?)?;
    let input = input.to_str().expect("a UTF-8 path");
    let proxy_url = cli.proxy.url();
    let run_args = [
        "run",
        "--input",
        input,
        "--eventbridge",
        "--endpoint-url",
        &proxy_url,
        "--retry-base-ms",
        "5",
        "--retry-cap-ms",
        "20",
    ];

    cli.proxy
        .script(json!([{ "kind": "status", "status": 503, "times": 1000 }]))
        .await?;
    let (ok, _, stderr) = cli.logbridge(&run_args).await?;
    ensure!(
        !ok,
        "a run whose deliveries all fail exits non-zero:\n{stderr}"
    );
    ensure!(stderr.contains("25 of 25 events failed"), "{stderr}");
    let calls = cli.proxy.put_events_calls().await?;
    assert_eq!(
        calls.iter().sum::<usize>(),
        25 * 4,
        "each entry tried 4 times: {calls:?}"
    );

    let failed = cli
        .failures(&["--stage", "delivery", "--bus", "default"])
        .await?;
    assert_eq!(failed.len(), 25);
    for row in &failed {
        assert_eq!(row["code"], "ServiceUnavailableException");
        assert_eq!(row["attempts"], 4);
        assert_eq!(row["entry"]["source"], SOURCE);
        assert!(row["replayed_at"].is_null());
    }

    let (ok, health, _) = cli.logbridge(&["health", "--failing-after", "0s"]).await?;
    ensure!(
        ok && health.contains("default                  failing"),
        "{health}"
    );
    let (ok, health, _) = cli.logbridge(&["health"]).await?;
    ensure!(
        ok && health.contains("default                  degraded"),
        "not failing for 10 minutes yet:\n{health}"
    );

    // The fault clears: replay delivers everything, once.
    cli.proxy.script(json!([])).await?;
    let replay_args = ["replay", "--eventbridge", "--endpoint-url", &proxy_url];
    let (ok, _, stderr) = cli.logbridge(&replay_args).await?;
    ensure!(ok, "replay failed:\n{stderr}");
    ensure!(
        stderr.contains("25 sent, 25 delivered, 0 failed again"),
        "{stderr}"
    );
    let (ok, _, stderr) = cli.logbridge(&replay_args).await?;
    ensure!(
        ok && stderr.contains("0 failed deliveries, 0 sent"),
        "a second replay sends nothing:\n{stderr}"
    );

    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for message in cli.moto.drain_queue(&queue).await? {
        *seen
            .entry(message["detail"]["log_id"].to_string())
            .or_default() += 1;
    }
    assert_eq!(seen.len(), 25);
    assert!(
        seen.values().all(|&n| n == 1),
        "each event delivered exactly once: {seen:?}"
    );

    assert!(
        cli.failures(&[]).await?.is_empty(),
        "nothing is left to replay"
    );
    let (ok, health, _) = cli.logbridge(&["health", "--failing-after", "0s"]).await?;
    ensure!(
        ok && health.contains("default                  ok"),
        "{health}"
    );
    let all = cli.failures(&["--all"]).await?;
    assert_eq!(all.len(), 25);
    assert!(all.iter().all(|row| row["replayed_at"].is_string()));
    Ok(())
}
