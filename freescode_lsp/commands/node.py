"""`freescode node serve` runs a node gateway; `freescode node usage` shows what it served per client key."""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

from freescode_lsp.commands.node_serve import DEFAULT_CONTEXT, EMBEDDED, TOKEN_ENV, default_ledger, fail, serve_node


def register(subparsers: Any) -> None:
    """Add `node serve` and `node usage` to the CLI."""
    parser = subparsers.add_parser("node", help="run a node gateway that serves a model to the network")
    parser.set_defaults(handler=lambda args: _help(parser))
    actions = parser.add_subparsers(dest="node_command", metavar="ACTION")
    serve = actions.add_parser("serve", help="serve a model: start or front an engine, check keys, count, register")
    serve.add_argument("--model", required=True, help="the model id served and registered, e.g. gemma-3-270m")
    engine = serve.add_mutually_exclusive_group()
    engine.add_argument("--gguf", help=f"a .gguf file to serve through llama_cpp.server ('{EMBEDDED}': the embedded gemma)")
    engine.add_argument("--engine-url", help="an OpenAI-compatible engine to front, with or without /v1")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, required=True, help="port to listen on (0: any free port)")
    serve.add_argument(
        "--public-url",
        help="the URL clients and the registry reach this gateway at (default http://HOST:PORT); the registry"
        " asks the gateway there to prove that your operator token runs it",
    )
    serve.add_argument("--registry", help="registry URL to register with (replicas of one registry: URLs separated by commas)")
    serve.add_argument("--token", help=f"operator token for the registry (better: set {TOKEN_ENV}; arguments show in ps)")
    serve.add_argument(
        "--engine-api-key-env",
        metavar="NAME",
        help="environment variable holding the API key the fronted engine expects (sent as a Bearer token)",
    )
    serve.add_argument("--price-per-1k", type=_non_negative, default=0.0, help="price per 1000 tokens (default 0)")
    serve.add_argument("--context", type=_positive_int, default=DEFAULT_CONTEXT, help=f"context size (default {DEFAULT_CONTEXT})")
    serve.add_argument("--api-keys", type=Path, help="file of client keys, one `key` or `name:key` a line")
    serve.add_argument(
        "--max-concurrent",
        type=_positive_int,
        help="requests in flight at once (default 1 with --gguf, 4 with --engine-url;"
        " use 1 in front of a llama-cpp-python server)",
    )
    serve.add_argument("--queue", type=_non_negative_int, default=8, help="requests that may wait (default 8)")
    serve.add_argument("--max-connections", type=_positive_int, default=512, help="client connections open at once (512)")
    serve.add_argument(
        "--max-connections-per-client", type=_positive_int, default=32, help="connections from one address (default 32)"
    )
    serve.add_argument("--header-timeout-s", type=_non_negative, default=10.0, help="time for a request's headers (10)")
    serve.add_argument("--body-timeout-s", type=_non_negative, default=30.0, help="time for a request's body (30)")
    serve.add_argument(
        "--min-upload-rate", type=_non_negative, default=1024.0, help="bytes/s a body must keep up (default 1024; 0: none)"
    )
    serve.add_argument("--ledger", type=Path, help="earnings ledger (default: node-ledger.sqlite3 in the state dir)")
    serve.set_defaults(handler=serve_node)
    usage = actions.add_parser("usage", help="requests, tokens and earnings per client key")
    usage.add_argument("--ledger", type=Path, help="earnings ledger (default: node-ledger.sqlite3 in the state dir)")
    usage.add_argument("--json", action="store_true", help="print JSON")
    usage.set_defaults(handler=show_usage)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _integer(text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{text!r} must be between {low} and {high}")
    return value


def _positive_int(text: str) -> int:
    return _integer(text, 1, 100_000_000)


def _non_negative_int(text: str) -> int:
    return _integer(text, 0, 100_000)


def _port(text: str) -> int:
    return _integer(text, 0, 65535)


def show_usage(args: argparse.Namespace) -> int:
    """Print requests, tokens and earnings per client key."""
    from freescode_lsp.mesh.node.ledger import NodeLedger

    path = args.ledger or default_ledger()
    rows = []
    if path.is_file():
        try:
            ledger = NodeLedger(path)
        except (OSError, sqlite3.Error) as exc:
            return fail(f"cannot open the ledger {path}: {exc}", 1)
        try:
            rows = ledger.by_client()
        finally:
            ledger.close()
    keys = [row.to_json() for row in rows]
    total = {name: sum(entry[name] for entry in keys) for name in ("requests", "prompt_tokens", "completion_tokens", "earnings")}
    if args.json:
        print(json.dumps({"ledger": str(path), "keys": keys, "total": total}, indent=2))
        return 0
    if not keys:
        print(f"nothing served yet (ledger {path})")
        return 0
    print(f"{'key':<24} {'requests':>9} {'prompt':>10} {'completion':>11} {'earnings':>12}")
    for entry in [*keys, {"key": "total", **total}]:
        print(
            f"{entry['key']:<24} {entry['requests']:>9} {entry['prompt_tokens']:>10}"
            f" {entry['completion_tokens']:>11} {entry['earnings']:>12.6f}"
        )
    return 0
