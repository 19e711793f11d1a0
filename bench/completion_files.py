"""Inline completion on real files (`python -m bench completion_files`): at lines the user is typing, time to the
suggestion and to the next keystroke's, and how often the first line is what the file had; against raw
llama-cpp-python with the naive prompt (the whole 4,096-character window, cache cleared) and the physical limit of
our own suggestion (its new prompt tokens plus its tokens one by one, at what raw llama-cpp-python takes for them
at the same context depth, bench/raw_costs.py; also, as before, at raw speeds measured on an empty cache),
all in one process, the server's runs first, then the raw ones, so they never share the cores.

Options: --limit N (positions per file), --baseline N (of them, how many the slow naive baseline runs),
--models a,b and --files path,path.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types

from bench import raw_costs
from bench.common import Row, table
from bench.completion_positions import (
    Position,
    common_prefix,
    default_files,
    exact,
    imported_sources,
    positions,
    similarity,
)
from bench.raw_costs import Costs
from freescode_lsp.completion import neighbours, prompt, window
from freescode_lsp.completion.cursor import cursor_at
from freescode_lsp.completion.dedupe import polish
from freescode_lsp.completion.task import request as task_request
from freescode_lsp.completion.task.request import SUFFIX_CHARS, SUFFIX_LINES, one_line, stop_rule
from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.local import healing
from freescode_lsp.engines.local.completion import fim_for
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import CODE_MODEL, DEFAULT_MODEL, build_catalog
from freescode_lsp.testing.in_process import InProcessServer
from freescode_lsp.testing.waiting import until
from freescode_lsp.text.chunked_text import ChunkedText

THREADS = 2
CONTEXT = 4096
MAX_TOKENS = 64
MAX_LINES = 8
LIMIT = 8
BASELINE = 3
NAIVE_PREFIX, NAIVE_SUFFIX = window.budgets(4096)
SPEED_TOKENS = 256
DEPTH_STEP = 1024
RUN_END_S = 60.0
PERCENTILES = (("p50", 0.5), ("p90", 0.9))
UTF16 = types.PositionEncodingKind.Utf16.value


@dataclass
class Asked:
    """One request: seconds to the answer, the suggestion, and (when the model ran) its new prompt and generated tokens."""

    seconds: float
    suggestion: str
    new_tokens: int = 0
    generated: int = 0
    by_model: bool = False
    depth: int = 0


@dataclass
class Sample:
    """One position: the request, the next keystroke's request, and the pause the server's cache filling took before."""

    path: Path
    position: Position
    first: Asked
    next: Asked
    pause_s: float


@dataclass
class Naive:
    """The naive baseline at one sample's position."""

    sample: Sample
    seconds: float
    suggestion: str


@dataclass
class ModelRun:
    """Everything measured for one model."""

    model: str
    samples: list[Sample] = field(default_factory=list)
    naive: list[Naive] = field(default_factory=list)
    prompt_speed: float = 0.0
    generation_speed: float = 0.0
    costs: Costs | None = None


def units(text: str) -> int:
    """Length in UTF-16 code units, as LSP positions count."""
    return len(text.encode("utf-16-le")) // 2


def options(model: str) -> dict[str, Any]:
    return {
        "network": {"mode": "local-only"},
        "routing": {"complete": model},
        "local": {"threads": THREADS},
        "server": {"diagnostics_enabled": False, "hover_enabled": False},
        "completion": {"max_tokens": MAX_TOKENS, "max_lines": MAX_LINES, "debounce_ms": 0},
    }


def suggestion_of(answer: Any) -> str:
    items = answer.get("items", []) if isinstance(answer, dict) else answer or []
    return str(items[0]["insertText"]) if items else ""


async def ask(server: InProcessServer, uri: str, line: int, character: int) -> Asked:
    """One invoked inline completion, timed, with what the completion lane's last run did."""
    feature = server.server.features.inline_completion
    before = feature.state.generations
    params = {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": types.InlineCompletionTriggerKind.Invoked.value},
    }
    start = time.perf_counter()
    answer = await server.request("textDocument/inlineCompletion", params)
    seconds = time.perf_counter() - start
    asked = Asked(seconds, suggestion_of(answer))
    local = server.server.get_router().local
    if feature.state.generations > before and local is not None and local.lane is not None:
        stats = local.lane.last_run
        await until(lambda: "new_tokens" in stats, "the model's thread to finish the run", timeout=RUN_END_S)
        asked.new_tokens, asked.generated, asked.by_model = int(stats["new_tokens"]), int(stats["tokens"]), True
        asked.depth = max(0, int(stats["context_tokens"]) - asked.generated - asked.new_tokens)
    return asked


async def ours(model: str, files: list[Path], limit: int) -> list[Sample]:
    """Each file opened in the real server; at each position the line is cut, the server's pause allowed, then the
    request, one more keystroke and its request, and the line restored."""
    server = InProcessServer()
    await server.initialize(options(model))
    feature = server.server.features.inline_completion
    samples = []
    try:
        for index, path in enumerate(files):
            text = path.read_text(encoding="utf-8")
            lines = text.split("\n")
            uri, version = path.as_uri(), 1
            server.open(uri, text)
            for neighbour in imported_sources(path):
                server.open(neighbour.as_uri(), neighbour.read_text(encoding="utf-8"))
            for position in positions(text, limit, seed=index):
                column = units(lines[position.line][: position.column])
                end = column + units(position.expected)
                version += 1
                server.change(uri, version, (position.line, column), (position.line, end), "")
                start = time.perf_counter()
                await asyncio.sleep(0)
                await feature.prefill.idle()
                pause = time.perf_counter() - start
                first = await ask(server, uri, position.line, column)
                typed = position.expected[0]
                version += 1
                server.change(uri, version, (position.line, column), (position.line, column), typed)
                following = await ask(server, uri, position.line, column + units(typed))
                version += 1
                at = column + units(typed)
                server.change(uri, version, (position.line, at), (position.line, at), position.expected[1:])
                samples.append(Sample(path, position, first, following, pause))
                print(
                    f"  {model} {path.name}:{position.line + 1} {first.seconds:.2f}s new={first.new_tokens} "
                    f"{'=' if exact(first.suggestion, position.expected) else 'x'} pause={pause:.1f}s "
                    f"{first.suggestion[:40]!r} / {position.expected[:40]!r}",
                    flush=True,
                )
            server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    finally:
        await server.server.get_router().aclose()
    return samples


def raw_llama(model: str) -> tuple[Any, Any]:
    """Raw llama-cpp-python on the model's file with the lane's window and threads, and the model's spec."""
    from llama_cpp import Llama

    settings = settings_from_dict({"routing": {"complete": model}}).settings
    spec = build_catalog(settings)[model]
    path = weights.require(spec, weights.models_dir_for())
    return Llama(model_path=str(path), n_ctx=CONTEXT, n_threads=THREADS, verbose=False), spec


def raw_speeds(llama: Any, text: str) -> tuple[float, float]:
    """Raw prompt tokens/s (one evaluation of SPEED_TOKENS) and generated tokens/s after the first token."""
    tokens = llama.tokenize(text.encode("utf-8"))[:SPEED_TOKENS]
    llama.reset()
    start = time.perf_counter()
    llama.eval(tokens)
    prompt_speed = len(tokens) / (time.perf_counter() - start)
    llama.reset()
    first, count = None, 0
    start = time.perf_counter()
    for _ in llama.create_completion(text[:400], max_tokens=32, temperature=0, stream=True):
        count += 1
        first = first or time.perf_counter()
    rest = time.perf_counter() - (first or start)
    return prompt_speed, (count - 1) / rest if count > 1 and rest > 0 else float("nan")


def naive(llama: Any, spec: Any, text: str, position: Position) -> tuple[float, str]:
    """Raw llama-cpp-python on the naive prompt (the 4,096-character window, no cache kept) to the same stop rule."""
    lines = text.split("\n")
    lines[position.line] = lines[position.line][: position.column]
    cut_text = "\n".join(lines)
    where = types.Position(position.line, units(lines[position.line]))
    cursor = cursor_at(ChunkedText(cut_text, UTF16), where)
    cut = window.cut(cursor.before, cursor.after, NAIVE_PREFIX, NAIVE_SUFFIX, cursor.origin)
    fim = fim_for(Path(llama.model_path), spec)
    rule = stop_rule(cursor, MAX_LINES)
    stops = prompt.stops(fim, ["\n"] if one_line(cursor) else [])
    llama.reset()
    start = time.perf_counter()
    stream = llama.create_completion(
        prompt.render(cut.prefix, cut.suffix, fim), max_tokens=MAX_TOKENS, temperature=0, stop=stops, stream=True
    )
    for part in stream:
        if rule.feed(part["choices"][0]["text"] or ""):
            break
    stream.close()
    return time.perf_counter() - start, polish(rule.result(), cursor.after, cursor.line_before)


def baselines(run: ModelRun, files: list[Path], count: int) -> None:
    """The raw speeds, and the naive baseline at the first `count` positions of each file."""
    llama, spec = raw_llama(run.model)
    try:
        run.prompt_speed, run.generation_speed = raw_speeds(llama, files[0].read_text(encoding="utf-8"))
        depths = sorted({s.first.depth for s in run.samples if s.first.by_model})
        deepest = depths[-1] if depths else 0
        wanted = (*range(0, deepest, DEPTH_STEP), deepest)
        run.costs = raw_costs.measure(llama, "\n".join(p.read_text(encoding="utf-8") for p in files), wanted)
        for path in files:
            text = path.read_text(encoding="utf-8")
            for sample in [s for s in run.samples if s.path == path][:count]:
                seconds, suggestion = naive(llama, spec, text, sample.position)
                run.naive.append(Naive(sample, seconds, suggestion))
    finally:
        llama.close()


def limit_of(asked: Asked, run: ModelRun) -> float:
    """The physical limit for a suggestion: its new prompt tokens and its tokens at the raw speeds on an empty cache."""
    return asked.new_tokens / run.prompt_speed + asked.generated / run.generation_speed if asked.by_model else 0.0


def limit_at_depth(asked: Asked, run: ModelRun) -> float:
    """The physical limit for a suggestion: its new prompt tokens and its tokens at raw costs at its own depth."""
    if not asked.by_model or run.costs is None or not run.costs.at:
        return 0.0
    return run.costs.seconds(asked.depth, asked.new_tokens, asked.generated)


def depth_note(costs: Costs | None) -> str:
    """The measured depths and their costs, in a few words."""
    if costs is None or not costs.at:
        return "no depth (none measured)"
    parts = [f"{c.depth}: {c.single_s * 1000:.0f} ms a token, {c.batch_s * 1000:.0f} ms for {raw_costs.BATCH}" for c in costs.at]
    return "depths " + "; ".join(parts)


def quantile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def share(flags: list[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def spread(what: str, values: list[float], unit: str, note: str, digits: int) -> list[Row]:
    """A p50 and a p90 row without a baseline."""
    return [Row(f"{what} {name}", quantile(values, q), None, unit, note=note, digits=digits) for name, q in PERCENTILES]


def versus(label: str, ours_s: float, baseline_s: float | None, note: str) -> Row:
    """A row of two times given in seconds, shown in whole milliseconds."""
    return Row(label, ours_s * 1000, baseline_s * 1000 if baseline_s is not None else None, "ms", note=note, digits=0)


def rows(run: ModelRun, files: list[Path]) -> list[Row]:
    """The table rows of one model: the first (cold) request kept apart from the percentiles."""
    cold, warm = run.samples[0], run.samples[1:]
    times = [s.first.seconds for s in warm]
    limits = [limit_of(s.first, run) for s in warm]
    at_depth = [limit_at_depth(s.first, run) for s in warm]
    naive_times = [n.seconds for n in run.naive[1:]]
    ours_on_naive = [n.sample for n in run.naive]
    note = (
        f"{run.model}: {len(run.samples)} positions in {', '.join(p.name for p in files)} (typing a line, its rest "
        f"removed; the files they import open too, definitions from them {'on' if neighbours.MAX_CHARS else 'off'}, "
        f"token healing {'on' if healing.ENABLED else 'off'}), "
        f"{THREADS} threads, in-process server, debounce 0 ms (the setting adds its own wait); "
        f"naive = raw llama-cpp-python, 4,096-char "
        f"window, cache reset, at {len(run.naive)} of the positions; physical limit on an empty cache = our new "
        f"prompt tokens at {run.prompt_speed:.0f} tok/s + our tokens at {run.generation_speed:.1f} tok/s (raw, this "
        f"run); at the same depth = the same tokens at raw costs measured at {depth_note(run.costs)}"
    )
    name = run.model
    return [
        versus(f"{name}: time to suggestion p50 vs naive", quantile(times, 0.5), quantile(naive_times, 0.5), note),
        versus(f"{name}: time to suggestion p90 vs naive", quantile(times, 0.9), quantile(naive_times, 0.9), note),
        versus(
            f"{name}: first (cold) suggestion vs naive first",
            cold.first.seconds,
            run.naive[0].seconds if run.naive else None,
            note,
        ),
        versus(f"{name}: time to suggestion p50 vs physical limit p50", quantile(times, 0.5), quantile(limits, 0.5), note),
        versus(
            f"{name}: time to suggestion p50 vs physical limit at the same depth p50",
            quantile(times, 0.5),
            quantile(at_depth, 0.5),
            note,
        ),
        *spread(f"{name}: tokens in the cache under a request", [float(s.first.depth) for s in warm], "tokens", note, 0),
        *spread(f"{name}: next keystroke", [s.next.seconds * 1000 for s in warm], "ms", note, 0),
        *spread(f"{name}: new prompt tokens per request", [float(s.first.new_tokens) for s in warm], "tokens", note, 0),
        *spread(f"{name}: pause the cache filling took before a request", [s.pause_s for s in warm], "s", note, 1),
        Row(
            f"{name}: exact first line, all positions",
            share([exact(s.first.suggestion, s.position.expected) for s in run.samples]),
            None,
            "share",
            note=note,
            digits=2,
        ),
        Row(
            f"{name}: exact first line vs naive, same positions",
            share([exact(s.first.suggestion, s.position.expected) for s in ours_on_naive]),
            share([exact(n.suggestion, n.sample.position.expected) for n in run.naive]),
            "share",
            note=note,
            digits=2,
        ),
        Row(
            f"{name}: characters in common (difflib ratio) vs naive, same positions",
            statistics.fmean([similarity(s.first.suggestion, s.position.expected) for s in ours_on_naive] or [0.0]),
            statistics.fmean([similarity(n.suggestion, n.sample.position.expected) for n in run.naive] or [0.0]),
            "ratio",
            note=note,
            digits=2,
        ),
        Row(
            f"{name}: right characters before the first mistake, mean",
            statistics.fmean([common_prefix(s.first.suggestion, s.position.expected) for s in run.samples]),
            None,
            "chars",
            note=note,
            digits=1,
        ),
        Row(
            f"{name}: non-empty suggestions",
            share([bool(s.first.suggestion.strip()) for s in run.samples]),
            None,
            "share",
            note=note,
            digits=2,
        ),
    ]


async def measure(models: list[str], files: list[Path], limit: int, baseline: int) -> list[Row]:
    """Every model: the server's runs, then the raw ones."""
    found: list[Row] = []
    for model in models:
        run = ModelRun(model, await ours(model, files, limit))
        await asyncio.to_thread(baselines, run, files, baseline)
        found += rows(run, files)
    return found


async def run() -> list[Row]:
    """The rows for `python -m bench` (a modest run: LIMIT positions per file, both models)."""
    return await measure([CODE_MODEL, DEFAULT_MODEL], default_files(), LIMIT, BASELINE)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench completion_files [--limit N] [--baseline N] [--models a,b] [--files p,q]`."""
    parser = argparse.ArgumentParser(prog="python -m bench completion_files", description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=LIMIT, help="positions per file (the full run: 50)")
    parser.add_argument("--baseline", type=int, default=BASELINE, help="positions per file for the naive baseline")
    parser.add_argument("--models", default=f"{CODE_MODEL},{DEFAULT_MODEL}")
    parser.add_argument("--files", default="", help="comma-separated paths (default: stdlib modules and the router)")
    parser.add_argument("--no-neighbours", action="store_true", help="no definitions from the other open files")
    parser.add_argument("--no-healing", action="store_true", help="no token healing (the prompt ends where the typing does)")
    parser.add_argument("--suffix-lines", type=int, help=f"lines after the cursor's line in the prompt (default {SUFFIX_LINES})")
    parser.add_argument("--suffix-chars", type=int, help=f"characters of suffix at most (default {SUFFIX_CHARS})")
    args = parser.parse_args(argv)
    if args.no_neighbours:
        neighbours.MAX_CHARS = 0
    if args.no_healing:
        healing.ENABLED = False
    if args.suffix_lines is not None:
        task_request.SUFFIX_LINES = args.suffix_lines
    if args.suffix_chars is not None:
        task_request.SUFFIX_CHARS = args.suffix_chars
    files = [Path(p).resolve() for p in args.files.split(",") if p] or default_files()
    found = asyncio.run(measure(args.models.split(","), files, args.limit, args.baseline))
    for note in dict.fromkeys(row.note for row in found):
        print(note)
    print(table(found, with_machine=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
