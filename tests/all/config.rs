//! Configuration files: each bad file in `tests/ui/` is refused with exactly the message
//! in its `.err` twin (golden files; run with `LOGBRIDGE_BLESS=1` to rewrite them after a
//! deliberate change), the sample in `examples/` passes, and flags override the file.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use logbridge_tests::{generate_logs, logbridge_bin, workspace_root};

fn check(file: &Path) -> Result<(bool, String, String)> {
    let output = std::process::Command::new(logbridge_bin()?)
        .args(["config", "check"])
        .arg(file)
        .output()?;
    Ok((
        output.status.success(),
        String::from_utf8(output.stdout)?,
        String::from_utf8(output.stderr)?,
    ))
}

#[test]
fn bad_config_files_are_refused_naming_the_key() -> Result<()> {
    let ui = workspace_root().join("tests/ui");
    let bless = std::env::var_os("LOGBRIDGE_BLESS").is_some();
    let mut checked = 0;
    for entry in std::fs::read_dir(&ui)? {
        let file = entry?.path();
        if file.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let (ok, _, stderr) = check(&file)?;
        ensure!(!ok, "{} was accepted", file.display());
        let message = stderr.replace(&format!("{}/", ui.display()), "tests/ui/");
        let golden = file.with_extension("err");
        if bless {
            std::fs::write(&golden, &message)?;
        }
        let expected = std::fs::read_to_string(&golden)
            .with_context(|| format!("no golden file {}", golden.display()))?;
        ensure!(
            message == expected,
            "{}:\n got: {message}\nwant: {expected}",
            file.display()
        );
        checked += 1;
    }
    ensure!(checked >= 9, "only {checked} bad files checked");
    Ok(())
}

#[test]
fn the_sample_config_is_valid() -> Result<()> {
    let sample = workspace_root().join("examples/logbridge.toml");
    let (ok, stdout, stderr) = check(&sample)?;
    ensure!(ok && stdout.ends_with(": ok\n"), "{stdout}{stderr}");
    Ok(())
}

#[test]
fn flags_override_the_config_file() -> Result<()> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("config-override");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("logbridge.toml"),
        "source = \"from.file\"\ndetail_type = \"From file\"\ndata_dir = \"data\"\n\
         [sink]\noutput = \"out.jsonl\"\n",
    )?;
    std::fs::write(dir.join("in.ndjson"), generate_logs(5, 1, &[])?)?;
    let output = std::process::Command::new(logbridge_bin()?)
        .args(["run", "--source", "from.flag", "--config"])
        .arg(dir.join("logbridge.toml"))
        .arg("--input")
        .arg(dir.join("in.ndjson"))
        .env_remove("LOGBRIDGE_DATA_DIR")
        .output()?;
    ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = std::fs::read_to_string(dir.join("out.jsonl")).context("the file's output")?;
    ensure!(out.lines().count() == 5, "{out}");
    for line in out.lines() {
        let event: serde_json::Value = serde_json::from_str(line)?;
        ensure!(event["source"] == "from.flag", "the flag wins: {event}");
        ensure!(
            event["detail-type"] == "From file",
            "the file wins over the default"
        );
    }
    ensure!(
        dir.join("data/failures.sqlite3").exists(),
        "data_dir from the file"
    );
    Ok(())
}

#[test]
fn environment_variables_sit_between_the_flags_and_the_file() -> Result<()> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("config-env");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("logbridge.toml"),
        "source = \"from.file\"\ndetail_type = \"From file\"\ndata_dir = \"data\"\n\
         [sink]\noutput = \"out.jsonl\"\n",
    )?;
    std::fs::write(dir.join("in.ndjson"), generate_logs(3, 2, &[])?)?;
    // The same names as the flags and the file keys: LOGBRIDGE_SOURCE is `--source` and
    // `source`.
    let output = std::process::Command::new(logbridge_bin()?)
        .args(["run", "--detail-type", "From flag", "--config"])
        .arg(dir.join("logbridge.toml"))
        .arg("--input")
        .arg(dir.join("in.ndjson"))
        .env_remove("LOGBRIDGE_DATA_DIR")
        .env("LOGBRIDGE_SOURCE", "from.env")
        .env("LOGBRIDGE_DETAIL_TYPE", "From env")
        .output()?;
    ensure!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = std::fs::read_to_string(dir.join("out.jsonl")).context("the file's output")?;
    ensure!(out.lines().count() == 3, "{out}");
    for line in out.lines() {
        let event: serde_json::Value = serde_json::from_str(line)?;
        ensure!(
            event["source"] == "from.env",
            "the variable wins over the file: {event}"
        );
        ensure!(
            event["detail-type"] == "From flag",
            "the flag wins over the variable: {event}"
        );
    }
    Ok(())
}
