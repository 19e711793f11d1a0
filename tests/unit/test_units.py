"""Finding the unit of code a task works on."""

from __future__ import annotations

from freescode_lsp.tasks.units import CodeUnit, changed_units, enclosing_unit, units_in
from freescode_lsp.testing.samples import GCD

PY = '''import os


class Shape:
    """A shape."""

    @property
    def area(self):
        return 0

    @staticmethod
    @cached(
        size=2,
    )
    async def build(kind):
        def helper(x):
            return x * 2
            # remember: x is never negative
        return helper(kind)

LIMIT = 10; COUNT = 2

def main(argv,
         env):
    print("héllo wörld ✓")
'''


def unit_at(text: str, line: int, language: str = "python") -> tuple[int, int, str, str | None]:
    """The unit around line as a plain tuple, for short assertions."""
    unit = enclosing_unit(text, line, language)
    return (unit.start, unit.end, unit.kind, unit.name)


def test_decorated_method_in_class_includes_its_decorators() -> None:
    assert unit_at(PY, 6) == (6, 9, "function", "area")
    assert unit_at(PY, 8) == (6, 9, "function", "area")


def test_multiline_decorator_belongs_to_the_async_method() -> None:
    assert unit_at(PY, 12) == (10, 19, "function", "build")
    assert unit_at(PY, 14) == (10, 19, "function", "build")
    assert unit_at(PY, 18) == (10, 19, "function", "build")


def test_nested_function_is_the_innermost_unit_with_its_trailing_comment() -> None:
    assert unit_at(PY, 16) == (15, 18, "function", "helper")
    assert unit_at(PY, 17) == (15, 18, "function", "helper")


def test_class_docstring_and_blank_line_between_methods_give_the_class() -> None:
    assert unit_at(PY, 4) == (3, 19, "class", "Shape")
    assert unit_at(PY, 9) == (3, 19, "class", "Shape")


def test_blank_line_between_top_level_units_gives_the_one_above() -> None:
    assert unit_at(PY, 1) == (0, 1, "statement", None)
    assert unit_at(PY, 21) == (20, 21, "statement", "LIMIT")
    assert unit_at("\n\nx = 1\n", 0) == (2, 3, "statement", "x")


def test_a_blank_line_after_a_function_gives_the_function_not_the_docstring_below() -> None:
    assert unit_at(GCD, 5) == (0, 5, "function", "gcd")
    assert unit_at(GCD, 6) == (0, 5, "function", "gcd")


def test_a_docstring_only_statement_is_never_code_to_fix() -> None:
    assert unit_at(GCD, 9) == (7, 12, "docstring", None)
    assert unit_at('"""Module."""\n\n# note\nx = 1\n', 2) == (3, 4, "statement", "x")
    assert unit_at('x = 1\n\n"""Trailing."""\n\n', 3) == (0, 1, "statement", "x")


def test_top_level_statement_outside_any_def() -> None:
    assert unit_at(PY, 0) == (0, 1, "statement", None)
    assert unit_at(PY, 20) == (20, 21, "statement", "LIMIT")


def test_multiline_signature_and_non_ascii_body() -> None:
    assert unit_at(PY, 23) == (22, 25, "function", "main")
    assert unit_at(PY, 24) == (22, 25, "function", "main")


def test_line_is_clamped_to_the_file() -> None:
    assert unit_at(PY, 500) == (22, 25, "function", "main")
    assert unit_at(PY, -3) == (0, 1, "statement", None)


def test_trailing_blank_lines_give_the_last_statement() -> None:
    assert unit_at("x = 1\n\ny = [\n    2,\n]\n\n\n", 6) == (2, 5, "statement", "y")


def test_empty_and_blank_files() -> None:
    assert enclosing_unit("", 0) == CodeUnit(0, 0, "block", None)
    assert enclosing_unit("\n\n\n", 1) == CodeUnit(1, 2, "statement", None)
    assert enclosing_unit("# only a comment\n", 0) == CodeUnit(0, 1, "statement", None)


def test_line_separator_inside_a_string_is_not_a_line_break() -> None:
    text = 's = "a\u2028b"\n\ndef f():\n    return "\u00e9\u20ac\U0001f600"\n'
    assert unit_at(text, 3) == (2, 4, "function", "f")
    assert unit_at(text, 0) == (0, 1, "statement", "s")


def test_crlf_and_lone_cr_line_ends() -> None:
    text = "a = 1\r\ndef f():\r    return 2\r\nb = 3\r\n"
    assert unit_at(text, 2) == (1, 3, "function", "f")
    assert unit_at(text, 3) == (3, 4, "statement", "b")


SYNTAX_ERROR = """import os

class Broken:
    @property
    def first(self):
        if self.x:
            return (1,
        else:
            return 2

    def second(self):
        return 3
"""


def test_syntax_error_falls_back_to_indentation_and_prefers_the_def() -> None:
    assert unit_at(SYNTAX_ERROR, 5) == (3, 9, "function", "first")
    assert unit_at(SYNTAX_ERROR, 7) == (3, 9, "function", "first")
    assert unit_at(SYNTAX_ERROR, 3) == (3, 9, "function", "first")
    assert unit_at(SYNTAX_ERROR, 11) == (10, 12, "function", "second")
    assert unit_at(SYNTAX_ERROR, 9) == (2, 12, "class", "Broken")
    assert unit_at(SYNTAX_ERROR, 0) == (0, 1, "statement", None)


JS = """import x from "y";

function pick(p) {
  if (p) {
    return "ä";
  } else {
    return 2;
  }
}

class Box {
  open() {
    return 3;
  }

  close() {
  }
}
"""


def test_javascript_blocks_close_on_the_brace_line() -> None:
    assert unit_at(JS, 2, "javascript") == (2, 9, "function", "pick")
    assert unit_at(JS, 8, "javascript") == (2, 9, "function", "pick")
    assert unit_at(JS, 11, "javascript") == (11, 14, "function", "open")
    assert unit_at(JS, 13, "javascript") == (11, 14, "function", "open")


def test_javascript_if_else_is_one_block() -> None:
    assert unit_at(JS, 4, "javascript") == (3, 8, "block", None)
    assert unit_at(JS, 6, "javascript") == (3, 8, "block", None)


def test_javascript_blank_lines_and_statements() -> None:
    assert unit_at(JS, 14, "javascript") == (10, 18, "class", "Box")
    assert unit_at(JS, 1, "javascript") == (2, 9, "function", "pick")
    assert unit_at(JS, 0, "javascript") == (0, 1, "statement", None)


RUST = """use std::io;

#[derive(Debug)]
pub struct Point {
    x: i32,
}

impl Point {
    pub fn norm(&self) -> i32 {
        match self.x {
            0 => 0,
            _ => self.x.abs(),
        }
    }
}
"""


def test_rust_attributes_structs_and_methods() -> None:
    assert unit_at(RUST, 4, "rust") == (2, 6, "class", "Point")
    assert unit_at(RUST, 2, "rust") == (2, 6, "class", "Point")
    assert unit_at(RUST, 8, "rust") == (8, 14, "function", "norm")
    assert unit_at(RUST, 10, "rust") == (9, 13, "block", None)
    assert unit_at(RUST, 14, "rust") == (7, 15, "class", "Point")


def test_tabs_indent_like_spaces() -> None:
    text = "func main() {\n\tif ok {\n\t\trun()\n\t}\n}\n"
    assert unit_at(text, 2, "go") == (1, 4, "block", None)
    assert unit_at(text, 4, "go") == (0, 5, "function", "main")


def test_units_in_python_lists_top_level_defs_and_classes() -> None:
    assert units_in(PY) == [CodeUnit(3, 19, "class", "Shape"), CodeUnit(22, 25, "function", "main")]


def test_units_in_other_languages_lists_outermost_blocks() -> None:
    assert units_in(JS, "javascript") == [
        CodeUnit(2, 9, "function", "pick"),
        CodeUnit(10, 18, "class", "Box"),
    ]
    assert units_in(SYNTAX_ERROR) == [CodeUnit(2, 12, "class", "Broken")]


OLD = """def a():
    return 1


def b():
    return 2


def c():
    return 3
"""


def test_changed_units_compares_content_not_position() -> None:
    moved = """import sys


def b():
    return 2


def a():
    return 1


def c():
    return 3
"""
    assert changed_units(OLD, moved) == []


def test_changed_units_reports_edited_and_new_units() -> None:
    new = """def a():
    return 1


def b():
    return 20


def c():
    return 3


def d():
    return 4
"""
    assert changed_units(OLD, new) == [CodeUnit(4, 6, "function", "b"), CodeUnit(12, 14, "function", "d")]


def test_changed_units_counts_duplicates() -> None:
    twice = OLD + "\n\ndef a():\n    return 1\n"
    assert changed_units(OLD, twice) == [CodeUnit(12, 14, "function", "a")]


def test_changed_units_for_braces_and_line_endings() -> None:
    old = "function f() {\n  return 1;\n}\n\nfunction g() {\n  return 2;\n}\n"
    new = old.replace("\n", "\r\n").replace("return 2", "return 3")
    assert changed_units(old, new, "javascript") == [CodeUnit(4, 7, "function", "g")]
