//! Builds the plugins in `../plugins` (and the matcher crate the rules plugins wrap) for
//! wasm32-wasip2 (through `scripts/build-plugins.sh`)
//! and tells the tests where they are: `LOGBRIDGE_TEST_PLUGINS` is a plugins folder with
//! the three example plugins, `LOGBRIDGE_TEST_FIXTURES` a folder of test-only components.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("tests/ lives in the workspace root");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));

    for watched in [
        "plugins",
        "wit",
        "scripts/build-plugins.sh",
        "crates/event-pattern",
        "crates/logbridge-plugin",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let mut build = Command::new("bash");
    build.arg(root.join("scripts/build-plugins.sh")).arg(&out);
    // The nested build is its own cargo invocation for another target: nothing of this
    // build's configuration may leak into it.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        build.env_remove(var);
    }
    let status = build
        .status()
        .expect("could not run bash to build the plugins; is bash installed?");
    assert!(
        status.success(),
        "building the plugins in {} failed (see the output above); \
         run `scripts/build-plugins.sh target/plugins-out` to reproduce",
        root.join("plugins").display()
    );

    println!(
        "cargo:rustc-env=LOGBRIDGE_TEST_PLUGINS={}",
        out.join("plugins").display()
    );
    println!(
        "cargo:rustc-env=LOGBRIDGE_TEST_FIXTURES={}",
        out.join("fixtures").display()
    );
}
