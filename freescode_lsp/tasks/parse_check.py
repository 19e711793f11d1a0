"""Whether a rewrite would leave a file that parsed unparsable: Python with `ast`, JavaScript with `node --check`."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import os
import re
import shutil
import tempfile
import textwrap
from collections.abc import Awaitable, Callable

from freescode_lsp.edits import split_lines
from freescode_lsp.tasks.prompts import TaskInput

NODE_CHECK_TIMEOUT_S = 10.0
_NODE_LOCATION = re.compile(r":(\d+)\s*$")

Checker = Callable[[str], Awaitable[str | None]]


async def python_error(text: str) -> str | None:
    """The first syntax error of a Python file, as `line N: message`, or None when it parses."""
    try:
        ast.parse(text)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}" if exc.lineno else exc.msg
    except (ValueError, RecursionError, MemoryError) as exc:
        return str(exc) or type(exc).__name__
    return None


async def javascript_error(text: str) -> str | None:
    """The syntax error `node --check` reports for a JavaScript file, or None when it parses or node cannot tell."""
    node = shutil.which("node")
    if node is None:
        return None
    handle, name = tempfile.mkstemp(suffix=".js")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        process = await asyncio.create_subprocess_exec(
            node, "--check", name, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            _, err = await asyncio.wait_for(process.communicate(), NODE_CHECK_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            return None
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)
    return None if process.returncode == 0 else _node_message(err.decode("utf-8", "replace"), name)


def _node_message(stderr: str, name: str) -> str:
    """`line N: SyntaxError: ...` from node's report about the file."""
    lines = stderr.splitlines()
    location = next((_NODE_LOCATION.search(line) for line in lines if line.startswith(name)), None)
    error = next((line.strip() for line in lines if "Error:" in line), "it does not parse")
    return f"line {location.group(1)}: {error}" if location else error


CHECKERS: dict[str, Checker] = {"python": python_error, "javascript": javascript_error}


def whole_files(item: TaskInput, new_code: str) -> tuple[str, str]:
    """The file before and after the new code replaces the item's target lines (the target alone, dedented, without
    the file around it)."""
    if item.surrounding is None:
        return textwrap.dedent(item.code), textwrap.dedent(new_code)
    lines = list(item.surrounding.lines)
    start, end = item.surrounding.target_start, item.surrounding.target_end
    after = lines[:start] + split_lines(new_code) + lines[end:]
    return "\n".join(lines) + "\n", "\n".join(after) + "\n"


async def unparsable_reason(item: TaskInput, new_code: str) -> str | None:
    """Why the new code must not be applied: the file parsed before and would not after; None when it may be."""
    checker = CHECKERS.get(item.language)
    if checker is None:
        return None
    before, after = whole_files(item, new_code)
    if await checker(before) is not None:
        return None
    error = await checker(after)
    if error is None:
        return None
    return f"the model's answer would leave the file unparsable ({error}), so it is not applied"
