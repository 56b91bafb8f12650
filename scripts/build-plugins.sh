#!/usr/bin/env bash
# Builds the plugins in plugins/ as WebAssembly components (wasm32-wasip2) and lays them out:
#   OUT/plugins/NN-name.wasm (+ NN-name.toml sidecar)  — a plugins folder, ready for `logbridge run`
#   OUT/fixtures/name.wasm                              — test fixtures from plugins/test-fixtures/
#   OUT/stock/eventbridge-*.wasm (+ sidecars/*.toml)   — the stock rules plugins, and example sidecars
# Usage: scripts/build-plugins.sh OUT
set -euo pipefail

out=${1:?usage: scripts/build-plugins.sh OUT_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo=${CARGO:-cargo}

if ! command -v rustup >/dev/null 2>&1; then
    echo "error: rustup is not installed; the plugins need the wasm32-wasip2 target." >&2
    echo "       Install rustup (https://rustup.rs) or add the target to your toolchain." >&2
    exit 1
fi
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    echo "adding the wasm32-wasip2 target (rustup target add wasm32-wasip2)" >&2
    if ! rustup target add wasm32-wasip2 >&2; then
        echo "error: could not add the wasm32-wasip2 target; run 'rustup target add wasm32-wasip2'" >&2
        exit 1
    fi
fi

# Their own target folder (they are another workspace, for another target);
# LOGBRIDGE_PLUGINS_TARGET_DIR may point elsewhere to share one between checkouts.
export CARGO_TARGET_DIR="${LOGBRIDGE_PLUGINS_TARGET_DIR:-$root/target/plugins}"
"$cargo" build --quiet --release --target wasm32-wasip2 --manifest-path "$root/plugins/Cargo.toml"
built="$CARGO_TARGET_DIR/wasm32-wasip2/release"

# The artifact of the crate in folder $1: a library (cdylib) is <name with - as _>.wasm,
# a binary keeps its name.
artifact() {
    local name
    name=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "$1/Cargo.toml" | head -n 1)
    if [[ -f $1/src/main.rs ]]; then
        echo "$built/$name.wasm"
    else
        echo "$built/${name//-/_}.wasm"
    fi
}

mkdir -p "$out/plugins" "$out/fixtures" "$out/stock"
rm -f "$out"/plugins/*.wasm "$out"/plugins/*.toml "$out"/fixtures/*.wasm "$out"/stock/*
for dir in "$root"/plugins/[0-9][0-9]-*/; do
    dir=${dir%/}
    name=$(basename "$dir")
    cp "$(artifact "$dir")" "$out/plugins/$name.wasm"
    if [[ -f "$dir/$name.toml" ]]; then
        cp "$dir/$name.toml" "$out/plugins/$name.toml"
    fi
done
for dir in "$root"/plugins/test-fixtures/*/; do
    dir=${dir%/}
    cp "$(artifact "$dir")" "$out/fixtures/$(basename "$dir").wasm"
done
for dir in "$root"/plugins/eventbridge-*/; do
    dir=${dir%/}
    cp "$(artifact "$dir")" "$out/stock/$(basename "$dir").wasm"
    cp "$dir"/sidecars/*.toml "$out/stock/"
done
