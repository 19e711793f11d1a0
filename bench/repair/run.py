"""`python -m bench repair`: each buggy program fixed by each model through `freescode run fix --apply`, once as a
single attempt and once with `--verify` (the program's own tests as the check, up to 3 attempts), against the same
model file through raw llama-cpp-python with a plain prompt, in the same run; counts per model and side."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from attrs import define

from bench.common import Row
from bench.repair import publish
from bench.repair.checks import Tally, run_tests, tests_command
from bench.repair.judge import COLUMNS, Attempt, judge, summary
from bench.repair.ours import VERIFY_ATTEMPTS, fix_with_cli
from bench.repair.programs import Program, all_programs, select
from bench.repair.raw import RawModel, code_in, put_in_place
from bench.repair.verified import curve_line, goal_line, verified, verify_label, verify_rows
from freescode_lsp.config import Settings, load_settings
from freescode_lsp.edits import lines_with_ends
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import CODE_MODEL, DEFAULT_MODEL, build_catalog
from freescode_lsp.tasks.prompts import rewrite_tokens
from freescode_lsp.tasks.repair_context import INPUTS, LEAVE_OUT_ENV

MODELS = (CODE_MODEL, DEFAULT_MODEL)
RESULTS_JSON = Path(__file__).resolve().parent / "results.json"
THREADS = min(4, os.cpu_count() or 1)
BENCH_CONFIG = f'[network]\nmode = "local-only"\n[local]\nthreads = {THREADS}\n'
Record = dict[str, Any]


@define(frozen=True)
class Variant:
    """What a run varies: the raw side or not, the verified side or not, the failing test passed as --why, a model's
    prompt style, the repair inputs left out, our single attempt guarded by the program's tests or not, the verified
    side's attempts."""

    raw: bool = True
    why: bool = False
    prompt_style: str | None = None
    verify: bool = True
    leave_out: tuple[str, ...] = ()
    guard: bool = True
    attempts: int = VERIFY_ATTEMPTS

    def config(self, models: list[str]) -> str:
        """The bench config, with the prompt style set for every model when one is asked for."""
        styles = "".join(f'[models."{model}"]\nprompt_style = "{self.prompt_style}"\n' for model in models)
        return BENCH_CONFIG + (styles if self.prompt_style else "")


def first_failure(tally: Tally) -> str | None:
    """The first failing test's line from the run of the buggy program, as the error a user would pass as --why."""
    return next((line.removeprefix("FAIL ") for line in tally.output.splitlines() if line.startswith("FAIL ")), None)


@contextmanager
def local_only(config_text: str = BENCH_CONFIG, leave_out: tuple[str, ...] = ()) -> Iterator[dict[str, str]]:
    """The environment for the run: a config file (FREESCODE_CONFIG, replacing the user's own named one) that keeps
    every model call on this machine, with the default 4 threads or fewer on fewer cores; set in this process too, so
    that model files and threads resolve as the command's do."""
    saved = os.environ.get("FREESCODE_CONFIG")
    with tempfile.TemporaryDirectory(prefix="repair-config-") as folder:
        config = Path(folder) / "bench.toml"
        config.write_text(config_text)
        os.environ["FREESCODE_CONFIG"] = str(config)
        try:
            yield {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", LEAVE_OUT_ENV: ",".join(leave_out)}
        finally:
            if saved is None:
                os.environ.pop("FREESCODE_CONFIG", None)
            else:
                os.environ["FREESCODE_CONFIG"] = saved


def model_file(settings: Settings, model: str) -> tuple[Path | None, str]:
    """The model's file the way the command finds it, or None and why it is not here."""
    spec = build_catalog(settings).get(model)
    if spec is None:
        return None, f"{model} is not in the catalog"
    directory = weights.models_dir_for(settings)
    if weights.availability(spec, directory) != "local":
        return None, f"{model}: no model file here ({weights.missing_hint(spec)})"
    try:
        return weights.require(spec, directory), ""
    except weights.ModelFileError as exc:
        return None, f"{model}: {exc}"


async def ours(program: Program, before: Tally, model: str, env: dict[str, str], variant: Variant) -> Attempt:
    """Fix a scratch copy through `freescode run fix --apply` (guarded by the program's tests: `--check`) and judge
    the file it leaves."""
    with tempfile.TemporaryDirectory(prefix="repair-cli-") as scratch:
        path = program.copy_to(Path(scratch))
        why = first_failure(before) if variant.why else None
        done = fix_with_cli(path, program.line, model, env, why, tests_command(program) if variant.guard else None)
        after = path.read_text(encoding="utf-8")
    refusal = None if done.said_no_change() else done.refusal()
    attempt = await judge(program, before, after, done.seconds, refusal)
    attempt.note = "; ".join(part for part in (done.stand_in(), attempt.note) if part)
    return attempt


async def raw(program: Program, before: Tally, llama: RawModel, ceiling: int) -> Attempt:
    """Ask the raw model with the plain prompt and judge the source with its answer in place of the unit."""
    start, end = program.unit()
    unit = "".join(lines_with_ends(program.buggy)[start:end])
    answer, seconds = await asyncio.to_thread(llama.answer, unit, program.language, rewrite_tokens(unit, ceiling))
    return await judge(program, before, put_in_place(program.buggy, start, end, code_in(answer)), seconds)


def tests_before(programs: list[Program]) -> dict[str, Tally]:
    """Each program's tests on its buggy source."""
    found = {}
    for program in programs:
        with tempfile.TemporaryDirectory(prefix="repair-before-") as scratch:
            program.copy_to(Path(scratch))
            found[program.name] = run_tests(program, Path(scratch))
    return found


async def run_model(
    model: str,
    programs: list[Program],
    before: dict[str, Tally],
    env: dict[str, str],
    variant: Variant,
    results_json: Path = RESULTS_JSON,
) -> Record:
    """Both sides on every program for one model: ours first, then the raw baseline with the model loaded once."""
    settings = load_settings(Path(tempfile.gettempdir())).settings
    path, missing = model_file(settings, model)
    if path is None:
        print(f"== repair {model}: not run: {missing}", flush=True)
        return {"model": model, "missing": missing, "programs": []}
    records: list[Record] = []
    for program in programs:
        attempt = await ours(program, before[program.name], model, env, variant)
        print(f"   ours {model} {program.name}: {attempt.outcome} ({attempt.seconds:.1f} s)", flush=True)
        start, end = program.unit()
        records.append(
            {
                "name": program.name,
                "language": program.language,
                "kind": program.kind,
                "line": program.line,
                "unit": [start + 1, end],
                "tests": before[program.name].total,
                "passed_before": before[program.name].passed,
                "ours": attempt.as_dict(),
            }
        )
    if variant.verify:
        for program, record in zip(programs, records, strict=True):
            checked = await verified(program, before[program.name], model, env, variant.attempts)
            said = f"{checked.outcome}, {checked.attempts} attempts ({checked.seconds:.1f} s)"
            print(f"   verify {model} {program.name}: {said}", flush=True)
            record["verify"] = checked.as_dict()
    stand_ins = sum(
        1 for record in records for side in ("ours", "verify") if "answered instead of" in record.get(side, {}).get("note", "")
    )
    if stand_ins:
        print(f"   warning: another model answered {stand_ins} of the {model} runs (see the notes in {results_json})")
    if not variant.raw:
        for record in records:
            record["raw"] = record["ours"]
        return {
            "model": model,
            "model_file": str(path),
            "missing": None,
            "guarded": variant.guard,
            "attempts": variant.attempts,
            "programs": records,
        }
    spec = build_catalog(settings)[model]
    llama = RawModel(path, spec.threads or settings.local.threads)
    try:
        for program, record in zip(programs, records, strict=True):
            attempt = await raw(program, before[program.name], llama, settings.server.max_tokens)
            print(f"   raw  {model} {program.name}: {attempt.outcome} ({attempt.seconds:.1f} s)", flush=True)
            record["raw"] = attempt.as_dict()
    finally:
        llama.close()
    return {
        "model": model,
        "model_file": str(path),
        "missing": None,
        "guarded": variant.guard,
        "attempts": variant.attempts,
        "programs": records,
    }


def ours_label(result: Record) -> str:
    """What our side ran, for the table and the notes."""
    guard = ", guarded by the program's tests (--check)" if result.get("guarded") else ""
    return f"ours (freescode run fix --apply{guard})"


def attempts_of(result: Record, side: str) -> list[Attempt]:
    """One side's attempts of a model's result (none when that side did not run)."""
    return [Attempt(**record[side]) for record in result["programs"] if side in record]


def rows_for(result: Record, programs: list[Program]) -> list[Row]:
    """Bench rows for one model: each count, ours against the raw baseline."""
    model = result["model"]
    if result["missing"]:
        return [Row(f"repair {model}: not run ({result['missing']})", float("nan"), None, "-", extra={"model": model})]
    ours_counts, raw_counts = summary(attempts_of(result, "ours")), summary(attempts_of(result, "raw"))
    languages = sorted({program.language for program in programs})
    note = (
        f"{len(programs)} buggy programs written for this project ({', '.join(languages)}), each with its tests; "
        "ours = `freescode run fix FILE --line N --apply` in a scratch copy (seconds include process start and model "
        "load)"
        + (
            ", with the program's tests as --check: the guard, which refuses an answer that passes fewer tests than the "
            "code before it (refused = fewer-passing without the guard)"
            if result.get("guarded")
            else ""
        )
        + "; baseline = the same model file through raw llama-cpp-python, plain prompt, greedy, same token budget, "
        "loaded once; changed-failing counts every changed file whose tests do not all pass"
    )
    rows = [
        Row(
            f"repair {model}: {column} of {len(programs)}",
            ours_counts[column],
            raw_counts[column],
            "s" if column == "median s" else "programs",
            note=note,
            digits=1 if column == "median s" else 0,
            extra={"model": model},
        )
        for column in COLUMNS
    ]
    if checked := attempts_of(result, "verify"):
        rows += verify_rows(model, attempts_of(result, "ours"), checked, len(programs))
    return rows


def table(result: Record, programs: list[Program]) -> str:
    """One model's counts as a markdown table: ours and the raw baseline side by side."""
    model = result["model"]
    if result["missing"]:
        return f"repair, {model}: not run: {result['missing']}"
    head = f"| repair, {model} ({len(programs)} programs) | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|---" * (len(COLUMNS) + 1) + "|"]
    sides = (
        ("ours", ours_label(result)),
        ("verify", verify_label(result.get("attempts", VERIFY_ATTEMPTS))),
        ("raw", "raw llama-cpp-python"),
    )
    for side, label in sides:
        if not (attempts := attempts_of(result, side)):
            continue
        counts = summary(attempts)
        cells = [f"{counts[c]:.1f}" if c == "median s" else f"{counts[c]:.0f}" for c in COLUMNS]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if checked := attempts_of(result, "verify"):
        lines.append(goal_line(attempts_of(result, "ours"), checked))
        lines.append(curve_line(checked))
    return "\n".join(lines)


async def bench(
    programs: list[Program], models: list[str], variant: Variant | None = None, results_json: Path = RESULTS_JSON
) -> tuple[list[Row], list[Record]]:
    """Every model on every program; the rows and the per-program results (also written to results.json)."""
    variant = variant or Variant()
    before = tests_before(programs)
    results: list[Record] = []
    rows: list[Row] = []
    with local_only(variant.config(models), variant.leave_out) as env:
        for model in models:
            result = await run_model(model, programs, before, env, variant, results_json)
            results.append(result)
            rows += rows_for(result, programs)
            results_json.write_text(json.dumps({"results": results}, indent=2, ensure_ascii=False) + "\n")
            print(table(result, programs), flush=True)
    return rows, results


async def run() -> list[Row]:
    """The bench for `python -m bench`: every program, both models."""
    rows, _ = await bench(all_programs(), list(MODELS))
    return rows


def main(argv: list[str]) -> int:
    """`python -m bench repair [--limit N] [--only NAME,...] [--models A,B] [--no-verify]`; a full run updates
    RESULTS.md."""
    parser = argparse.ArgumentParser(prog="python -m bench repair", description=__doc__)
    parser.add_argument("--limit", type=int, help="only the first N programs (by name)")
    parser.add_argument("--only", help="comma-separated program names (folders of bench/repair/programs)")
    parser.add_argument("--models", default=",".join(MODELS), help=f"comma-separated model ids (default: {','.join(MODELS)})")
    parser.add_argument("--ours-only", action="store_true", help="skip the raw baseline (its column repeats ours)")
    parser.add_argument("--no-verify", action="store_true", help="skip the with-verify side (--verify --attempts 3)")
    parser.add_argument(
        "--attempts", type=int, default=VERIFY_ATTEMPTS, help=f"the verified side's attempts (default {VERIFY_ATTEMPTS})"
    )
    parser.add_argument("--no-guard", action="store_true", help="our single attempt without the tests as --check")
    parser.add_argument("--why", action="store_true", help="pass the buggy program's first failing test as --why")
    parser.add_argument("--prompt-style", choices=("chat", "completion"), help="override the models' prompt style")
    parser.add_argument(
        "--leave-out",
        type=lambda text: tuple(name for name in text.split(",") if name),
        default=(),
        help=f"comma-separated repair inputs our side goes without, to measure each ({', '.join(INPUTS)})",
    )
    parser.add_argument("--results", type=Path, default=RESULTS_JSON, help=f"per-program results (default: {RESULTS_JSON})")
    args = parser.parse_args(argv)
    unknown = set(args.leave_out) - set(INPUTS)
    if unknown:
        parser.error(f"--leave-out: no input named {', '.join(sorted(unknown))} (known: {', '.join(INPUTS)})")
    variant = Variant(
        raw=not args.ours_only,
        why=args.why,
        prompt_style=args.prompt_style,
        verify=not args.no_verify,
        leave_out=args.leave_out,
        guard=not args.no_guard,
        attempts=args.attempts,
    )
    try:
        programs = select(all_programs(), args.only.split(",") if args.only else None, args.limit)
    except ValueError as exc:
        parser.error(str(exc))
    models = [model.strip() for model in args.models.split(",") if model.strip()]
    started = time.perf_counter()
    rows, _ = asyncio.run(bench(programs, models, variant, args.results))
    if args.limit is None and not args.only and variant == Variant():
        publish.replace_rows(rows, models, time.perf_counter() - started)
        print(f"updated {publish.RESULTS_MD} and {publish.RESULTS_JSON}")
    print(f"per-program results: {args.results}")
    return 0
