"""The guard on `freescode run fix`: with a configured check (or --check), a plain fix is checked before it is written."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from freescode_lsp.config import LoadedSettings, find_workspace
from freescode_lsp.tasks.retry import same_code
from freescode_lsp.verify.guard import GuardVerdict, guard_check, guard_fix, limits_of
from freescode_lsp.verify.loop import FixTarget
from freescode_lsp.verify.scratch import WorkspaceTooLarge

EXIT_WORSE = 5


def add_argument(parser: Any) -> None:
    """The --no-guard option of `freescode run`."""
    parser.add_argument(
        "--no-guard",
        action="store_true",
        help="do not run [verify] command (or --check) on a plain fix before writing it",
    )


def _say(message: str) -> None:
    print(f"freescode: {message}", file=sys.stderr)


async def guard_answer(
    args: argparse.Namespace, loaded: LoadedSettings, text: str, start: int, end: int, answer: str | None
) -> GuardVerdict | None:
    """Check a rewrite's answer against the code before it, when a check is set up; None when nothing was checked."""
    if args.no_guard or args.verify or answer is None:
        return None
    path: Path = args.file
    workspace = find_workspace(path.resolve().parent)
    relative = path.resolve().relative_to(workspace.resolve())
    target = FixTarget(workspace, relative, text, start, end)
    new_text = target.with_region(answer)
    if same_code(text, new_text):
        return None
    check = guard_check(loaded, workspace, relative, args.check)
    if check is None:
        return None
    if isinstance(check, str):
        _say(f"the fix is not checked: {check}")
        return None
    _say(f"checking the fix with `{check.shown}` ({check.why})")
    try:
        verdict = await guard_fix(target, check, limits_of(loaded), new_text)
    except (WorkspaceTooLarge, OSError) as exc:
        _say(f"the fix is not checked: {exc}")
        return None
    _say(verdict.summary())
    return verdict
