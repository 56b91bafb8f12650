//! The stock rules plugins (`eventbridge-router`, `eventbridge-filter`): EventBridge event
//! patterns from a sidecar do what the hand-written example plugins do, to the byte; an
//! invalid pattern refuses the plugin at load with AWS's reason (on hot reload: `reload`).

mod reload;

use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::{Context, Result, ensure};
use logbridge_tests::{generate_logs, logbridge_bin, plugins_dir};

/// The stock plugins and their example sidecars, as `scripts/build-plugins.sh` lays them out.
fn stock() -> PathBuf {
    plugins_dir().parent().expect("OUT/plugins").join("stock")
}

/// A fresh folder named `name` holding the example plugins, with `swaps` applied: each
/// `(example, stock plugin, sidecar)` replaces the example with the stock plugin under the
/// example's number, configured by the stock sidecar.
fn folder(name: &str, swaps: &[(&str, &str, &str)]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rules-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(plugins_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    for (example, plugin, sidecar) in swaps {
        std::fs::remove_file(dir.join(format!("{example}.wasm"))).unwrap();
        let _ = std::fs::remove_file(dir.join(format!("{example}.toml")));
        let number = &example[..2];
        std::fs::copy(
            stock().join(format!("{plugin}.wasm")),
            dir.join(format!("{number}-{plugin}.wasm")),
        )
        .unwrap();
        std::fs::copy(
            stock().join(sidecar),
            dir.join(format!("{number}-{plugin}.toml")),
        )
        .unwrap();
    }
    dir
}

/// `logbridge run` as `scripts/demo.sh` runs it, over `input`, into `dir/delivered.jsonl`.
fn run(dir: &Path, input: &Path) -> Result<Output> {
    Ok(std::process::Command::new(logbridge_bin()?)
        .arg("run")
        .arg("--plugins")
        .arg(dir)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(dir.join("delivered.jsonl"))
        .arg("--truncate-output")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--workers", "1"])
        .output()?)
}

#[test]
fn the_demo_with_rules_plugins_delivers_the_same_bytes_as_with_the_examples() -> Result<()> {
    let logs = generate_logs(3000, 42, &[])?;
    let input = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rules-demo-input.ndjson");
    std::fs::write(&input, logs)?;

    let examples = folder("examples", &[]);
    let router = folder(
        "router",
        &[(
            "30-route-by-category",
            "eventbridge-router",
            "route-by-category.toml",
        )],
    );
    let both = folder(
        "both",
        &[
            ("10-drop-noise", "eventbridge-filter", "drop-noise.toml"),
            (
                "30-route-by-category",
                "eventbridge-router",
                "route-by-category.toml",
            ),
        ],
    );
    let mut outputs = Vec::new();
    for dir in [&examples, &router, &both] {
        let out = run(dir, &input)?;
        ensure!(
            out.status.success(),
            "logbridge run with {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        // Each delivered line byte for byte; their order across buses follows batch
        // timing (two runs of the same plugins differ in it), so lines are compared sorted.
        let text = std::fs::read_to_string(dir.join("delivered.jsonl"))?;
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        outputs.push(lines);
    }
    let text = outputs[0].join("\n");
    for bus in ["\"security\"", "\"audit\""] {
        ensure!(
            text.contains(bus),
            "the example run sends some events to {bus}"
        );
    }
    ensure!(
        outputs[0] == outputs[1],
        "the rules router delivers other bytes than 30-route-by-category"
    );
    ensure!(
        outputs[0] == outputs[2],
        "the rules filter and router deliver other bytes than the examples"
    );
    Ok(())
}

#[test]
fn an_invalid_pattern_refuses_the_plugin_at_load_with_aws_reason() -> Result<()> {
    let dir = folder(
        "invalid",
        &[(
            "30-route-by-category",
            "eventbridge-router",
            "route-by-category.toml",
        )],
    );
    std::fs::write(
        dir.join("30-eventbridge-router.toml"),
        "[[rule]]\nname = \"failed-logins\"\n\
         pattern = '{\"detail\": {\"data\": {\"ip\": [{\"cidr\": \"10.0.0.0\"}]}}}'\nbus = \"security\"\n",
    )?;
    let input = dir.join("input.ndjson");
    std::fs::write(&input, generate_logs(3, 1, &[])?)?;
    let out = run(&dir, &input)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success(),
        "a plugin with an invalid pattern must not load"
    );
    let says = "rule `failed-logins`: Event pattern is not valid. Reason: Malformed CIDR, one '/' required";
    ensure!(stderr.contains(says), "the refusal says {says:?}: {stderr}");
    ensure!(
        stderr.contains("30-eventbridge-router"),
        "the refusal names the plugin: {stderr}"
    );
    Ok(())
}

#[test]
fn routes_union_the_buses_of_every_matching_rule_on_envelope_and_detail() -> Result<()> {
    let dir = folder(
        "union",
        &[(
            "30-route-by-category",
            "eventbridge-router",
            "route-by-category.toml",
        )],
    );
    std::fs::write(
        dir.join("30-eventbridge-router.toml"),
        "[[rule]]\nname = \"failed\"\npattern = '{\"detail\": {\"data\": {\"type\": [\"f\"]}}}'\nbus = \"security\"\n\
         [[rule]]\nname = \"from-auth0\"\npattern = '{\"source\": [{\"prefix\": \"logbridge.\"}], \"detail-type\": [{\"exists\": true}]}'\nbus = \"archive\"\n",
    )?;
    let input = dir.join("input.ndjson");
    std::fs::write(
        &input,
        "{\"log_id\": \"a\", \"date\": \"2026-11-25T09:00:00Z\", \"type\": \"f\"}\n\
         {\"log_id\": \"b\", \"date\": \"2026-11-25T09:00:01Z\", \"type\": \"s\"}\n",
    )?;
    let out = run(&dir, &input)?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let delivered = std::fs::read_to_string(dir.join("delivered.jsonl"))?;
    let mut seen: Vec<(String, String)> = delivered
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).context("a JSON line")?;
            Ok((
                v["id"].as_str().unwrap_or_default().to_owned(),
                v["bus"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect::<Result<_>>()?;
    seen.sort();
    assert_eq!(
        seen,
        [("a", "archive"), ("a", "security"), ("b", "archive")]
            .map(|(i, b)| (i.to_string(), b.to_string()))
    );
    Ok(())
}
