"""`freescode run TASK FILE --line N`: the main job from the command line."""

from __future__ import annotations

import argparse
import asyncio
import difflib
import sys
from pathlib import Path
from typing import Any

from freescode_lsp.config import load_settings
from freescode_lsp.edits import lines_with_ends
from freescode_lsp.engines.base import Chunk, SurroundingCode
from freescode_lsp.mesh.router import Router
from freescode_lsp.tasks.languages import language_of
from freescode_lsp.tasks.prompts import TaskInput
from freescode_lsp.tasks.runner import TaskOutcome, run_debug, run_rewrite, run_text

RUN_TASKS = ("fix", "clean", "refactor", "debug", "analyze")


def register(subparsers: Any) -> None:
    """Add the `run` subcommand."""
    parser = subparsers.add_parser("run", help="run a task on the code unit around a line of a file")
    parser.add_argument("task", choices=RUN_TASKS)
    parser.add_argument("file", type=Path)
    parser.add_argument("--line", type=int, required=True, help="1-based line inside the code to work on")
    parser.add_argument("--model", help="model id (default: the one routing names for the task)")
    parser.add_argument("--apply", action="store_true", help="write the change to the file")
    parser.add_argument("--quiet", action="store_true", help="do not stream the model's text")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the task and print the stream, then the diff."""
    return asyncio.run(_run(args))


def _fail(message: str, code: int = 1) -> int:
    print(f"freescode: {message}", file=sys.stderr)
    return code


async def _run(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {path}: {exc.strerror or exc}")
    if b"\0" in raw_bytes[:8192]:
        return _fail(f"{path} looks like a binary file; nothing to do")
    try:
        text = raw_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return _fail(f"{path} is not UTF-8 text")
    loaded = load_settings(path.resolve().parent)
    for problem in loaded.problems:
        print(f"freescode: config: {problem}", file=sys.stderr)
    lines = lines_with_ends(text)
    if not lines:
        return _fail(f"{path} is empty")
    if not 1 <= args.line <= len(lines):
        return _fail(f"--line {args.line} is outside {path} (1..{len(lines)})", 2)
    from freescode_lsp.tasks.units import enclosing_unit

    language = language_of(str(path))
    unit = enclosing_unit(text, args.line - 1, language)
    code = "".join(lines[unit.start : unit.end])
    surrounding = SurroundingCode(tuple(line.rstrip("\r\n") for line in lines), unit.start, unit.end)
    item = TaskInput(args.task, code, language, surrounding)
    router = Router.from_settings(loaded.settings)
    router.on_fallback = lambda label, why: print(f"\nfreescode: {label} could not answer: {why}", file=sys.stderr)
    model = args.model or router.model_for(args.task)
    if args.model and args.model not in router.catalog:
        return _fail(f"unknown model {args.model!r}; see `freescode models`", 2)
    print(f"freescode: {args.task} on {path}:{unit.start + 1}-{unit.end} ({unit.kind} {unit.name or ''}) with {model}",
          file=sys.stderr)
    for reason in _skipped(router, model):
        print(f"freescode: {reason}; falling back", file=sys.stderr)
    show = None if args.quiet else _echo
    try:
        if args.task in ("fix", "clean", "refactor"):
            outcome = await run_rewrite(router, item, model, show, loaded.settings.server.max_tokens)
        elif args.task == "debug":
            outcome = await run_debug(router, item, unit.start + 1, model, loaded.settings.server.max_tokens)
        else:
            outcome = await run_text(router, item, model, show, loaded.settings.server.max_tokens)
    finally:
        if router.local is not None:
            await router.local.aclose()
    print(file=sys.stderr)
    print(f"freescode: {outcome.summary()}", file=sys.stderr)
    return _report(args, path, text, lines, unit.start, unit.end, outcome)


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


def _report(
    args: argparse.Namespace, path: Path, text: str, lines: list[str], start: int, end: int, outcome: TaskOutcome
) -> int:
    if outcome.problem and not outcome.findings and outcome.text is None:
        return _fail(outcome.problem)
    if args.task == "debug":
        for finding in outcome.findings:
            print(f"{path}:{finding.line}: {finding.severity}: {finding.message}")
        if not outcome.findings:
            print(f"{path}: no bugs found in lines {start + 1}-{end}")
        return 0
    if args.task == "analyze":
        print(outcome.text)
        return 0
    new_region = outcome.text or ""
    new_text = "".join(lines[:start]) + new_region + "".join(lines[end:])
    if new_text == text:
        print(f"{path}: the model proposes no change")
        return 0
    diff = difflib.unified_diff(
        text.splitlines(keepends=True), new_text.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    sys.stdout.writelines(line if line.endswith("\n") else line + "\n" for line in diff)
    if args.apply:
        if path.read_text(encoding="utf-8") != text:
            return _fail(f"{path} changed while the model was working; not applied")
        path.write_text(new_text, encoding="utf-8")
        print(f"freescode: applied to {path}", file=sys.stderr)
    return 0
