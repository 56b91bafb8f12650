//! `logbridge new`: for each role (in Rust) and each language, the project it writes
//! builds with its one command, and the case file it ships passes against the plugin
//! built, which the host loads. The Python and JavaScript builds use the pinned tools
//! `scripts/install-plugin-tools.sh` put under `target/tools` (as `scripts/test.sh` does).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use logbridge_tests::{logbridge_bin, workspace_root};

/// Runs `command`, failing with its output when it does not succeed.
fn run(command: &mut Command, what: &str) -> Result<String> {
    let out = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    Ok(text)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("new-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

#[test]
fn a_new_project_of_each_role_builds_with_one_command_and_its_cases_pass() -> Result<()> {
    let root = workspace_root();
    // The plugins' own target folder: the SDK's dependencies are built there already.
    let target = std::env::var_os("LOGBRIDGE_PLUGINS_TARGET_DIR")
        .map_or_else(|| root.join("target/plugins"), PathBuf::from);
    let tools = root.join("target/tools");
    for (lang, role) in [
        ("rust", "filter"),
        ("rust", "transformer"),
        ("rust", "router"),
        ("python", "router"),
        ("js", "transformer"),
    ] {
        let name = format!("40-my-{lang}-{role}");
        let dir = scratch(&format!("{lang}-{role}")).join(&name);
        let said = run(
            Command::new(logbridge_bin()?)
                .args(["new", &name, "--lang", lang, "--role", role, "--dir"])
                .arg(&dir),
            "logbridge new",
        )?;
        assert!(said.contains("build.sh"), "{said}");
        let mut build = Command::new(dir.join("build.sh"));
        if lang == "rust" {
            // The versions the plugins here are built with, so nothing new is fetched.
            std::fs::copy(root.join("plugins/Cargo.lock"), dir.join("Cargo.lock"))?;
            for var in [
                "RUSTFLAGS",
                "CARGO_ENCODED_RUSTFLAGS",
                "CARGO_BUILD_TARGET",
                "RUSTC_WRAPPER",
            ] {
                build.env_remove(var);
            }
            build.env("CARGO_TARGET_DIR", &target);
        } else {
            ensure!(
                tools.is_dir(),
                "{} is missing: run scripts/install-plugin-tools.sh",
                tools.display()
            );
            build.env("LOGBRIDGE_TOOLS", &tools);
        }
        run(&mut build, "build.sh")?;
        let dist = dir.join("dist");
        assert!(dist.join(format!("{name}.wasm")).is_file());
        assert!(dist.join(format!("{name}.toml")).is_file());
        let passed = run(
            Command::new(logbridge_bin()?)
                .args(["test", "--plugins"])
                .arg(&dist)
                .arg("--cases")
                .arg(dir.join("cases")),
            "logbridge test --cases",
        )?;
        assert!(
            passed.contains("ok") && !passed.contains("FAIL"),
            "{passed}"
        );
        let checked = run(
            Command::new(logbridge_bin()?)
                .args(["plugin", "check"])
                .arg(dist.join(format!("{name}.wasm"))),
            "logbridge plugin check",
        )?;
        assert!(checked.contains(&format!("role      {role}")), "{checked}");
    }
    // A name that cannot be a file, and a folder already in use, are refused.
    let out = Command::new(logbridge_bin()?)
        .args(["new", "my plugin", "--role", "filter"])
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be a plugin name"));
    Ok(())
}

/// A Python project whose tools folder was moved from elsewhere — its venv's scripts name
/// an interpreter by a path that is gone — still builds with its one command: `build.sh`
/// sees that componentize-py does not run and makes the venv again.
#[test]
fn a_python_project_builds_after_its_tools_folder_was_moved() -> Result<()> {
    let tools = workspace_root().join("target/tools");
    ensure!(
        tools.join("python/bin/componentize-py").is_file(),
        "{} is missing: run scripts/install-plugin-tools.sh",
        tools.display()
    );
    let scratch = scratch("moved-tools");
    let moved = scratch.join("tools");
    std::fs::create_dir_all(&moved)?;
    run(
        Command::new("cp")
            .arg("-a")
            .arg(tools.join("python"))
            .arg(moved.join("python")),
        "cp -a",
    )?;
    // What a move leaves: the script's #! line names the venv's old place.
    let script = moved.join("python/bin/componentize-py");
    let text = std::fs::read_to_string(&script)?;
    let (_, body) = text
        .split_once('\n')
        .context("an empty componentize-py script")?;
    let gone = scratch.join("old-place/python/bin/python");
    std::fs::write(&script, format!("#!{}\n{body}", gone.display()))?;
    ensure!(
        !Command::new(&script)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success()),
        "the moved script still runs; the test no longer shows a moved venv"
    );

    let name = "40-moved-tools";
    let dir = scratch.join(name);
    run(
        Command::new(logbridge_bin()?)
            .args(["new", name, "--lang", "python", "--role", "filter", "--dir"])
            .arg(&dir),
        "logbridge new",
    )?;
    let said = run(
        Command::new(dir.join("build.sh")).env("LOGBRIDGE_TOOLS", &moved),
        "build.sh with a moved tools folder",
    )?;
    assert!(said.contains("installing componentize-py"), "{said}");
    assert!(dir.join(format!("dist/{name}.wasm")).is_file(), "{said}");
    run(
        Command::new(&script).arg("--version"),
        "componentize-py, made again",
    )?;
    Ok(())
}
