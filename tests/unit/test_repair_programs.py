"""The repair benchmark's programs are sound: tests fail on the buggy source and pass on the known fix, inside the unit."""

from __future__ import annotations

import asyncio
import shutil
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.repair.checks import Tally, lines_outside, parses, run_tests
from bench.repair.programs import KINDS, Program, all_programs
from freescode_lsp.tasks.repair_context import callee_signatures

PROGRAMS = all_programs()
NODE = shutil.which("node") is not None


def tallies(program: Program, folder: Path) -> tuple[Tally, Tally]:
    """The program's tests on its buggy source and on the known fix, each in its own scratch folder."""
    program.copy_to(folder / "buggy")
    program.copy_to(folder / "fixed", program.fixed())
    return run_tests(program, folder / "buggy"), run_tests(program, folder / "fixed")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Tally, Tally]]:
    """Every runnable program's two test runs, four at a time (the endless loops wait on their time limits)."""
    runnable = [program for program in PROGRAMS if program.language == "python" or NODE]
    root = tmp_path_factory.mktemp("repair")
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = pool.map(lambda program: tallies(program, root / program.name), runnable)
        return {program.name: run for program, run in zip(runnable, runs, strict=True)}


def test_the_set_covers_every_kind_of_bug_in_both_languages() -> None:
    kinds = Counter(program.kind for program in PROGRAMS)
    languages = Counter(program.language for program in PROGRAMS)
    assert len(PROGRAMS) >= 44 and languages["javascript"] >= 6 and languages["python"] > languages["javascript"]
    assert set(kinds) <= set(KINDS)
    grouped = Counter("missing_base_case" if kind == "missing_return" else kind for kind in kinds.elements())
    assert all(count >= 4 for count in grouped.values()) and len(grouped) == len(KINDS) - 1, grouped
    assert sum(1 for program in PROGRAMS if len(program.fix) >= 2) >= 4


def test_some_programs_call_helpers_whose_contract_the_fix_needs() -> None:
    """The set measures the callee input: the unit calls one helper, whose header and contract the prompt can show."""
    calling = [program for program in PROGRAMS if program.kind == "callee_contract"]
    for program in calling:
        start, end = program.unit()
        callees = callee_signatures(program.buggy.splitlines(), start, end, program.language)
        assert len(callees) == 1 and len(callees[0].splitlines()) >= 2, (program.name, callees)
    assert len(calling) >= 6 and {program.language for program in calling} == {"python", "javascript"}


@pytest.mark.parametrize("program", PROGRAMS, ids=[program.name for program in PROGRAMS])
def test_buggy_fails_and_the_fix_passes(program: Program, results: dict[str, tuple[Tally, Tally]]) -> None:
    if program.name not in results:
        pytest.skip("node is not installed")
    buggy, fixed = results[program.name]
    assert fixed.all_passed() and fixed.total >= 3, fixed.output
    assert buggy.failed > 0 and buggy.total == fixed.total, buggy.output


@pytest.mark.parametrize("program", PROGRAMS, ids=[program.name for program in PROGRAMS])
def test_the_fix_stays_inside_the_unit_the_line_points_at(program: Program) -> None:
    start, end = program.unit()
    assert start < program.line <= end
    assert 3 <= end - start <= 40 and 5 <= len(program.buggy.splitlines()) <= 40
    assert all(start < number <= end for number in program.fix)
    assert lines_outside(program.buggy, program.fixed(), start, end) == 0
    assert asyncio.run(parses(program.language, program.buggy)) and asyncio.run(parses(program.language, program.fixed()))


def test_lines_outside_counts_changes_above_and_below_the_unit() -> None:
    before = "a\nb\nc\nd\ne\n"
    assert lines_outside(before, "a\nB\nC\nX\nd\ne\n", 1, 3) == 0
    assert lines_outside(before, "a\nb\ne\n", 2, 3) == 1
    assert lines_outside(before, "A\nb\nc\nd\nE\n", 1, 3) == 2
