"""`freescode run TASK FILE --line N`: the main job from the command line."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attrs import define

from freescode_lsp.commands.run_guard import EXIT_WORSE, add_argument, guard_answer
from freescode_lsp.commands.run_verify import add_arguments, run_verified, verify_problem
from freescode_lsp.commands.stand_in import EXIT_FALLBACK_REFUSED
from freescode_lsp.commands.stand_in import stand_in as answered_instead
from freescode_lsp.commands.writing import write_if_unchanged
from freescode_lsp.config import LoadedSettings, find_workspace, load_settings
from freescode_lsp.edits import lines_with_ends
from freescode_lsp.edits.line_endings import keep_line_endings, usual_ending
from freescode_lsp.engines.base import Chunk
from freescode_lsp.routing.router import Router
from freescode_lsp.system.files import UnreadableFile, read_regular
from freescode_lsp.task_table import RUNNABLE_TASKS, Produces, task_spec
from freescode_lsp.tasks.inputs import InDocstring, TaskRegion, task_input, task_region
from freescode_lsp.tasks.languages import language_of
from freescode_lsp.tasks.repair_context import Problem, with_clues
from freescode_lsp.tasks.retry import same_code
from freescode_lsp.tasks.runner import TaskOutcome, run_task
from freescode_lsp.verify.guard import GuardVerdict

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the `run` subcommand."""
    parser = subparsers.add_parser("run", help="run a task on the code unit around a line of a file")
    parser.add_argument("task", choices=RUNNABLE_TASKS)
    parser.add_argument("file", type=Path)
    parser.add_argument("--line", type=int, required=True, help="1-based line inside the code to work on")
    parser.add_argument("--model", help="model id (default: the one routing names for the task)")
    parser.add_argument("--apply", action="store_true", help="write the change to the file")
    parser.add_argument(
        "--allow-fallback",
        action="store_true",
        help="with --apply, also write an answer from a model other than the one asked for",
    )
    parser.add_argument("--quiet", action="store_true", help="do not stream the model's text")
    parser.add_argument("--verbose", action="store_true", help="say which config files were read")
    parser.add_argument("--why", help="the error you saw (a failing test, an exception), told to the model")
    add_arguments(parser)
    add_argument(parser)
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the task and print the stream, then the diff; never a traceback for bad input."""
    try:
        return asyncio.run(_run(args))
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except Exception as exc:
        log.debug("freescode run failed", exc_info=True)
        return _fail(f"internal error: {type(exc).__name__}: {str(exc)[:300]}")


def _fail(message: str, code: int = 1) -> int:
    print(f"freescode: {message}", file=sys.stderr)
    return code


def _settings_for(path: Path, verbose: bool) -> LoadedSettings:
    """Settings for the project holding the file: its nearest folder above with freescode.toml (or .git)."""
    try:
        folder = path.resolve().parent
    except (OSError, RuntimeError, ValueError):
        folder = path.absolute().parent
    root = find_workspace(folder)
    loaded = load_settings(root)
    if verbose:
        print(f"freescode: project root {root}", file=sys.stderr)
        read = ", ".join(loaded.sources) if loaded.sources else "none (built-in defaults)"
        print(f"freescode: config files read: {read}", file=sys.stderr)
    for problem in loaded.problems:
        print(f"freescode: config: {problem}", file=sys.stderr)
    return loaded


async def _run(args: argparse.Namespace) -> int:
    path: Path = args.file
    if (problem := verify_problem(args, task_spec(args.task).produces == "rewrite")) is not None:
        return _fail(problem, 2)
    loaded = _settings_for(path, args.verbose)
    try:
        raw_bytes = read_regular(path, loaded.settings.server.max_file_bytes)
    except UnreadableFile as exc:
        return _fail(f"{path} {exc}" + (" ([server] max_file_bytes)" if "limit" in str(exc) else ""))
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    if b"\0" in raw_bytes[:8192]:
        return _fail(f"{path} looks like a binary file; nothing to do")
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return _fail(f"{path} is not UTF-8 text")
    lines = lines_with_ends(text)
    if not lines:
        return _fail(f"{path} is empty")
    if not 1 <= args.line <= len(lines):
        return _fail(f"--line {args.line} is outside {path} (1..{len(lines)})", 2)
    language = language_of(str(path))
    try:
        region = task_region(text, language, args.task, args.line - 1)
    except InDocstring as exc:
        return _fail(
            f"line {args.line} of {path} is in a docstring (lines {exc.unit.start + 1}-{exc.unit.end}), not code; "
            "choose a line inside a function or statement",
            2,
        )
    item = with_clues(task_input(text, language, args.task, region), [Problem(args.why)] if args.why else [], args.line - 1)
    async with Router.from_settings(loaded.settings) as router:
        router.on_fallback = lambda label, why: print(f"\nfreescode: {label} could not answer: {why}", file=sys.stderr)
        model = args.model or router.model_for(args.task)
        if args.model and args.model not in router.catalog:
            return _fail(f"unknown model {args.model!r}; see `freescode models`", 2)
        where = f"{path}:{region.start + 1}-{region.end} ({_label(region)})"
        print(f"freescode: {args.task} on {where} with {model}", file=sys.stderr)
        for reason in _skipped(router, model):
            print(f"freescode: {reason}; falling back", file=sys.stderr)
        if args.verify:
            return await run_verified(args, loaded, router, item, region, raw_bytes, model)
        outcome = await run_task(router, item, model, None if args.quiet else _echo, loaded.settings.server.max_tokens)
    print(file=sys.stderr)
    print(f"freescode: {outcome.summary()}", file=sys.stderr)
    stand_in = answered_instead(router, outcome, args.task)
    rewrites = task_spec(args.task).produces == "rewrite"
    guard = await guard_answer(args, loaded, text, region.start, region.end, outcome.text) if rewrites else None
    return _report(Report(args, path, raw_bytes, text, lines, region.start, region.end, outcome, stand_in, guard))


def _label(region: TaskRegion) -> str:
    """What the region is, as `function area` or `statement`."""
    unit = region.unit
    if unit is None:
        return "lines"
    return unit.kind + (f" {unit.name}" if unit.name else "")


def _skipped(router: Router, model: str) -> list[str]:
    """Why the models before the first runnable one in the chain are skipped."""
    reasons = []
    for candidate_model in router.catalog.chain(model):
        if router.candidates_for_model(candidate_model):
            break
        reasons.extend(router.unavailable_reasons(candidate_model)[:1])
    return reasons


def _echo(chunk: Chunk) -> None:
    sys.stderr.write(chunk.text)
    sys.stderr.flush()


@define
class Report:
    """What the command knows when the model has answered: the file as read, the region and the outcome."""

    args: argparse.Namespace
    path: Path
    raw_bytes: bytes
    text: str
    lines: list[str]
    start: int
    end: int
    outcome: TaskOutcome
    stand_in: str | None
    guard: GuardVerdict | None = None


def _report(report: Report) -> int:
    """Print (and with --apply write) what the task produced, the way its spec's `produces` says."""
    outcome = report.outcome
    if outcome.problem and not outcome.findings and outcome.text is None:
        return _fail(outcome.problem)
    if report.stand_in is not None:
        print(f"freescode: note: {report.stand_in}; the answer below is {outcome.model}'s", file=sys.stderr)
    return REPORTERS[task_spec(report.args.task).produces](report)


def _report_findings(report: Report) -> int:
    """Each finding as `file:line: severity: message`."""
    for finding in report.outcome.findings:
        print(f"{report.path}:{finding.line}: {finding.severity}: {finding.message}")
    if not report.outcome.findings:
        print(f"{report.path}: no bugs found in lines {report.start + 1}-{report.end}")
    return 0


def _report_text(report: Report) -> int:
    """The explanation as it came."""
    print(report.outcome.text)
    return 0


def _report_rewrite(report: Report) -> int:
    """The diff of the rewrite; with --apply, the file written if it did not change meanwhile."""
    args, path, lines, start, end, outcome, stand_in = (
        report.args,
        report.path,
        report.lines,
        report.start,
        report.end,
        report.outcome,
        report.stand_in,
    )
    old_region = "".join(lines[start:end])
    new_region = keep_line_endings(lines[start:end], outcome.text or "", usual_ending(lines))
    new_text = "".join(lines[:start]) + new_region + "".join(lines[end:])
    if new_text == report.text:
        print(f"{path}: the model proposes no change" + (" (asked twice)" if outcome.tries > 1 else ""))
        return 0
    spec = task_spec(args.task)
    if same_code(old_region, new_region, language_of(str(path)) if spec.must_change_code else None):
        what = "comments, blank lines or trailing spaces" if spec.must_change_code else "blank lines or trailing spaces"
        print(f"{path}: the model proposed no real change (only {what} differ); left alone")
        return 0
    sys.stderr.flush()
    diff = difflib.unified_diff(lines, lines_with_ends(new_text), f"a/{path}", f"b/{path}")
    sys.stdout.writelines(line if line.endswith(("\n", "\r")) else line + "\n" for line in diff)
    sys.stdout.flush()
    if report.guard is not None and report.guard.worse:
        what = "not applied: " if args.apply else ""
        return _fail(f"{what}{report.guard.summary()} (pass --no-guard to write it anyway)", EXIT_WORSE)
    if not args.apply:
        if stand_in is not None:
            print(f"freescode: this diff is {outcome.model}'s answer: {stand_in}", file=sys.stderr)
        return 0
    if stand_in is not None and not args.allow_fallback:
        return _fail(
            f"not applied: {stand_in}; pass --allow-fallback to apply an answer from another model",
            EXIT_FALLBACK_REFUSED,
        )
    return write_if_unchanged(path, report.raw_bytes, new_text, stand_in)


REPORTERS: dict[Produces, Callable[[Report], int]] = {
    "findings": _report_findings,
    "text": _report_text,
    "rewrite": _report_rewrite,
}
