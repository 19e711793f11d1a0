"""The raw baseline: the same model file through llama-cpp-python with a plain prompt, one attempt, its answer
put in place of the unit's lines."""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path
from typing import Any

from freescode_lsp.edits import lines_with_ends
from freescode_lsp.engines.local.llama_log import route_llama_cpp_logs

SYSTEM = "You are a helpful coding assistant"
ASK = "Fix the bug in this code. Reply with the complete corrected code.\n\n```{language}\n{code}\n```"
CONTEXT = 4096
FENCE = re.compile(r"```[\w+#.-]*[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)


class RawModel:
    """One model file loaded once with llama-cpp-python's defaults and the bench's window."""

    def __init__(self, path: Path, threads: int) -> None:
        from llama_cpp import Llama

        route_llama_cpp_logs()
        self.llama: Any = Llama(model_path=str(path), n_ctx=CONTEXT, n_threads=threads, verbose=False)

    def answer(self, code: str, language: str, max_tokens: int) -> tuple[str, float]:
        """The model's whole answer to the plain prompt, greedy, and the seconds it took."""
        started = time.perf_counter()
        reply = self.llama.create_chat_completion(
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": ASK.format(language=language, code=code.rstrip("\n"))},
            ],
            temperature=0,
            max_tokens=max_tokens,
        )
        return reply["choices"][0]["message"]["content"] or "", time.perf_counter() - started

    def close(self) -> None:
        """Free the model."""
        self.llama.close()


def code_in(answer: str) -> str:
    """The first fenced block of the answer (to its end when the fence is never closed), else the whole answer."""
    found = FENCE.search(answer)
    return found.group(1) if found else answer


def put_in_place(source: str, start: int, end: int, code: str) -> str:
    """The source with lines [start, end) replaced by code, indented as the unit's first line was."""
    lines = lines_with_ends(source)
    unit = "".join(lines[start:end])
    first = next((line for line in unit.splitlines() if line.strip()), "")
    indent = first[: len(first) - len(first.lstrip())]
    body = textwrap.indent(textwrap.dedent(code), indent)
    if body and not body.endswith("\n"):
        body += "\n"
    return "".join(lines[:start]) + body + "".join(lines[end:])
