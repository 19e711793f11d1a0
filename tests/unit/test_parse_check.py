"""The parse check a rewrite passes before it is applied: on the whole file, only where a parser is at hand."""

from __future__ import annotations

import shutil

import pytest

from freescode_lsp.engines.base import SurroundingCode
from freescode_lsp.tasks.parse_check import unparsable_reason
from freescode_lsp.tasks.prompts import TaskInput

FILE = ["class Shelf:", "    def first(self):", "        return self.items[1]", "", "    size = 3"]
METHOD = "    def first(self):\n        return self.items[1]\n"


def method_input(language: str = "python") -> TaskInput:
    return TaskInput("fix", METHOD, language, SurroundingCode(tuple(FILE), 1, 3))


async def test_the_line_named_is_the_files_line() -> None:
    broken = "    def first(self):\n        return self.items[0\n"
    reason = await unparsable_reason(method_input(), broken)
    assert reason is not None and "(line 3: '[' was never closed)" in reason


async def test_an_indented_method_without_the_file_is_checked_dedented() -> None:
    alone = TaskInput("fix", METHOD, "python")
    assert await unparsable_reason(alone, "    def first(self):\n        return self.items[0]\n") is None
    assert await unparsable_reason(alone, "    def first(self):\n        return 'x\n") is not None


async def test_languages_without_a_parser_at_hand_are_not_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert await unparsable_reason(method_input("rust"), "fn {{{") is None
    monkeypatch.setenv("PATH", "")
    assert await unparsable_reason(TaskInput("fix", "let a = 1;\n", "javascript"), "let a = 'x;\n") is None


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_javascript_that_did_not_parse_before_is_not_refused() -> None:
    item = TaskInput("fix", "let a = (1;\n", "javascript")
    assert await unparsable_reason(item, "let a = 'x;\n") is None
    fine = TaskInput("fix", "let a = 1;\n", "javascript")
    assert "line 1: SyntaxError" in (await unparsable_reason(fine, "let a = 'x;\n") or "")
