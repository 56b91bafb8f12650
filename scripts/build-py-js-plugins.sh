#!/usr/bin/env bash
# Builds the Python and JavaScript example plugins as WebAssembly components, with the
# pinned tools of scripts/install-plugin-tools.sh (installed first when missing), and lays
# them out as two plugins folders:
#   OUT/python/NN-name.wasm (+ NN-name.toml)   from plugins/python/NN-name/app.py
#   OUT/js/NN-name.wasm (+ NN-name.toml)       from plugins/js/NN-name/plugin.js
# Prints the build time and size of each component.
# Usage: scripts/build-py-js-plugins.sh OUT
set -euo pipefail

out=${1:?usage: scripts/build-py-js-plugins.sh OUT_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
componentize_py="$root/target/tools/python/bin/componentize-py"
componentize_js="$root/target/tools/node/node_modules/.bin/componentize-js"

"$root/scripts/install-plugin-tools.sh" >&2

# The contract world of each example: NN-name -> world.
world() {
    case $1 in
        *-drop-noise) echo filter-plugin ;;
        *-redact) echo transformer-plugin ;;
        *-route-by-category) echo router-plugin ;;
        *) echo "error: no world known for plugin $1" >&2; exit 1 ;;
    esac
}

# Runs "$@", then prints NAME, the seconds it took and the size of FILE.
timed() {
    local name=$1 file=$2
    shift 2
    local start end
    start=$(date +%s.%N)
    local log
    if ! log=$("$@" 2>&1); then
        echo "$log" >&2
        echo "error: building $name failed (above)" >&2
        exit 1
    fi
    end=$(date +%s.%N)
    printf '%-32s %6.1f s %10d bytes\n' "$name" "$(echo "$end - $start" | bc)" "$(stat -c %s "$file")"
}

mkdir -p "$out/python" "$out/js"
echo "component                          build       size"

for dir in "$root"/plugins/python/[0-9]*/; do
    name=$(basename "$dir")
    # The app module and the helper module; componentize-py bundles the interpreter and
    # the standard library, and links WASI interfaces the host offers as stubs.
    timed "python/$name.wasm" "$out/python/$name.wasm" \
        "$componentize_py" -d "$root/wit" -w "$(world "$name")" componentize app \
        -p "$dir" -p "$root/sdk/python" -o "$out/python/$name.wasm"
    cp "$dir/$name.toml" "$out/python/"
done

for dir in "$root"/plugins/js/[0-9]*/; do
    name=$(basename "$dir")
    # -d http -d fetch-event: no wasi:http imports (the host offers none); stdio, random
    # and clocks stay, the engine needs them.
    timed "js/$name.wasm" "$out/js/$name.wasm" \
        "$componentize_js" "$dir/plugin.js" --wit "$root/wit" -n "$(world "$name")" \
        -d http -d fetch-event -o "$out/js/$name.wasm"
    cp "$dir/$name.toml" "$out/js/"
done
