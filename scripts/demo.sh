#!/usr/bin/env bash
# The demo pipeline, no AWS account needed: generated Auth0 logs run through the three
# example plugins (filter, redact, route) into the local sink, a JSON-lines file.
# N=... sets how many logs (default 20000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

demo=target/demo
logbridge="${CARGO_TARGET_DIR:-target}/debug/logbridge"
scripts/build-plugins.sh "$demo"
cargo build --quiet --bin logbridge
"$logbridge" sample --count "${N:-20000}" --seed 42 > "$demo/auth0-logs.ndjson"

"$logbridge" run \
    --plugins "$demo/plugins" \
    --input "$demo/auth0-logs.ndjson" \
    --output "$demo/delivered.jsonl" --truncate-output \
    --data-dir "$demo/data"

echo
echo "plugins:   $(cd "$demo/plugins" && ls ./*.wasm | xargs -n1 basename | tr '\n' ' ')"
echo "delivered: $demo/delivered.jsonl — the first event:"
head -n 1 "$demo/delivered.jsonl"
