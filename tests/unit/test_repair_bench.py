"""The repair bench's judging: how an answer is put in place of the unit and how the changed program is classified."""

from __future__ import annotations

import asyncio

from bench.repair.checks import run_tests
from bench.repair.judge import judge, summary
from bench.repair.programs import PROGRAMS_DIR, load
from bench.repair.raw import code_in, put_in_place

RECTANGLE = load(PROGRAMS_DIR / "py_rectangle_area")


def test_the_first_fenced_block_is_the_code() -> None:
    assert code_in("Sure:\n```python\nx = 1\n```\nand\n```python\ny = 2\n```") == "x = 1\n"
    assert code_in("```js\nlet a;\n") == "let a;\n"
    assert code_in("x = 2\n") == "x = 2\n"


def test_an_answer_replaces_the_unit_with_its_indentation() -> None:
    start, end = RECTANGLE.unit()
    answer = 'def area(self):\n    """Return width times height."""\n    return self.width * self.height\n'
    after = put_in_place(RECTANGLE.buggy, start, end, answer)
    assert after == RECTANGLE.fixed()


def test_answers_are_classified_by_their_tests(tmp_path) -> None:
    RECTANGLE.copy_to(tmp_path)
    before = run_tests(RECTANGLE, tmp_path)
    start, end = RECTANGLE.unit()
    broken = RECTANGLE.buggy.replace("self.width * self.width", "self.width * (self.height")
    above = RECTANGLE.fixed().replace('"""Shapes', '"""Rectangles')

    async def each() -> list:
        return [
            await judge(RECTANGLE, before, RECTANGLE.fixed(), 1.0),
            await judge(RECTANGLE, before, RECTANGLE.buggy + "\n\n", 2.0),
            await judge(RECTANGLE, before, RECTANGLE.buggy, 3.0, "cut off; not applied"),
            await judge(RECTANGLE, before, broken, 4.0),
            await judge(RECTANGLE, before, above, 5.0),
        ]

    fixed, unchanged, refused, unparsable, outside = asyncio.run(each())
    assert (fixed.outcome, fixed.passed, fixed.lines_outside) == ("fixed", 4, 0)
    assert unchanged.outcome == "unchanged" and refused.outcome == "refused" and refused.note == "cut off; not applied"
    assert unparsable.outcome == "changed_failing" and unparsable.broke_parsing and unparsable.fewer_passing
    assert unparsable.passed == 0 and before.passed == 3
    assert outside.outcome == "fixed" and outside.lines_outside == 1 and start > 0
    counts = summary([fixed, unchanged, refused, unparsable, outside])
    assert counts["fixed"] == 2 and counts["changed-failing"] == 1 and counts["broke-parsing"] == 1
    assert counts["outside-unit"] == 1 and counts["fewer-passing"] == 1 and counts["median s"] == 3.0


def test_a_model_without_its_file_gets_one_row_saying_so(tmp_path, monkeypatch) -> None:
    from bench.repair.run import model_file, rows_for, table
    from freescode_lsp.config import settings_from_dict

    monkeypatch.setenv("FREESCODE_MODELS_DIR", str(tmp_path))
    path, why = model_file(settings_from_dict({}).settings, "code-llama-7b")
    assert path is None and why.startswith("code-llama-7b: no model file here")
    result = {"model": "code-llama-7b", "missing": why, "programs": []}
    [row] = rows_for(result, [RECTANGLE])
    assert row.what.startswith("repair code-llama-7b: not run (code-llama-7b: no model file here")
    assert table(result, [RECTANGLE]).endswith(f"not run: {why}")


def test_a_full_run_replaces_its_own_rows_in_the_results(tmp_path, monkeypatch) -> None:
    import json

    from bench.common import Row
    from bench.repair import publish

    earlier = Row("codeAction p50 over stdio", 1.0, None, "ms", bench="lsp", machine="m")
    stale = Row("repair gemma-3-270m: fixed of 2", 0.0, 0.0, "programs", bench="repair", extra={"model": "gemma-3-270m"})
    kept = Row("repair other: fixed of 2", 1.0, 0.0, "programs", bench="repair", extra={"model": "other"})
    payload = {
        "machine": {"at_start": "2 cores"},
        "seconds": {"lsp": 6.0},
        "errors": {},
        "rows": [r.as_dict() for r in (earlier, stale, kept)],
    }
    monkeypatch.setattr(publish, "RESULTS_JSON", tmp_path / "results.json")
    monkeypatch.setattr(publish, "RESULTS_MD", tmp_path / "RESULTS.md")
    publish.RESULTS_JSON.write_text(json.dumps(payload))
    fresh = Row("repair gemma-3-270m: fixed of 48", 3.0, 1.0, "programs", digits=0, extra={"model": "gemma-3-270m"})
    publish.replace_rows([fresh], ["gemma-3-270m"], 12.0)
    written = json.loads(publish.RESULTS_JSON.read_text())
    assert [row["what"] for row in written["rows"]] == [earlier.what, kept.what, fresh.what]
    assert written["seconds"] == {"lsp": 6.0, "repair": 12.0}
    markdown = publish.RESULTS_MD.read_text()
    assert (
        "| repair gemma-3-270m: fixed of 48 (programs) | 3 | 1 | 3.00 |" in markdown
        and "repair gemma-3-270m: fixed of 2 " not in markdown
    )
