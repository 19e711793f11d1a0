"""`freescode trust`: let a workspace's freescode.toml name nodes, a registry, budgets and model paths."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from freescode_lsp import trust
from freescode_lsp.config import find_workspace


def register(subparsers: Any) -> None:
    """Add `trust` to the CLI."""
    parser = subparsers.add_parser(
        "trust", help="trust a workspace's freescode.toml as it is now (nodes, registry, budget, model paths)"
    )
    parser.add_argument("folder", nargs="?", type=Path, help="the workspace (default: the project around this folder)")
    parser.add_argument("--forget", action="store_true", help="stop trusting it")
    parser.set_defaults(handler=run_trust)


def run_trust(args: argparse.Namespace) -> int:
    """Record (or forget) trust in the workspace's freescode.toml; exit 1 when there is nothing to do."""
    workspace = (args.folder or find_workspace(Path.cwd())).absolute()
    config = workspace / "freescode.toml"
    if args.forget:
        done = trust.forget(workspace)
        print(f"freescode: {config} is {'no longer' if done else 'not'} trusted", file=sys.stderr)
        return 0 if done else 1
    if not trust.trust(workspace):
        print(f"freescode: {config} cannot be read; nothing trusted", file=sys.stderr)
        return 1
    keys = trust.guarded_keys(_raw(config))
    what = ", ".join(keys) if keys else "nothing that needs trust yet"
    print(f"freescode: trusted {config} as it is now ({what}); a change to it must be trusted again", file=sys.stderr)
    return 0


def _raw(config: Path) -> dict[str, Any]:
    from freescode_lsp.config import read_toml

    raw, _ = read_toml(config)
    return raw or {}
