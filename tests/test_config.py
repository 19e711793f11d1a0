"""Settings: layering order, and bad values reported in plain words with defaults kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from freescode_lsp.config import load_settings, settings_from_dict
from freescode_lsp.mesh.catalog import DEFAULT_MODEL, build_catalog


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_any_file(tmp_path: Path) -> None:
    loaded = load_settings(tmp_path)
    assert loaded.problems == []
    assert loaded.settings.network.mode == "local-first"
    assert build_catalog(loaded.settings).model_for("fix") == "code-llama-7b"


def test_layers_apply_in_order(tmp_path: Path, isolated_user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(isolated_user / "config" / "freescode" / "config.toml", '[local]\nthreads = 2\nidle_unload_s = 5\n[routing]\nfix = "mistral-7b"\n')
    write(tmp_path / "freescode.toml", '[local]\nthreads = 3\n[network]\nmode = "local-only"\n')
    named = write(tmp_path / "other.toml", '[local]\nthreads = 6\n')
    monkeypatch.setenv("FREESCODE_CONFIG", str(named))
    loaded = load_settings(tmp_path, {"server": {"streaming": False}, "local": {"memory_budget_gb": 2}})
    settings = loaded.settings
    assert loaded.problems == []
    assert settings.local.threads == 6
    assert settings.local.idle_unload_s == 5
    assert settings.local.memory_budget_gb == 2
    assert settings.network.mode == "local-only"
    assert settings.server.streaming is False
    assert build_catalog(settings).model_for("fix") == "mistral-7b"


def test_bad_values_are_named_with_file_and_key(tmp_path: Path) -> None:
    config = write(
        tmp_path / "freescode.toml",
        '[local]\nthreads = "many"\nmemory_budget_gb = 4\ncolour = 1\n'
        '[network]\nmode = "sometimes"\n'
        '[[nodes]]\nurl = "ftp://x"\n[[nodes]]\nurl = "http://127.0.0.1:9001"\nmodels = ["code-llama-7b"]\n'
        '[routing]\nfix = "no-such-model"\nteleport = "mistral-7b"\n',
    )
    loaded = load_settings(tmp_path)
    settings = loaded.settings
    assert settings.local.threads == 4
    assert settings.local.memory_budget_gb == 4
    assert settings.network.mode == "local-first"
    assert [node.url for node in settings.nodes] == ["http://127.0.0.1:9001"]
    assert build_catalog(settings).model_for("fix") == "code-llama-7b"
    text = "\n".join(loaded.problems)
    assert f"{config}: local.threads: expected a positive whole number, got 'many'" in text
    assert f"{config}: local.colour: unknown setting" in text
    assert "network.mode: expected one of 'local-first', 'remote-first', 'local-only', 'remote-only', got 'sometimes'" in text
    assert "nodes[0].url: expected an http:// or https:// URL, got 'ftp://x'; nodes[0] ignored" in text
    assert "routing.fix: unknown model 'no-such-model'" in text
    assert "routing.teleport: unknown task" in text
    assert len(loaded.problems) == 6


def test_broken_toml_is_skipped_with_a_message(tmp_path: Path) -> None:
    config = write(tmp_path / "freescode.toml", "[local\nthreads = 2\n")
    loaded = load_settings(tmp_path)
    assert loaded.settings.local.threads == 4
    assert len(loaded.problems) == 1 and loaded.problems[0].startswith(f"{config}: not valid TOML")


def test_missing_named_config_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREESCODE_CONFIG", str(tmp_path / "nope.toml"))
    loaded = load_settings(tmp_path)
    assert loaded.problems == [f"FREESCODE_CONFIG names {tmp_path / 'nope.toml'}, which does not exist; ignored"]


def test_editor_settings_that_are_not_a_table() -> None:
    loaded = load_settings(None, ["not", "a", "table"])  # type: ignore[arg-type]
    assert loaded.problems == ["editor settings: expected an object; ignored"]


def test_model_added_in_one_file_can_be_routed_from_another(
    tmp_path: Path, isolated_user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(isolated_user / "config" / "freescode" / "config.toml", '[models."my-coder"]\ngguf = "/tmp/x.gguf"\ncontext = 2048\nprompt_style = "completion"\n')
    write(tmp_path / "freescode.toml", '[routing]\nrefactor = "my-coder"\n')
    loaded = load_settings(tmp_path)
    catalog = build_catalog(loaded.settings)
    assert loaded.problems == []
    assert catalog.model_for("refactor") == "my-coder"
    assert catalog["my-coder"].context == 2048
    assert catalog.chain("my-coder") == ["my-coder", DEFAULT_MODEL]


def test_override_keeps_other_fields_of_a_catalog_model() -> None:
    loaded = settings_from_dict({"models": {"code-llama-7b": {"context": 4096, "hf": "me/repo:file.gguf"}}})
    spec = build_catalog(loaded.settings)["code-llama-7b"]
    assert (spec.context, spec.hf_repo, spec.hf_file, spec.price_per_1k) == (4096, "me/repo", "file.gguf", 0.001)


def test_every_chain_ends_in_the_embedded_model() -> None:
    catalog = build_catalog()
    for model_id in catalog:
        chain = catalog.chain(model_id)
        assert chain[0] == model_id and chain[-1] == DEFAULT_MODEL and len(chain) == len(set(chain))
