//! `logbridge pattern test`: EventBridge's `TestEventPattern` answers from the command
//! line — `true`/`false` with exit 0, AWS's reason with exit 2, in text or JSON.

use std::process::Output;

use anyhow::Result;
use logbridge_tests::logbridge_bin;
use serde_json::Value;

fn pattern_test(args: &[&str]) -> Result<Output> {
    Ok(std::process::Command::new(logbridge_bin()?)
        .args(["pattern", "test"])
        .args(args)
        .output()?)
}

const EVENT: &str = r#"{"id": "1", "source": "auth0", "detail-type": "Auth0 log",
    "time": "2026-11-02T08:00:00Z", "resources": [],
    "detail": {"log_id": "1", "data": {"type": "fp", "ip": "10.1.2.3"}}}"#;

#[test]
fn a_matching_pattern_prints_true_and_a_missing_one_false() -> Result<()> {
    for (pattern, answer) in [
        (r#"{"detail": {"data": {"type": ["f", "fp"]}}}"#, "true\n"),
        (
            r#"{"detail": {"data": {"ip": [{"cidr": "10.0.0.0/8"}]}}}"#,
            "true\n",
        ),
        (
            r#"{"detail": {"data": {"type": [{"prefix": "se"}]}}}"#,
            "false\n",
        ),
    ] {
        let out = pattern_test(&["--pattern", pattern, "--event", EVENT])?;
        assert_eq!(out.status.code(), Some(0), "{pattern}: {out:?}");
        assert_eq!(String::from_utf8(out.stdout)?, answer, "{pattern}");
    }
    Ok(())
}

#[test]
fn an_invalid_pattern_gives_aws_reason_and_exit_2() -> Result<()> {
    let out = pattern_test(&["--pattern", r#"{"source": []}"#, "--event", EVENT])?;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stdout)?,
        "Event pattern is not valid. Reason: Empty arrays are not allowed\n"
    );

    let out = pattern_test(&[
        "--pattern",
        r#"{"source": "auth0"}"#,
        "--event",
        EVENT,
        "--json",
    ])?;
    assert_eq!(out.status.code(), Some(2));
    let answer: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(answer["Error"], "InvalidEventPatternException");
    assert_eq!(
        answer["Message"],
        "Event pattern is not valid. Reason: \"source\" must be an object or an array"
    );
    Ok(())
}

#[test]
fn pattern_and_event_can_come_from_files_and_answer_in_json() -> Result<()> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("pattern-cli-files");
    std::fs::create_dir_all(&dir)?;
    let (pattern, event) = (dir.join("pattern.json"), dir.join("event.json"));
    std::fs::write(
        &pattern,
        r#"{"source": ["auth0"], "detail": {"data": {"type": [{"anything-but": "s"}]}}}"#,
    )?;
    std::fs::write(&event, EVENT)?;
    let out = pattern_test(&[
        "--pattern",
        &format!("@{}", pattern.display()),
        "--event",
        &format!("@{}", event.display()),
        "--json",
    ])?;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let answer: Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(answer, serde_json::json!({"Result": true}));

    let out = pattern_test(&["--pattern", "@/nonexistent/pattern.json", "--event", EVENT])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)?.contains("cannot read the pattern"));
    Ok(())
}
