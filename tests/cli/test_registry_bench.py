"""`python -m bench registry` as it runs, small: the floor is measured first and is each latency's baseline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_floor_is_every_registry_latencys_baseline() -> None:
    command = [sys.executable, "-m", "bench", "registry", "--nodes", "40", "--seconds", "2", "--setups", "sqlite,floor"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert out.index("== registry: floor") < out.index("== registry: sqlite")
    floor_p99 = re.search(r"\| floor, 40 nodes: heartbeat p99 \(ms\) \| ([\d.]+) \| - \| - \|", out)
    sqlite_p99 = re.search(r"\| sqlite, 40 nodes: heartbeat p99 \(ms\) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", out)
    assert floor_p99 and sqlite_p99, out
    assert sqlite_p99.group(2) == floor_p99.group(1)
    beats = re.findall(r"\d+ listings, (\d+) heartbeats, (\d+) failed", out)
    assert len(beats) == 2 and all(int(sent) > 0 and failed == "0" for sent, failed in beats), beats
