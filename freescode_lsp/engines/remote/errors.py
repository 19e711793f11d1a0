"""How a remote node fails: the error classes, and the HTTP answers and transport failures that map onto them."""

from __future__ import annotations

import datetime
import email.utils
import json
import math

import httpx

from freescode_lsp.engines.base import EngineError, GenerationTimeout


class RemoteEngineError(EngineError):
    """A node failed; `after_first_token` says whether text had already been yielded."""

    def __init__(self, message: str, *, after_first_token: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.after_first_token = after_first_token
        self.status = status


class NodeUnreachable(RemoteEngineError):
    """The node could not be reached, dropped the connection, or answered 5xx."""

    rests_host = True


class NodeTimeout(RemoteEngineError):
    """The node was too slow: first token, gap between chunks, or total time."""

    rests_host = True

    def __init__(self, message: str, *, phase: str, after_first_token: bool = False) -> None:
        super().__init__(message, after_first_token=after_first_token)
        self.phase = phase


class NodeDeadline(NodeTimeout, GenerationTimeout):
    """The request's own deadline passed while the node was working."""


class NodeError(RemoteEngineError):
    """The node refused the request or sent something that is not a valid answer."""


class NodeBusy(NodeError):
    """The node answered 429: too many requests; `retry_after` is its Retry-After, if it sent one."""

    rests_host = True

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


def server_message(text: str) -> str:
    """The message in an OpenAI-style error body, else the body itself, shortened."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:300] or "no message"
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        for key in ("message", "detail", "error"):
            if isinstance(error.get(key), str):
                return str(error[key])
    if isinstance(error, str):
        return error
    return text.strip()[:300]


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now, or None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def status_error(name: str, status: int, text: str, retry_after: str | None, has_key: bool) -> RemoteEngineError:
    """The error for an HTTP error answer from the node called `name`."""
    message = server_message(text)
    if status == 429:
        wait = retry_after_seconds(retry_after)
        when = f"; it asks to wait {wait:g} s" if wait is not None else ""
        return NodeBusy(f"{name} is busy (429){when}: {message}", retry_after=wait)
    if status in (401, 403):
        what = "refused the API key" if has_key else "needs an API key and none is configured"
        return NodeError(f"{name} {what} ({status}): {message}", status=status)
    if status >= 500:
        return NodeUnreachable(f"{name} failed ({status}): {message}", status=status)
    return NodeError(f"{name} refused the request ({status}): {message}", status=status)


def transport_error(name: str, exc: httpx.TransportError, started: bool) -> RemoteEngineError:
    """The error for a connection to the node called `name` that failed, timed out or dropped."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return NodeUnreachable(f"cannot connect to {name}: {exc}", after_first_token=started)
    if isinstance(exc, httpx.TimeoutException):
        return NodeTimeout(f"{name} timed out: {exc}", phase="read", after_first_token=started)
    detail = str(exc) or type(exc).__name__
    return NodeUnreachable(f"lost the connection to {name}: {detail}", after_first_token=started)
