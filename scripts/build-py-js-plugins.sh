#!/usr/bin/env bash
# Builds the Python and JavaScript example plugins as WebAssembly components, with the
# pinned tools of scripts/install-plugin-tools.sh (installed first when missing), and lays
# them out as two plugins folders:
#   OUT/python/NN-name.wasm (+ NN-name.toml)   from plugins/python/NN-name/app.py
#   OUT/js/NN-name.wasm (+ NN-name.toml)       from plugins/js/NN-name/plugin.js
# With --fixtures, also the test fixtures plugins/{python,js}/fixtures/NAME, as
# OUT/python-fixtures/50-NAME.wasm and OUT/js-fixtures/50-NAME.wasm (filters, all of them).
# Prints the build time and size of each component.
# Usage: scripts/build-py-js-plugins.sh OUT [--fixtures]
set -euo pipefail

out=${1:?usage: scripts/build-py-js-plugins.sh OUT_DIR [--fixtures]}
fixtures=${2:-}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
componentize_py="$root/target/tools/python/bin/componentize-py"
componentize_js="$root/target/tools/node/node_modules/.bin/componentize-js"

"$root/scripts/install-plugin-tools.sh" >&2

# The contract world of a plugin, from its folder name.
world() {
    case $1 in
        *-drop-noise) echo filter-plugin ;;
        *-redact) echo transformer-plugin ;;
        *-route-by-category) echo router-plugin ;;
        *) echo filter-plugin ;;
    esac
}

# Runs "$@", then prints NAME, the seconds it took and the size of FILE.
timed() {
    local name=$1 file=$2
    shift 2
    local start end log
    start=$(date +%s.%N)
    if ! log=$("$@" 2>&1); then
        echo "$log" >&2
        echo "error: building $name failed (above)" >&2
        exit 1
    fi
    end=$(date +%s.%N)
    awk -v n="$name" -v s="$start" -v e="$end" -v b="$(stat -c %s "$file")" \
        'BEGIN { printf "%-32s %6.1f s %10d bytes\n", n, e - s, b }'
}

# Builds the Python plugin in folder $1 as $2 (a .wasm path).
build_python() {
    # The app module and the helper module; componentize-py bundles the interpreter and
    # the standard library, and links WASI interfaces the host offers as stubs.
    timed "${2#"$out"/}" "$2" \
        "$componentize_py" -d "$root/wit" -w "$(world "$(basename "$1")")" componentize app \
        -p "$1" -p "$root/sdk/python" -o "$2"
}

# Builds the JavaScript plugin in folder $1 as $2.
build_js() {
    # -d http -d fetch-event: no wasi:http imports (the host offers none); stdio, random
    # and clocks stay, the engine needs them. It runs in the checkout's root: the engine
    # reads imported modules (the helper, ../../../sdk/js) only below the current folder.
    timed "${2#"$out"/}" "$2" env -C "$root" \
        "$componentize_js" "$1/plugin.js" --wit "$root/wit" -n "$(world "$(basename "$1")")" \
        -d http -d fetch-event -o "$2"
}

mkdir -p "$out/python" "$out/js"
out=$(cd "$out" && pwd)
echo "component                          build       size"
for lang in python js; do
    for dir in "$root/plugins/$lang"/[0-9]*/; do
        dir=${dir%/}
        name=$(basename "$dir")
        "build_$lang" "$dir" "$out/$lang/$name.wasm"
        cp "$dir/$name.toml" "$out/$lang/"
    done
    if [[ $fixtures == --fixtures ]]; then
        mkdir -p "$out/$lang-fixtures"
        for dir in "$root/plugins/$lang/fixtures"/*/; do
            dir=${dir%/}
            "build_$lang" "$dir" "$out/$lang-fixtures/50-$(basename "$dir").wasm"
        done
    fi
done
