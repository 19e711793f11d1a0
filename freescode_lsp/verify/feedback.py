"""A failed check's output trimmed to what the model needs: the first failing test's traceback, or the error lines."""

from __future__ import annotations

import re

MAX_LINES = 40
MAX_CHARS = 3_000
SECTION = re.compile(r"^_{3,} .+ _{3,}$")
ENDS = ("=====", "short test summary")
ERROR_LINE = re.compile(r"(^|:\s*|\s)(error|Error|E\s{3})")


def _first_failure(lines: list[str]) -> list[str]:
    """Pytest's section of the first failing test: from its `___ name ___` header to the next header or summary."""
    start = next((i for i, line in enumerate(lines) if SECTION.match(line.strip())), None)
    if start is None:
        return []
    section = [lines[start]]
    for line in lines[start + 1 :]:
        if SECTION.match(line.strip()) or line.startswith(ENDS):
            break
        section.append(line)
    if len(section) > MAX_LINES:
        section = section[:4] + ["..."] + section[-(MAX_LINES - 5) :]
    return section


def trimmed_failure(output: str) -> str:
    """What to show the model of a failed check: pytest's first failure, else the error lines, else the tail."""
    lines = output.splitlines()
    chosen = _first_failure(lines) or [line for line in lines if ERROR_LINE.search(line)][:MAX_LINES]
    if not chosen:
        chosen = lines[-MAX_LINES:]
    text = "\n".join(chosen)
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 4] + "\n..."


def failing_note(command: str, failure: str) -> str:
    """The first attempt's note when the code as it stands fails the check: the failure, so the fix can aim at it."""
    return (
        f"The code above fails the project's check `{command}`:\n```\n{failure}\n```\n"
        "Find the bug that makes this check fail and fix it."
    )


def retry_note(language: str, candidate: str, command: str, failure: str, unchanged: bool = False) -> str:
    """The part of the next attempt's prompt that shows how the last candidate failed its check: the candidate itself,
    or, when it was the code as it stands, that the code above fails."""
    if unchanged:
        return (
            f"The code above, unchanged, fails the project's check `{command}`:\n```\n{failure}\n```\n"
            "So the bug is real: change the code so that this check passes."
        )
    return (
        f"A previous attempt at this fix was:\n```{language}\n{candidate.rstrip()}\n```\n"
        f"It failed the project's check `{command}`:\n```\n{failure}\n```\n"
        "Fix the original code again so that this check passes."
    )
