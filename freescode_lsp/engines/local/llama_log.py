"""llama.cpp's own log lines go to Python logging instead of straight to stderr."""

from __future__ import annotations

import ctypes
import logging
from typing import Any

log = logging.getLogger("freescode.llama_cpp")

GGML_LOG_LEVEL_ERROR = 4  # ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
_installed: list[Any] = []


def route_llama_cpp_logs() -> None:
    """Send llama.cpp's messages to the `freescode.llama_cpp` logger: errors as warnings, the rest as debug."""
    if _installed:
        return
    import llama_cpp

    forward = llama_cpp.llama_log_callback(_forward)
    _installed.append(forward)
    llama_cpp.llama_log_set(forward, ctypes.c_void_p(0))


def _forward(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """One llama.cpp log line into Python logging."""
    line = text.decode("utf-8", errors="replace").rstrip()
    if line:
        log.log(logging.WARNING if level == GGML_LOG_LEVEL_ERROR else logging.DEBUG, "%s", line)
