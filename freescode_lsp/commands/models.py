"""`freescode models`: list the catalog, pull a model's file, print where it is."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attrs import asdict

from freescode_lsp import config
from freescode_lsp.models import footprint, weights
from freescode_lsp.models.catalog import Catalog, ModelSpec, build_catalog
from freescode_lsp.task_table import TASK_IDS

COLUMNS = ("id", "context", "price/1K", "memory", "specialties", "available")


def register(subparsers: Any) -> None:
    """Add `models`, `models pull` and `models path` to the CLI."""
    parser = subparsers.add_parser("models", help="list the models and where each is available")
    parser.add_argument("--json", action="store_true", help="print a JSON list with every field, for scripts")
    parser.set_defaults(handler=list_models)
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION")
    pull = actions.add_parser("pull", help="download (or assemble) a model's .gguf file")
    pull.add_argument("id", help="the model id")
    pull.add_argument("--dir", type=_directory, help="put the file here instead of the models directory")
    pull.set_defaults(handler=pull_model)
    where = actions.add_parser("path", help="print the local .gguf path of a model")
    where.add_argument("id", help="the model id")
    where.add_argument("--dir", type=_directory, help="look here instead of the models directory")
    where.set_defaults(handler=model_path)


def _directory(text: str) -> Path:
    return Path(text).expanduser()


def _load() -> tuple[Catalog, Path]:
    """The catalog and models directory from the config, problems reported on stderr."""
    catalog, models_dir, _ = _load_settings()
    return catalog, models_dir


def _load_settings() -> tuple[Catalog, Path, config.Settings]:
    """The catalog, models directory and settings from the config, problems reported on stderr."""
    loaded = config.load_settings(Path.cwd())
    for problem in loaded.problems:
        print(f"freescode: config: {problem}", file=sys.stderr)
    return build_catalog(loaded.settings), weights.models_dir_for(loaded.settings), loaded.settings


def local_sources(spec: ModelSpec, models_dir: Path) -> list[str]:
    """The places on this machine where the model runs now: ["local"] or nothing."""
    return ["local"] if weights.availability(spec, models_dir) == "local" else []


def available_cell(sources: Sequence[str], pullable: bool) -> str:
    """The "available" column: every source serving the model now, else "pullable" or "none"."""
    present = list(dict.fromkeys(source for source in sources if source))
    if present:
        return ", ".join(present)
    return "pullable" if pullable else "none"


def _price(value: float | None) -> str:
    return "-" if value is None else f"${value:g}"


def model_record(
    spec: ModelSpec,
    models_dir: Path,
    hosts: Sequence[str] = (),
    max_context: int | None = None,
    answers: Sequence[str] = (),
) -> dict[str, Any]:
    """Every field of one model plus where it is available (local, nodes) and the tasks it answers now, as JSON."""
    sources = local_sources(spec, models_dir) + list(hosts)
    found = weights.local_path(spec, models_dir)
    window = min(spec.context, max_context or spec.context)
    record = asdict(spec)
    record.update(
        hf_ref=spec.hf_ref,
        sources=sources,
        available=available_cell(sources, bool(spec.hf_ref)),
        local_path=str(found) if found is not None else None,
        window=window,
        memory_bytes=footprint.predict(found, window, footprint.DEFAULT_BATCH).total if found else None,
        answers=list(answers),
    )
    return record


def _memory(record: dict[str, Any]) -> str:
    """The memory column: the forecast for a file on disk at its window, else the catalog's estimate."""
    if record["memory_bytes"] is not None:
        return footprint.human_bytes(record["memory_bytes"])
    return f"~{record['memory_gb']:g} GiB"


async def network_view(model_ids: list[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The node URLs serving each model now, and the model that would answer each task now (routed or fallback)."""
    from freescode_lsp.routing.router import Router

    router = Router.from_settings(config.load_settings(Path.cwd()).settings)
    found: dict[str, list[str]] = {}
    try:
        for model_id in model_ids:
            await router.refresh(model_id)
            found[model_id] = [engine.root_url for engine in router.remote_engines(model_id)]
        for task in TASK_IDS:
            await router.refresh(router.model_for(task))
        answering = {task: router.effective_model(task) for task in TASK_IDS}
    finally:
        await router.aclose()
    return found, answering


def answering_line(answering: dict[str, str]) -> str:
    """One line naming the model that answers each task now, models in order of first task."""
    by_model: dict[str, list[str]] = {}
    for task, model in answering.items():
        by_model.setdefault(model, []).append(task)
    return "answering now: " + "; ".join(f"{model} for {', '.join(tasks)}" for model, tasks in by_model.items())


def format_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells as left-aligned columns, the first row a header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def list_models(args: argparse.Namespace) -> int:
    """Print the catalog as a table, or as JSON with --json."""
    catalog, models_dir, settings = _load_settings()
    hosts, answering = asyncio.run(network_view(list(catalog)))
    window = settings.local.max_context
    answers = {model: [task for task, chosen in answering.items() if chosen == model] for model in catalog}
    records = [model_record(spec, models_dir, hosts.get(spec.id, []), window, answers[spec.id]) for spec in catalog.values()]
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    rows = [list(COLUMNS)] + [
        [r["id"], f"{r['context']:,}", _price(r["price_per_1k"]), _memory(r), ", ".join(r["specialties"]), r["available"]]
        for r in records
    ]
    print(format_table(rows))
    print(answering_line(answering))
    return 0


def _spec_or_none(catalog: Catalog, model_id: str) -> ModelSpec | None:
    spec = catalog.get(model_id)
    if spec is None:
        print(f"freescode: unknown model {model_id!r}; known models: {', '.join(catalog)}", file=sys.stderr)
    return spec


def pull_model(args: argparse.Namespace) -> int:
    """Download or assemble a model's file and print its path."""
    catalog, models_dir = _load()
    spec = _spec_or_none(catalog, args.id)
    if spec is None:
        return 2
    try:
        path = weights.pull(spec, args.dir or models_dir)
    except weights.ModelFileError as exc:
        print(f"freescode: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


def model_path(args: argparse.Namespace) -> int:
    """Print where a model's file is, or say how to get it."""
    catalog, models_dir = _load()
    spec = _spec_or_none(catalog, args.id)
    if spec is None:
        return 2
    refused = weights.unsafe_hf_file(spec)
    if refused is not None:
        print(f"freescode: {refused}", file=sys.stderr)
        return 1
    found = weights.local_path(spec, args.dir or models_dir)
    if found is None:
        print(f"freescode: {weights.missing_hint(spec)}", file=sys.stderr)
        return 1
    print(found)
    return 0
