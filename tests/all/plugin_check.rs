//! `logbridge plugin check` and `logbridge::plugin::inspect`: the example plugins pass
//! with their role, imports and fields; a component the host would refuse exits 1 with
//! the loader's own message — one whose `init` refuses, panics or loops, bytes that are
//! not a component, a component of no role, one importing HTTP, a bad sidecar — and a
//! file that cannot be read is a usage error (exit 2).

use std::path::{Path, PathBuf};
use std::process::Output;

use anyhow::Result;
use logbridge::plugin::{ImportStatus, InspectOptions, inspect, sha256_hex};
use logbridge::{CompiledPlugin, PluginEngine, PluginLimits};
use logbridge_tests::{fixture, logbridge_bin, plugins_dir};
use serde_json::Value;

fn check(file: &Path, extra: &[&str]) -> Result<Output> {
    Ok(std::process::Command::new(logbridge_bin()?)
        .args(["plugin", "check"])
        .arg(file)
        .args(extra)
        .output()?)
}

fn check_json(file: &Path, extra: &[&str]) -> Result<(Option<i32>, Value)> {
    let out = check(file, &[&["--json"][..], extra].concat())?;
    let report = serde_json::from_slice(&out.stdout).map_err(|e| {
        anyhow::anyhow!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok((out.status.code(), report))
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("plugin-check-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the loader says of `file` (with the sidecar next to it).
fn loader_error(file: &Path) -> String {
    let engine = PluginEngine::new(PluginLimits {
        max_instances: 8,
        ..PluginLimits::default()
    })
    .unwrap();
    CompiledPlugin::load(&engine, file)
        .expect_err("the loader refuses it")
        .to_string()
}

#[test]
fn the_example_plugins_pass_with_their_role_imports_and_declared_fields() -> Result<()> {
    for (name, role, fields) in [
        ("10-drop-noise", "filter", vec!["data.type"]),
        (
            "20-redact",
            "transformer",
            vec!["data.user_name", "data.ip"],
        ),
        ("30-route-by-category", "router", vec!["data.type"]),
    ] {
        let file = plugins_dir().join(format!("{name}.wasm"));
        let (code, report) = check_json(&file, &[])?;
        assert_eq!(code, Some(0), "{name}: {report:#}");
        assert_eq!(report["loads"], true, "{name}");
        assert_eq!(report["refusal"], Value::Null, "{name}");
        assert_eq!(report["role"], role, "{name}");
        assert_eq!(report["world"], format!("{role}-plugin"), "{name}");
        assert_eq!(
            report["reads"]["declared"],
            serde_json::json!(fields),
            "{name}"
        );
        assert_eq!(
            report["reads"]["fields"],
            serde_json::json!(fields),
            "{name}"
        );
        assert_eq!(report["reads"]["envelope"], false, "{name}");
        let bytes = std::fs::read(&file)?;
        assert_eq!(report["size_bytes"], bytes.len(), "{name}");
        assert_eq!(report["sha256"], sha256_hex(&bytes), "{name}");
        assert!(report["compile_ms"].is_f64(), "{name}: {report:#}");
        let imports = report["imports"].as_array().expect("imports");
        assert!(!imports.is_empty(), "{name} imports WASI");
        for import in imports {
            assert_eq!(import["status"], "offered", "{name}: {import}");
        }
        assert_eq!(report["init"]["outcome"], "ok", "{name}");
        assert_eq!(
            report["sidecar"],
            plugins_dir()
                .join(format!("{name}.toml"))
                .display()
                .to_string()
        );
    }

    // The text form says the same for a person.
    let out = check(&plugins_dir().join("10-drop-noise.wasm"), &[])?;
    let text = String::from_utf8(out.stdout)?;
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(": loads"), "{text}");
    assert!(text.contains("role      filter"), "{text}");
    assert!(text.contains("init      ok"), "{text}");
    assert!(text.contains("declared  data.type"), "{text}");
    assert!(text.contains("envelope  not read"), "{text}");
    assert!(
        text.contains("drop_types = \"seacft,seccft,sertft,mgmt_api_read\""),
        "{text}"
    );
    assert!(!text.contains("REFUSED"), "{text}");
    Ok(())
}

#[test]
fn an_init_that_refuses_panics_or_loops_is_reported_and_exits_1() -> Result<()> {
    let dir = scratch("init");
    let file = dir.join("15-hostile.wasm");
    std::fs::copy(fixture("hostile-transformer"), &file)?;
    for (on_init, outcome, says) in [
        ("error", "refused", "hostile plugin refuses to start"),
        ("panic", "failed", "hostile plugin panicked in init"),
        ("spin", "failed", "(deadline)"),
    ] {
        std::fs::write(
            dir.join("15-hostile.toml"),
            format!("[config]\non_init = \"{on_init}\"\n"),
        )?;
        let (code, report) = check_json(&file, &[])?;
        assert_eq!(code, Some(1), "{on_init}: {report:#}");
        assert_eq!(report["loads"], false);
        assert_eq!(report["init"]["outcome"], outcome, "{on_init}: {report:#}");
        let message = report["init"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{on_init}: {message}");
        assert_eq!(
            report["refusal"],
            loader_error(&file),
            "{on_init}: the loader's own message"
        );
    }

    // `--config` reads a sidecar from elsewhere; the text form names the plugin's message.
    let elsewhere = scratch("init-config").join("refuses.toml");
    std::fs::write(&elsewhere, "[config]\non_init = \"error\"\n")?;
    std::fs::write(dir.join("15-hostile.toml"), "[config]\n")?;
    let out = check(&file, &["--config", elsewhere.to_str().unwrap()])?;
    let text = String::from_utf8(out.stdout)?;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("init      refused: hostile plugin refuses to start"),
        "{text}"
    );
    assert!(
        text.contains("refused: plugin `15-hostile` refused its configuration"),
        "{text}"
    );
    let (code, report) = check_json(&file, &[])?;
    assert_eq!(code, Some(0), "with its own sidecar it loads: {report:#}");
    Ok(())
}

#[test]
fn files_that_are_not_plugins_exit_1_with_the_loaders_message() -> Result<()> {
    let dir = scratch("not-plugins");
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"this is not wasm at all")?;
    let core = dir.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0")?;
    let command = dir.join("command.wasm");
    std::fs::copy(fixture("not-a-plugin"), &command)?;
    for (file, says) in [
        (&garbage, "not WebAssembly"),
        (&core, "core WebAssembly module, not a component"),
        (&command, "`wasi:cli/run"),
    ] {
        let out = check(file, &[])?;
        let text = String::from_utf8(out.stdout)?;
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            text.contains(&format!("refused: {}", loader_error(file))),
            "{text}"
        );
        assert!(text.contains(says), "{text}");
    }

    // Of a component of no role, what it does export and import is still reported.
    let (_, report) = check_json(&command, &[])?;
    assert_eq!(report["role"], Value::Null);
    let exports = report["exports"].as_array().unwrap();
    assert!(
        exports
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("wasi:cli/run")),
        "{report:#}"
    );
    assert!(!report["imports"].as_array().unwrap().is_empty());
    assert_eq!(report["init"]["outcome"], "not-run");
    Ok(())
}

#[test]
fn a_component_importing_http_is_refused_naming_the_import_and_the_flag() -> Result<()> {
    let file = fixture("refused-import");
    let (code, report) = check_json(&file, &[])?;
    assert_eq!(code, Some(1), "{report:#}");
    assert_eq!(report["role"], "filter");
    let imports = report["imports"].as_array().unwrap();
    let http = imports
        .iter()
        .find(|i| i["name"] == "wasi:http/outgoing-handler@0.1.0")
        .unwrap_or_else(|| panic!("the HTTP import is listed: {report:#}"));
    assert_eq!(http["status"], "refused");
    assert!(
        http["note"].as_str().unwrap().contains("-d http"),
        "the componentize-js flag that removes it: {http}"
    );
    for other in imports.iter().filter(|i| i["name"] != http["name"]) {
        assert_eq!(other["status"], "offered", "{other}");
    }
    let refusal = report["refusal"].as_str().unwrap();
    assert_eq!(refusal, loader_error(&file));
    assert!(refusal.contains("wasi:http/outgoing-handler"), "{refusal}");

    let typed = inspect(&file, &InspectOptions::default())?;
    assert!(!typed.loads());
    let refused: Vec<&str> = typed
        .imports
        .iter()
        .filter(|i| i.status == ImportStatus::Refused)
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(refused, ["wasi:http/outgoing-handler@0.1.0"]);
    Ok(())
}

#[test]
fn a_bad_sidecar_is_reported_as_the_host_reports_it() -> Result<()> {
    let dir = scratch("sidecar");
    let file = dir.join("10-drop-noise.wasm");
    std::fs::copy(plugins_dir().join("10-drop-noise.wasm"), &file)?;
    for sidecar in [
        "[limitz]\nx = 1\n",
        "[limits]\nmax_memory_mib = 4096\n",
        "[config]\ndrop_typos = \"f\"\n",
    ] {
        std::fs::write(dir.join("10-drop-noise.toml"), sidecar)?;
        let (code, report) = check_json(&file, &[])?;
        assert_eq!(code, Some(1), "{sidecar}: {report:#}");
        assert_eq!(report["refusal"], loader_error(&file), "{sidecar}");
    }
    std::fs::write(
        dir.join("10-drop-noise.toml"),
        "[config]\ndrop_types = \"s\"\n[limits]\ncall_timeout_ms = 20\n\
         [failures]\non_error = \"skip\"\n",
    )?;
    let out = check(&file, &[])?;
    let text = String::from_utf8(out.stdout)?;
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("call_timeout 20 ms"), "{text}");
    assert!(text.contains("on_error skip"), "{text}");
    assert!(text.contains("declared  data.type"), "{text}");
    Ok(())
}

#[test]
fn a_file_that_cannot_be_read_is_a_usage_error() -> Result<()> {
    let out = check(Path::new("/nonexistent/plugin.wasm"), &[])?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)?.contains("/nonexistent/plugin.wasm"));
    let file = plugins_dir().join("10-drop-noise.wasm");
    let out = check(&file, &["--config", "/nonexistent/sidecar.toml"])?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)?.contains("/nonexistent/sidecar.toml"));
    Ok(())
}

#[test]
fn the_report_says_whether_the_data_folders_cache_holds_the_component() -> Result<()> {
    let data = scratch("cache");
    let file = plugins_dir().join("30-route-by-category.wasm");
    let options = InspectOptions {
        data_dir: Some(data.clone()),
        ..InspectOptions::default()
    };
    assert_eq!(inspect(&file, &options)?.cached, Some(false));
    // A host's engine, with its cache in the data folder, loads it once.
    let engine = PluginEngine::new(PluginLimits::default())?.with_cache(data.join("plugin-cache"));
    CompiledPlugin::load(&engine, &file)?;
    assert_eq!(engine.cache().unwrap().stats().stored, 1);
    let report = inspect(&file, &options)?;
    assert_eq!(report.cached, Some(true));
    assert!(report.loads());
    Ok(())
}
