"""Shared pieces of the benchmarks: one result row, the machine it ran on, and the markdown table."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One measurement: ours against a baseline measured in the same run (baseline None when there is none)."""

    what: str
    ours: float
    baseline: float | None
    unit: str
    bench: str = ""
    machine: str = ""
    note: str = ""
    digits: int = 3
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """ours / baseline, or None without a usable baseline."""
        if self.baseline is None or not self.baseline or math.isnan(self.baseline) or math.isnan(self.ours):
            return None
        return self.ours / self.baseline

    def as_dict(self) -> dict[str, Any]:
        """The row as plain JSON values, ratio included."""
        return {**asdict(self), "ratio": self.ratio}


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine() -> str:
    """Cores, CPU model and the 1-minute load average now."""
    return f"{os.cpu_count()} cores, {cpu_model()}, load {os.getloadavg()[0]:.2f}"


def number(value: float | None, digits: int) -> str:
    """A value for the table; '-' when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


def table(rows: list[Row], with_machine: bool = True) -> str:
    """The rows as a markdown table."""
    head = "| what | ours | baseline | ratio |" + (" machine |" if with_machine else "")
    rule = "|---|---|---|---|" + ("---|" if with_machine else "")
    lines = [head, rule]
    for row in rows:
        ratio = row.ratio
        cells = [
            f"{row.what} ({row.unit})",
            number(row.ours, row.digits),
            number(row.baseline, row.digits),
            "-" if ratio is None else f"{ratio:.3g}" if ratio < 0.1 else f"{ratio:.2f}",
        ]
        if with_machine:
            cells.append(row.machine)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stamp(rows: list[Row], bench: str) -> list[Row]:
    """Name the bench and the machine state (load now) on each row."""
    where = machine()
    for row in rows:
        row.bench = bench
        row.machine = row.machine or where
    return rows


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of a process, KiB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def mapped_files(pid: int | str, suffix: str = ".gguf") -> int:
    """How many distinct files with this suffix the process has mapped (llama.cpp mmaps each loaded model)."""
    names = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5].endswith(suffix):
            names.add(parts[5])
    return len(names)
