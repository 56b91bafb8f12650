#!/usr/bin/env bash
# Installs the pinned toolchains that build Python and JavaScript plugins, inside this
# checkout only (nothing global):
#   target/tools/python  a venv holding componentize-py (PyPI)
#   target/tools/node    an npm prefix holding @bytecodealliance/componentize-js (npm)
# Idempotent: a tool already there at its pinned version is left alone.
# Needs python3 (3.10 or newer, with venv) and node with npm (20 or newer).
# Usage: scripts/install-plugin-tools.sh
set -euo pipefail

# The pinned versions: change them here, and rebuild every plugin after a change.
COMPONENTIZE_PY_VERSION=0.25.1
COMPONENTIZE_JS_VERSION=0.23.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools="$root/target/tools"

fail() {
    echo "error: $*" >&2
    exit 1
}

# --- Python: componentize-py in a venv -------------------------------------------------
py_dir="$tools/python"
py_have=$("$py_dir/bin/python" -c \
    'import importlib.metadata as m; print(m.version("componentize-py"))' 2>/dev/null || true)
# The command must run, not only be there: a checkout moved to another folder keeps the
# old path in the venv scripts' #! lines, and the venv is then made again.
if [[ $py_have == "$COMPONENTIZE_PY_VERSION" ]] &&
    "$py_dir/bin/componentize-py" --version >/dev/null 2>&1; then
    echo "componentize-py $COMPONENTIZE_PY_VERSION: already in $py_dir"
else
    command -v python3 >/dev/null 2>&1 ||
        fail "python3 is not installed; install Python 3.10 or newer (with its venv module)"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        fail "python3 is $(python3 --version 2>&1); componentize-py needs 3.10 or newer"
    if [[ ! -x $py_dir/bin/python || -n $py_have ]]; then
        echo "creating a venv in $py_dir"
        python3 -m venv --clear "$py_dir" ||
            fail "python3 -m venv failed; install the venv module (Debian: apt-get install python3-venv)"
    fi
    echo "installing componentize-py $COMPONENTIZE_PY_VERSION into $py_dir${py_have:+ (had $py_have)}"
    "$py_dir/bin/python" -m pip install --quiet --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION" ||
        fail "pip could not install componentize-py==$COMPONENTIZE_PY_VERSION (network? proxy?)"
fi

# --- JavaScript: componentize-js under an npm prefix -----------------------------------
js_dir="$tools/node"
js_pkg="$js_dir/node_modules/@bytecodealliance/componentize-js/package.json"
js_have=$(node -p "require('$js_pkg').version" 2>/dev/null || true)
if [[ $js_have == "$COMPONENTIZE_JS_VERSION" ]]; then
    echo "componentize-js $COMPONENTIZE_JS_VERSION: already in $js_dir"
else
    command -v node >/dev/null 2>&1 || fail "node is not installed; install Node.js 20 or newer"
    command -v npm >/dev/null 2>&1 || fail "npm is not installed; install it with Node.js 20 or newer"
    node -e 'process.exit(+process.versions.node.split(".")[0] < 20 ? 1 : 0)' ||
        fail "node is $(node --version); componentize-js needs 20 or newer"
    mkdir -p "$js_dir"
    # A package.json of its own, so npm installs here and not in a parent folder.
    [[ -f $js_dir/package.json ]] ||
        echo '{"name": "logbridge-plugin-tools", "private": true}' >"$js_dir/package.json"
    echo "installing @bytecodealliance/componentize-js $COMPONENTIZE_JS_VERSION into $js_dir${js_have:+ (had $js_have)}"
    npm install --prefix "$js_dir" --no-audit --no-fund --save-exact --loglevel=error \
        "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" ||
        fail "npm could not install @bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION (network? proxy?)"
fi

echo "plugin tools ready:"
echo "  $py_dir/bin/componentize-py"
echo "  $js_dir/node_modules/.bin/componentize-js"
