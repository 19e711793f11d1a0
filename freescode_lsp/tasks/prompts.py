"""Prompts per task, in chat form for instruct models and completion form for base models."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from attrs import define

from freescode_lsp.edits import split_lines
from freescode_lsp.engines.base import (
    CONTEXT_PLACEHOLDER,
    GenerationRequest,
    Infill,
    Message,
    SurroundingCode,
)
from freescode_lsp.task_table import task_spec

if TYPE_CHECKING:
    from freescode_lsp.tasks.repair_context import Clues

SYSTEM = (
    "You are an expert programmer inside the user's editor. Answer with code only, in one fenced "
    "code block, unless asked for an explanation. Keep the code's style and indentation."
)

DEBUG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "bugs": {
            "type": "array",
            "maxItems": 5,
            "items": {
                "type": "object",
                "properties": {
                    "line": {"type": "integer"},
                    "end_line": {"type": "integer"},
                    "severity": {"enum": ["error", "warning", "information", "hint"]},
                    "message": {"type": "string", "minLength": 1, "maxLength": 160},
                },
                "required": ["line", "end_line", "severity", "message"],
            },
        }
    },
    "required": ["bugs"],
}


@define(frozen=True)
class TaskInput:
    """The code a task works on: the target lines, the file around them, what else is known about it, and whether it
    is asked sampled (a retry that should be able to answer differently) rather than near-greedy."""

    task: str
    code: str
    language: str
    surrounding: SurroundingCode | None = None
    extra: str | None = None
    clues: Clues | None = None
    sampled: bool = False


def _fence(language: str, code: str) -> str:
    return f"```{language}\n{code.rstrip(chr(10))}\n```"


def _numbered(code: str, first_line: int) -> str:
    return "\n".join(f"{first_line + i:>4} | {line}" for i, line in enumerate(split_lines(code)))


def _context_block(language: str, surrounding: SurroundingCode | None) -> str:
    if surrounding is None or len(surrounding.lines) <= surrounding.target_end - surrounding.target_start:
        return ""
    return f"The file around it, for reference only (do not repeat it):\n```{language}\n{CONTEXT_PLACEHOLDER}\n```\n\n"


TEXT_ANSWER_TOKENS = 600
REWRITE_TOKENS_PER_BYTE = 2
REWRITE_EXTRA_TOKENS = 128


def rewrite_budget(code: str) -> int:
    """Tokens a rewrite of the code always fits in: a token is at least a byte, so twice the bytes, plus a fence."""
    return len(code.encode("utf-8")) * REWRITE_TOKENS_PER_BYTE + REWRITE_EXTRA_TOKENS


def text_budget(ceiling: int) -> int:
    """The answer budget of a text or findings request: a fixed one, capped by [server] max_tokens."""
    return min(ceiling, TEXT_ANSWER_TOKENS)


def rewrite_tokens(code: str, ceiling: int) -> int:
    """The answer budget of a rewrite request: the rewrite budget, capped by [server] max_tokens."""
    return max(64, min(ceiling, rewrite_budget(code)))


def cut_off_reason(code: str, ceiling: int, completion_tokens: int) -> str:
    """Which limit cut a rewrite off and how to raise it, in plain words."""
    limit = rewrite_tokens(code, ceiling)
    if 0 < completion_tokens < limit - 8:
        return (
            f"the model's answer was cut off at the token limit of its context window after {completion_tokens} "
            "tokens; raise [local] max_context (or the model's context) or work on fewer lines"
        )
    if limit == ceiling:
        return (
            f"the model's answer was cut off at the token limit of {limit} tokens set by [server] max_tokens; "
            "raise [server] max_tokens"
        )
    return (
        f"the model's answer was cut off at the token limit of {limit} tokens, this code's answer budget (twice its "
        f"{len(code.encode('utf-8')):,} bytes + {REWRITE_EXTRA_TOKENS}, which a rewrite of it fits in); the model "
        "wrote far more than the code, so its answer is not a rewrite of it"
    )


def _instruction(item: TaskInput, language: str) -> str:
    """The task's instruction from the task table, for this language."""
    return task_spec(item.task).instruction.format(language=language)


def first_line(item: TaskInput) -> int:
    return (item.surrounding.target_start + 1) if item.surrounding else 1


def findings_request(model: str, item: TaskInput, ceiling: int) -> GenerationRequest:
    """Find bugs: the numbered lines, answered as JSON findings under DEBUG_SCHEMA."""
    language = item.language or "text"
    body = _numbered(item.code, first_line(item))
    context = _context_block(language, item.surrounding)
    user = f"{context}{_instruction(item, language)}\n\n```{language}\n{body}\n```"
    prompt = f"Bugs found in this {language} code, as JSON.\n\n```{language}\n{body}\n```\n\nJSON: "
    return _text_request(model, user, prompt, item, ceiling, temperature=0.0, json_schema=DEBUG_SCHEMA)


def explain_request(model: str, item: TaskInput, ceiling: int) -> GenerationRequest:
    """Explain: the code, answered in Markdown."""
    language = item.language or "text"
    context = _context_block(language, item.surrounding)
    user = f"{context}{_instruction(item, language)}\n\n{_fence(language, item.code)}"
    prompt = f"{_fence(language, item.code)}\n\nWhat this code does, explained in plain words:\n"
    return _text_request(model, user, prompt, item, ceiling, temperature=0.2, stop=["\n\n\n", "```"])


def _text_request(model: str, user: str, prompt: str, item: TaskInput, ceiling: int, **options: Any) -> GenerationRequest:
    return GenerationRequest(
        model=model,
        messages=[Message("system", SYSTEM), Message("user", user)],
        prompt=prompt,
        max_tokens=text_budget(ceiling),
        surrounding=item.surrounding,
        **options,
    )


def merge_request(model: str, item: TaskInput, ceiling: int) -> GenerationRequest:
    """The fix's second stage: apply the proposed change in `item.extra` to the code."""
    language = item.language or "text"
    user = (
        f"{_instruction(item, language)}\n\nCode:\n{_fence(language, item.code)}"
        f"\n\nProposed change:\n{_fence(language, item.extra or '')}"
    )
    prompt = (
        f"Original {language} code:\n{_fence(language, item.code)}\n\nChange to apply:\n"
        f"{_fence(language, item.extra or '')}\n\nThe complete code with the change applied:\n```{language}\n"
    )
    return _rewrite_request(model, user, prompt, item, ceiling)


def rewrite_request(model: str, item: TaskInput, ceiling: int) -> GenerationRequest:
    """Fix, clean up or refactor: the task's instruction (and `item.extra`, a note such as a failed check), answered
    with the whole rewritten code. The file around the code is not in it: with it, before or after the code, the
    code model gave the code back unchanged more often (bench/by_hand.md); what the code calls is in the clues."""
    language = item.language or "text"
    known = [item.clues.render(language) if item.clues else "", item.extra or ""]
    note = "".join(f"\n\n{part}" for part in known if part)
    user = f"{_instruction(item, language)}\n\n{_fence(language, item.code)}{note}"
    before, after = task_spec(item.task).headings or ("The following {language} code", "The same code, rewritten")
    prompt = (
        f"{before.format(language=language)}:\n{_fence(language, item.code)}{note}\n\n"
        f"{after.format(language=language)}:\n```{language}\n"
    )
    return _rewrite_request(model, user, prompt, item, ceiling)


def _rewrite_request(model: str, user: str, prompt: str, item: TaskInput, ceiling: int) -> GenerationRequest:
    return GenerationRequest(
        model=model,
        messages=[Message("system", SYSTEM), Message("user", user)],
        prompt=prompt,
        max_tokens=rewrite_tokens(item.code, ceiling),
        prompt_stop=["```"],
        temperature=0.1,
        surrounding=item.surrounding,
    )


def infill_request(model: str, item: TaskInput, ceiling: int) -> GenerationRequest:
    """complete: the code before the cursor (`code`) and after it (`extra`); each engine applies its model's FIM
    format, or sends the code before the cursor alone to a model without one."""
    return GenerationRequest(
        model=model, prompt=item.code, max_tokens=ceiling, temperature=0.0, infill=Infill(item.code, item.extra or "")
    )


PromptBuilder = Callable[[str, TaskInput, int], GenerationRequest]
BUILDERS: dict[str, PromptBuilder] = {
    "rewrite": rewrite_request,
    "findings": findings_request,
    "explain": explain_request,
    "merge": merge_request,
    "infill": infill_request,
}


def build_request(model: str, item: TaskInput, ceiling: int = 1024) -> GenerationRequest:
    """A request carrying both a chat form and a completion form of the task; the engine picks one."""
    return BUILDERS[task_spec(item.task).prompt](model, item, ceiling)
