"""Which check a verified fix runs: the one `[verify] command` names, or pytest on the tests that import the file."""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from attrs import frozen

from freescode_lsp.errors import FreescodeError
from freescode_lsp.verify.scratch import SKIPPED_DIRS

MAX_TEST_FILES = 2_000
MAX_TEST_BYTES = 1_000_000
PYTEST_OPTIONS = ("-q", "-p", "no:cacheprovider")


class NoCheck(FreescodeError):
    """No check is configured and none could be found."""


@frozen
class ChosenCheck:
    """The command a candidate must pass (run in the scratch copy's root), and why it was chosen."""

    argv: tuple[str, ...]
    why: str

    @property
    def shown(self) -> str:
        """The command as the user would type it."""
        return shlex.join(self.argv)


def module_name(relative_file: Path) -> str:
    """The dotted module a Python file is, from its path in the workspace (a leading `src/` left out)."""
    parts = list(relative_file.with_suffix("").parts)
    if parts and parts[0] == "src":
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(module: str) -> re.Pattern[str]:
    """Lines that import the module or a name from it: `import m`, `import m as x`, `from m import y`, `from p import m`."""
    name = re.escape(module)
    package, _, leaf = module.rpartition(".")
    from_parent = rf"|from\s+{re.escape(package)}\s+import\s+[^\n]*\b{re.escape(leaf)}\b" if package else ""
    return re.compile(rf"^\s*(?:import\s+{name}\b|from\s+{name}\s+import\b{from_parent})", re.MULTILINE)


def find_test_files(workspace: Path) -> list[Path]:
    """The workspace's Python test files (test_*.py, *_test.py), skipped folders left out, bounded in number."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(workspace):
        dirs[:] = sorted(name for name in dirs if name not in SKIPPED_DIRS)
        found.extend(
            Path(folder, name)
            for name in sorted(files)
            if name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))
        )
        if len(found) >= MAX_TEST_FILES:
            break
    return found[:MAX_TEST_FILES]


def tests_importing(workspace: Path, relative_file: Path) -> list[Path]:
    """The test files (relative to the workspace) that import the file's module."""
    pattern = _imports(module_name(relative_file))
    chosen = []
    for path in find_test_files(workspace):
        try:
            text = path.read_bytes()[:MAX_TEST_BYTES].decode("utf-8", errors="replace")
        except OSError:
            continue
        if path.resolve() != (workspace / relative_file).resolve() and pattern.search(text):
            chosen.append(path.relative_to(workspace))
    return chosen


def python_for(workspace: Path) -> str:
    """The workspace's own virtualenv interpreter when it has one, else the one running freescode."""
    for folder in (".venv", "venv"):
        candidate = workspace / folder / "bin" / "python"
        if candidate.is_file():
            return str(candidate)
    return sys.executable


def choose_check(workspace: Path, relative_file: Path, command: str | None) -> ChosenCheck:
    """The configured command with `{file}` and `{tests}` filled in, else pytest on the tests that import the file."""
    tests = tests_importing(workspace, relative_file) if relative_file.suffix == ".py" else []
    if command:
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise NoCheck(f"[verify] command cannot be read: {exc}") from exc
        if not words:
            raise NoCheck("[verify] command is empty")
        if any("{tests}" in word for word in words) and not tests:
            raise NoCheck(f"[verify] command names {{tests}}, but no test file imports {relative_file}")
        argv: list[str] = []
        for word in words:
            if word == "{tests}":
                argv.extend(str(test) for test in tests)
            else:
                argv.append(word.replace("{file}", str(relative_file)).replace("{tests}", " ".join(map(str, tests))))
        return ChosenCheck(tuple(argv), "from [verify] command")
    if relative_file.suffix != ".py":
        raise NoCheck(f"no check for {relative_file}: set [verify] command (or pass --check)")
    if not tests:
        raise NoCheck(f"no test file imports {module_name(relative_file)}; set [verify] command (or pass --check)")
    argv = [python_for(workspace), "-m", "pytest", *PYTEST_OPTIONS, *map(str, tests)]
    listed = ", ".join(map(str, tests[:3])) + (f" and {len(tests) - 3} more" if len(tests) > 3 else "")
    return ChosenCheck(tuple(argv), f"pytest on the tests that import {module_name(relative_file)}: {listed}")
