#!/usr/bin/env bash
# Installs what the tests need and nothing installed by hand: the wasm32-wasip2 Rust target
# and a project-local Python virtualenv (.venv) with moto's EventBridge/SQS server.
# Idempotent: a second run only checks.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOTO_VERSION=5.2.5

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

venv="$root/.venv"
if [[ ! -x "$venv/bin/moto_server" ]] || ! "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
echo "test environment ready: wasm32-wasip2, moto $MOTO_VERSION in $venv" >&2
