"""Run the test_* functions of one test file, each under a time limit, and print `N passed, M failed`.

Run as a script in the program's folder: `python harness.py test_x.py [seconds per test]`. A test that runs
past its limit fails (an endless loop is interrupted by SIGALRM), and the next test runs.
"""

from __future__ import annotations

import importlib.util
import inspect
import resource
import signal
import sys
import traceback
from pathlib import Path
from types import FrameType, ModuleType

SUMMARY = "{passed} passed, {failed} failed"
MEMORY_LIMIT = 1 << 30


class TimeLimit(BaseException):
    """A test ran past its time limit (a BaseException, so that `except Exception` in the code cannot swallow it)."""


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise TimeLimit


def load(path: Path) -> ModuleType:
    """The test file as a module, with its folder first on sys.path so it imports the program next to it."""
    sys.path.insert(0, str(path.parent.resolve()))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def limited(call: object, seconds: float) -> None:
    """Call with an alarm set; TimeLimit when it runs too long."""
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        call()  # type: ignore[operator]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def main(argv: list[str]) -> int:
    """Load the file, run each test, print one line per failure and the summary."""
    path = Path(argv[1])
    seconds = float(argv[2]) if len(argv) > 2 else 2.0
    signal.signal(signal.SIGALRM, _interrupt)
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard), hard))
    try:
        module: ModuleType | None = None

        def importing() -> None:
            nonlocal module
            module = load(path)

        limited(importing, seconds)
    except (Exception, TimeLimit) as exc:  # noqa: BLE001 - a program that fails to import counts as failing, whatever it raised
        print(f"ERROR importing {path.name}: {type(exc).__name__}: {exc}")
        print(SUMMARY.format(passed=0, failed=0))
        return 1
    tests = [(name, value) for name, value in vars(module).items() if name.startswith("test") and inspect.isfunction(value)]
    passed = failed = 0
    for name, test in tests:
        try:
            limited(test, seconds)
            passed += 1
        except TimeLimit:
            failed += 1
            print(f"FAIL {name}: still running after {seconds:g} s")
        except Exception:  # noqa: BLE001 - a test that raises anything is a failed test
            failed += 1
            print(f"FAIL {name}: {traceback.format_exc(limit=-1).strip().splitlines()[-1]}")
    print(SUMMARY.format(passed=passed, failed=failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
