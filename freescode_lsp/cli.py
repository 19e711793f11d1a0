"""The `freescode` command line: one subcommand module per job."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from freescode_lsp import __version__

SUBCOMMANDS = ("run", "tasks", "models", "usage", "doctor", "trust", "settings", "node", "registry")


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand that can be imported here."""
    parser = argparse.ArgumentParser(prog="freescode", description="Free-S_Code: AI code tasks on local or network models.")
    parser.add_argument("--version", action="version", version=f"freescode {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"freescode_lsp.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("freescode_lsp.commands"):
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
