//! Where things are: the example plugins and test-only components built by `build.rs`,
//! the workspace, the `logbridge` binary; and generated Auth0 logs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Makes `dir` afresh (removing what was there) holding a copy of the example plugins
/// folder, and returns it.
pub fn copy_of_plugins(dir: PathBuf) -> PathBuf {
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    for entry in std::fs::read_dir(plugins_dir()).expect("the built plugins") {
        let path = entry.expect("a plugins folder entry").path();
        let name = path.file_name().expect("a file name");
        std::fs::copy(&path, dir.join(name)).expect("a copied plugin");
    }
    dir
}

/// The folder with the three example plugins, built from `plugins/` by `build.rs`.
pub fn plugins_dir() -> PathBuf {
    PathBuf::from(env!("LOGBRIDGE_TEST_PLUGINS"))
}

/// A test-only component from `plugins/test-fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("LOGBRIDGE_TEST_FIXTURES")).join(format!("{name}.wasm"))
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

/// The `logbridge` binary of this build (`cargo build --bins` puts it beside `deps/`).
pub fn logbridge_bin() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("LOGBRIDGE_BIN") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test binary is not in a cargo target directory")?;
    let bin = profile_dir.join("logbridge");
    if !bin.is_file() {
        bail!(
            "{} does not exist; build it first with `cargo build --bins` \
             (scripts/test.sh does), or point LOGBRIDGE_BIN at it",
            bin.display()
        );
    }
    Ok(bin)
}

/// `n` Auth0 logs from `logbridge sample`, NDJSON, deterministic by `seed`; `extra`
/// arguments are passed on (`--edge-cases`, `--format ...`).
pub fn generate_logs(n: usize, seed: u64, extra: &[&str]) -> Result<String> {
    let output = Command::new(logbridge_bin()?)
        .args([
            "sample",
            "--count",
            &n.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(extra)
        .output()
        .context("cannot run `logbridge sample`")?;
    if !output.status.success() {
        bail!(
            "logbridge sample failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}
