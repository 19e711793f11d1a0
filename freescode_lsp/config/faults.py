"""cattrs' structured errors as faults: where the bad value sits, what is wrong, and what to drop or replace."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import attrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from freescode_lsp.config.values import OneItem, shown

Part = str | int
_NOTHING = object()
_GONE = object()
MAX_PART_CHARS = 60


@attrs.frozen
class Fault:
    """One bad value: `path` to it, what is wrong, and `drop`, the part of the layer that goes (or is replaced)."""

    path: tuple[Part, ...]
    message: str
    drop: tuple[Part, ...]
    replacement: Any = _NOTHING
    entry: bool = False

    def describe(self, source: str) -> str:
        """The problem as the user reads it: file, key, what is wrong, what happens instead."""
        where = dotted(self.path)
        if self.replacement is not _NOTHING:
            return f"{source}: {where}: {self.message}; taken as {shown(self.replacement)}"
        if self.drop == self.path and not self.entry:
            ending = "ignored" if self.message == "unknown setting" else "using the default"
            return f"{source}: {where}: {self.message}; {ending}"
        return f"{source}: {where}: {self.message}; {dotted(self.drop)} ignored"

    def repair(self, layer: dict[str, Any]) -> None:
        """Drop or replace the bad value in the layer (list items are marked, then swept)."""
        if not self.drop:
            layer.clear()
            return
        parent = _walk(layer, self.drop[:-1])
        last = self.drop[-1]
        if isinstance(parent, dict) and last in parent:
            parent[last] = _GONE if self.replacement is _NOTHING else self.replacement
        elif isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
            parent[last] = _GONE if self.replacement is _NOTHING else self.replacement


def faults(exc: BaseException) -> list[Fault]:
    """Every fault in a structuring error, each once."""
    found: dict[tuple[tuple[Part, ...], str], Fault] = {}
    for fault in _walk_error(exc, (), None, False):
        found.setdefault((fault.path, fault.message), fault)
    return list(found.values())


def sweep(value: Any) -> Any:
    """The layer without the values faults marked as gone."""
    if isinstance(value, dict):
        return {key: sweep(item) for key, item in value.items() if item is not _GONE}
    if isinstance(value, list):
        return [sweep(item) for item in value if item is not _GONE]
    return value


def dotted(parts: tuple[Part, ...] | list[Part]) -> str:
    """A key path as written in TOML: local.threads, nodes[0].url, models."code-llama-7b"."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if len(part) <= MAX_PART_CHARS else part[: MAX_PART_CHARS - 3] + "..."
        if re.fullmatch(r"[A-Za-z_]\w*", text):
            out += f".{text}" if out else text
        else:
            quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
            out += f".{quoted}" if out else quoted
    return out or "(top level)"


def _walk(layer: Any, parts: tuple[Part, ...]) -> Any:
    node = layer
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _note(exc: BaseException, kind: type) -> Any:
    return next((note for note in getattr(exc, "__notes__", []) if isinstance(note, kind)), None)


def _walk_error(exc: BaseException, path: tuple[Part, ...], entry: int | None, required: bool) -> Iterator[Fault]:
    """Faults under `exc` at `path`; `entry` is the length of the path to the innermost list item or table entry."""
    if isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(str(k) for k in exc.extra_fields):
            yield Fault((*path, key), "unknown setting", (*path, key))
        return
    if isinstance(exc, ClassValidationError):
        fields = attrs.fields_dict(exc.cl) if attrs.has(exc.cl) else {}
        for sub in exc.exceptions:
            note = _note(sub, AttributeValidationNote)
            if note is None:
                yield from _walk_error(sub, path, entry, False)
                continue
            field = fields.get(note.name)
            needed = field is not None and field.default is attrs.NOTHING
            yield from _walk_error(sub, (*path, note.name), entry, needed)
        return
    if isinstance(exc, IterableValidationError):
        for sub in exc.exceptions:
            note = _note(sub, IterableValidationNote)
            if note is None:
                yield from _walk_error(sub, path, entry, False)
                continue
            inner = (*path, note.index)
            yield from _walk_error(sub, inner, len(inner), False)
        return
    yield _leaf(exc, path, entry, required)


def _leaf(exc: BaseException, path: tuple[Part, ...], entry: int | None, required: bool) -> Fault:
    if isinstance(exc, OneItem):
        return Fault(path, str(exc), path, [exc.value])
    if isinstance(exc, KeyError):
        message = "required key missing"
    elif isinstance(exc, ValueError):
        message = str(exc)
    else:
        message = f"cannot be read ({type(exc).__name__})"
    if required and entry is not None:
        return Fault(path, message, path[:entry], entry=True)
    if required:
        return Fault(path, message, (), entry=True)
    return Fault(path, message, path, entry=entry == len(path))
