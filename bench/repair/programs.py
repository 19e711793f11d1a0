"""The benchmark's buggy programs: each folder's source, its tests, and what its metadata says about the bug."""

from __future__ import annotations

import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from freescode_lsp.edits import lines_with_ends
from freescode_lsp.tasks.inputs import task_region

PROGRAMS_DIR = Path(__file__).resolve().parent / "programs"
KINDS = (
    "off_by_one",
    "wrong_operator",
    "wrong_variable",
    "missing_base_case",
    "missing_return",
    "wrong_initial_value",
    "mutated_argument",
    "infinite_loop",
    "string_format",
    "unhandled_exception",
    "two_lines",
    "callee_contract",
)
DEFAULT_TEST_SECONDS = 2.0


@dataclass(frozen=True)
class Program:
    """One buggy program: its folder, language, files, the 1-based line to point the fix at, and the known fix."""

    name: str
    folder: Path
    language: str
    kind: str
    summary: str
    source: str
    test: str
    line: int
    fix: dict[int, str] = field(default_factory=dict)
    test_seconds: float = DEFAULT_TEST_SECONDS

    @property
    def buggy(self) -> str:
        """The buggy source, as shipped."""
        return (self.folder / self.source).read_text(encoding="utf-8")

    def fixed(self) -> str:
        """The source with the known fix applied (for the self-check only; never shown to a model)."""
        lines = lines_with_ends(self.buggy)
        for number, text in self.fix.items():
            lines[number - 1] = text + "\n"
        return "".join(lines)

    def unit(self) -> tuple[int, int]:
        """Lines [start, end), 0-based, of the unit `freescode run fix --line` works on: the project's unit finder."""
        region = task_region(self.buggy, self.language, "fix", self.line - 1)
        return region.start, region.end

    def copy_to(self, folder: Path, source_text: str | None = None) -> Path:
        """The source (or the given text in its place) and its tests in folder; the source's path there."""
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.folder / self.test, folder / self.test)
        target = folder / self.source
        target.write_text(self.buggy if source_text is None else source_text, encoding="utf-8")
        return target


def load(folder: Path) -> Program:
    """The program in folder, from its meta.toml."""
    meta = tomllib.loads((folder / "meta.toml").read_text(encoding="utf-8"))
    return Program(
        name=folder.name,
        folder=folder,
        language=meta["language"],
        kind=meta["kind"],
        summary=meta["summary"],
        source=meta["source"],
        test=meta["test"],
        line=int(meta["line"]),
        fix={int(number): text for number, text in meta.get("fix", {}).items()},
        test_seconds=float(meta.get("timeout_s", DEFAULT_TEST_SECONDS)),
    )


def all_programs(root: Path = PROGRAMS_DIR) -> list[Program]:
    """Every program, by name."""
    return [load(folder) for folder in sorted(root.iterdir()) if (folder / "meta.toml").is_file()]


def select(programs: list[Program], only: list[str] | None = None, limit: int | None = None) -> list[Program]:
    """The programs named in `only` (all when None), then the first `limit` of them; unknown names are an error."""
    if only:
        known = {program.name: program for program in programs}
        unknown = [name for name in only if name not in known]
        if unknown:
            raise ValueError(f"unknown program(s): {', '.join(unknown)}; see {PROGRAMS_DIR}")
        programs = [known[name] for name in only]
    return programs[:limit] if limit is not None else programs
