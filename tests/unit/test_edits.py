"""Model answers to region text, and line diffs for streaming them."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freescode_lsp.edits import (
    CleanResult,
    LineEdit,
    StreamingRewrite,
    apply_line_edits,
    clean_output,
    is_patch_or_fragment,
    line_edits,
    lines_with_ends,
    partial_target,
    split_lines,
)

METHOD = "    def area(self):\n        return self.w * self.h\n"
FIXED = "    def area(self):\n        return self.w * self.h * 1.0\n"
ANSWER_CODE = "def area(self):\n    return self.w * self.h * 1.0\n"


def test_split_lines_only_breaks_on_lsp_line_ends() -> None:
    assert split_lines("a\r\nb\rc\nd\u2028e\x0cf\n") == ["a", "b", "c", "d\u2028e\x0cf"]
    assert split_lines("") == []
    assert split_lines("\n") == [""]
    assert split_lines("x") == ["x"]


@pytest.mark.parametrize(
    "raw",
    [
        f"```python\n{ANSWER_CODE}```\n",
        f"```\n{ANSWER_CODE}```",
        f"Here is the fixed code:\n\n```py\n{ANSWER_CODE}```\n\nThis makes the area a float.\n",
        f"```python\n{ANSWER_CODE}",
        f"{ANSWER_CODE}```\n\nExplanation: the area is now a float.\n",
        f"Sure! Here's the fix:\n\n{ANSWER_CODE}\nThis makes the area a float.\n",
        f"OK\n```\n{ANSWER_CODE}```\n",
        f"```text\nTraceback: nothing\n```\n```python\n{ANSWER_CODE}```\n",
        "\n".join("        " + line for line in ANSWER_CODE.splitlines()),
        FIXED,
    ],
)
def test_clean_output_finds_the_code_and_reindents_it(raw: str) -> None:
    assert clean_output(raw, METHOD, "python") == CleanResult(FIXED, None)


def test_language_tag_wins_over_a_larger_block() -> None:
    raw = "```bash\npip install a\npip install b\npip install c\n```\n```python\nx = 1\n```\n"
    assert clean_output(raw, "x = 0\n", "python").text == "x = 1\n"
    assert clean_output(raw, "x = 0\n").text == "pip install a\npip install b\npip install c\n"


def test_code_before_a_bare_fence_wins_over_later_rambling() -> None:
    raw = "x = 1\n```\n\nTest:\n```python\nassert x == 1\nassert x > 0\nprint(x)\n```\n"
    assert clean_output(raw, "x = 0\n", "python").text == "x = 1\n"


def test_equal_blocks_take_the_later_one() -> None:
    raw = "Before:\n```\nx = 0\n```\nAfter:\n```\nx = 1\n```\n"
    assert clean_output(raw, "x = 0\n").text == "x = 1\n"


def test_indentation_is_rebased_to_the_region() -> None:
    original = "\t\tif ok:\n\t\t\trun()\n"
    assert clean_output("if ok:\n\trun(1)\n", original).text == "\t\tif ok:\n\t\t\trun(1)\n"
    deep = "            x = 1\n\n            return x\n"
    assert clean_output(deep, "    x = 0\n    return x\n").text == "    x = 1\n\n    return x\n"


def test_a_selection_starting_deeper_than_its_end_keeps_its_shape() -> None:
    original = "        y = 2\n    return y\n"
    assert clean_output("        y = 3\n    return y\n", original).text == "        y = 3\n    return y\n"


def test_trailing_newline_follows_the_region() -> None:
    assert clean_output("```\nx = 1\n```", "x = 0").text == "x = 1"
    assert clean_output("x = 1", "x = 0\n").text == "x = 1\n"


def test_line_ends_and_surrounding_blank_lines_follow_the_region() -> None:
    original = "\r\n    a = 0\r\n    b = 0\r\n\r\n"
    assert clean_output("a = 1\nb = 1\n", original).text == "\r\n    a = 1\r\n    b = 1\r\n\r\n"


def test_non_ascii_answer() -> None:
    prose = "\u8fd9\u662f\u4fee\u590d\u540e\u7684\u4ee3\u7801\uff1a"
    raw = prose + '\n```python\ndef grüße():\n    return "héllo ✓ 😀"\n```\n'
    expected = 'def grüße():\n    return "héllo ✓ 😀"\n'
    assert clean_output(raw, "def grüße():\n    return 1\n").text == expected


def test_prose_inside_a_docstring_is_code() -> None:
    raw = '"""Tools.\n\nThis module does X and Y.\n"""\nX = 1\n\nThat is all.\n'
    assert clean_output(raw, "X = 0\n").text == '"""Tools.\n\nThis module does X and Y.\n"""\nX = 1\n'


def test_comments_are_code_and_markdown_after_is_prose() -> None:
    raw = "# keep\nx = 1\n\n### Explanation\nIt was wrong.\n"
    assert clean_output(raw, "x = 0\n").text == "# keep\nx = 1\n"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "the model returned nothing"),
        ("  \n\t\n", "the model returned nothing"),
        ("I cannot fix this code without more context.", "the model's answer held no code"),
        ("```python\n```\n", "the model's answer held no code"),
        ("Here is the fixed code:\n```\n\n", "the model's answer held no code"),
    ],
)
def test_empty_answers_are_refused_with_a_reason(raw: str, reason: str) -> None:
    assert clean_output(raw, METHOD) == CleanResult(None, reason)


def test_absurdly_large_answers_are_refused() -> None:
    huge = "".join(f"x{i} = {i}\n" for i in range(201))
    result = clean_output(huge, "x = 0\ny = 1\n")
    assert result.text is None
    assert result.reason == "the model's answer (201 lines) is far larger than the 2 lines it replaces"
    assert clean_output(huge, "".join(f"x{i} = 0\n" for i in range(11))).text == huge


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("@@ -1,2 +1,2 @@\n def area(self):\n-    return 1\n+    return 2\n", True),
        ("--- a/shape.py\n+++ b/shape.py\n def area(self):\n-    return 1\n+    return 2\n", True),
        ("```diff\n-        return self.w * self.h\n+        return self.w * self.h * 1.0\n```", True),
        ("        return self.w * self.h * 1.0\n", True),
        ("def area(self):\n    # ... rest of the method unchanged\n", True),
        ("def area(self):\n    ...\n", True),
        ("```python\n" + ANSWER_CODE + "```\n", False),
        (FIXED, False),
        ("", False),
    ],
)
def test_patches_and_fragments(answer: str, expected: bool) -> None:
    assert is_patch_or_fragment(answer, METHOD) is expected


def test_a_cleaned_diff_is_still_a_patch() -> None:
    diff = "@@ -1,2 +1,2 @@\n def area(self):\n-    return 1\n+    return 2\n"
    cleaned = clean_output(diff, METHOD).text
    assert cleaned == "    @@ -1,2 +1,2 @@\n     def area(self):\n    -    return 1\n    +    return 2\n"
    assert is_patch_or_fragment(cleaned, METHOD) is True


def test_a_shorter_rewrite_under_another_name_is_a_fragment() -> None:
    original = "def total(xs):\n    t = 0\n    for x in xs:\n        t += x\n    return t\n"
    assert is_patch_or_fragment("def total(xs):\n    return sum(xs)\n", original) is False
    assert is_patch_or_fragment("def add_all(xs):\n    return sum(xs)\n", original) is True
    assert is_patch_or_fragment("t = sum(xs)\nreturn t\n", original) is True


def test_line_edits_touch_only_changed_lines_bottom_up() -> None:
    old = ["a", "b", "c", "d", "e"]
    new = ["a", "B", "c", "d", "x", "e", "f"]
    assert line_edits(old, new) == [
        LineEdit(5, 5, ["f"]),
        LineEdit(4, 4, ["x"]),
        LineEdit(1, 2, ["B"]),
    ]
    assert line_edits(old, old) == []
    assert line_edits(old, []) == [LineEdit(0, 5, [])]


LINES = st.lists(st.sampled_from(["", "a", "b", "  c", "}", "return x", "é😀"]), max_size=12)


@given(LINES, LINES)
def test_line_edits_roundtrip(old: list[str], new: list[str]) -> None:
    edits = line_edits(old, new)
    assert apply_line_edits(old, edits) == new
    assert apply_line_edits(old, edits[::-1]) == new
    starts = [edit.start for edit in edits]
    assert starts == sorted(starts, reverse=True)


def test_partial_target_replaces_modified_lines_in_place() -> None:
    old = ["def f(x):", "    y = x + 1", "    return y"]
    new = ["def f(x):", "    y = x + 2", "    return y"]
    assert partial_target(old, new[:1]) == old
    assert partial_target(old, new[:2]) == ["def f(x):", "    y = x + 2", "    return y"]
    assert partial_target(old, new) == new


def test_partial_target_keeps_old_tail_until_lines_match() -> None:
    old = ["a = load()", "b = a * 2", "print(b)", "}"]
    new = ["a = load()", "check(a)", "print(b)", "save(b)", "}"]
    assert partial_target(old, new[:2]) == ["a = load()", "check(a)", "b = a * 2", "print(b)", "}"]
    assert partial_target(old, new[:3]) == ["a = load()", "check(a)", "print(b)", "}"]
    assert partial_target(old, new[:4]) == ["a = load()", "check(a)", "print(b)", "save(b)", "}"]
    assert partial_target(old, new) == new


def test_partial_target_final_is_exactly_the_new_lines() -> None:
    old = ["a", "b", "gone for good"]
    assert partial_target(old, ["a", "b"]) == ["a", "b", "gone for good"]
    assert partial_target(old, ["a", "b"], final=True) == ["a", "b"]


def test_trivial_lines_do_not_jump_ahead() -> None:
    old = ["if a {", "  x()", "}", "y()", "}"]
    assert partial_target(old, ["if a {", "}"]) == ["if a {", "}", "  x()", "}", "y()", "}"]


@given(LINES, LINES)
def test_partial_target_converges_monotonically(old: list[str], new: list[str]) -> None:
    kept = len(old)
    for k in range(len(new) + 1):
        target = partial_target(old, new[:k])
        assert target[:k] == new[:k]
        tail = target[k:]
        assert len(tail) <= kept
        assert tail == old[len(old) - len(tail) :]
        kept = len(tail)
    assert partial_target(old, new, final=True) == new


ORIGINAL = "    def area(self):\n        return 0\n"
STREAMED = [
    f"Here is the fixed code:\n```python\n{ANSWER_CODE}```\nThe area is now a float.\n",
    f"```py\n{ANSWER_CODE}\n",
    f"{ANSWER_CODE}```\n\nI multiplied by 1.0.",
    f"Sure, here you go.\n\n{ANSWER_CODE}\nThat is all.\n",
    "```\r\ndef area(self):\r\n    return '✓ é' * 2\r\n```\r\n",
    "   ",
    "Sorry, I cannot do that.",
]


def chunked(raw: str, cuts: list[int]) -> list[str]:
    """raw split at the given offsets."""
    bounds = [0, *sorted(set(cuts)), len(raw)]
    return [raw[a:b] for a, b in itertools.pairwise(bounds)]


def check_stream(raw: str, pieces: list[str]) -> None:
    """Stream pieces and check early lines against the exact final text."""
    rewrite = StreamingRewrite(ORIGINAL, "python")
    whole = clean_output(raw, ORIGINAL, "python")
    final_lines = split_lines(whole.text) if whole.text is not None else []
    seen: list[str] = []
    for piece in pieces:
        rewrite.feed(piece)
        lines = rewrite.complete_lines()
        assert lines[: len(seen)] == seen
        assert final_lines[: len(lines)] == lines
        seen = lines
    assert rewrite.finish() == (ORIGINAL if whole.text is None else whole.text)
    assert rewrite.result == whole


@pytest.mark.parametrize("raw", STREAMED)
def test_streaming_every_split_point_gives_the_same_text(raw: str) -> None:
    for cut in range(len(raw) + 1):
        check_stream(raw, [raw[:cut], raw[cut:]])


@pytest.mark.parametrize("raw", STREAMED)
def test_streaming_character_by_character(raw: str) -> None:
    check_stream(raw, list(raw))


@settings(max_examples=200)
@given(st.sampled_from(STREAMED), st.lists(st.integers(min_value=0, max_value=200), max_size=30))
def test_streaming_random_splits(raw: str, cuts: list[int]) -> None:
    check_stream(raw, chunked(raw, [c for c in cuts if c <= len(raw)]))


PARTS = st.sampled_from(
    [
        "```",
        "```python",
        "\n",
        "\r\n",
        "\r",
        "def f():",
        "    x = 1",
        "\tif é:",
        "Here is the code:",
        " ",
        '"""',
        "This is prose.",
        "- item",
        "@@ -1 +1 @@",
        "}",
        "😀",
    ]
)


@settings(max_examples=300)
@given(st.lists(PARTS, max_size=25), st.lists(st.integers(min_value=0, max_value=300), max_size=20))
def test_streaming_any_answer_ends_exactly_like_clean_output(parts: list[str], cuts: list[int]) -> None:
    raw = "".join(parts)
    rewrite = StreamingRewrite(ORIGINAL)
    for piece in chunked(raw, [c for c in cuts if c <= len(raw)]):
        rewrite.feed(piece)
        rewrite.complete_lines()
    whole = clean_output(raw, ORIGINAL)
    assert rewrite.finish() == (ORIGINAL if whole.text is None else whole.text)
    assert rewrite.result == whole


def test_complete_lines_hold_back_unfinished_and_blank_lines() -> None:
    rewrite = StreamingRewrite(ORIGINAL)
    rewrite.feed("Here is the fix:\n```python\ndef area(self):\n")
    assert rewrite.complete_lines() == ["    def area(self):"]
    rewrite.feed("    return 1\n\n    # tail")
    assert rewrite.complete_lines() == ["    def area(self):", "        return 1"]
    rewrite.feed("\n```\n")
    assert rewrite.complete_lines() == ["    def area(self):", "        return 1", "", "        # tail"]
    assert rewrite.finish() == "    def area(self):\n        return 1\n\n        # tail\n"


def test_unusable_stream_restores_the_original() -> None:
    rewrite = StreamingRewrite(ORIGINAL)
    rewrite.feed("I am not sure what you mean.")
    assert rewrite.complete_lines() == []
    assert rewrite.finish() == ORIGINAL
    assert rewrite.result == CleanResult(None, "the model's answer held no code")


@given(st.text(alphabet="ab\r\n\x0c\x1c\x85\u2028\u2029\x0b"))
def test_lines_break_only_at_lsp_line_endings(text: str) -> None:
    lines = lines_with_ends(text)
    assert "".join(lines) == text
    assert [line.rstrip("\r\n") for line in lines] == split_lines(text)
    for line in lines[:-1]:
        assert line.endswith(("\n", "\r"))
        assert "\n" not in line[:-1] and "\r" not in line[:-2]


SMALL_FIX = "def f(x):\n    return x + 2\n"
HOSTILE = "__import__('os').system('id')\n\n\ndef f(x):\n    # the fix, with more comments\n    return x + 2\n"
REGION = "def f(x):\n    return x + 1\n"


def test_the_block_that_rewrites_the_region_wins_over_a_larger_one() -> None:
    raw = f"Fixed:\n```python\n{SMALL_FIX}```\nA fuller version:\n```python\n{HOSTILE}```\n"
    assert clean_output(raw, REGION, "python").text == SMALL_FIX
    reversed_raw = f"```python\n{HOSTILE}```\nOr simply:\n```python\n{SMALL_FIX}```\n"
    assert clean_output(reversed_raw, REGION, "python").text == SMALL_FIX


def test_top_level_statements_the_region_did_not_have_are_dropped_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = clean_output(f"```python\n{HOSTILE}```\n", REGION, "python")
    assert result.text is not None and "__import__" not in result.text
    assert result.text.startswith("def f(x):")
    assert result.dropped == ("__import__('os').system('id')",)
    assert "__import__('os').system('id')" in caplog.text
    stream = StreamingRewrite(REGION, "python")
    stream.feed("```python\n" + HOSTILE)
    assert not any("__import__" in line for line in stream.complete_lines())
    js = "function f(x) {\n  return x + 1;\n}\n"
    answer = "require('child_process').exec('id');\nfunction f(x) {\n  return x + 2;\n}\n"
    assert clean_output(answer, js, "javascript").text == "function f(x) {\n  return x + 2;\n}\n"
    statements = "x = 1\ny = 2\n"
    assert clean_output("x = 1\nimport os\ny = 3\n", statements, "python").text == "x = 1\nimport os\ny = 3\n"


async def test_what_lands_from_a_fix_is_the_region_only(stub_node, caplog: pytest.LogCaptureFixture) -> None:
    from freescode_lsp.config import settings_from_dict
    from freescode_lsp.routing.router import Router
    from freescode_lsp.tasks.prompts import TaskInput
    from freescode_lsp.tasks.runner import run_rewrite

    helper = "def _bump(x):\n    return x + 2\n\n\n"
    planted = "@__import__('os').system\ndef _planted():\n    pass\n\n\n"
    rest = "os.system('id')\n\n\ndef f(x):\n    return _bump(x)\n\n\nf(1)\n"
    answer = f"```python\nimport os\n{planted}{helper}{rest}```\n"
    stub_node.set_script({"default": {"chunks": [answer[i : i + 9] for i in range(0, len(answer), 9)]}})
    nodes = [{"url": stub_node.url, "models": ["code-llama-7b", "wizardcoder-13b"]}]
    router = Router.from_settings(settings_from_dict({"nodes": nodes, "network": {"mode": "remote-only"}}).settings)
    outcome = await run_rewrite(router, TaskInput("fix", REGION, "python"), "code-llama-7b")
    assert outcome.problem is None, outcome.problem
    assert outcome.text == f"{helper}def f(x):\n    return _bump(x)\n"
    for dropped in ("import os", "os.system('id')", "@__import__('os').system", "f(1)"):
        assert dropped in caplog.text
