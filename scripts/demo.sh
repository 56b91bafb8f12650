#!/usr/bin/env bash
# The demo pipeline, no AWS account needed: generated Auth0 logs run through the three
# example plugins (filter, redact, route) into the local sink, a JSON-lines file.
# N=... sets how many logs (default 20000). RULES=1 runs the stock EventBridge-pattern
# plugins in place of 10-drop-noise and 30-route-by-category, with sidecars holding the same
# rules as event patterns: the delivered events are the same, byte for byte.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

demo=target/demo
logbridge="${CARGO_TARGET_DIR:-target}/debug/logbridge"
scripts/build-plugins.sh "$demo"
if [[ ${RULES:-} == 1 ]]; then
    rm "$demo"/plugins/10-drop-noise.* "$demo"/plugins/30-route-by-category.*
    cp "$demo/stock/eventbridge-filter.wasm" "$demo/plugins/10-eventbridge-filter.wasm"
    cp "$demo/stock/drop-noise.toml" "$demo/plugins/10-eventbridge-filter.toml"
    cp "$demo/stock/eventbridge-router.wasm" "$demo/plugins/30-eventbridge-router.wasm"
    cp "$demo/stock/route-by-category.toml" "$demo/plugins/30-eventbridge-router.toml"
fi
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
