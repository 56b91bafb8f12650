//! `logbridge test`: the example plugins pass the case files they ship with; a wrong
//! expectation fails (exit 1) naming the case and the field; a malformed case file is
//! refused (exit 2) naming the file, the case and the key; and the trace of generated logs
//! agrees, event by event, with what `logbridge run` delivers through the same plugins.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use anyhow::{Context, Result, ensure};
use logbridge_tests::{generate_logs, logbridge_bin, plugins_dir, workspace_root};
use serde_json::Value;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `logbridge test --plugins <the built example plugins>` with `args`, `stdin` piped in.
fn logbridge_test(args: &[&str], stdin: &str) -> Result<Output> {
    logbridge(
        &["test", "--plugins", &plugins_dir().display().to_string()],
        args,
        stdin,
    )
}

fn logbridge(first: &[&str], args: &[&str], stdin: &str) -> Result<Output> {
    let mut child = std::process::Command::new(logbridge_bin()?)
        .args(first)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().context("stdin is piped")?;
    let text = stdin.to_string();
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let output = child.wait_with_output()?;
    writer.join().expect("the writer thread")?;
    Ok(output)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_example_plugins_pass_the_case_files_they_ship_with() -> Result<()> {
    let cases = workspace_root().join("plugins/cases");
    let out = logbridge_test(&["--cases", &cases.display().to_string()], "")?;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    for file in [
        "10-drop-noise.toml",
        "20-redact.toml",
        "30-route-by-category.toml",
    ] {
        assert!(stdout.contains(file), "{file} was run: {stdout}");
    }
    let ok = stdout.lines().filter(|l| l.starts_with("  ok    ")).count();
    assert!(ok >= 15, "every rule has its case: {stdout}");
    assert!(
        stdout.ends_with(&format!("{ok} cases: {ok} passed, 0 failed\n")),
        "{stdout}"
    );
    Ok(())
}

#[test]
fn a_wrong_expectation_fails_with_exit_1_naming_the_case_and_what_differed() -> Result<()> {
    let dir = scratch("test-command-wrong");
    let file = dir.join("wrong.toml");
    std::fs::write(
        &file,
        r#"
[[case]]
name = "a breached password goes to the security bus"
input = '{"type": "pwd_leak"}'
expect = { buses = ["security"] }

[[case]]
name = "a failed login goes to audit, its user masked keeping a letter"
input = '{"type": "f", "user_name": "jane@example.com", "ip": "203.0.113.77"}'
[case.expect]
buses = ["audit"]
absent = ["data.ip"]
[case.expect.fields]
"data.user_name" = "j***@example.com"

[[case]]
name = "a management API read is kept"
input = '{"type": "mgmt_api_read"}'
expect = { dropped = false }
"#,
    )?;
    let out = logbridge_test(&["--cases", &file.display().to_string()], "")?;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for line in [
        "  ok    a breached password goes to the security bus\n",
        "  FAIL  a failed login goes to audit, its user masked keeping a letter\n",
        "        buses: expected [\"audit\"], got [\"security\"]\n",
        "        data.user_name: expected \"j***@example.com\", got \"***@example.com\"\n",
        "        data.ip: expected absent, got \"203.0.113.0\"\n",
        "  FAIL  a management API read is kept\n",
        "        dropped: expected kept, got dropped by 10-drop-noise\n",
        "3 cases: 1 passed, 2 failed\n",
    ] {
        assert!(stdout.contains(line), "{line:?} in:\n{stdout}");
    }
    // A failing case shows its trace: what each plugin did.
    assert!(
        stdout.contains("changed data.user_name: \"jane@example.com\" → \"***@example.com\"\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("→ security, named by 30-route-by-category\n"),
        "{stdout}"
    );

    let json = logbridge_test(&["--cases", &file.display().to_string(), "--json"], "")?;
    assert_eq!(json.status.code(), Some(1));
    let results: Vec<Value> = text(&json.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let passed: Vec<bool> = results.iter().map(|r| r["passed"] == true).collect();
    assert_eq!(passed, [true, false, false]);
    assert_eq!(results[1]["mismatches"][0]["key"], "buses");
    assert_eq!(results[1]["trace"]["destinations"][0]["bus"], "security");
    Ok(())
}

#[test]
fn a_malformed_case_file_exits_2_naming_the_file_the_case_and_the_key() -> Result<()> {
    let dir = scratch("test-command-malformed");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[[case]]\nname = \"fine\"\ninput = '{\"type\": \"s\"}'\nexpect = { buses = [\"default\"] }\n",
    )?;
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[case]]\nname = \"fine too\"\ninput = '{\"type\": \"s\"}'\nexpect = { dropped = false }\n\n\
         [[case]]\nname = \"typo\"\ninput = '{\"type\": \"f\"}'\n[case.expect]\nbusses = [\"audit\"]\n",
    )?;
    let out = logbridge_test(&["--cases", &dir.display().to_string()], "")?;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "error: {}: case 2 \"typo\": `expect.busses`: unknown key; the keys here are \
             `dropped`, `failed`, `by`, `code`, `buses`, `fields`, `absent`",
            bad.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was run"), "{stderr}");
    assert_eq!(text(&out.stdout), "", "no case ran, not even the good ones");

    std::fs::write(&bad, "[[case]\nname = 1\n")?;
    let out = logbridge_test(&["--cases", &bad.display().to_string()], "")?;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("error: {}: not valid TOML", bad.display())),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[test]
fn the_trace_of_a_log_shows_each_plugins_decision_in_text() -> Result<()> {
    let log = r#"{"log_id":"900201","date":"2026-11-02T08:00:00Z","type":"f","user_name":"jane@example.com","ip":"203.0.113.77"}
{"log_id":"900202","date":"2026-11-02T08:00:01Z","type":"seacft"}
not a log
{"log_id":"900203","date":"2026-11-02T08:00:02Z","type":"s"}
"#;
    let out = logbridge_test(&[], log)?;
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    let expected = "\
event 900201 (type f)
  filter      10-drop-noise         kept
  transformer 20-redact             changed data.ip: \"203.0.113.77\" → \"203.0.113.0\"
                                    changed data.user_name: \"jane@example.com\" → \"***@example.com\"
  router      30-route-by-category  named security
  → security, named by 30-route-by-category
event 900202 (type seacft)
  filter      10-drop-noise  dropped
  → dropped by 10-drop-noise
line 3: not an Auth0 log, not run: not valid JSON: expected ident at line 1 column 2
event 900203 (type s)
  filter      10-drop-noise         kept
  transformer 20-redact             unchanged
  router      30-route-by-category  named no bus
  → default (the default bus: no router named a bus)
";
    assert_eq!(stdout, expected);
    Ok(())
}

/// Every event's trace in JSON, by id.
fn traces(logs: &str, extra: &[&str]) -> Result<BTreeMap<String, Value>> {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let out = logbridge_test(&args, logs)?;
    ensure!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|line| {
            let trace: Value = serde_json::from_str(line)?;
            let id = trace["event"].as_str().context("an event id")?.to_string();
            Ok((id, trace))
        })
        .collect()
}

#[test]
fn the_trace_agrees_with_what_logbridge_run_delivers() -> Result<()> {
    let logs = generate_logs(300, 11, &["--edge-cases"])?;
    let traces = traces(&logs, &[])?;
    assert_eq!(traces.len(), logs.lines().count(), "one trace per log");

    let dir = scratch("test-command-run");
    let run = logbridge(
        &["run", "--plugins", &plugins_dir().display().to_string()],
        &["--data-dir", &dir.join("data").display().to_string()],
        &logs,
    )?;
    assert!(run.status.success(), "{}", text(&run.stderr));
    let mut delivered: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in text(&run.stdout).lines() {
        let entry: Value = serde_json::from_str(line)?;
        let id = entry["id"].as_str().context("an id")?.to_string();
        delivered.entry(id).or_default().push(entry);
    }

    let (mut dropped, mut routed, mut by_router, mut changed) = (0, 0, 0, 0);
    for (id, trace) in &traces {
        match trace["outcome"].as_str() {
            Some("dropped") => {
                dropped += 1;
                assert_eq!(trace["by"], "10-drop-noise", "{trace}");
                assert!(
                    !delivered.contains_key(id),
                    "{id} was dropped, not delivered"
                );
            }
            Some("routed") => {
                routed += 1;
                let entries = delivered
                    .get(id)
                    .with_context(|| format!("{id} routed but not delivered"))?;
                let destinations = trace["destinations"].as_array().context("destinations")?;
                assert_eq!(destinations.len(), entries.len(), "{id}");
                for (destination, entry) in destinations.iter().zip(entries) {
                    assert_eq!(destination["bus"], entry["bus"], "{id}");
                    assert_eq!(trace["detail"], entry["detail"], "{id}: the same detail");
                    let named_by = destination["named_by"].as_array().context("named_by")?;
                    if named_by.is_empty() {
                        assert_eq!(destination["bus"], "default", "{id}");
                        assert_eq!(destination["default"], true, "{id}");
                    } else {
                        by_router += 1;
                        assert_eq!(named_by[0], "30-route-by-category", "{id}");
                    }
                }
                let steps = trace["steps"].as_array().context("steps")?;
                let redact = steps
                    .iter()
                    .find(|s| s["plugin"] == "20-redact")
                    .context("20-redact ran")?;
                assert_eq!(redact["action"], "transformed", "{trace}");
                for change in redact["changes"].as_array().context("changes")? {
                    changed += 1;
                    let field = change["field"].as_str().context("a field")?;
                    assert!(
                        field == "data.user_name" || field == "data.ip",
                        "20-redact changes only what it masks: {change}"
                    );
                }
            }
            other => panic!("{id}: unexpected outcome {other:?}: {trace}"),
        }
    }
    assert_eq!(
        routed,
        delivered.len(),
        "every delivered event was traced as routed"
    );
    assert!(
        dropped > 0 && by_router > 0 && changed > 0,
        "{dropped} {by_router} {changed}"
    );
    Ok(())
}

#[test]
fn the_trace_honours_the_settings_run_takes_from_flags_and_the_config_file() -> Result<()> {
    let dir = scratch("test-command-settings");
    let config = dir.join("logbridge.toml");
    std::fs::write(
        &config,
        format!(
            "plugins = {:?}\ndefault_bus = \"general\"\nbuses = [\"security\"]\n",
            plugins_dir().display().to_string()
        ),
    )?;
    let logs = "{\"log_id\":\"1\",\"date\":\"2026-11-02T08:00:00Z\",\"type\":\"s\"}\n\
                {\"log_id\":\"2\",\"date\":\"2026-11-02T08:00:00Z\",\"type\":\"sapi\"}\n";
    let out = logbridge(
        &["test", "--config", &config.display().to_string(), "--json"],
        &["--detail-type", "Tenant log"],
        logs,
    )?;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<Value> = text(&out.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines[0]["destinations"][0]["bus"], "general");
    assert_eq!(lines[0]["destinations"][0]["detail-type"], "Tenant log");
    // `audit` is not one of the declared buses: the router fails the event.
    assert_eq!(lines[1]["outcome"], "failed");
    assert_eq!(lines[1]["failure"]["plugin"], "30-route-by-category");
    assert_eq!(lines[1]["failure"]["code"], "unknown-bus");
    let steps = lines[1]["steps"].as_array().context("steps")?;
    let last = steps.last().context("a step")?;
    assert_eq!(last["action"], "failed");
    assert_eq!(last["skipped"], false);
    assert!(
        last["reason"]
            .as_str()
            .is_some_and(|r| r.contains("`audit`")),
        "{last}"
    );
    Ok(())
}
