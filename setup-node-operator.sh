#!/usr/bin/env bash
# From a fresh clone to a node gateway serving the embedded gemma-3-270m, registered with a registry.
set -euo pipefail

usage() {
    cat >&2 <<'EOF'
usage: ./setup-node-operator.sh REGISTRY_URL [PORT]

Creates .venv if needed, installs this package with its node extras (llama-cpp-python's server, compiled
once for any CPU of this kind by scripts/install_llama.py, about 5 minutes; the embedded gemma-3-270m model), then serves gemma-3-270m on PORT (default 8781)
and registers it with the registry at REGISTRY_URL. Ctrl-C stops and deregisters.

The operator token is read from FREESCODE_OPERATOR_TOKEN, or asked for (not echoed) when that is unset
and this runs in a terminal. It is never put on a command line, where other users could see it in ps.

Environment:
  FREESCODE_OPERATOR_TOKEN  the operator token the registry gave you
  PYTHON        interpreter that creates .venv (default python3, 3.11 or newer)
  HOST          address to listen on (default 127.0.0.1)
  PUBLIC_URL    the URL clients and the registry reach the node at (default http://HOST:PORT); the
                registry asks the node there to prove that your token runs it
  PRICE_PER_1K  price per 1000 tokens (default 0)
  API_KEYS      file of client keys, one `key` or `name:key` a line (default: no keys needed)
EOF
    exit 2
}

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
    usage
fi
registry_url=$1
port=${2:-8781}
case $registry_url in
    http://* | https://*) ;;
    *) echo "setup-node-operator: REGISTRY_URL must start with http:// or https://" >&2; usage ;;
esac
case $port in
    '' | *[!0-9]*) echo "setup-node-operator: PORT must be a number" >&2; usage ;;
esac
if [ -z "${FREESCODE_OPERATOR_TOKEN:-}" ] && [ -t 0 ]; then
    read -r -s -p "operator token: " FREESCODE_OPERATOR_TOKEN
    echo >&2
fi
if [ -z "${FREESCODE_OPERATOR_TOKEN:-}" ]; then
    echo "setup-node-operator: set FREESCODE_OPERATOR_TOKEN to your operator token" >&2
    exit 2
fi
export FREESCODE_OPERATOR_TOKEN

cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    echo "setup-node-operator: creating .venv" >&2
    "${PYTHON:-python3}" -m venv .venv
fi
echo "setup-node-operator: installing freescode-lsp[node] into .venv" >&2
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python scripts/install_llama.py
.venv/bin/python -m pip install --quiet -e ".[node]"

args=(node serve --model gemma-3-270m --host "${HOST:-127.0.0.1}" --port "$port"
    --registry "$registry_url" --price-per-1k "${PRICE_PER_1K:-0}")
if [ -n "${PUBLIC_URL:-}" ]; then
    args+=(--public-url "$PUBLIC_URL")
fi
if [ -n "${API_KEYS:-}" ]; then
    args+=(--api-keys "$API_KEYS")
fi
echo "setup-node-operator: starting the node on port $port" >&2
exec .venv/bin/freescode "${args[@]}"
