//! Compiling a plugin is logged: a line when it starts and one when it ends, with the
//! component's size and the time taken; a plugin served from the compiled-plugin cache is
//! not compiled, and says nothing of the kind.

use std::path::Path;

use logbridge_tests::{copy_of_plugins, logbridge_bin};

#[test]
fn compiling_a_plugin_logs_its_start_and_end_with_size_and_time() {
    let dir = copy_of_plugins(Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-log"));
    let input = dir.join("input.ndjson");
    std::fs::write(
        &input,
        r#"{"log_id":"1","date":"2026-11-25T09:00:00Z","type":"s"}"#.to_string() + "\n",
    )
    .unwrap();
    let run = || {
        let out = std::process::Command::new(logbridge_bin().unwrap())
            .arg("run")
            .arg("--plugins")
            .arg(&dir)
            .arg("--input")
            .arg(&input)
            .arg("--output")
            .arg(dir.join("out.jsonl"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("RUST_LOG", "warn,logbridge=info")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = without_colours(&String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{stderr}");
        stderr
    };

    let first = run();
    for name in ["10-drop-noise", "20-redact", "30-route-by-category"] {
        let bytes = std::fs::metadata(dir.join(format!("{name}.wasm")))
            .unwrap()
            .len();
        let line = |message: &str| {
            first
                .lines()
                .find(|l| l.contains(message) && l.contains(&format!("plugin=\"{name}\"")))
                .map(str::to_owned)
        };
        let start = line("compiling plugin").unwrap_or_else(|| panic!("{name}: {first}"));
        assert!(start.contains(&format!("bytes={bytes}")), "{start}");
        let end = line("plugin compiled").unwrap_or_else(|| panic!("{name}: {first}"));
        assert!(end.contains(&format!("bytes={bytes}")), "{end}");
        assert!(end.contains("ms="), "{end}");
    }

    let second = run();
    assert!(
        !second.contains("compiling plugin"),
        "served from the cache, nothing is compiled: {second}"
    );
}

/// `text` without ANSI colour sequences (`ESC [ ... m`).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
