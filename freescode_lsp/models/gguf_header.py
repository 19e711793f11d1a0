"""The scalar metadata of a .gguf file, read from its header without loading the model."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from freescode_lsp.errors import FreescodeError

MAGIC = b"GGUF"
MAX_KEYS = 1_000_000
MAX_STRING = 1 << 24

_SCALARS: dict[int, str] = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING = 8
_ARRAY = 9

Scalar = int | float | bool | str


class GGUFHeaderError(FreescodeError, ValueError):
    """The file is not a GGUF file this reader understands."""


def read_metadata(path: Path) -> dict[str, Scalar]:
    """Every scalar key of the header (arrays such as the vocabulary are skipped)."""
    with path.open("rb") as stream:
        if stream.read(4) != MAGIC:
            raise GGUFHeaderError(f"{path.name} is not a GGUF file")
        version = _unpack(stream, "<I")
        if version < 2:
            raise GGUFHeaderError(f"{path.name} is GGUF version {version}; version 2 or later is needed")
        _unpack(stream, "<Q")
        keys = _unpack(stream, "<Q")
        if keys > MAX_KEYS:
            raise GGUFHeaderError(f"{path.name} claims {keys} metadata keys")
        metadata: dict[str, Scalar] = {}
        for _ in range(keys):
            name = _string(stream)
            kind = _unpack(stream, "<I")
            if kind == _ARRAY:
                _skip_array(stream)
            else:
                metadata[name] = _value(stream, kind)
        return metadata


def read_array_strings(path: Path, key: str, indices: set[int]) -> dict[int, str]:
    """Chosen items of one string-array key (such as `tokenizer.ggml.tokens`), by index; missing ones left out."""
    with path.open("rb") as stream:
        if stream.read(4) != MAGIC or _unpack(stream, "<I") < 2:
            raise GGUFHeaderError(f"{path.name} is not a GGUF file of version 2 or later")
        _unpack(stream, "<Q")
        keys = min(_unpack(stream, "<Q"), MAX_KEYS)
        for _ in range(keys):
            name = _string(stream)
            kind = _unpack(stream, "<I")
            if kind != _ARRAY:
                _value(stream, kind)
                continue
            if name != key:
                _skip_array(stream)
                continue
            if _unpack(stream, "<I") != _STRING:
                raise GGUFHeaderError(f"{key} is not an array of strings")
            count = _unpack(stream, "<Q")
            found: dict[int, str] = {}
            for index in range(min(count, max(indices, default=-1) + 1)):
                if index in indices:
                    found[index] = _string(stream)
                else:
                    stream.seek(_unpack(stream, "<Q"), 1)
            return found
    return {}


def _unpack(stream: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    raw = stream.read(size)
    if len(raw) != size:
        raise GGUFHeaderError("the header ends early")
    value: int = struct.unpack(fmt, raw)[0]
    return value


def _string(stream: BinaryIO) -> str:
    length = _unpack(stream, "<Q")
    if length > MAX_STRING:
        raise GGUFHeaderError(f"a header string claims {length} bytes")
    raw = stream.read(length)
    if len(raw) != length:
        raise GGUFHeaderError("the header ends early")
    return raw.decode("utf-8", errors="replace")


def _value(stream: BinaryIO, kind: int) -> Scalar:
    if kind == _STRING:
        return _string(stream)
    fmt = _SCALARS.get(kind)
    if fmt is None:
        raise GGUFHeaderError(f"unknown metadata type {kind}")
    return _unpack(stream, fmt)


def _skip_array(stream: BinaryIO) -> None:
    kind = _unpack(stream, "<I")
    count = _unpack(stream, "<Q")
    if kind == _STRING:
        for _ in range(count):
            stream.seek(_unpack(stream, "<Q"), 1)
    elif kind in _SCALARS:
        stream.seek(count * struct.calcsize(_SCALARS[kind]), 1)
    else:
        raise GGUFHeaderError(f"an array of type {kind} cannot be skipped")
