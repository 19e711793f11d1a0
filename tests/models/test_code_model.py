"""The code model (qwen2.5-coder-1.5b) out of the box: in every chain before gemma, named wherever a model is named,
assembled from its pinned packages, within the memory budget, and fixing a planted bug for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types

from freescode_lsp.config import settings_from_dict
from freescode_lsp.engines.local.completion import LANE_CONTEXT, fim_for
from freescode_lsp.models import footprint, gguf_header, verified, weights
from freescode_lsp.models.catalog import CODE_MODEL, DEFAULT_MODEL, build_catalog
from freescode_lsp.models.mirrored import CODE_MODEL_MIRROR
from freescode_lsp.task_table import CODE_ACTION_TASKS, TASK_IDS
from freescode_lsp.testing.cli_runner import run_cli, run_cli_in_process
from freescode_lsp.testing.lsp_harness import Editor
from freescode_lsp.testing.samples import SOURCE

PLANTED = '''"""Small helpers."""


def last(items):
    """The last item of a non-empty list."""
    return items[len(items)]


def total(values):
    return sum(values)
'''
EVERY_TASK = "fix, debug, clean, refactor, analyze, fix_helper, complete"


def test_every_chain_reaches_the_code_model_before_gemma() -> None:
    catalog = build_catalog()
    for task in TASK_IDS:
        chain = catalog.chain(catalog.model_for(task))
        assert CODE_MODEL in chain and chain.index(CODE_MODEL) < chain.index(DEFAULT_MODEL), (task, chain)
        assert chain[-1] == DEFAULT_MODEL and len(chain) == len(set(chain)), (task, chain)
    added = build_catalog(settings_from_dict({"models": {"mine": {"gguf": "/x.gguf", "fallback": []}}}).settings)
    assert added.chain("mine") == ["mine", CODE_MODEL, DEFAULT_MODEL]
    assert catalog.chain(DEFAULT_MODEL) == [DEFAULT_MODEL]
    assert catalog.chain(CODE_MODEL)[0] == CODE_MODEL and catalog.chain("starcoder2-3b")[1] == CODE_MODEL


def stand_in_models_dir(tmp_path: Path) -> Path:
    """A models directory holding a stand-in for the assembled code model: a sparse file of the pinned size that
    its marker vouches for. Enough for everything that decides which model would answer; nothing here loads it."""
    directory = tmp_path / "stand-in"
    directory.mkdir(exist_ok=True)
    path = directory / CODE_MODEL_MIRROR.filename
    with path.open("wb") as handle:
        handle.truncate(CODE_MODEL_MIRROR.size)
    verified.record(path, CODE_MODEL_MIRROR.sha256)
    return directory


@pytest.fixture
def code_model_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in's directory as the models directory of this test and the servers it starts."""
    directory = stand_in_models_dir(tmp_path)
    monkeypatch.setenv("FREESCODE_MODELS_DIR", str(directory))
    return directory


def answering_column(table: str) -> list[str]:
    """The "answers now" column of `freescode tasks`."""
    lines = table.splitlines()
    column = lines[0].index("answers now")
    return [line[column:].split()[0] for line in lines[1:]]


def answers(*argv: str) -> str:
    """What `freescode ARGV...` prints, run in this process; it must succeed."""
    ran = run_cli_in_process(*argv)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def test_the_command_line_names_the_model_that_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert answers("models").splitlines()[-1] == f"answering now: {DEFAULT_MODEL} for {EVERY_TASK}"
    assert answering_column(answers("tasks")) == [DEFAULT_MODEL] * len(TASK_IDS)
    monkeypatch.setenv("FREESCODE_MODELS_DIR", str(stand_in_models_dir(tmp_path)))
    assert answers("models").splitlines()[-1] == f"answering now: {CODE_MODEL} for {EVERY_TASK}"
    records = {record["id"]: record for record in json.loads(answers("models", "--json"))}
    assert records[CODE_MODEL]["answers"] == EVERY_TASK.split(", ") and records[DEFAULT_MODEL]["answers"] == []
    assert records[CODE_MODEL]["available"] == "local"
    assert answering_column(answers("tasks")) == [CODE_MODEL] * len(TASK_IDS)


async def test_code_actions_name_the_code_model(code_model_stand_in: Path, editor: Editor, tmp_path: Path) -> None:
    await editor.initialize({"network": {"mode": "local-only"}, "server": {"diagnostics_enabled": False}})
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    actions = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(5, 4), types.Position(5, 4)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    titles = sorted(action.title for action in actions or [])
    expected = [spec.action_title(CODE_MODEL) for spec in CODE_ACTION_TASKS] + [f"Fix and verify with {CODE_MODEL}"]
    assert titles == sorted(expected)


@pytest.mark.code_model
def test_the_installed_packages_assemble_the_pinned_code_model(code_model: Path) -> None:
    assert code_model.stat().st_size == 1_117_320_768
    assert verified.matches(code_model, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768)
    header = gguf_header.read_metadata(code_model)
    assert header["general.name"] == "Qwen2.5 Coder 1.5B Instruct GGUF" and header["general.architecture"] == "qwen2"
    assert (header["qwen2.block_count"], header["general.file_type"], header["qwen2.context_length"]) == (28, 15, 32768)
    assert "<|im_start|>" in str(header["tokenizer.chat_template"])
    spec = build_catalog()[CODE_MODEL]
    fim = fim_for(code_model, spec)
    assert fim is not None and (fim.prefix, fim.suffix, fim.middle) == ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
    assert weights.local_path(spec) == code_model and weights.require(spec) == code_model


@pytest.mark.code_model
def test_pulling_the_assembled_code_model_asks_no_one(code_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    before = code_model.stat().st_mtime_ns
    assert weights.pull(build_catalog()[CODE_MODEL], code_model.parent, progress=False) == code_model
    assert code_model.stat().st_mtime_ns == before


@pytest.mark.code_model
def test_the_default_budget_fits_the_code_model_beside_its_completion_lane(code_model: Path) -> None:
    settings = settings_from_dict({}).settings.local
    budget = int(settings.memory_budget_gb * 1024**3)
    task_window = min(build_catalog()[CODE_MODEL].context, settings.max_context)
    task = footprint.predict(code_model, task_window, footprint.DEFAULT_BATCH).total
    lane = footprint.predict(code_model, LANE_CONTEXT, footprint.DEFAULT_BATCH).total
    at_4096 = footprint.predict(code_model, 4096, footprint.DEFAULT_BATCH).total
    assert task + lane <= budget and 2 * at_4096 <= budget
    assert code_model.stat().st_size < at_4096 <= task


@pytest.mark.slow
@pytest.mark.code_model
def test_the_code_model_fixes_a_planted_bug(code_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "helpers.py"
    source.write_text(PLANTED)
    result = run_cli("run", "fix", str(source), "--line", "6", "--apply", "--allow-fallback", cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"fix: {CODE_MODEL} (local), asked for code-llama-7b" in result.stderr
    fixed = source.read_text()
    assert fixed.endswith("def total(values):\n    return sum(values)\n") and fixed.startswith('"""Small helpers."""\n')
    namespace: dict[str, object] = {}
    exec(compile(fixed, str(source), "exec"), namespace)
    last = namespace["last"]
    assert callable(last) and last([1, 2, 3]) == 3 and last(["only"]) == "only"
