"""`freescode tasks`: the task table, as the language server and the command line use it."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from freescode_lsp.commands.models import format_table, network_view
from freescode_lsp.task_table import TASKS, TaskSpec, table_json

COLUMNS = ("task", "title", "produces", "default model", "answers now", "code action kind", "editor commands")


def register(subparsers: Any) -> None:
    """Add `tasks` to the CLI."""
    parser = subparsers.add_parser("tasks", help="list the tasks: what each produces and its default model")
    parser.add_argument("--json", action="store_true", help="print the task table as JSON, for editors and scripts")
    parser.set_defaults(handler=list_tasks)


def list_tasks(args: argparse.Namespace) -> int:
    """Print the task table, or the same as JSON with --json."""
    if args.json:
        print(json.dumps(table_json(), indent=2))
        return 0
    _, answering = asyncio.run(network_view([]))
    print(format_table([list(COLUMNS), *(_row(spec, answering.get(spec.id, "-")) for spec in TASKS)]))
    return 0


def _row(spec: TaskSpec, answers: str) -> list[str]:
    commands = spec.editor_commands
    shown = f"{commands.vscode}, :{commands.neovim}" if commands is not None else "-"
    if not spec.runnable:
        shown = "(internal stage)"
    return [spec.id, spec.title, spec.produces, spec.default_model, answers, spec.code_action_kind or "-", shown]
