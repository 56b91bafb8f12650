#!/usr/bin/env bash
# Installs what the tests need and nothing installed by hand: the wasm32-wasip2 Rust target,
# a project-local Python virtualenv (.venv) with moto's EventBridge/SQS server, and
# Debian's chromium (headless, for the health-page test).
# Idempotent: a second run only checks.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOTO_VERSION=5.2.5

if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

venv="$root/.venv"
# `moto_server --help` must run, not only exist: a checkout moved to another folder keeps
# the old path in its venv scripts' #! lines, and the venv is then made again.
if ! "$venv/bin/moto_server" --help >/dev/null 2>&1 ||
    ! "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    python3 -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (Debian package, for the health-page test)" >&2
    if [[ $(id -u) -eq 0 ]]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1; then
        as_root=(sudo -n)
    else
        echo "error: chromium is missing and this user cannot install it; run" >&2
        echo "       'apt-get install --no-install-recommends chromium' as root" >&2
        exit 1
    fi
    apt_install() {
        DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq \
            --no-install-recommends chromium >&2
    }
    if ! apt_install; then
        "${as_root[@]}" apt-get update -qq >&2
        apt_install
    fi
fi
echo "test environment ready: wasm32-wasip2, moto $MOTO_VERSION in $venv, $(chromium --version 2>/dev/null || echo chromium)" >&2
