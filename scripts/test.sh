#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this): formatting, the plugins' and
# the host's tests (against a real moto server the tests start and stop), clippy, docs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "test environment (wasm32-wasip2 target, moto in .venv)"
scripts/setup-test-env.sh

step "formatting"
cargo fmt --all --check
cargo fmt --manifest-path plugins/Cargo.toml --all --check

step "build (host binary, tests, examples; plugins are built by tests/build.rs)"
cargo build --workspace --bins --tests --examples

step "plugin unit tests (native)"
CARGO_TARGET_DIR=target/plugins cargo test --quiet --manifest-path plugins/Cargo.toml

step "host and integration tests"
cargo test --workspace

step "examples"
scripts/build-plugins.sh target/example
cargo run --quiet -p logbridge-examples --example embed -- target/example/plugins

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings
CARGO_TARGET_DIR=target/plugins cargo clippy --manifest-path plugins/Cargo.toml \
    --target wasm32-wasip2 -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p logbridge

step "all checks passed"
