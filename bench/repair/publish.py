"""A stand-alone repair run's rows into bench/results.json and bench/RESULTS.md, in place of the rows an earlier run
gave for the same models; the other benches' rows stay as they were."""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from bench.common import Row, cpu_model, machine, stamp

BENCH_DIR = Path(__file__).resolve().parent.parent
RESULTS_JSON = BENCH_DIR / "results.json"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
ROW_FIELDS = {field.name for field in fields(Row)}


def _row(data: dict[str, Any]) -> Row:
    return Row(**{key: value for key, value in data.items() if key in ROW_FIELDS})


def replace_rows(rows: list[Row], models: list[str], seconds: float) -> None:
    """Swap this run's rows in for the repair rows of the same models, then write both result files again."""
    from bench.__main__ import markdown

    stamp(rows, "repair")
    if RESULTS_JSON.is_file():
        payload = json.loads(RESULTS_JSON.read_text())
    else:
        payload = {"machine": {"cores": os.cpu_count(), "cpu": cpu_model(), "at_start": machine()}, "seconds": {}, "errors": {}}
    kept = [
        _row(data)
        for data in payload.get("rows", [])
        if not (data.get("bench") == "repair" and data.get("extra", {}).get("model") in models)
    ]
    merged = kept + rows
    payload.setdefault("seconds", {})["repair"] = seconds
    payload["rows"] = [row.as_dict() for row in merged]
    RESULTS_JSON.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    RESULTS_MD.write_text(markdown(merged, payload["machine"]["at_start"], payload["seconds"], payload["errors"]))
