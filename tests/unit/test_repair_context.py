"""What a fix's prompt says besides the code: the errors on the unit, the line pointed at, and callee signatures."""

from __future__ import annotations

import pytest

from freescode_lsp.engines.base import CONTEXT_PLACEHOLDER
from freescode_lsp.tasks.inputs import task_input, task_region
from freescode_lsp.tasks.prompts import TaskInput, build_request
from freescode_lsp.tasks.repair_context import LEAVE_OUT_ENV, Problem, callee_signatures, with_clues
from freescode_lsp.tasks.requests import BadTaskArgs, TaskArgs
from freescode_lsp.tasks.retry import same_code, second_try, unchanged_answer

SOURCE = '''def scale(value, factor):
    """Multiply value by factor, rounding to two places."""
    return round(value * factor, 2)


def unrelated(text):
    """Never called by the unit."""
    return text.upper()


def prices(values, factor):
    out = []
    for i in range(len(values) - 1):
        out.append(scale(values[i], factor))
    return out
'''
UNIT_LINE = 12


def fix_item(line: int = UNIT_LINE) -> TaskInput:
    return task_input(SOURCE, "python", "fix", task_region(SOURCE, "python", "fix", line))


def prompt_texts(item: TaskInput) -> tuple[str, str]:
    request = build_request("m", item, 1024)
    return request.messages[-1].content, request.prompt or ""


def test_problems_on_the_unit_reach_both_prompt_forms_and_others_do_not() -> None:
    on_unit = Problem("prices([1, 2]) returned [1] instead of [1, 2]", 12, 12, "pytest")
    elsewhere = Problem("unused argument", 5, 5, "pylint")
    item = with_clues(fix_item(), [on_unit, elsewhere, Problem("IndexError: list index out of range")])
    chat, completion = prompt_texts(item)
    for text in (chat, completion):
        assert "line 13: (pytest) prices([1, 2]) returned [1] instead of [1, 2]" in text
        assert "IndexError: list index out of range" in text
        assert "unused argument" not in text


def test_the_line_pointed_at_is_a_hint_for_a_cursor_not_for_a_selection() -> None:
    chat, completion = prompt_texts(with_clues(fix_item(), pointed=UNIT_LINE))
    hint = "The bug is probably on or near this line: `for i in range(len(values) - 1):`"
    assert hint in chat and hint in completion
    selected, _ = prompt_texts(with_clues(fix_item(), pointed=UNIT_LINE, selected=True))
    assert "probably on or near" not in selected


def test_callee_signatures_and_docstrings_are_given_and_the_rest_of_the_file_is_not() -> None:
    chat, completion = prompt_texts(with_clues(fix_item()))
    for text in (chat, completion):
        assert "def scale(value, factor):" in text and "Multiply value by factor" in text
    for text in (chat, completion):
        assert "Never called by the unit" not in text and CONTEXT_PLACEHOLDER not in text


def test_the_bench_can_leave_out_each_input_and_leaves_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    problem = Problem("prices([1, 2]) returned [1] instead of [1, 2]", 12, 12, "pytest")
    hint = "probably on or near this line"
    monkeypatch.setenv(LEAVE_OUT_ENV, "line,retry,unknown")
    chat, _ = prompt_texts(with_clues(fix_item(), [problem], pointed=UNIT_LINE))
    assert hint not in chat and "returned [1] instead of [1, 2]" in chat and "def scale(value, factor):" in chat
    assert second_try(fix_item(), fix_item().code) is None
    monkeypatch.setenv(LEAVE_OUT_ENV, "problems,callees")
    chat, _ = prompt_texts(with_clues(fix_item(), [problem], pointed=UNIT_LINE))
    assert hint in chat and "returned [1]" not in chat and "def scale(value, factor):" not in chat
    assert second_try(fix_item(), fix_item().code) is not None


def test_callee_signatures_stay_within_the_budget() -> None:
    helpers = "".join(f'def helper{n}(x):\n    """Helper number {n}, {"words " * 10}."""\n    return x\n\n\n' for n in range(30))
    calls = "".join(f"    total += helper{n}(x)\n" for n in range(30))
    source = f"{helpers}def main(x):\n    total = 0\n{calls}    return total\n"
    lines = tuple(source.splitlines())
    start = lines.index("def main(x):")
    every = callee_signatures(lines, start, len(lines), "python", budget=100_000)
    kept = callee_signatures(lines, start, len(lines), "python", budget=400)
    assert len(every) == 30
    assert 0 < len(kept) < 30 and sum(len(text) for text in kept) <= 400
    assert kept == every[: len(kept)]


def test_javascript_callees_are_found_by_their_function_lines() -> None:
    source = (
        "// Rounds to cents.\nfunction cents(x) {\n  return Math.round(x * 100);\n}\n\n"
        "function total(xs) {\n  return cents(xs[0]);\n}\n"
    )
    lines = tuple(source.splitlines())
    assert callee_signatures(lines, 5, 8, "javascript") == ("// Rounds to cents.\nfunction cents(x) { ... }",)


def test_a_task_that_does_not_rewrite_gets_no_clues() -> None:
    item = task_input(SOURCE, "python", "debug", task_region(SOURCE, "python", "debug", UNIT_LINE))
    assert with_clues(item, [Problem("boom")], UNIT_LINE).clues is None


def test_problems_travel_in_task_arguments_and_bad_ones_are_refused() -> None:
    args = TaskArgs("file:///a.py", "fix", 3, 3, problems=(Problem("boom", 2, 4, "mypy"),))
    assert TaskArgs.from_json(args.to_json()) == args
    bad = {**args.to_json(), "problems": [{"line": 1}]}
    try:
        TaskArgs.from_json(bad)
    except BadTaskArgs as exc:
        assert "message" in str(exc)
    else:
        raise AssertionError("a problem without a message was accepted")


def test_a_fix_that_only_drops_or_adds_comments_is_no_change_and_is_asked_again() -> None:
    item = fix_item()
    commented = item.code.replace("    out = []\n", "    # the result\n    out = []\n")
    bare = "\n".join(line for line in item.code.splitlines() if not line.lstrip().startswith("#"))
    for answer in (commented, bare):
        assert unchanged_answer(item, answer) and second_try(item, answer) is not None
    changed = item.code.replace("len(values) - 1", "len(values)")
    assert not unchanged_answer(item, changed) and second_try(item, changed) is None
    clean = task_input(SOURCE, "python", "clean", task_region(SOURCE, "python", "clean", UNIT_LINE))
    assert not unchanged_answer(clean, clean.code.replace("    out = []\n", "    # the result\n    out = []\n"))


def test_whole_line_comments_are_told_apart_by_language() -> None:
    assert same_code("x = 1\n// a\n", "x = 1\n", "javascript") and not same_code("x = 1\n// a\n", "x = 1\n", "python")
    assert not same_code("x = 1  # a\n", "x = 1\n", "python")
    assert same_code("x = 1\n", "x = 1   \n\n") and not same_code("x = 1\n# a\n", "x = 1\n")
