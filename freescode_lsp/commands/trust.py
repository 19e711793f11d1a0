"""`freescode trust`: let a workspace's freescode.toml name nodes, a registry, budgets and model paths."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from freescode_lsp.config import find_workspace, parse_toml, read_config_bytes, trust

YES = ("y", "yes")


def register(subparsers: Any) -> None:
    """Add `trust` to the CLI."""
    parser = subparsers.add_parser(
        "trust", help="trust a workspace's freescode.toml as it is now (nodes, registry, budget, model paths)"
    )
    parser.add_argument(
        "folder", nargs="?", type=Path, help="the folder holding freescode.toml (default: this folder; asks before a parent's)"
    )
    parser.add_argument("--forget", action="store_true", help="stop trusting it")
    parser.set_defaults(handler=run_trust)


def run_trust(args: argparse.Namespace) -> int:
    """Record (or forget) trust in the workspace's freescode.toml as shown; exit 1 when nothing was done."""
    if args.forget:
        workspace = (args.folder or find_workspace(Path.cwd())).absolute()
        done = trust.forget(workspace)
        print(f"freescode: {workspace / trust.WORKSPACE_FILE} is {'no longer' if done else 'not'} trusted", file=sys.stderr)
        return 0 if done else 1
    workspace = args.folder.absolute() if args.folder else _workspace_here()
    if workspace is None:
        return 1
    config = workspace / trust.WORKSPACE_FILE
    content, problems = read_config_bytes(config)
    if content is None:
        why = "; ".join(problems) if problems else f"{config} does not exist"
        print(f"freescode: {why}; nothing trusted", file=sys.stderr)
        return 1
    if args.folder is None and workspace != Path.cwd().absolute() and not _confirmed(config, content):
        return 1
    digest = trust.digest_of(content)
    trust.trust(workspace, digest)
    print(f"freescode: trusted {config} as it is now (sha256 {digest[:12]}): {_what(config, content)}", file=sys.stderr)
    print("freescode: a change to it must be trusted again", file=sys.stderr)
    return 0


def _workspace_here() -> Path | None:
    """This folder when it has a freescode.toml, else the project's folder above it (confirmed later); None: nothing."""
    here = Path.cwd().absolute()
    if _has_config(here):
        return here
    above = find_workspace(here)
    if above != here and _has_config(above):
        return above
    print(f"freescode: there is no {trust.WORKSPACE_FILE} in {here}; nothing trusted", file=sys.stderr)
    return None


def _has_config(folder: Path) -> bool:
    try:
        return (folder / trust.WORKSPACE_FILE).exists()
    except OSError:
        return False


def _confirmed(config: Path, content: bytes) -> bool:
    """Whether the user agrees to trust a freescode.toml in a folder above this one; without a terminal, no."""
    command = f"freescode trust {shlex.quote(str(config.parent))}"
    where = f"there is no {trust.WORKSPACE_FILE} in {Path.cwd().absolute()}; the one that applies here is {config}"
    if not sys.stdin.isatty():
        print(f"freescode: {where}. Not trusted without asking; to trust it, run: {command}", file=sys.stderr)
        return False
    print(f"freescode: {where}, which {_what(config, content)}", file=sys.stderr)
    sys.stderr.write(f"Trust {config} as it is now? [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in YES:
        print("freescode: nothing trusted", file=sys.stderr)
    return answer in YES


def _what(config: Path, content: bytes) -> str:
    """What the file sets that needs trust, in the user's words."""
    raw, _ = parse_toml(content, config)
    sets = trust.what_it_sets(raw or {})
    return "sets " + ", ".join(sets) if sets else "sets nothing that needs trust yet"
