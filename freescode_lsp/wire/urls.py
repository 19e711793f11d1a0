"""Node and registry addresses checked before anything connects to them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

MAX_URL_CHARS = 2048
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


def url_problem(value: Any) -> str | None:
    """Why `value` is not a usable http:// or https:// URL, in plain words; None when it is one."""
    if not isinstance(value, str):
        return "expected an http:// or https:// URL"
    if len(value) > MAX_URL_CHARS:
        return f"expected an http:// or https:// URL of at most {MAX_URL_CHARS} characters"
    if _UNSAFE.search(value):
        return "expected an http:// or https:// URL without spaces, tabs or control characters"
    try:
        parts = urlsplit(value)
        port = parts.port
        host = parts.hostname
        httpx.URL(value)
    except (ValueError, httpx.InvalidURL) as exc:
        return f"expected an http:// or https:// URL ({_reason(exc)})"
    if parts.scheme not in ("http", "https") or not host:
        return "expected an http:// or https:// URL"
    if port == 0:
        return "expected an http:// or https:// URL (port 0 is not a port one can connect to)"
    return None


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 80 else text[:77] + "..."
