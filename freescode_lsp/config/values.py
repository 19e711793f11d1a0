"""The kinds of value a setting takes, their bounds, and the cattrs converter that checks them."""

from __future__ import annotations

import math
import re
import reprlib
from collections.abc import Callable, Mapping
from typing import Any, Literal, NewType, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn

from freescode_lsp.errors import FreescodeError
from freescode_lsp.wire.urls import url_problem

Threads = NewType("Threads", int)
ContextTokens = NewType("ContextTokens", int)
TokenCount = NewType("TokenCount", int)
ByteCount = NewType("ByteCount", int)
GiB = NewType("GiB", float)
Seconds = NewType("Seconds", float)
SecondsOrZero = NewType("SecondsOrZero", float)
Dollars = NewType("Dollars", float)
HttpUrl = NewType("HttpUrl", str)
RegistryUrls = NewType("RegistryUrls", str)
HfRef = NewType("HfRef", str)
FilePath = NewType("FilePath", str)
DebounceMs = NewType("DebounceMs", int)
SuggestionLines = NewType("SuggestionLines", int)
SuggestionTokens = NewType("SuggestionTokens", int)
Attempts = NewType("Attempts", int)

MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255
SHOWN_CHARS = 60


@attrs.frozen
class Bounds:
    """A number's kind and range; `above` means the low end itself is not allowed."""

    whole: bool
    low: float
    high: float
    above: bool = False

    def problem(self, value: Any) -> str | None:
        """Why the value is not in range, or None."""
        number_ok = isinstance(value, int) if self.whole else isinstance(value, (int, float))
        if isinstance(value, bool) or not number_ok or not math.isfinite(value):
            return f"expected {self.words()}, got {shown(value)}"
        if value < self.low or (self.above and value == self.low) or value > self.high:
            return f"expected {self.words()}, got {shown(value)}"
        return None

    def words(self) -> str:
        """The range in plain words."""
        kind = "a whole number" if self.whole else "a number"
        if self.above:
            return f"{kind} above {_plain(self.low)} and at most {_plain(self.high)}"
        return f"{kind} from {_plain(self.low)} to {_plain(self.high)}"


def _plain(number: float) -> str:
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


BOUNDS: dict[Any, Bounds] = {
    Threads: Bounds(True, 1, 256),
    ContextTokens: Bounds(True, 1, 2_097_152),
    TokenCount: Bounds(True, 1, 131_072),
    ByteCount: Bounds(True, 1, 1_000_000_000),
    GiB: Bounds(False, 0, 4096, above=True),
    Seconds: Bounds(False, 0, 604_800, above=True),
    SecondsOrZero: Bounds(False, 0, 86_400),
    Dollars: Bounds(False, 0, 1_000_000),
    DebounceMs: Bounds(True, 0, 2000),
    SuggestionLines: Bounds(True, 1, 200),
    SuggestionTokens: Bounds(True, 1, 1024),
    Attempts: Bounds(True, 1, 20),
}

_SHOW = reprlib.Repr()
_SHOW.maxstring = SHOWN_CHARS
_SHOW.maxother = SHOWN_CHARS
_SHOW.maxlong = 40
_SHOW.maxlist = _SHOW.maxdict = _SHOW.maxtuple = _SHOW.maxset = 4
_SHOW.maxlevel = 2


def shown(value: Any) -> str:
    """A value as a message may echo it: short, whatever its size."""
    text = _SHOW.repr(value)
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        text += f" ({len(value):,} characters)"
    return text


class OneItem(FreescodeError, ValueError):
    """A single string where a list of strings is expected."""

    def __init__(self, value: str) -> None:
        super().__init__(f"expected a list, got the string {shown(value)}")
        self.value = value


def path_problem(value: Any) -> str | None:
    """Why the value cannot be a file path on any common system, or None."""
    if not isinstance(value, str) or not value:
        return f"expected a file path, got {shown(value)}"
    if "\x00" in value:
        return "expected a file path, got text with a NUL character"
    encoded = value.encode("utf-8", errors="surrogateescape")
    if len(encoded) > MAX_PATH_BYTES:
        return f"expected a file path of at most {MAX_PATH_BYTES} bytes, got {len(encoded):,} bytes"
    longest = max(len(part.encode("utf-8", errors="surrogateescape")) for part in re.split(r"[/\\]", value))
    if longest > MAX_NAME_BYTES:
        return f"expected a file path whose names have at most {MAX_NAME_BYTES} bytes, got one of {longest:,} bytes"
    return None


def _hf_problem(value: Any) -> str | None:
    if isinstance(value, str) and len(value) <= 512 and re.fullmatch(r"[\w.-]+/[\w.-]+:[^\s:]+", value):
        return None
    return f'expected a Hugging Face reference "owner/repo:file.gguf", got {shown(value)}'


def _checked(problem: Callable[[Any], str | None]) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _type: Any) -> Any:
        found = problem(value)
        if found is not None:
            raise ValueError(found)
        return value

    return hook


def _kind(predicate: Callable[[Any], bool], words: str) -> Callable[[Any], str | None]:
    return lambda value: None if predicate(value) else f"expected {words}, got {shown(value)}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _noted(exc: Exception, note: IterableValidationNote) -> Exception:
    """The error with a note saying where in the list or table it happened."""
    exc.__notes__ = [*getattr(exc, "__notes__", []), note]
    return exc


def _raise_collected(errors: list[Exception], kind: Any) -> None:
    """Raise every collected error at once, as cattrs does."""
    if errors:
        raise IterableValidationError(f"While structuring {kind!r}", errors, kind)


def _list_hook(kind: Any, converter: cattrs.Converter) -> Callable[[Any, Any], list[Any]]:
    """A list, never a string split into characters; a lone string for a list of strings is OneItem."""
    (item,) = get_args(kind) or (Any,)

    def structure(value: Any, _type: Any) -> list[Any]:
        if isinstance(value, str) and item is str:
            raise OneItem(value)
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {shown(value)}")
        out, errors = [], []
        for index, element in enumerate(value):
            try:
                out.append(converter.structure(element, item))
            except Exception as exc:  # noqa: BLE001 - collected like cattrs does, with the index
                errors.append(_noted(exc, IterableValidationNote(f"@ index {index}", index, item)))
        _raise_collected(errors, kind)
        return out

    return structure


def _dict_hook(kind: Any, converter: cattrs.Converter) -> Callable[[Any, Any], dict[str, Any]]:
    """A table with string keys, each value checked, errors noted with their key."""
    _, item = get_args(kind) or (str, Any)

    def structure(value: Any, _type: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table, got {shown(value)}")
        out, errors = {}, []
        for key, element in value.items():
            try:
                if not isinstance(key, str):
                    raise ValueError(f"expected a text key, got {shown(key)}")
                out[key] = converter.structure(element, item)
            except Exception as exc:  # noqa: BLE001 - collected like cattrs does, with the key
                errors.append(_noted(exc, IterableValidationNote(f"@ key {key!r}", str(key), item)))
        _raise_collected(errors, kind)
        return out

    return structure


def _class_hook(kind: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """A settings table: a mapping, unknown keys refused."""
    inner = make_dict_structure_fn(kind, converter, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True)

    def structure(value: Any, _type: Any) -> Any:
        if not isinstance(value, Mapping):
            raise ValueError(f"expected a table, got {shown(value)}")
        return inner(value, kind)

    return structure


def _literal_hook(kind: Any) -> Callable[[Any, Any], Any]:
    choices = get_args(kind)

    def structure(value: Any, _type: Any) -> Any:
        if isinstance(value, str) and value in choices:
            return value
        listed = ", ".join(repr(choice) for choice in choices)
        raise ValueError(f"expected one of {listed}, got {shown(value)}")

    return structure


def make_converter() -> cattrs.Converter:
    """The converter for settings: every kind checked, shapes refused rather than coerced."""
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    simple: dict[Any, Callable[[Any], str | None]] = {
        str: _kind(lambda v: isinstance(v, str), "a string"),
        int: _kind(lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
        float: _kind(_is_number, "a number"),
        bool: _kind(lambda v: isinstance(v, bool), "true or false"),
        HttpUrl: lambda v: None if url_problem(v) is None else f"{url_problem(v)}, got {shown(v)}",
        HfRef: _hf_problem,
        FilePath: path_problem,
        **{kind: bounds.problem for kind, bounds in BOUNDS.items()},
    }
    for kind, problem in simple.items():
        converter.register_structure_hook(kind, _checked(problem))
    converter.register_structure_hook(RegistryUrls, _registry_urls)
    converter.register_structure_hook_factory(_origin_is(list), lambda t: _list_hook(t, converter))
    converter.register_structure_hook_factory(_origin_is(dict), lambda t: _dict_hook(t, converter))
    converter.register_structure_hook_factory(_origin_is(Literal), _literal_hook)
    converter.register_structure_hook_factory(attrs.has, lambda t: _class_hook(t, converter))
    return converter


def _registry_urls(value: Any, _type: Any) -> str:
    """One registry URL, or replicas' URLs as a list or a comma-separated string; kept comma-separated."""
    parts = value.split(",") if isinstance(value, str) else value
    if not isinstance(parts, list) or not parts or not all(isinstance(part, str) for part in parts):
        raise ValueError(f"expected an http:// or https:// URL, or a list of them, got {shown(value)}")
    urls = [part.strip() for part in parts]
    for url in urls:
        if url_problem(url) is not None:
            raise ValueError(f"{url_problem(url)}, got {shown(url)}")
    return ",".join(urls)


def _origin_is(origin: object) -> Callable[[object], bool]:
    """Whether a type is `origin` with arguments: list[...], dict[...], Literal[...]."""
    return lambda kind: get_origin(kind) is origin
