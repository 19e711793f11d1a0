"""Small fake part packages of a mirrored model, installed into a folder the way pip installs wheels."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from freescode_lsp.models.mirror import Mirror, Part

PART_BYTES = 3 * 1024 * 1024 + 17
PARTS = 4


def part_bytes(number: int) -> bytes:
    """Distinct bytes for each part, the last one shorter."""
    size = PART_BYTES if number < PARTS else PART_BYTES // 3
    return hashlib.sha256(b"part %d" % number).digest() * (size // 32) + b"x" * (size % 32)


def whole() -> bytes:
    """The parts concatenated: the file the mirror stands for."""
    return b"".join(part_bytes(n) for n in range(1, PARTS + 1))


def install(site: Path, number: int, data: bytes, version: str = "0.2.0") -> None:
    """Write one fake part package into `site`: its data file, METADATA and RECORD."""
    package = f"fakemodel_part{number}"
    data_file = f"{package}/data/part{number:02d}.bin"
    (site / package / "data").mkdir(parents=True, exist_ok=True)
    (site / data_file).write_bytes(data)
    info = site / f"{package}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakemodel-part{number}\nVersion: {version}\n")
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    (info / "RECORD").write_text(f"{data_file},sha256={digest},{len(data)}\n{info.name}/METADATA,,\n{info.name}/RECORD,,\n")


def install_all(site: Path) -> Path:
    """Every fake part, as first published."""
    for number in range(1, PARTS + 1):
        install(site, number, part_bytes(number))
    return site


def pinned(site: Path) -> Mirror:
    """The pins of the fake parts as first published, and of their concatenation, found in `site`."""
    parts = tuple(
        Part(
            f"fakemodel-part{n}",
            "0.2.0",
            f"fakemodel_part{n}/data/part{n:02d}.bin",
            len(part_bytes(n)),
            hashlib.sha256(part_bytes(n)).hexdigest(),
        )
        for n in range(1, PARTS + 1)
    )
    data = whole()
    return Mirror("fake-model", "fake-model.gguf", len(data), hashlib.sha256(data).hexdigest(), parts, (str(site),))
