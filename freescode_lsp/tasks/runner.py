"""Run a task end to end on the router: stream, clean the answer, and a second stage where the task table names one."""

from __future__ import annotations

import ast
import json
import logging
import textwrap
import time
from collections.abc import Awaitable, Callable
from typing import Any

from attrs import define, field

from freescode_lsp.edits import lines_with_ends, split_lines
from freescode_lsp.engines.base import Chunk, EngineError, GenerationRequest, Usage
from freescode_lsp.routing.router import AllCandidatesFailed, Router
from freescode_lsp.task_table import Produces, task_spec
from freescode_lsp.tasks.parse_check import unparsable_reason
from freescode_lsp.tasks.prompts import TaskInput, build_request, cut_off_reason, first_line
from freescode_lsp.tasks.retry import sampled, second_try

ChunkHook = Callable[[Chunk], None]
log = logging.getLogger(__name__)


@define
class Finding:
    """One bug reported by the debug task, with 1-based inclusive file lines."""

    line: int
    end_line: int
    severity: str
    message: str


@define(frozen=True)
class Stage:
    """One model call of a task: which task's prompt it ran and which model answered."""

    task: str
    model: str | None


@define
class TaskOutcome:
    """What a task produced and who produced it."""

    task: str
    requested_model: str
    model: str | None = None
    engine: str | None = None
    raw: str = ""
    text: str | None = None
    problem: str | None = None
    usage: Usage = field(factory=Usage)
    cost_usd: float = 0.0
    seconds: float = 0.0
    first_token_s: float | None = None
    finish_reason: str | None = None
    findings: list[Finding] = field(factory=list)
    stages: list[Stage] = field(factory=list)
    tries: int = 1

    def summary(self) -> str:
        """One line for logs and status bars: model, engine, tokens, time."""
        who = f"{self.model or self.requested_model} ({self.engine or 'no engine'})"
        fallback = f", asked for {self.requested_model}" if self.model and self.model != self.requested_model else ""
        return (
            f"{self.task}: {who}{fallback}, {self.usage.prompt_tokens} prompt + "
            f"{self.usage.completion_tokens} completion tokens, {self.seconds:.1f} s"
        )


async def stream_request(
    router: Router, request: GenerationRequest, outcome: TaskOutcome, on_chunk: ChunkHook | None = None
) -> str:
    """Stream one request into the outcome (model, engine, usage, timing) and return the raw text."""
    started = time.monotonic()
    parts: list[str] = []
    prompt_tokens = outcome.usage.prompt_tokens
    completion_tokens = outcome.usage.completion_tokens
    try:
        async for chunk in router.stream(request, outcome.task):
            outcome.cost_usd += chunk.cost_usd or 0.0
            if chunk.text and outcome.first_token_s is None:
                outcome.first_token_s = time.monotonic() - started
            outcome.model = chunk.model or outcome.model
            outcome.engine = chunk.engine or outcome.engine
            outcome.finish_reason = chunk.finish_reason or outcome.finish_reason
            if chunk.usage is not None:
                outcome.usage = Usage(
                    prompt_tokens + chunk.usage.prompt_tokens, completion_tokens + chunk.usage.completion_tokens
                )
            parts.append(chunk.text)
            if on_chunk is not None:
                on_chunk(chunk)
    except AllCandidatesFailed as exc:
        outcome.cost_usd += exc.cost_usd
        raise
    outcome.seconds += time.monotonic() - started
    return "".join(parts)


async def run_rewrite(
    router: Router,
    item: TaskInput,
    model: str | None = None,
    on_chunk: ChunkHook | None = None,
    max_tokens: int = 1024,
) -> TaskOutcome:
    """fix / clean / refactor: the cleaned replacement for the target, or a problem saying why not; an answer that
    is the code unchanged is asked once more, sampled, when the task table gives a note for that and the model that
    answered is one the catalog asks twice."""
    outcome = TaskOutcome(item.task, model or router.model_for(item.task))
    await _rewrite_once(router, item, outcome, on_chunk, max_tokens)
    answered = router.catalog.get(outcome.model or outcome.requested_model)
    asks_twice = answered is None or answered.asks_twice
    again = second_try(item, outcome.text) if outcome.problem is None and asks_twice else None
    if again is None:
        return outcome
    first = outcome.text
    outcome.tries += 1
    await _rewrite_once(router, again, outcome, None, max_tokens, retry=True)
    if outcome.text is None:
        log.warning("the second answer was not usable either (%s); keeping the first", outcome.problem)
        outcome.text, outcome.problem = first, None
    return outcome


async def _rewrite_once(
    router: Router, item: TaskInput, outcome: TaskOutcome, on_chunk: ChunkHook | None, max_tokens: int, retry: bool = False
) -> None:
    """One answer to a rewrite, cleaned, merged by the second stage when it is a fragment, and checked."""
    from freescode_lsp.edits import clean_output, is_patch_or_fragment

    outcome.text, outcome.problem, outcome.finish_reason = None, None, None
    request = build_request(outcome.requested_model, item, max_tokens)
    try:
        outcome.raw = await stream_request(router, sampled(request) if retry or item.sampled else request, outcome, on_chunk)
    except EngineError as exc:
        outcome.problem = str(exc)
        return
    outcome.stages.append(Stage(item.task, outcome.model))
    cleaned = clean_output(outcome.raw, item.code)
    second = task_spec(item.task).second_stage
    if cleaned.text is not None and second is not None and is_patch_or_fragment(cleaned.text, item.code):
        helper = TaskInput(second, item.code, item.language, item.surrounding, extra=cleaned.text)
        try:
            merged_raw = await stream_request(router, build_request(router.model_for(second), helper, max_tokens), outcome)
        except EngineError as exc:
            outcome.problem = f"the answer was a fragment and merging it failed: {exc}"
            return
        outcome.stages.append(Stage(second, outcome.model))
        cleaned = clean_output(merged_raw, item.code)
    outcome.text = trim_to_unit(cleaned.text, item.code, item.language) if cleaned.text else cleaned.text
    outcome.problem = cleaned.reason or unusable_reason(outcome, item, max_tokens)
    if outcome.problem is None and outcome.text is not None:
        outcome.problem = await unparsable_reason(item, outcome.text)
    if outcome.problem:
        outcome.text = None


def unusable_reason(outcome: TaskOutcome, item: TaskInput, ceiling: int = 1024) -> str | None:
    """Why a cleaned rewrite must not be applied: cut off at a token limit (named), or data instead of code."""
    if outcome.finish_reason == "length":
        reason = cut_off_reason(item.code, ceiling, outcome.usage.completion_tokens)
        return f"{reason}; not applied"
    text = (outcome.text or "").strip()
    if item.language not in ("json", "jsonc") and text[:1] in "{[" and item.code.strip()[:1] not in "{[":
        try:
            json.loads(text)
        except ValueError:
            return None
        return "the model answered with JSON data instead of code, so it is not applied"
    return None


def trim_to_unit(answer: str, original: str, language: str) -> str:
    """Keep the rewritten Python function or class and the definitions the model put before it that run no call
    when defined; everything else (imports, statements, what follows) is dropped and logged."""
    if language != "python":
        return answer
    try:
        before, after = ast.parse(textwrap.dedent(original)).body, ast.parse(textwrap.dedent(answer)).body
    except (SyntaxError, ValueError):
        return answer
    units = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    if len(before) != 1 or not isinstance(before[0], units) or len(after) < 2:
        return answer
    name = before[0].name
    match = next((node for node in after if isinstance(node, units) and node.name == name), None)
    if match is None or match.end_lineno is None:
        return answer
    lines = lines_with_ends(answer)
    kept: list[str] = []
    dropped: list[str] = []
    previous_end = 0
    for node in after:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        source = lines[first - 1 : node.end_lineno]
        gap = [line for line in lines[previous_end : first - 1] if not line.strip() or line.lstrip().startswith("#")]
        previous_end = node.end_lineno or first
        if node is match or (node.lineno < match.lineno and isinstance(node, units) and not _calls_when_defined(node)):
            kept.extend((gap if kept else []) + source)
        else:
            dropped.extend(source)
    if dropped:
        log.warning("dropped top-level code the region did not have from the model's answer:\n%s", "".join(dropped))
    return "".join(kept)


def _calls_when_defined(node: ast.AST) -> bool:
    """Whether defining this function or class runs a call: decorators, defaults, annotations, bases, class body."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = node.args
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
        maybe = [
            *node.decorator_list,
            *arguments.defaults,
            *arguments.kw_defaults,
            node.returns,
            *(argument.annotation for argument in every if argument is not None),
        ]
        parts = [part for part in maybe if part is not None]
        return any(isinstance(inner, ast.Call) for part in parts for inner in ast.walk(part))
    if isinstance(node, ast.ClassDef):
        parts = [*node.decorator_list, *node.bases, *(keyword.value for keyword in node.keywords)]
        if any(isinstance(inner, ast.Call) for part in parts for inner in ast.walk(part)):
            return True
        return any(_calls_when_defined(statement) for statement in node.body)
    return any(isinstance(inner, ast.Call) for inner in ast.walk(node))


async def run_text(
    router: Router,
    item: TaskInput,
    model: str | None = None,
    on_chunk: ChunkHook | None = None,
    max_tokens: int = 1024,
) -> TaskOutcome:
    """analyze: the model's explanation as Markdown."""
    chosen = model or router.model_for(item.task)
    outcome = TaskOutcome(item.task, chosen)
    try:
        outcome.raw = await stream_request(router, build_request(chosen, item, max_tokens), outcome, on_chunk)
    except EngineError as exc:
        outcome.problem = str(exc)
        return outcome
    outcome.text = outcome.raw.strip() or None
    if outcome.text is None:
        outcome.problem = "the model returned nothing"
    return outcome


async def run_findings(
    router: Router,
    item: TaskInput,
    model: str | None = None,
    on_chunk: ChunkHook | None = None,
    max_tokens: int = 1024,
) -> TaskOutcome:
    """debug: findings parsed from the model's schema-constrained JSON, clamped to the target lines."""
    chosen = model or router.model_for(item.task)
    outcome = TaskOutcome(item.task, chosen)
    try:
        outcome.raw = await stream_request(router, build_request(chosen, item, max_tokens), outcome, on_chunk)
    except EngineError as exc:
        outcome.problem = str(exc)
        return outcome
    first = first_line(item)
    last_line = first + max(0, len(split_lines(item.code)) - 1)
    try:
        outcome.findings = parse_findings(outcome.raw, first, last_line)
    except ValueError as exc:
        outcome.problem = f"the model's findings could not be read: {exc}"
    return outcome


Runner = Callable[[Router, TaskInput, str | None, ChunkHook | None, int], Awaitable[TaskOutcome]]
RUNNERS: dict[Produces, Runner] = {"rewrite": run_rewrite, "text": run_text, "findings": run_findings}


async def run_task(
    router: Router,
    item: TaskInput,
    model: str | None = None,
    on_chunk: ChunkHook | None = None,
    max_tokens: int = 1024,
) -> TaskOutcome:
    """Run the item's task the way its spec in the task table says: the one path of the CLI and the editor."""
    return await RUNNERS[task_spec(item.task).produces](router, item, model, on_chunk, max_tokens)


def parse_findings(raw: str, first: int, last_line: int) -> list[Finding]:
    """Findings from the debug JSON, with lines clamped into [first, last_line]."""
    start = raw.find("{")
    if start < 0:
        raise ValueError("no JSON object in the answer")
    data: Any = json.JSONDecoder().raw_decode(raw[start:])[0]
    bugs = data.get("bugs") if isinstance(data, dict) else None
    if not isinstance(bugs, list):
        raise ValueError('expected {"bugs": [...]}')
    findings = []
    for bug in bugs:
        if not isinstance(bug, dict) or not isinstance(bug.get("message"), str) or not bug["message"].strip():
            continue
        line = _clamp(bug.get("line"), first, last_line)
        end_line = max(line, _clamp(bug.get("end_line", line), first, last_line))
        severity = bug["severity"] if bug.get("severity") in ("error", "warning", "information", "hint") else "warning"
        findings.append(Finding(line, end_line, severity, bug["message"].strip()))
    return findings


def _clamp(value: Any, low: int, high: int) -> int:
    number = value if isinstance(value, int) and not isinstance(value, bool) else low
    return min(max(number, low), high)
