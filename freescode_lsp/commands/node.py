"""`freescode node serve` runs a node gateway; `freescode node usage` shows what it served per client key."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any, NoReturn

from freescode_lsp import paths
from freescode_lsp.models.catalog import DEFAULT_MODEL

EMBEDDED = "embedded"
DEFAULT_CONTEXT = 4096
UNSPECIFIED_HOSTS = ("0.0.0.0", "::", "")
INSTALL_HINT = "pip install 'freescode-lsp[node]'"
TOKEN_ENV = "FREESCODE_OPERATOR_TOKEN"


def default_ledger() -> Path:
    """The earnings ledger in the state directory."""
    return paths.state_dir() / "node-ledger.sqlite3"


def register(subparsers: Any) -> None:
    """Add `node serve` and `node usage` to the CLI."""
    parser = subparsers.add_parser("node", help="run a node gateway that serves a model to the network")
    parser.set_defaults(handler=lambda args: _help(parser))
    actions = parser.add_subparsers(dest="node_command", metavar="ACTION")
    serve = actions.add_parser("serve", help="serve a model: start or front an engine, check keys, count, register")
    serve.add_argument("--model", required=True, help="the model id served and registered, e.g. gemma-3-270m")
    engine = serve.add_mutually_exclusive_group()
    engine.add_argument(
        "--gguf", help=f"a .gguf file to serve through llama_cpp.server ('{EMBEDDED}': the embedded gemma)"
    )
    engine.add_argument("--engine-url", help="an OpenAI-compatible engine to front, with or without /v1")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, required=True, help="port to listen on (0: any free port)")
    serve.add_argument("--public-url", help="the URL clients reach this gateway at (default http://HOST:PORT)")
    serve.add_argument("--registry", help="registry URL to register with")
    serve.add_argument(
        "--token", help=f"operator token for the registry (better: set {TOKEN_ENV}; arguments show in ps)"
    )
    serve.add_argument(
        "--engine-api-key-env",
        metavar="NAME",
        help="environment variable holding the API key the fronted engine expects (sent as a Bearer token)",
    )
    serve.add_argument("--price-per-1k", type=_non_negative, default=0.0, help="price per 1000 tokens (default 0)")
    serve.add_argument(
        "--context", type=_positive_int, default=DEFAULT_CONTEXT, help=f"context size (default {DEFAULT_CONTEXT})"
    )
    serve.add_argument("--api-keys", type=Path, help="file of client keys, one `key` or `name:key` a line")
    serve.add_argument(
        "--max-concurrent",
        type=_positive_int,
        help="requests in flight at once (default 1 with --gguf, 4 with --engine-url;"
        " use 1 in front of a llama-cpp-python server)",
    )
    serve.add_argument("--queue", type=_non_negative_int, default=8, help="requests that may wait (default 8)")
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


def _fail(message: str, code: int = 2) -> int:
    print(f"freescode: {message}", file=sys.stderr)
    return code


def _raise_exit(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)


def public_url(host: str, port: int, given: str | None) -> str | None:
    """The URL registered for this gateway; None when it cannot be known."""
    if given:
        return given.rstrip("/")
    if host in UNSPECIFIED_HOSTS:
        return None
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _gguf_for(args: argparse.Namespace) -> Path | None:
    """The .gguf file to serve, assembling the embedded model when asked; None when fronting a URL."""
    from freescode_lsp.models import weights

    if args.engine_url:
        return None
    if args.gguf in (None, EMBEDDED):
        return weights.ensure_embedded(weights.models_dir_for())
    return Path(args.gguf).expanduser()


def serve_node(args: argparse.Namespace) -> int:
    """Start or front the engine, bind the port, print `PORT n` and serve until interrupted."""
    if args.gguf is None and args.engine_url is None and args.model != DEFAULT_MODEL:
        return _fail(f"give --gguf FILE or --engine-url URL (only {DEFAULT_MODEL} has a built-in file)")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if bool(args.registry) != bool(token):
        return _fail(f"--registry needs an operator token: set {TOKEN_ENV} (or give --token)")
    engine_key = None
    if args.engine_api_key_env:
        if args.gguf is not None or not args.engine_url:
            return _fail("--engine-api-key-env goes with --engine-url")
        engine_key = os.environ.get(args.engine_api_key_env)
        if not engine_key:
            return _fail(f"--engine-api-key-env names {args.engine_api_key_env}, which is not set or empty")
    if args.api_keys is not None and not args.api_keys.is_file():
        return _fail(f"the client keys file {args.api_keys} does not exist")
    try:
        from freescode_lsp.mesh.node import engine as node_engine
        from freescode_lsp.mesh.node import gateway as node
        from freescode_lsp.mesh.node import server as node_server
        from freescode_lsp.mesh.node.keys import ClientKeys
        from freescode_lsp.mesh.node.ledger import NodeLedger
        from freescode_lsp.mesh.registry.app import bind
        from freescode_lsp.models.weights import ModelFileError
    except ModuleNotFoundError as exc:
        return _fail(f"the node gateway needs {exc.name}: {INSTALL_HINT}", 1)
    try:
        gguf = _gguf_for(args)
    except ModelFileError as exc:
        return _fail(str(exc), 1)
    if gguf is not None and not gguf.is_file():
        return _fail(f"the model file {gguf} does not exist")
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc}", 1)
    port = int(sock.getsockname()[1])
    registration = None
    if args.registry:
        url = public_url(args.host, port, args.public_url)
        if url is None:
            sock.close()
            return _fail(f"--host {args.host} needs --public-url to register (the URL clients reach)")
        registration = node.RegistryTarget(args.registry, token, url)
    ledger_path = args.ledger or default_ledger()
    try:
        ledger = NodeLedger(ledger_path)
    except (OSError, sqlite3.Error) as exc:
        sock.close()
        return _fail(f"cannot open the ledger {ledger_path}: {exc}", 1)
    engine = None
    previous = signal.signal(signal.SIGTERM, _raise_exit)
    try:
        if gguf is not None:
            engine = node_engine.ManagedEngine(gguf, args.model, args.context)
            print(f"freescode node: starting the engine for {gguf} on {engine.url}", file=sys.stderr, flush=True)
            try:
                engine.start()
            except (node_engine.EngineFailed, OSError) as exc:
                return _fail(str(exc), 1)
            print(f"freescode node: engine pid {engine.pid} ready on {engine.url}", file=sys.stderr, flush=True)
        options = node.GatewayOptions(
            model=args.model,
            engine_url=engine.url if engine is not None else args.engine_url,
            price_per_1k=args.price_per_1k,
            context=args.context,
            max_concurrent=args.max_concurrent or (1 if engine is not None else 4),
            queue=args.queue,
            exclusive=engine is not None,
            engine_api_key=engine_key,
        )
        keys = ClientKeys(args.api_keys, node.new_probe_key())
        gateway = node.Gateway(options, keys, ledger, engine, registration)
        print(f"PORT {port}", flush=True)
        print(
            f"freescode node: serving {args.model} on {args.host}:{port}, ledger {ledger_path}",
            file=sys.stderr,
            flush=True,
        )
        node_server.serve(gateway, sock)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if engine is not None:
            engine.stop()
        ledger.close()
        sock.close()
    return 0


def show_usage(args: argparse.Namespace) -> int:
    """Print requests, tokens and earnings per client key."""
    from freescode_lsp.mesh.node.ledger import NodeLedger

    path = args.ledger or default_ledger()
    rows = []
    if path.is_file():
        try:
            ledger = NodeLedger(path)
        except (OSError, sqlite3.Error) as exc:
            return _fail(f"cannot open the ledger {path}: {exc}", 1)
        try:
            rows = ledger.by_client()
        finally:
            ledger.close()
    keys = [row.to_json() for row in rows]
    total = {
        name: sum(entry[name] for entry in keys)
        for name in ("requests", "prompt_tokens", "completion_tokens", "earnings")
    }
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
