"""`freescode node serve` in steps: check the request, find the model file, open what it needs, run the gateway.

Each step either returns what the next one needs or raises `Refused` with the message and exit code the
user sees; what a step opened is closed by the `ExitStack` of `serve_node`, in reverse order.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from attrs import frozen

from freescode_lsp.errors import FreescodeError
from freescode_lsp.models.catalog import DEFAULT_MODEL
from freescode_lsp.system import paths

if TYPE_CHECKING:
    from freescode_lsp.mesh.node.engine import ManagedEngine
    from freescode_lsp.mesh.node.gateway import RegistryTarget
    from freescode_lsp.mesh.node.ledger import NodeLedger

EMBEDDED = "embedded"
DEFAULT_CONTEXT = 4096
UNSPECIFIED_HOSTS = ("0.0.0.0", "::", "")
INSTALL_HINT = "pip install 'freescode-lsp[node]'"
TOKEN_ENV = "FREESCODE_OPERATOR_TOKEN"


class Refused(FreescodeError):
    """Why `node serve` stops before serving, and the exit code (2: the request, 1: the machine)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@frozen
class NodeRequest:
    """The checked secrets of a `node serve` request: the operator token and the fronted engine's key."""

    token: str | None
    engine_key: str | None


def default_ledger() -> Path:
    """The earnings ledger in the state directory."""
    return paths.state_dir() / "node-ledger.sqlite3"


def fail(message: str, code: int = 2) -> int:
    """Say what went wrong on stderr, the CLI's way, and return the exit code."""
    print(f"freescode: {message}", file=sys.stderr)
    return code


def public_url(host: str, port: int, given: str | None) -> str | None:
    """The URL registered for this gateway; None when it cannot be known."""
    if given:
        return given.rstrip("/")
    if host in UNSPECIFIED_HOSTS:
        return None
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve_node(args: argparse.Namespace) -> int:
    """Start or front the engine, bind the port, print `PORT n` and serve until interrupted."""
    try:
        request = check_request(args)
        require_node_extras()
        gguf = model_file(args)
        with contextlib.ExitStack() as opened:
            run_gateway(args, request, gguf, opened)
    except Refused as refused:
        return fail(str(refused), refused.code)
    return 0


def check_request(args: argparse.Namespace) -> NodeRequest:
    """The arguments checked against each other and the environment, before anything is opened."""
    if args.gguf is None and args.engine_url is None and args.model != DEFAULT_MODEL:
        raise Refused(f"give --gguf FILE or --engine-url URL (only {DEFAULT_MODEL} has a built-in file)")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if bool(args.registry) != bool(token):
        raise Refused(f"--registry needs an operator token: set {TOKEN_ENV} (or give --token)")
    engine_key = _engine_key(args)
    for flag, seconds in (("--header-timeout-s", args.header_timeout_s), ("--body-timeout-s", args.body_timeout_s)):
        if seconds <= 0:
            raise Refused(f"{flag} must be more than 0")
    if args.api_keys is not None and not args.api_keys.is_file():
        raise Refused(f"the client keys file {args.api_keys} does not exist")
    return NodeRequest(token, engine_key)


def _engine_key(args: argparse.Namespace) -> str | None:
    """The fronted engine's API key, read from the variable `--engine-api-key-env` names."""
    if not args.engine_api_key_env:
        return None
    if args.gguf is not None or not args.engine_url:
        raise Refused("--engine-api-key-env goes with --engine-url")
    key = os.environ.get(args.engine_api_key_env)
    if not key:
        raise Refused(f"--engine-api-key-env names {args.engine_api_key_env}, which is not set or empty")
    return key


def require_node_extras() -> None:
    """Refuse, with the install hint, when the gateway's optional packages are missing."""
    try:
        import freescode_lsp.mesh.node.server
        import freescode_lsp.mesh.registry.app  # noqa: F401
    except ModuleNotFoundError as exc:
        raise Refused(f"the node gateway needs {exc.name}: {INSTALL_HINT}", 1) from None


def model_file(args: argparse.Namespace) -> Path | None:
    """The .gguf file to serve, assembling the embedded model when asked; None when fronting a URL."""
    from freescode_lsp.models import weights

    if args.engine_url:
        return None
    try:
        gguf = (
            weights.ensure_embedded(weights.models_dir_for()) if args.gguf in (None, EMBEDDED) else Path(args.gguf).expanduser()
        )
    except weights.ModelFileError as exc:
        raise Refused(str(exc), 1) from None
    if not gguf.is_file():
        raise Refused(f"the model file {gguf} does not exist")
    return gguf


def run_gateway(args: argparse.Namespace, request: NodeRequest, gguf: Path | None, opened: contextlib.ExitStack) -> None:
    """Open the port, the registration, the ledger and the engine, then serve until interrupted."""
    from freescode_lsp.mesh.node import gateway as node
    from freescode_lsp.mesh.node import server as node_server
    from freescode_lsp.mesh.node.keys import ClientKeys
    from freescode_lsp.mesh.serving_deadlines import Deadlines
    from freescode_lsp.mesh.serving_guard import ConnectionLimits, SparseLog

    sock = opened.enter_context(_listening(args.host, args.port))
    port = int(sock.getsockname()[1])
    registration = _registration(args, request, port)
    ledger_path = args.ledger or default_ledger()
    ledger = opened.enter_context(_ledger(ledger_path))
    engine = opened.enter_context(_engine(gguf, args))
    options = node.GatewayOptions(
        model=args.model,
        engine_url=engine.url if engine is not None else args.engine_url,
        price_per_1k=args.price_per_1k,
        context=args.context,
        max_concurrent=args.max_concurrent or (1 if engine is not None else 4),
        queue=args.queue,
        exclusive=engine is not None,
        engine_api_key=request.engine_key,
        body_timeout_s=args.body_timeout_s,
    )
    gateway = node.Gateway(options, ClientKeys(args.api_keys, node.new_probe_key()), ledger, engine, registration)
    deadlines = Deadlines(args.header_timeout_s, args.body_timeout_s, SparseLog(_say), args.min_upload_rate)
    limits = ConnectionLimits(args.max_connections, args.max_connections_per_client)
    print(f"PORT {port}", flush=True)
    _say(f"serving {args.model} on {args.host}:{port}, ledger {ledger_path}")
    if limits.total() < args.max_connections:
        _say(f"at most {limits.total()} client connections at once: the open-file limit leaves no room for more")
    node_server.serve(gateway, sock, deadlines, limits)


@contextlib.contextmanager
def _listening(host: str, port: int) -> Iterator[socket.socket]:
    """A listening socket on host:port, closed at the end."""
    from freescode_lsp.mesh.serving import bind

    try:
        sock = bind(host, port)
    except OSError as exc:
        raise Refused(f"cannot listen on {host}:{port}: {exc}", 1) from None
    with sock:
        yield sock


def _registration(args: argparse.Namespace, request: NodeRequest, port: int) -> RegistryTarget | None:
    """Where and as whom to register, when `--registry` is given."""
    from freescode_lsp.mesh.node.gateway import RegistryTarget

    if not args.registry:
        return None
    url = public_url(args.host, port, args.public_url)
    if url is None:
        raise Refused(f"--host {args.host} needs --public-url to register (the URL clients reach)")
    assert request.token is not None, "a request with --registry has its token (checked with the request)"
    return RegistryTarget(args.registry, request.token, url)


@contextlib.contextmanager
def _ledger(path: Path) -> Iterator[NodeLedger]:
    """The earnings ledger, closed at the end."""
    from freescode_lsp.mesh.node.ledger import NodeLedger

    try:
        ledger = NodeLedger(path)
    except (OSError, sqlite3.Error) as exc:
        raise Refused(f"cannot open the ledger {path}: {exc}", 1) from None
    try:
        yield ledger
    finally:
        ledger.close()


@contextlib.contextmanager
def _engine(gguf: Path | None, args: argparse.Namespace) -> Iterator[ManagedEngine | None]:
    """The engine child for a .gguf (None when fronting a URL), with SIGTERM exiting cleanly until it stops."""
    from freescode_lsp.mesh.node.engine import EngineFailed, ManagedEngine

    previous = signal.signal(signal.SIGTERM, _raise_exit)
    engine = None
    try:
        if gguf is not None:
            engine = ManagedEngine(gguf, args.model, args.context)
            _say(f"starting the engine for {gguf} on {engine.url}")
            try:
                engine.start()
            except (EngineFailed, OSError) as exc:
                raise Refused(str(exc), 1) from None
            _say(f"engine pid {engine.pid} ready on {engine.url}")
        yield engine
    finally:
        signal.signal(signal.SIGTERM, previous)
        if engine is not None:
            engine.stop()


def _say(message: str) -> None:
    print(f"freescode node: {message}", file=sys.stderr, flush=True)


def _raise_exit(signum: int, frame: object) -> NoReturn:
    raise SystemExit(128 + signum)
