#!/usr/bin/env bash
# From a fresh clone to a node gateway serving the embedded gemma-3-270m, registered with a registry.
set -euo pipefail

usage() {
    cat >&2 <<'EOF'
usage: ./setup-node-operator.sh REGISTRY_URL TOKEN [PORT]

Creates .venv if needed, installs this package with its node extras (llama-cpp-python's server, compiled
once, about 5 minutes; the embedded gemma-3-270m model), then serves gemma-3-270m on PORT (default 8781)
and registers it with the registry at REGISTRY_URL using the operator TOKEN. Ctrl-C stops and deregisters.

Environment:
  PYTHON        interpreter that creates .venv (default python3, 3.11 or newer)
  HOST          address to listen on (default 127.0.0.1)
  PUBLIC_URL    the URL clients reach the node at (default http://HOST:PORT)
  PRICE_PER_1K  price per 1000 tokens (default 0)
  API_KEYS      file of client keys, one `key` or `name:key` a line (default: no keys needed)
EOF
    exit 2
}

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
    usage
fi
registry_url=$1
token=$2
port=${3:-8781}
case $registry_url in
    http://* | https://*) ;;
    *) echo "setup-node-operator: REGISTRY_URL must start with http:// or https://" >&2; usage ;;
esac
case $port in
    '' | *[!0-9]*) echo "setup-node-operator: PORT must be a number" >&2; usage ;;
esac
if [ -z "$token" ]; then
    echo "setup-node-operator: TOKEN is empty" >&2
    usage
fi

cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    echo "setup-node-operator: creating .venv" >&2
    "${PYTHON:-python3}" -m venv .venv
fi
echo "setup-node-operator: installing freescode-lsp[node] into .venv" >&2
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[node]"

args=(node serve --model gemma-3-270m --host "${HOST:-127.0.0.1}" --port "$port"
    --registry "$registry_url" --token "$token" --price-per-1k "${PRICE_PER_1K:-0}")
if [ -n "${PUBLIC_URL:-}" ]; then
    args+=(--public-url "$PUBLIC_URL")
fi
if [ -n "${API_KEYS:-}" ]; then
    args+=(--api-keys "$API_KEYS")
fi
echo "setup-node-operator: starting the node on port $port" >&2
exec .venv/bin/freescode "${args[@]}"
