"""`freescode usage`: what model requests cost, by model and host, and the state of the remote budget."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from freescode_lsp import config
from freescode_lsp.routing.metering import (
    Ledger,
    LedgerError,
    budget_status,
    default_path,
    format_usd,
)

GROUPS = {"model": ("model",), "host": ("host",), "both": ("model", "host")}
NUMBERS = (
    ("requests", "requests"),
    ("failed", "failed"),
    ("prompt", "prompt_tokens"),
    ("completion", "completion_tokens"),
)


def register(subparsers: Any) -> None:
    """Add `usage` to the CLI."""
    parser = subparsers.add_parser("usage", help="show what model requests cost and the remote budget")
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")
    parser.add_argument("--since", type=_days, metavar="DAYS", help="only the last DAYS days (fractions allowed)")
    parser.add_argument("--by", choices=tuple(GROUPS), default="both", help="group by model, host or both (default)")
    parser.set_defaults(handler=show_usage)


def _days(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of days")
    return value


def _budget_limit() -> float | None:
    loaded = config.load_settings(Path.cwd())
    for problem in loaded.problems:
        print(f"freescode: config: {problem}", file=sys.stderr)
    return loaded.settings.network.budget_usd


def show_usage(args: argparse.Namespace) -> int:
    """Print spend per group with a total and the budget state, or the same as JSON."""
    limit = _budget_limit()
    path = default_path()
    since = time.time() - args.since * 86400 if args.since is not None else None
    keys = GROUPS[args.by]
    try:
        if path.exists():
            with Ledger(path) as ledger:
                rows = ledger.totals(keys, since)
                total = (ledger.totals((), since) or [_zero()])[0]
                spent = ledger.spent_usd()
        else:
            rows, total, spent = [], _zero(), 0.0
    except LedgerError as exc:
        print(f"freescode: {exc}", file=sys.stderr)
        return 1
    if args.json:
        report = {
            "ledger": str(path),
            "since": since,
            "by": list(keys),
            "rows": [_rounded(row) for row in rows],
            "total": _rounded(total),
            "budget": _budget_state(limit, spent),
        }
        print(json.dumps(report, indent=2))
        return 0
    if not rows:
        window = f" in the last {args.since:g} days" if args.since is not None else " yet"
        print(f"No model requests recorded{window} (ledger: {path}).")
    else:
        print(format_table(keys, rows, total))
    print(f"budget: {budget_status(limit, spent)}")
    return 0


def _zero() -> dict[str, Any]:
    return {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "failed": 0}


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "cost_usd": round(row["cost_usd"], 9)}


def _budget_state(limit: float | None, spent: float) -> dict[str, Any]:
    """The budget as JSON-ready values plus its status line."""
    return {
        "limit_usd": limit,
        "spent_usd": round(spent, 9),
        "remaining_usd": None if limit is None else round(max(0.0, limit - spent), 9),
        "exhausted": limit is not None and spent >= limit,
        "status": budget_status(limit, spent),
    }


def format_table(keys: Sequence[str], rows: Sequence[dict[str, Any]], total: dict[str, Any]) -> str:
    """Groups as aligned columns, text left and numbers right, with a total line."""
    header = [*keys, *(title for title, _ in NUMBERS), "cost"]
    body = [_cells(keys, row) for row in rows]
    footer = ["total", *([""] * (len(keys) - 1)), *_cells((), total)]
    table = [header, *body, footer]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]

    def render(line: Sequence[str]) -> str:
        cells = [
            cell.ljust(width) if i < len(keys) else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    return "\n".join(render(line) for line in table)


def _cells(keys: Sequence[str], row: dict[str, Any]) -> list[str]:
    groups = [str(row[key]) if row[key] is not None else "-" for key in keys]
    return [*groups, *(f"{row[name]:,}" for _, name in NUMBERS), format_usd(row["cost_usd"])]
