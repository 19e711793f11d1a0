"""GGUF files that llama.cpp reads but that break it, made from the embedded gemma model."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

HEADER = 24  # magic, version, tensor count, key count
ALIGN = 32
RAISING_TEMPLATE = "{{ raise_exception('this template is broken on purpose') }}"
LOOPING_TEMPLATE = (
    "{% for a in range(99999) %}{% for b in range(99999) %}{% for c in range(99999) %}{% endfor %}{% endfor %}{% endfor %}"
)


def _gguf_string(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def with_header_value(source: Path, target: Path, key: str, value: int) -> Path:
    """A copy of `source` with the uint32 metadata `key` set to `value`."""
    shutil.copyfile(source, target)
    with target.open("r+b") as stream:
        head = stream.read(1 << 20)
        at = head.index(_gguf_string(key.encode()))
        kind_at = at + 8 + len(key)
        (kind,) = struct.unpack_from("<I", head, kind_at)
        if kind != 4:
            raise ValueError(f"{key} is not a uint32 in {source.name}")
        stream.seek(kind_at + 4)
        stream.write(struct.pack("<I", value))
    return target


def with_chat_template(source: Path, target: Path, template: str) -> Path:
    """A copy of `source` with a `tokenizer.chat_template` added (padded so tensor data stays aligned)."""
    key = _gguf_string(b"tokenizer.chat_template") + struct.pack("<I", 8)
    body = template.encode()
    while (len(key) + 8 + len(body)) % ALIGN:
        body += b" "
    entry = key + _gguf_string(body)
    with source.open("rb") as reader, target.open("wb") as writer:
        header = bytearray(reader.read(HEADER))
        (keys,) = struct.unpack_from("<Q", header, 16)
        struct.pack_into("<Q", header, 16, keys + 1)
        writer.write(bytes(header) + entry)
        shutil.copyfileobj(reader, writer, 1 << 22)
    return target


def truncated(source: Path, target: Path, fraction: float = 0.4) -> Path:
    """The first part of `source` only."""
    with source.open("rb") as reader, target.open("wb") as writer:
        writer.write(reader.read(int(source.stat().st_size * fraction)))
    return target


def random_after_magic(target: Path, size: int = 1 << 20) -> Path:
    """The GGUF magic followed by random bytes."""
    target.write_bytes(b"GGUF" + os.urandom(size))
    return target
