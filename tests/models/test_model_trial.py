"""Model files and llama.cpp builds that would crash or hang the process: found in a child, then a fallback."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from freescode_lsp.testing.cli_runner import run_cli
from freescode_lsp.testing.lsp_harness import Editor, run_command
from freescode_lsp.testing.samples import SOURCE
from freescode_lsp.testing.waiting import until

pytest.importorskip("llama_cpp")

from freescode_lsp.config import settings_from_dict, trust
from freescode_lsp.engines.base import GenerationRequest, Message
from freescode_lsp.engines.local import engine as local_module
from freescode_lsp.engines.local.trial import ModelProbe, Verdict
from freescode_lsp.models.catalog import DEFAULT_MODEL
from freescode_lsp.routing.router import Router
from freescode_lsp.testing import hostile_models

REPO = Path(__file__).resolve().parents[2]
HOSTILE = ("truncated", "block_count", "raising_template", "looping_template", "random", "crashing")


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory, gemma_path: Path) -> Path:
    """Every hostile file, made once per session."""
    folder = tmp_path_factory.mktemp("hostile")
    hostile_models.truncated(gemma_path, folder / "truncated.gguf")
    hostile_models.with_header_value(gemma_path, folder / "block_count.gguf", "gemma3.block_count", 1000)
    hostile_models.with_chat_template(gemma_path, folder / "raising_template.gguf", hostile_models.RAISING_TEMPLATE)
    hostile_models.with_chat_template(gemma_path, folder / "looping_template.gguf", hostile_models.LOOPING_TEMPLATE)
    hostile_models.random_after_magic(folder / "random.gguf")
    shutil.copyfile(gemma_path, folder / "crashing.gguf")
    return folder


def mine_settings(path: Path) -> dict:
    """Settings where `fix` routes to the model `mine`, served from `path`, falling back to gemma."""
    return {
        "local": {"max_context": 1024, "threads": 2},
        "network": {"mode": "local-only"},
        "models": {"mine": {"gguf": str(path), "prompt_style": "chat", "fallback": [DEFAULT_MODEL]}},
        "routing": {"fix": "mine"},
    }


def crash_env(name: str) -> dict[str, str]:
    """The environment that makes the probe child die by a signal, for the crashing file only."""
    return {"FREESCODE_TEST_PROBE_SIGNAL": "SIGSEGV:crashing"} if name == "crashing" else {}


async def answer(router: Router) -> tuple[str, set[str]]:
    """The text and answering models of a short request for `mine`."""
    request = GenerationRequest(
        "mine", messages=[Message("user", "def add(a, b):")], prompt="def add(a, b):", max_tokens=4, temperature=0
    )
    chunks = [chunk async for chunk in router.stream(request)]
    return "".join(c.text for c in chunks), {c.model for c in chunks if c.model}


@pytest.mark.parametrize("name", HOSTILE)
async def test_a_hostile_model_file_falls_back_with_a_message_naming_it(
    name: str, hostile_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in crash_env(name).items():
        monkeypatch.setenv(key, value)
    path = hostile_dir / f"{name}.gguf"
    router = Router.from_settings(settings_from_dict(mine_settings(path)).settings)
    told: list[str] = []
    router.on_fallback = lambda label, why: told.append(why)
    try:
        _, models = await answer(router)
        assert models == {DEFAULT_MODEL}
        assert len(told) == 1 and str(path) in told[0] and "mine cannot run" in told[0]
        assert "falls back" in told[0]
        assert not router.local.can_serve("mine")
        assert router.effective_model("fix") == DEFAULT_MODEL
        runs = router.local.probe.runs
        await answer(router)
        assert router.local.probe.runs == runs and len(told) == 1
    finally:
        await router.local.aclose()


async def test_the_verdict_says_what_killed_the_child(hostile_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    probe = ModelProbe(hostile_dir / "verdicts")
    aborting = await probe.check(hostile_dir / "block_count.gguf")
    assert not aborting.ok and "SIGABRT" in aborting.reason and "loading" in aborting.reason
    raising = await probe.check(hostile_dir / "raising_template.gguf")
    assert not raising.ok and "broken on purpose" in raising.reason and "chat template" in raising.reason
    monkeypatch.setenv("FREESCODE_TEST_PROBE_SIGNAL", "SIGILL:crashing")
    illegal = await probe.check(hostile_dir / "crashing.gguf")
    assert not illegal.ok and "SIGILL" in illegal.reason and "install_llama.py" in illegal.advice


async def test_a_verdict_is_kept_on_disk_and_redone_when_the_file_changes(tmp_path: Path, gemma_path: Path) -> None:
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(gemma_path.read_bytes())
    first = ModelProbe(tmp_path / "verdicts")
    assert (await first.check(copy)).ok and first.runs == 1
    again = ModelProbe(tmp_path / "verdicts")
    assert (await again.check(copy)).ok and again.runs == 0
    with copy.open("r+b") as stream:
        stream.seek(0)
        stream.write(b"XXXX")
    changed = await again.check(copy)
    assert not changed.ok and again.runs == 1


async def test_a_template_that_hangs_in_process_is_abandoned_and_the_engine_closes(
    hostile_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_module, "RENDER_TIMEOUT_S", 1.0)
    path = hostile_dir / "looping_template.gguf"
    router = Router.from_settings(settings_from_dict(mine_settings(path)).settings)
    router.local.probe.record(path, Verdict(True))
    told: list[str] = []
    router.on_fallback = lambda label, why: told.append(why)
    started = time.monotonic()
    _, models = await answer(router)
    assert models == {DEFAULT_MODEL}
    assert any("did not finish" in message for message in told), told
    assert "did not finish" in (router.local.known_failure(router.catalog["mine"]) or ""), "the file is refused from now on"
    assert router.local.pool.loaded() == [DEFAULT_MODEL]
    await asyncio.wait_for(router.local.aclose(), 10)
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("name", ["block_count", "looping_template"])
def test_the_cli_survives_a_hostile_model_and_answers_from_the_fallback(name: str, hostile_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "stats.py").write_text("def average(values):\n    return sum(values) / len(values) + 1\n")
    config = mine_settings(hostile_dir / f"{name}.gguf")
    (tmp_path / "freescode.toml").write_text(
        f'routing = {{ fix = "mine" }}\n[network]\nmode = "local-only"\n[local]\nmax_context = 1024\nthreads = 2\n'
        f'[models.mine]\ngguf = {json.dumps(config["models"]["mine"]["gguf"])}\nprompt_style = "chat"\n'
    )
    assert trust.trust(tmp_path)
    started = time.monotonic()
    done = run_cli("run", "fix", "stats.py", "--line", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("mine cannot run") >= 1 and f"{name}.gguf" in done.stderr
    assert DEFAULT_MODEL in done.stderr + done.stdout
    assert time.monotonic() - started < 200


def test_the_installed_llama_cpp_uses_only_the_portable_cpu_features() -> None:
    marker_file = Path(sys.prefix) / "freescode-llama-build.json"
    if not marker_file.is_file():
        pytest.fail("llama-cpp-python was not installed by scripts/install_llama.py (run make install)")
    marker = json.loads(marker_file.read_text())
    if marker["profile"] in {"custom", "native"}:
        pytest.skip(f"the user asked for a {marker['profile']} build")
    code = "import llama_cpp, sys; sys.stdout.write(llama_cpp.llama_print_system_info().decode())"
    info = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    features = set(re.findall(r"([A-Z0-9_]+) = 1", info))
    assert features, info
    assert not {f for f in features if f.startswith(("AVX512", "AMX", "AVX_VNNI", "SVE", "SME"))}, info
    if marker["level"] == "avx2":
        assert {"AVX", "AVX2", "FMA", "F16C"} <= features, info


async def test_the_server_survives_a_model_that_aborts_llama_cpp(
    hostile_dir: Path, vscode: LanguageClient, tmp_path: Path
) -> None:
    editor = Editor(vscode, "visual-studio-code")
    path = tmp_path / "aborting.gguf"
    shutil.copyfile(hostile_dir / "block_count.gguf", path)
    options = {**mine_settings(path), "server": {"max_tokens": 64, "diagnostics_enabled": False}}
    await editor.initialize(options)
    uri = editor.open(tmp_path / "shapes.py", SOURCE)
    titles = await fix_titles(editor, uri)
    result = await asyncio.wait_for(run_command(editor.client, {"uri": uri, "task": "fix", "line": 5, "endLine": 5}), 240)
    finals = await until(lambda: [s for s in editor.statuses if s["state"] in ("done", "failed")], "the final status")
    assert finals[-1]["model"] == DEFAULT_MODEL and finals[-1]["engine"] == "local", (result, finals)
    told = [m.message for m in editor.client.messages if str(path) in m.message]
    assert len(told) == 1 and "SIGABRT" in told[0] and "falls back" in told[0], editor.client.messages
    assert titles == ["Fix with mine"]
    assert await fix_titles(editor, uri) == [f"Fix with {DEFAULT_MODEL}"]


async def fix_titles(editor: Editor, uri: str) -> list[str]:
    """The titles of the Fix actions listed at the bug."""
    answer = await editor.client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri),
            range=types.Range(types.Position(5, 0), types.Position(5, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [action.title for action in answer or [] if action.title.startswith("Fix with")]


def test_the_installed_llama_cpp_libraries_hold_no_avx512_or_amx_instruction() -> None:
    marker = json.loads((Path(sys.prefix) / "freescode-llama-build.json").read_text())
    if marker["profile"] != "portable" or not marker["level"].startswith(("avx", "sse")):
        pytest.skip(f"not a portable x86-64 build: {marker['profile']}, {marker['level']}")
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    import llama_cpp

    libraries = sorted((Path(llama_cpp.__file__).parent / "lib").glob("*.so"))
    assert libraries
    for library in libraries:
        listing = subprocess.run(
            [objdump, "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True, check=True
        ).stdout
        found = re.findall(r"%zmm\d+|%k[1-7]\b|\btile\w+|\btdp\w+", listing)
        assert not found, f"{library.name} uses {sorted(set(found))[:8]}"
