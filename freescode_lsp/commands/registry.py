"""`freescode registry serve`: run the registry of models and the nodes serving them."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

from freescode_lsp.system import paths

DEFAULT_PORT = 8780


def register(subparsers: Any) -> None:
    """Add `registry serve` to the CLI."""
    parser = subparsers.add_parser("registry", help="run the registry of models and the nodes serving them")
    parser.set_defaults(handler=lambda args: _help(parser))
    actions = parser.add_subparsers(dest="registry_command", metavar="ACTION")
    serve = actions.add_parser("serve", help="serve the catalog and node registrations over HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free port)")
    serve.add_argument(
        "--db",
        help="SQLite file (default: registry.sqlite3 in the state directory), or a postgresql://user@host/dbname URL"
        " that any number of replicas share (password from the URL, PGPASSWORD or ~/.pgpass)",
    )
    serve.add_argument(
        "--operator-tokens",
        type=Path,
        help="file of operator tokens, one `token` or `name:token` a line (also FREESCODE_OPERATOR_TOKENS)",
    )
    serve.add_argument("--lease-s", type=_positive, default=30.0, help="seconds a node stays listed without a heartbeat")
    serve.add_argument("--probe-interval-s", type=_positive, default=10.0, help="seconds between probes of each node")
    serve.add_argument(
        "--probe-timeout-s", type=_positive, default=3.0, help="time limit of one whole probe of a node (default 3)"
    )
    serve.add_argument("--purge-after-s", type=_positive, default=3600.0, help="forget nodes silent this long")
    serve.add_argument(
        "--max-nodes-per-operator", type=_count, default=16, help="registrations one operator may hold (default 16)"
    )
    serve.add_argument(
        "--allow-loopback-nodes",
        action="store_true",
        help="also list and probe nodes on this machine's loopback addresses (127.0.0.0/8, ::1): one-machine setups",
    )
    serve.add_argument(
        "--allow-private-nodes",
        action="store_true",
        help="also list and probe nodes on private-network addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7,"
        " fec0::/10); other special-purpose addresses are never probed",
    )
    serve.add_argument(
        "--header-timeout-s", type=_positive, default=10.0, help="seconds a request's headers may take (default 10)"
    )
    serve.add_argument("--body-timeout-s", type=_positive, default=10.0, help="seconds a request's body may take (default 10)")
    serve.add_argument(
        "--listing-max-age-s",
        type=_positive,
        default=1.0,
        help="seconds a model listing may be old: how soon other replicas' heartbeats show (changes show at once)",
    )
    serve.set_defaults(handler=serve_registry)


def _needs_postgres_driver() -> None:
    """ModuleNotFoundError unless psycopg and its pool are installed."""
    import psycopg  # noqa: F401
    import psycopg_pool  # noqa: F401


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def serve_registry(args: argparse.Namespace) -> int:
    """Open the database, bind the port, print `PORT n` and serve until interrupted."""
    try:
        from freescode_lsp.mesh import serving
        from freescode_lsp.mesh.registry import app as registry
        from freescode_lsp.mesh.registry.addresses import AddressPolicy
        from freescode_lsp.mesh.registry.auth import load_tokens
        from freescode_lsp.mesh.registry.database import StoreUnavailable, is_postgres
        from freescode_lsp.mesh.registry.probe_rounds import RegistrySettings
        from freescode_lsp.mesh.registry.store import RegistryStore
    except ModuleNotFoundError as exc:
        print(f"freescode: the registry needs {exc.name}: pip install 'freescode-lsp[registry]'", file=sys.stderr)
        return 1
    try:
        tokens = load_tokens(args.operator_tokens, os.environ)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"freescode: cannot read the operator tokens: {exc}", file=sys.stderr)
        return 2
    if not tokens:
        print("freescode: warning: no operator tokens; no node can register", file=sys.stderr)
    db: str | Path = args.db or paths.state_dir() / "registry.sqlite3"
    try:
        if is_postgres(db):
            _needs_postgres_driver()
        else:
            db = Path(db)
            db.parent.mkdir(parents=True, exist_ok=True)
        store = RegistryStore(db)
    except ModuleNotFoundError as exc:
        print(f"freescode: a PostgreSQL registry needs {exc.name}: pip install 'freescode-lsp[registry]'", file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error, StoreUnavailable) as exc:
        print(f"freescode: cannot open the registry database: {exc}", file=sys.stderr)
        return 1
    try:
        sock = serving.bind(args.host, args.port)
    except OSError as exc:
        store.close()
        print(f"freescode: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    settings = RegistrySettings(
        lease_s=args.lease_s,
        probe_interval_s=args.probe_interval_s,
        probe_timeout_s=args.probe_timeout_s,
        purge_after_s=args.purge_after_s,
        max_nodes_per_operator=args.max_nodes_per_operator,
        addresses=AddressPolicy(allow_loopback=args.allow_loopback_nodes, allow_private=args.allow_private_nodes),
        header_timeout_s=args.header_timeout_s,
        body_timeout_s=args.body_timeout_s,
        listing_max_age_s=args.listing_max_age_s,
    )
    print(f"PORT {port}", flush=True)
    print(f"freescode registry: serving on {args.host}:{port}, database {store.describe()}", file=sys.stderr, flush=True)
    allowed = {"loopback": args.allow_loopback_nodes, "private": args.allow_private_nodes}
    kinds = ["public", *(kind for kind, on in allowed.items() if on)]
    print(f"freescode registry: lists nodes on {', '.join(kinds)} addresses", file=sys.stderr, flush=True)
    try:
        registry.serve(store, tokens, settings, sock)
    finally:
        store.close()
    return 0
