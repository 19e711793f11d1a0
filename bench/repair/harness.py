"""Run the test_* functions of one test file, each under a time limit, and print `N passed, M failed`.

Run as a script in the program's folder: `python harness.py test_x.py [seconds per test]`. A test that runs
past its limit fails (an endless loop is interrupted by SIGALRM), and the next test runs. Each failure is told as
pytest tells it by default (the test file's asserts rewritten by pytest's own rewriter, so `assert clamp(5, 0, 10)
== 5` says `assert 10 == 5` and where 10 came from; pytest's long traceback, each function's source up to the
failing line): the check output a verified fix sees from a user's pytest.
"""

from __future__ import annotations

import ast
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
    """The test file as a module with pytest's assert rewriting, its folder first on sys.path for the program."""
    from _pytest.assertion.rewrite import rewrite_asserts

    sys.path.insert(0, str(path.parent.resolve()))
    source = path.read_bytes()
    tree = ast.parse(source, str(path))
    rewrite_asserts(tree, source, str(path))
    module = ModuleType(path.stem)
    module.__file__ = str(path)
    sys.modules[path.stem] = module
    exec(compile(tree, str(path), "exec"), module.__dict__)
    return module


def told(name: str, error: BaseException, test_file: Path) -> str:
    """A failure the way pytest prints it: a `___ name ___` header, then pytest's own long traceback from the test on
    (each function's source to the failing line, `E` lines, `file:line: Error`)."""
    import io

    from _pytest._code import ExceptionInfo
    from _pytest._io import TerminalWriter

    info = ExceptionInfo.from_exception(error)
    info.traceback = info.traceback.cut(path=test_file.resolve())
    out = io.StringIO()
    info.getrepr(style="long", abspath=False, funcargs=False).toterminal(TerminalWriter(out))
    return f"{'_' * 20} {name} {'_' * 20}\n\n" + out.getvalue().strip("\n")


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
        except Exception as error:  # noqa: BLE001 - a test that raises anything is a failed test
            failed += 1
            print(told(name, error, path))
            print(f"FAIL {name}: {traceback.format_exception_only(type(error), error)[0].strip().splitlines()[0]}")
    print(SUMMARY.format(passed=passed, failed=failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
