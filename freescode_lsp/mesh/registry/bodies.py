"""Reading the registry's request bodies: JSON limits, field checks and the JSON error answer."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from freescode_lsp.errors import FreescodeError
from freescode_lsp.mesh.registry.addresses import AddressError, parse_node_url

MAX_BODY_BYTES = 64 * 1024
MAX_MODELS_PER_NODE = 64
MAX_CONTEXT = 100_000_000
MAX_PRICE_PER_1K = 1_000.0
MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+-]{0,127}")
ERROR_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    422: "invalid_field",
    429: "rate_limited",
}


class ApiError(FreescodeError):
    """A request the registry refuses, with the HTTP status and message to answer."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The JSON error body every refusal uses."""
    body = {"error": {"message": message, "type": ERROR_TYPES.get(status, "error"), "code": status}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def read_json(request: Request, allow_empty: bool = False) -> Any:
    """The request body parsed as JSON, refusing bodies over MAX_BODY_BYTES, invalid UTF-8 or JSON."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise ApiError(400, "the Content-Length header is not a number")
        if int(declared) > MAX_BODY_BYTES:
            raise ApiError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise ApiError(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:
        raise ApiError(400, "the connection closed before the body ended") from None
    if not body.strip():
        if allow_empty:
            return {}
        raise ApiError(400, "the body is empty; send a JSON object")
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "the body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ApiError(400, "the body is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None


def json_object(body: Any) -> dict[str, Any]:
    """The body if it is a JSON object, else a 400."""
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object, not {type(body).__name__}")
    return body


def required(body: dict[str, Any], name: str) -> Any:
    """A field that must be present and not null."""
    if body.get(name) is None:
        raise ApiError(422, f"missing field {name!r}")
    return body[name]


def as_int(value: Any, name: str, low: int, high: int) -> int:
    """An integer between low and high."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, f"{name!r} must be an integer, not {json.dumps(value)[:40]}")
    if not low <= value <= high:
        raise ApiError(422, f"{name!r} must be between {low} and {high}, not {value}")
    return value


def as_number(value: Any, name: str, high: float = math.inf) -> float:
    """A finite number between 0 and high."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(422, f"{name!r} must be a number, not {json.dumps(value)[:40]}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or number > high:
        raise ApiError(422, f"{name!r} must be a number from 0 to {high:g}, not {value}")
    return number


def as_text(value: Any, name: str, max_length: int) -> str:
    """A non-empty string of at most max_length characters."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, f"{name!r} must be a non-empty string")
    if len(value) > max_length:
        raise ApiError(422, f"{name!r} is longer than {max_length} characters")
    return value.strip()


def as_text_list(value: Any, name: str, max_items: int, max_length: int) -> list[str]:
    """A list of non-empty strings, duplicates dropped, order kept."""
    if not isinstance(value, list):
        raise ApiError(422, f"{name!r} must be a list of strings")
    if len(value) > max_items:
        raise ApiError(422, f"{name!r} has more than {max_items} entries")
    return list(dict.fromkeys(as_text(item, f"{name}[]", max_length) for item in value))


def as_model_id(value: Any, name: str = "id") -> str:
    """A model id: letters, digits and . _ : / + -, at most 128 characters."""
    text = as_text(value, name, 128)
    if not MODEL_ID.fullmatch(text):
        raise ApiError(422, f"{name!r} {text!r} is not a model id (letters, digits and . _ : / + -)")
    return text


def as_node_url(value: Any) -> str:
    """An http(s) URL with a host and no credentials, query or fragment, as the node's canonical root without /v1."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, "'url' must be a non-empty string")
    if len(value) > 2048:
        raise ApiError(422, "'url' is longer than 2048 characters")
    try:
        return str(parse_node_url(value))
    except AddressError as exc:
        raise ApiError(422, f"'url' {exc}") from None
