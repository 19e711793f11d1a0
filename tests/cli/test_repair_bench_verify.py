"""The repair bench's "with verify" side as it really runs: `freescode run fix --verify` processes against the stub
node with scripted answers, the program's own tests as the check, the file judged afterwards."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from bench.repair.checks import run_tests
from bench.repair.programs import PROGRAMS_DIR, Program, load
from bench.repair.run import rows_for, table
from bench.repair.verified import verified

DISCOUNT = load(PROGRAMS_DIR / "py_apply_discount")
STRONG = load(PROGRAMS_DIR / "js_strong_password")
HEAD = '''def apply_discount(price, percent):
    """Return the price after taking `percent` percent off, rounded to cents."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
'''
WRONG = HEAD + "    return round(price * (2 - percent / 100), 2)\n"
RIGHT = HEAD + "    return round(price * (1 - percent / 100), 2)\n"
MODEL = "code-llama-7b"


def answer(code: str, language: str = "python") -> dict[str, list[str]]:
    return {"chunks": [f"```{language}\n{code}```\n"]}


def node_config(tmp_path: Path, url: str) -> dict[str, str]:
    """The environment the bench passes to the command, its config naming the stub node."""
    config = tmp_path / "bench.toml"
    config.write_text(f'[network]\nmode = "remote-first"\n[[nodes]]\nurl = "{url}/v1"\nmodels = ["{MODEL}"]\n')
    return {**os.environ, "FREESCODE_CONFIG": str(config), "PYTHONDONTWRITEBYTECODE": "1"}


def verify_once(program: Program, tmp_path: Path, env: dict[str, str]):
    program.copy_to(tmp_path / "before")
    before = run_tests(program, tmp_path / "before")
    return before, asyncio.run(verified(program, before, MODEL, env))


def test_a_wrong_then_right_answer_is_fixed_in_two_attempts(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"queue": [answer(WRONG), answer(RIGHT)]})
    before, checked = verify_once(DISCOUNT, tmp_path, node_config(tmp_path, stub_node.url))
    assert (checked.outcome, checked.attempts, checked.passed, checked.fewer_passing) == ("fixed", 2, 4, False), checked
    first, second = stub_node.requests()
    aimed = second["messages"][-1]["content"]
    assert "the project's check" not in first["messages"][-1]["content"]
    assert "The code above fails the project's check" in aimed and "FAIL test_" in aimed
    assert "(2 - percent / 100)" not in aimed
    assert before.passed < checked.passed


def test_no_passing_candidate_leaves_the_program_as_it_was(tmp_path: Path, stub_node) -> None:
    stub_node.set_script({"queue": [answer(WRONG)] * 3})
    before, checked = verify_once(DISCOUNT, tmp_path, node_config(tmp_path, stub_node.url))
    assert checked.outcome == "refused" and checked.attempts == 3 and "none passed" in checked.note
    assert checked.passed == before.passed and not checked.fewer_passing
    assert len(stub_node.requests()) == 3


def test_a_javascript_program_is_checked_with_node_on_its_test_file(tmp_path: Path, stub_node) -> None:
    start, end = STRONG.unit()
    fixed = "".join(STRONG.fixed().splitlines(keepends=True)[start:end])
    stub_node.set_script({"queue": [answer(fixed, "javascript")]})
    _, checked = verify_once(STRONG, tmp_path, node_config(tmp_path, stub_node.url))
    assert (checked.outcome, checked.attempts) == ("fixed", 1), checked


def test_the_table_and_rows_set_verified_fixes_against_the_single_attempt() -> None:
    def side(outcome: str, attempts: int = 1, fewer: bool = False) -> dict[str, object]:
        return {
            "outcome": outcome,
            "passed": 0,
            "fewer_passing": fewer,
            "broke_parsing": False,
            "lines_outside": 0,
            "seconds": 10.0 * attempts,
            "attempts": attempts,
        }

    programs = [DISCOUNT, STRONG, DISCOUNT]
    records = [
        {"ours": side("fixed"), "raw": side("unchanged"), "verify": side("fixed")},
        {"ours": side("changed_failing"), "raw": side("unchanged"), "verify": side("fixed", 2)},
        {"ours": side("unchanged"), "raw": side("unchanged"), "verify": side("refused", 3)},
    ]
    result = {"model": MODEL, "missing": None, "programs": records}
    rows = {row.what: row for row in rows_for(result, programs)}
    fixed = rows[f"repair {MODEL} with verify: fixed of 3"]
    assert (fixed.ours, fixed.baseline, fixed.ratio) == (2.0, 1.0, 2.0)
    assert rows[f"repair {MODEL} with verify: attempts used (mean)"].ours == 2.0
    assert rows[f"repair {MODEL} with verify: fewer-passing"].ours == 0.0
    shown = table(result, programs)
    assert "| ours with verify (--verify --attempts 3) | 2 | 0 | 1 | 0 |" in shown
    assert shown.endswith(
        "2 fixed against 1 in a single attempt (2.00x; goal >= 1.5x), 2.00 attempts used on average, "
        "0 left with fewer tests passing: goal reached\nfixed within k attempts (1: 1, 2: 2, 3: 2)"
    )
    unfixed = {"model": MODEL, "missing": None, "programs": [{**records[1], "ours": side("unchanged")}]}
    assert table(unfixed, [STRONG]).endswith(
        "no single-attempt fix to compare with; goal >= 1.5x), 2.00 attempts "
        "used on average, 0 left with fewer tests passing: goal not reached\nfixed within k attempts (1: 0, 2: 1)"
    )
