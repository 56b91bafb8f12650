#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): formatting, the plugins' and
# the host's tests (against a real moto server the tests start and stop), the Python and
# JavaScript plugins against the Rust ones, clippy, docs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

# Every test runner's output is kept so the run can end with one total.
results=$(mktemp)
clone=
# Also when a step fails: the fresh clone of the demo step goes too.
trap 'rm -f "$results"; [[ -z $clone ]] || rm -rf "$clone"' EXIT
tests() { "$@" 2>&1 | tee -a "$results"; }

step "test environment (wasm32-wasip2 target, moto in .venv)"
scripts/setup-test-env.sh

step "plugin tools (componentize-py, componentize-js; pinned, under target/tools)"
scripts/install-plugin-tools.sh

step "formatting"
cargo fmt --all --check
cargo fmt --manifest-path plugins/Cargo.toml --all --check

step "build (host binary, tests, examples; plugins are built by tests/build.rs)"
cargo build --workspace --bins --tests --examples

step "the library without the CLI (clap, anyhow, tracing-subscriber) and without the server (axum, hyper)"
cargo check -p logbridge --lib --no-default-features
cargo check -p logbridge --lib --no-default-features --features serve

step "plugin unit tests (native)"
CARGO_TARGET_DIR=target/plugins tests cargo test --quiet --manifest-path plugins/Cargo.toml

step "host and integration tests"
tests cargo test --workspace

step "examples"
scripts/build-plugins.sh target/example
cargo run --quiet -p logbridge-examples --example embed -- target/example/plugins
cargo run --quiet -p logbridge-examples --example axum_app -- target/example/plugins target/example/axum-out

step "the Python and JavaScript plugins against the Rust ones, byte for byte"
LOGBRIDGE=target/debug/logbridge RUST_PLUGINS=target/example/plugins scripts/check-py-js-plugins.sh

step "the demo in a fresh clone, with nothing beside it"
clone=$(mktemp -d)
git clone --quiet . "$clone/logbridge"
(
    cd "$clone/logbridge"
    # The same build folders, so only this checkout's own crates are compiled again.
    CARGO_TARGET_DIR="$OLDPWD/target" LOGBRIDGE_PLUGINS_TARGET_DIR="$OLDPWD/target/plugins" \
        N=2000 scripts/demo.sh > "$clone/demo.out" 2>&1 || { cat "$clone/demo.out" >&2; exit 1; }
    test -s target/demo/delivered.jsonl
    grep -E "^logbridge: 2000 events" "$clone/demo.out" >&2
)
rm -rf "$clone"
clone=

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
CARGO_TARGET_DIR=target/plugins cargo clippy --manifest-path plugins/Cargo.toml \
    --target wasm32-wasip2 -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p logbridge -p logbridge-plugin

step "all checks passed"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$results"
