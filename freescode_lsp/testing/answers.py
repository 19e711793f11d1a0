"""Model answers in tests: code in a fence, cut into stream pieces for a stub node, bugs found, and a stream collected."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable
from typing import Any, TypeVar

T = TypeVar("T")
PIECE_SIZE = 9


def fenced(code: str) -> str:
    """The code as a model writes it: in a python fence."""
    return f"```python\n{code}```\n"


def pieces(text: str, size: int = PIECE_SIZE) -> list[str]:
    """The text cut into stream chunks of `size` characters."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def streamed(text: str, size: int = PIECE_SIZE, **script: Any) -> dict[str, Any]:
    """A stub node answer that streams the text in pieces (script keys such as delay_s or usage added)."""
    return {"chunks": pieces(text, size), **script}


async def collect(stream: AsyncIterable[T]) -> list[T]:
    """Every item of a stream, in order."""
    return [item async for item in stream]


def bugs(*found: tuple[int, str]) -> dict[str, Any]:
    """A stub node answer of the debug model reporting bugs at absolute 1-based lines."""
    items = [{"line": line, "end_line": line, "severity": "error", "message": message} for line, message in found]
    return {"chunks": [json.dumps({"bugs": items})]}
