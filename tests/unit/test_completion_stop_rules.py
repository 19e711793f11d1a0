"""Where suggestions end, and what of them is shown: line, block, line cap, repeats of the following code."""

from __future__ import annotations

from freescode_lsp.completion.dedupe import drop_repeated_tail, polish, trim
from freescode_lsp.completion.stop_rules import StopRule


def fed(rule: StopRule, pieces: list[str]) -> tuple[str, int]:
    """The rule's result and how many pieces it took before it said stop."""
    taken = 0
    for piece in pieces:
        taken += 1
        if rule.feed(piece):
            break
    return rule.result(), taken


def test_mid_line_a_suggestion_ends_with_the_line() -> None:
    text, taken = fed(StopRule(True, 4, 8), ["radius", " ** 2", ")\n", "    more()\n", "never"])
    assert (text, taken) == ("radius ** 2)", 3)


def test_a_new_block_ends_where_the_indentation_comes_back() -> None:
    pieces = ["for x in items:\n", "        total += x\n", "        count += 1\n", "    return total\n", "x"]
    text, taken = fed(StopRule(False, 4, 8), pieces)
    assert text == "for x in items:\n        total += x\n        count += 1"
    assert taken == 4


def test_statements_of_the_same_block_go_on_until_the_block_closes() -> None:
    pieces = ["x = 1\n", "    y = 2\n", "\n", "    return y\n", "\n", "def other():\n", "    pass\n"]
    text, _ = fed(StopRule(False, 4, 8), pieces)
    assert text == "x = 1\n    y = 2\n\n    return y\n"


def test_a_closing_bracket_at_the_block_level_is_kept() -> None:
    pieces = ["{\n", "    return a + b;\n", "}\n", "function next() {\n"]
    text, _ = fed(StopRule(False, 0, 8), pieces)
    assert text == "{\n    return a + b;\n}"


def test_the_line_cap_holds() -> None:
    text, taken = fed(StopRule(False, 0, 3), [f"line_{n} = {n}\n" for n in range(10)])
    assert text == "line_0 = 0\nline_1 = 1\nline_2 = 2" and taken == 4


def test_a_line_repeating_the_code_after_the_cursor_ends_the_suggestion() -> None:
    rule = StopRule(False, 4, 8, next_line="return result")
    text, _ = fed(rule, ["result = compute()\n", "    return result\n", "    extra()\n"])
    assert text == "result = compute()"


def test_a_last_line_without_newline_is_judged_too() -> None:
    text, _ = fed(StopRule(False, 4, 8), ["if ready:\n", "        go()\n", "    after()"])
    assert text == "if ready:\n        go()"
    text, _ = fed(StopRule(False, 4, 8), ["if ready:\n", "        go()"])
    assert text == "if ready:\n        go()"


def test_the_end_that_repeats_the_rest_of_the_line_is_dropped() -> None:
    assert drop_repeated_tail("radius)", ")", []) == "radius"
    assert drop_repeated_tail("x, y):", "):", []) == "x, y"
    assert drop_repeated_tail("foo(", "()", []) == "foo"
    assert drop_repeated_tail("radius", ")", []) == "radius"


def test_last_lines_that_repeat_the_following_lines_are_dropped() -> None:
    suggestion = "total = sum(xs)\n    return total"
    assert drop_repeated_tail(suggestion, "", ["    return total", "", "def g():"]) == "total = sum(xs)"
    assert drop_repeated_tail(suggestion, "", ["    print(total)"]) == suggestion


def test_trailing_whitespace_and_blank_lines_go_and_blank_suggestions_are_none() -> None:
    assert trim("x = 1   \n    y = 2  \n\n\n") == "x = 1\n    y = 2"
    assert polish("   \n  \n", "\nrest\n") == ""
    assert polish("math.pi * r ** 2)  ", ")\n") == "math.pi * r ** 2"


def test_a_suggestion_that_writes_the_next_line_again_is_none() -> None:
    assert polish("return total", "\n    return total\n", line_before="    ") == ""
    assert polish("total)", "\n    return total\n", line_before="    return (") == "total)"
    assert polish("n total", "\n    return total\n", line_before="    retur") == ""
    assert polish("return total\nprint(1)", "\n    return total\n", line_before="    ") == ""
    assert polish("return total + 1", "\n    return total\n", line_before="    ") == "return total + 1"
