#!/usr/bin/env bash
# Checks that the Python and JavaScript example plugins behave exactly as the Rust ones:
#  1. the same logs through the Rust, the Python and the JavaScript plugins folders with
#     `logbridge run --output` give the same output bytes (lines sorted: delivery order
#     across buses is not fixed) and the same failures (stage, code, event, message):
#     10,000 generated logs (seed 7), 300 odd ones (`sample --edge-cases`, seed 5), and
#     2,000 with the values a redactor gets wrong (scripts/odd-redact-logs.py, seed 11);
#  2. the Rust plugins' case files (plugins/cases/*.toml) pass against every folder;
#  3. an exception in a Python or JavaScript plugin reaches the failure log's row, named;
#  4. every component loads (`logbridge plugin check`) importing only what the host offers;
# after the helper modules' unit tests (sdk/python, sdk/js), which need no component.
# Exits non-zero at the first difference, showing it.
#
# Environment:
#   LOGBRIDGE     the host binary (default target/debug/logbridge; built when missing)
#   RUST_PLUGINS  a built Rust plugins folder (default: scripts/build-plugins.sh builds one)
#   CHECK_DIR     where to work (default target/py-js-check; emptied first)
# Usage: scripts/check-py-js-plugins.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${CHECK_DIR:-$root/target/py-js-check}
cargo=${CARGO:-cargo}
export LC_ALL=C

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

logbridge=${LOGBRIDGE:-$root/target/debug/logbridge}
if [[ ! -x $logbridge ]]; then
    echo "building the host (cargo build --bin logbridge)"
    "$cargo" build --quiet --bin logbridge --manifest-path "$root/Cargo.toml"
fi
[[ -x $logbridge ]] || fail "no host binary at $logbridge; set LOGBRIDGE"

rm -rf "$work"
mkdir -p "$work"

echo "unit tests of the helper modules"
PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s "$root/sdk/python" ||
    fail "the Python helper's unit tests (sdk/python/test_logbridge_plugin.py)"
node --test "$root/sdk/js/" >"$work/node-test.log" 2>&1 ||
    { cat "$work/node-test.log" >&2; fail "the JavaScript helper's unit tests (sdk/js/logbridge_plugin.test.mjs)"; }

if [[ -n ${RUST_PLUGINS:-} ]]; then
    rust=$RUST_PLUGINS
else
    echo "building the Rust plugins (scripts/build-plugins.sh)"
    "$root/scripts/build-plugins.sh" "$work/rust-build" >/dev/null
    rust=$work/rust-build/plugins
fi
for name in 10-drop-noise 20-redact 30-route-by-category; do
    [[ -f $rust/$name.wasm ]] || fail "$rust has no $name.wasm; set RUST_PLUGINS to a built plugins folder"
done

echo "building the Python and JavaScript plugins"
"$root/scripts/build-py-js-plugins.sh" "$work/built" --fixtures

declare -A folder=([rust]=$rust [python]=$work/built/python [js]=$work/built/js)

# Every component loads, with every import one the host offers; its first-load compile time.
for lang in python js; do
    for wasm in "${folder[$lang]}"/*.wasm; do
        "$logbridge" plugin check "$wasm" --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
bad = [i["name"] + ": " + (i["reason"] or i["status"]) for i in d["imports"] if i["status"] != "offered"]
if not d["loads"] or bad:
    sys.exit(f"{sys.argv[1]}: " + "; ".join(bad or [d["refusal"] or "does not load"]))
print("%-32s loads, %d imports all offered, compile %.0f ms" % (sys.argv[1], len(d["imports"]), d["compile_ms"]))
' "$lang/$(basename "$wasm")" || fail "$lang/$(basename "$wasm") imports something the host does not offer, or does not load"
    done
done

"$logbridge" sample --count 10000 --seed 7 >"$work/generated.ndjson"
"$logbridge" sample --count 300 --seed 5 --edge-cases >"$work/edge.ndjson"
python3 "$root/scripts/odd-redact-logs.py" 2000 11 >"$work/odd.ndjson"

# The failures of a run, one line each, in a fixed order.
failures() {
    "$logbridge" failures --data-dir "$1" --json | python3 -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin]
for r in sorted(rows, key=lambda r: (r["stage"], r["origin"] or "", r["event_id"] or "", r["message"])):
    print(r["stage"], r["code"], r["event_id"], r["origin"] if r["stage"] == "ingest" else "", r["message"], sep="\t")
'
}

# Shows the first line where files $1 and $2 differ, and fails.
first_difference() {
    local line
    line=$(cmp "$1" "$2" | sed -n 's/.* line \([0-9]*\).*/\1/p')
    if [[ -z $line ]]; then
        line=$(($(wc -l <"$1") + 1))
    fi
    echo "first differing line ($line):" >&2
    echo "  $(basename "$1"): $(sed -n "${line}p" "$1" | cut -c1-600)" >&2
    echo "  $(basename "$2"): $(sed -n "${line}p" "$2" | cut -c1-600)" >&2
    fail "$3"
}

for input in generated edge odd; do
    for lang in rust python js; do
        run=$work/run-$input-$lang
        start=$(date +%s.%N)
        "$logbridge" run --plugins "${folder[$lang]}" --input "$work/$input.ndjson" \
            --output "$run.jsonl" --truncate-output --data-dir "$run.data" --workers 1 \
            2>"$run.log" || true # failed events make the exit status non-zero
        end=$(date +%s.%N)
        grep -q '^logbridge: ' "$run.log" || { cat "$run.log" >&2; fail "logbridge run ($lang, $input) did not finish"; }
        sort "$run.jsonl" >"$run.sorted"
        failures "$run.data" >"$run.failures"
        awk -v l="$lang" -v i="$input" -v s="$start" -v e="$end" -v n="$(wc -l <"$run.sorted")" \
            -v f="$(wc -l <"$run.failures")" \
            'BEGIN { printf "%-7s %-10s %6.2f s  %5d delivered  %4d failed\n", l, i, e - s, n, f }'
    done
    for lang in python js; do
        cmp -s "$work/run-$input-rust.sorted" "$work/run-$input-$lang.sorted" ||
            first_difference "$work/run-$input-rust.sorted" "$work/run-$input-$lang.sorted" \
                "$lang output differs from Rust's ($input logs)"
        cmp -s "$work/run-$input-rust.failures" "$work/run-$input-$lang.failures" ||
            first_difference "$work/run-$input-rust.failures" "$work/run-$input-$lang.failures" \
                "$lang failures differ from Rust's ($input logs)"
    done
    echo "same output bytes and failures ($input logs)"
done

for lang in rust python js; do
    if ! "$logbridge" test --plugins "${folder[$lang]}" --cases "$root"/plugins/cases/*.toml \
        >"$work/cases-$lang.txt" 2>&1; then
        grep -v '^  ok' "$work/cases-$lang.txt" >&2
        fail "the case files do not pass against the $lang plugins"
    fi
    echo "$lang: $(tail -n 1 "$work/cases-$lang.txt")"
done

# The fixtures raise KeyError (Python) and RangeError (JavaScript) on failed logins.
declare -A raised=([python]="KeyError: 'no such key in a failed login'" [js]="RangeError: no such key in a failed login")
for lang in python js; do
    run=$work/raises-$lang
    "$logbridge" run --plugins "$work/built/$lang-fixtures" --input "$work/generated.ndjson" \
        --output "$run.jsonl" --data-dir "$run.data" 2>"$run.log" || true
    expected=$(grep -c '"type":"f"' "$work/generated.ndjson" || true)
    got=$("$logbridge" failures --data-dir "$run.data" --json | grep -c '"code":"plugin-error"' || true)
    with_message=$("$logbridge" failures --data-dir "$run.data" --json |
        grep -cF "\"message\":\"${raised[$lang]}\"" || true)
    [[ $expected -gt 0 && $got == "$expected" && $with_message == "$expected" ]] ||
        fail "$lang: $expected failed logins, $got plugin-error rows, $with_message with the message \"${raised[$lang]}\""
    echo "$lang: an exception's message reaches the failure row ($got rows: ${raised[$lang]})"
done

echo "OK: the Python and JavaScript plugins match the Rust ones"
