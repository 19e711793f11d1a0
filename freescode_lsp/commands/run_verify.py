"""`freescode run fix FILE --line N --verify`: fix, check the candidate in a scratch copy, retry with the failure."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

from freescode_lsp.commands.stand_in import EXIT_FALLBACK_REFUSED, stand_in
from freescode_lsp.commands.writing import write_if_unchanged
from freescode_lsp.config import LoadedSettings, find_workspace
from freescode_lsp.config.values import BOUNDS, Attempts
from freescode_lsp.edits import lines_with_ends
from freescode_lsp.routing.router import Router
from freescode_lsp.tasks.inputs import TaskRegion
from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.verify.detect import ChosenCheck, NoCheck, choose_check
from freescode_lsp.verify.loop import Attempt, CheckLimits, FixTarget, VerifyResult, verify_fix
from freescode_lsp.verify.scratch import WorkspaceTooLarge

EXIT_NOT_VERIFIED = 4
UNTRUSTED_CHECK = "verify.command"


def add_arguments(parser: Any) -> None:
    """The --verify options of `freescode run`."""
    parser.add_argument("--verify", action="store_true", help="run a check on each candidate and retry on failure")
    parser.add_argument(
        "--check",
        help="the check to run ({file} and {tests} are filled in; default: [verify] command); without --verify, "
        "it guards the plain fix: an answer that makes passing tests fail is not written",
    )
    parser.add_argument("--attempts", type=int, help="how many candidates to try (default: [verify] attempts)")
    parser.add_argument(
        "--apply-unverified", action="store_true", help="with --apply, write the best candidate even if none passed"
    )


def _say(message: str) -> None:
    print(f"freescode: {message}", file=sys.stderr)


def _fail(message: str, code: int = 1) -> int:
    _say(message)
    return code


def _chosen(args: argparse.Namespace, loaded: LoadedSettings, workspace: Path, relative: Path) -> ChosenCheck | str:
    """The check to run, or why there is none to run."""
    if args.check is None and UNTRUSTED_CHECK in loaded.untrusted:
        return (
            f"the [verify] command of {workspace / 'freescode.toml'} is not run until you trust the file "
            f"(`freescode trust {workspace}`); or pass --check"
        )
    try:
        return choose_check(workspace, relative, args.check or loaded.settings.verify.command)
    except NoCheck as exc:
        return str(exc)


def _limits(args: argparse.Namespace, loaded: LoadedSettings) -> CheckLimits | str:
    settings = loaded.settings.verify
    attempts = settings.attempts if args.attempts is None else args.attempts
    if (problem := BOUNDS[Attempts].problem(attempts)) is not None:
        return f"--attempts: {problem}"
    return CheckLimits(attempts, settings.timeout_s, settings.max_output_bytes)


async def run_verified(
    args: argparse.Namespace,
    loaded: LoadedSettings,
    router: Router,
    item: TaskInput,
    region: TaskRegion,
    raw_bytes: bytes,
    model: str,
) -> int:
    """Run the loop, print each attempt's check, show the diff of the result and write it when allowed."""
    path: Path = args.file
    workspace = find_workspace(path.resolve().parent)
    relative = path.resolve().relative_to(workspace.resolve())
    check = _chosen(args, loaded, workspace, relative)
    if isinstance(check, str):
        return _fail(f"cannot verify: {check}", 2)
    limits = _limits(args, loaded)
    if isinstance(limits, str):
        return _fail(limits, 2)
    _say(f"check: `{check.shown}` ({check.why})")
    target = FixTarget(workspace, relative, raw_bytes.decode("utf-8"), region.start, region.end)
    try:
        result = await verify_fix(router, item, target, check, limits, model, _say, None, loaded.settings.server.max_tokens)
    except WorkspaceTooLarge as exc:
        return _fail(f"cannot verify: {exc}", 2)
    except OSError as exc:
        return _fail(f"cannot verify: {exc.strerror or exc}")
    _say(result.status())
    chosen: Attempt | None = result.passed or result.best
    if chosen is None or chosen.candidate is None:
        print(result.last_check.output[-4000:], file=sys.stderr)
        return _fail("no candidate to offer: none passed, and none kept the original's passing tests", EXIT_NOT_VERIFIED)
    other = stand_in(router, chosen.outcome, args.task)
    if other is not None:
        _say(f"note: {other}; the candidate below is {chosen.outcome.model}'s")
    return _finish(args, path, raw_bytes, target, result, chosen, other)


def _finish(
    args: argparse.Namespace,
    path: Path,
    raw_bytes: bytes,
    target: FixTarget,
    result: VerifyResult,
    chosen: Attempt,
    other: str | None,
) -> int:
    """Show the verified candidate (or the best one, with the last check's output) and write it when allowed."""
    assert chosen.candidate is not None
    new_text = target.with_region(chosen.candidate)
    if result.passed is None and chosen.check is not None:
        print(chosen.check.output[-4000:], file=sys.stderr)
        _say(
            f"best candidate: attempt {chosen.number}, {chosen.check.tests_passed()} tests passed "
            f"(the original: {result.original.tests_passed()}); not verified"
        )
    diff = difflib.unified_diff(lines_with_ends(target.text), lines_with_ends(new_text), f"a/{path}", f"b/{path}")
    sys.stdout.writelines(line if line.endswith(("\n", "\r")) else line + "\n" for line in diff)
    sys.stdout.flush()
    if not args.apply:
        return 0 if result.passed else EXIT_NOT_VERIFIED
    if result.passed is None and not args.apply_unverified:
        return _fail(
            "not applied: no candidate passed the check (pass --apply-unverified to write the best one)", EXIT_NOT_VERIFIED
        )
    if other is not None and not args.allow_fallback:
        return _fail(f"not applied: {other}; pass --allow-fallback to apply an answer from another model", EXIT_FALLBACK_REFUSED)
    return write_if_unchanged(path, raw_bytes, new_text, other)


def verify_problem(args: argparse.Namespace, rewrites: bool) -> str | None:
    """Why the --verify options cannot be used as given, or None."""
    if not rewrites and (args.verify or args.check is not None):
        return "--verify and --check work with tasks that rewrite code (fix, clean, refactor)"
    if args.verify and args.no_guard:
        return "--no-guard is for a plain fix; --verify checks every candidate"
    if not args.verify and (args.attempts is not None or args.apply_unverified):
        return "--attempts and --apply-unverified go with --verify"
    return None
