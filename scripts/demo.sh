#!/usr/bin/env bash
# The demo pipeline, no AWS account needed: generated Auth0 logs run through the three
# example plugins (filter, redact, route) into the local sink, a JSON-lines file.
# N=... sets how many logs (default 20000).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

demo=target/demo
generator=${LOGBRIDGE_LOG_GENERATOR:-scripts/gen-auth0-logs.py}
if [[ ! -f $generator ]]; then
    echo "error: the Auth0 log generator is not at $generator; set LOGBRIDGE_LOG_GENERATOR" >&2
    exit 1
fi

scripts/build-plugins.sh "$demo"
python3 "$generator" -n "${N:-20000}" --seed 42 > "$demo/auth0-logs.ndjson"
cargo build --quiet --bin logbridge

target/debug/logbridge run \
    --plugins "$demo/plugins" \
    --input "$demo/auth0-logs.ndjson" \
    --output "$demo/delivered.jsonl" --truncate-output \
    --data-dir "$demo/data"

echo
echo "plugins:   $(cd "$demo/plugins" && ls ./*.wasm | xargs -n1 basename | tr '\n' ' ')"
echo "delivered: $demo/delivered.jsonl — the first event:"
head -n 1 "$demo/delivered.jsonl"
