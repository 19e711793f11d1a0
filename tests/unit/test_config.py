"""Settings: layering order, and bad values reported in plain words with defaults kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from freescode_lsp.config import load_settings, settings_from_dict
from freescode_lsp.models.catalog import CODE_MODEL, DEFAULT_MODEL, build_catalog


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_any_file(tmp_path: Path) -> None:
    loaded = load_settings(tmp_path, trusted_workspace=True)  # validation, as from a trusted workspace
    assert loaded.problems == []
    assert loaded.settings.network.mode == "local-first"
    assert build_catalog(loaded.settings).model_for("fix") == "code-llama-7b"


def test_layers_apply_in_order(tmp_path: Path, isolated_user: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(
        isolated_user / "config" / "freescode" / "config.toml",
        '[local]\nthreads = 2\nidle_unload_s = 5\n[routing]\nfix = "mistral-7b"\n',
    )
    write(tmp_path / "freescode.toml", '[local]\nthreads = 3\n[network]\nmode = "local-only"\n')
    named = write(tmp_path / "other.toml", "[local]\nthreads = 6\n")
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
    loaded = load_settings(tmp_path, trusted_workspace=True)  # validation, as from a trusted workspace
    settings = loaded.settings
    assert settings.local.threads == 4
    assert settings.local.memory_budget_gb == 4
    assert settings.network.mode == "local-first"
    assert [node.url for node in settings.nodes] == ["http://127.0.0.1:9001"]
    assert build_catalog(settings).model_for("fix") == "code-llama-7b"
    text = "\n".join(loaded.problems)
    assert f"{config}: local.threads: expected a whole number from 1 to 256, got 'many'" in text
    assert f"{config}: local.colour: unknown setting" in text
    assert "network.mode: expected one of 'local-first', 'remote-first', 'local-only', 'remote-only', got 'sometimes'" in text
    assert "nodes[0].url: expected an http:// or https:// URL, got 'ftp://x'; nodes[0] ignored" in text
    assert "routing.fix: unknown model 'no-such-model'" in text
    assert "routing.teleport: unknown task" in text
    assert len(loaded.problems) == 6


def test_broken_toml_is_skipped_with_a_message(tmp_path: Path) -> None:
    config = write(tmp_path / "freescode.toml", "[local\nthreads = 2\n")
    loaded = load_settings(tmp_path, trusted_workspace=True)  # validation, as from a trusted workspace
    assert loaded.settings.local.threads == 4
    assert len(loaded.problems) == 1 and loaded.problems[0].startswith(f"{config}: not valid TOML")


def test_missing_named_config_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FREESCODE_CONFIG", str(tmp_path / "nope.toml"))
    loaded = load_settings(tmp_path, trusted_workspace=True)  # validation, as from a trusted workspace
    assert loaded.problems == [f"FREESCODE_CONFIG names {tmp_path / 'nope.toml'}, which does not exist; ignored"]


def test_editor_settings_that_are_not_a_table() -> None:
    loaded = load_settings(None, ["not", "a", "table"])  # type: ignore[arg-type]
    assert loaded.problems == ["editor settings: expected an object; ignored"]


def test_model_added_in_one_file_can_be_routed_from_another(
    tmp_path: Path, isolated_user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        isolated_user / "config" / "freescode" / "config.toml",
        '[models."my-coder"]\ngguf = "/tmp/x.gguf"\ncontext = 2048\nprompt_style = "completion"\n',
    )
    write(tmp_path / "freescode.toml", '[routing]\nrefactor = "my-coder"\n')
    loaded = load_settings(tmp_path, trusted_workspace=True)  # validation, as from a trusted workspace
    catalog = build_catalog(loaded.settings)
    assert loaded.problems == []
    assert catalog.model_for("refactor") == "my-coder"
    assert catalog["my-coder"].context == 2048
    assert catalog.chain("my-coder") == ["my-coder", CODE_MODEL, DEFAULT_MODEL]


def test_override_keeps_other_fields_of_a_catalog_model() -> None:
    loaded = settings_from_dict({"models": {"code-llama-7b": {"context": 4096, "hf": "me/repo:file.gguf"}}})
    spec = build_catalog(loaded.settings)["code-llama-7b"]
    assert (spec.context, spec.hf_repo, spec.hf_file, spec.price_per_1k) == (4096, "me/repo", "file.gguf", 0.001)


def test_every_chain_ends_in_the_embedded_model() -> None:
    catalog = build_catalog()
    for model_id in catalog:
        chain = catalog.chain(model_id)
        assert chain[0] == model_id and chain[-1] == DEFAULT_MODEL and len(chain) == len(set(chain))


def problems_for(tmp_path: Path, text: str) -> tuple[list[str], object]:
    """Load settings with `text` as the workspace's freescode.toml."""
    write(tmp_path / "freescode.toml", text)
    loaded = load_settings(tmp_path, trusted_workspace=True)  # validation, as from a trusted workspace
    return loaded.problems, loaded.settings


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("[local]\nmemory_budget_gb = inf", "local.memory_budget_gb"),
        ("[local]\nmemory_budget_gb = nan", "local.memory_budget_gb"),
        ("[local]\nthreads = 100000", "local.threads"),
        ("[local]\nmax_context = 1000000000000", "local.max_context"),
        ("[local]\nidle_unload_s = 1e308", "local.idle_unload_s"),
        ("[network]\ntotal_timeout_s = inf", "network.total_timeout_s"),
        ("[network]\nbudget_usd = -inf", "network.budget_usd"),
        ("[server]\nmax_tokens = 99999999999", "server.max_tokens"),
        ('[models."m"]\nmemory_gb = inf', "models.m.memory_gb"),
    ],
)
def test_numbers_must_be_finite_and_within_bounds(tmp_path: Path, line: str, key: str) -> None:
    problems, settings = problems_for(tmp_path, f'{line}\n[routing]\nfix = "mistral-7b"\n')
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'freescode.toml'}: {key}: expected "), problems
    assert "using the default" in problems[0]
    assert build_catalog(settings).model_for("fix") == "mistral-7b"
    from freescode_lsp.engines.local.engine import LocalEngine

    LocalEngine(build_catalog(settings), settings.local)


def test_a_bad_key_costs_that_key_only_with_one_message(tmp_path: Path) -> None:
    problems, settings = problems_for(tmp_path, 'nodes = "abc"\n[local]\nthreads = 2\n[routing]\nfix = "mistral-7b"\n')
    assert problems == [f"{tmp_path / 'freescode.toml'}: nodes: expected a list, got 'abc'; using the default"]
    assert settings.nodes == [] and settings.local.threads == 2
    assert build_catalog(settings).model_for("fix") == "mistral-7b"


def test_a_string_where_a_list_is_expected_is_taken_as_one_item_and_said(tmp_path: Path) -> None:
    problems, settings = problems_for(
        tmp_path,
        '[[nodes]]\nurl = "http://127.0.0.1:9001"\nmodels = "code-llama-7b"\n[models."code-llama-7b"]\nfallback = "mistral-7b"\n',
    )
    assert settings.nodes[0].models == ["code-llama-7b"]
    assert settings.models["code-llama-7b"].fallback == ["mistral-7b"]
    assert sorted(problems) == [
        f'{tmp_path / "freescode.toml"}: models."code-llama-7b".fallback: expected a list, got the string '
        "'mistral-7b'; taken as ['mistral-7b']",
        f"{tmp_path / 'freescode.toml'}: nodes[0].models: expected a list, got the string 'code-llama-7b'; "
        "taken as ['code-llama-7b']",
    ]


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1\t:9001", "http://[::1", "http://", "http://h:0"])
def test_node_and_registry_urls_are_checked(tmp_path: Path, url: str) -> None:
    problems, settings = problems_for(
        tmp_path,
        f'[network]\nregistry = "{url}"\n[[nodes]]\nurl = "{url}"\n[[nodes]]\nurl = "http://127.0.0.1:9001"\n',
    )
    assert [node.url for node in settings.nodes] == ["http://127.0.0.1:9001"]
    assert settings.network.registry is None
    assert len(problems) == 2, problems
    registry, node = sorted(problems, key=lambda problem: "nodes[0]" in problem)
    assert "network.registry: expected an http:// or https:// URL" in registry and "using the default" in registry
    assert "nodes[0].url: expected an http:// or https:// URL" in node and "nodes[0] ignored" in node


def test_a_very_long_model_path_is_refused_and_never_raises(tmp_path: Path) -> None:
    import attrs

    from freescode_lsp.models.weights import local_path, missing_hint

    long_path = "/tmp/" + "x" * 5000 + ".gguf"
    problems, settings = problems_for(tmp_path, f'[models."mine"]\ngguf = "{long_path}"\n')
    assert len(problems) == 1 and "models.mine.gguf: expected a file path of at most 4096 bytes" in problems[0]
    spec = build_catalog(settings)["code-llama-7b"]
    for path in (long_path, "/tmp/" + "y" * 300 + "/m.gguf", "/tmp/a\0b.gguf"):
        odd = attrs.evolve(spec, gguf=path)
        assert local_path(odd, tmp_path) is None
        assert "does not exist" in missing_hint(odd)


def test_deeply_nested_toml_and_settings_are_refused(tmp_path: Path) -> None:
    problems, settings = problems_for(tmp_path, "a = " + "[" * 5000 + "]" * 5000 + "\n")
    assert len(problems) == 1 and "nested" in problems[0], problems
    deep: dict = {}
    inner = deep
    for _ in range(100_000):
        inner["a"] = {}
        inner = inner["a"]
    loaded = load_settings(None, {"local": {"threads": 2, "auto_pull": deep}, "server": deep, "network": {"mode": "local-only"}})
    assert loaded.problems == [
        "editor settings: local.auto_pull: tables or lists nested more than 32 deep; ignored",
        "editor settings: server.a: tables or lists nested more than 32 deep; ignored",
    ]
    assert loaded.settings.local.threads == 2 and loaded.settings.network.mode == "local-only"


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "directory", "huge"])
def test_only_regular_config_files_of_sane_size_are_read(tmp_path: Path, target: str) -> None:
    import os

    config = tmp_path / "freescode.toml"
    if target == "fifo":
        os.mkfifo(config)
    elif target == "directory":
        config.mkdir()
    elif target == "huge":
        config.write_text("# " + "x" * 2_000_000 + "\n[local]\nthreads = 2\n")
    else:
        config.symlink_to(target)
    loaded = load_settings(tmp_path, trusted_workspace=True)  # validation, as from a trusted workspace
    assert loaded.settings.local.threads == 4
    assert len(loaded.problems) == 1 and loaded.problems[0].startswith(f"{config}: "), loaded.problems
    assert "not a regular file" in loaded.problems[0] or "limit" in loaded.problems[0]


def test_what_a_problem_echoes_is_bounded(tmp_path: Path) -> None:
    huge = "y" * 10_000_000
    loaded = load_settings(
        tmp_path,
        {
            "network": {"mode": huge, "registry": huge},
            "local": {"threads": [list(range(100_000))]},
            "models": {huge: {"context": huge}},
            huge: 1,
            "routing": {"fix": huge, huge: "mistral-7b"},
        },
    )
    assert 5 <= len(loaded.problems) <= 8, loaded.problems
    assert all(len(problem) < 400 for problem in loaded.problems), [len(p) for p in loaded.problems]
    assert any("(10,000,000 characters)" in problem for problem in loaded.problems)


def test_completion_settings_default_to_ghost_text_on() -> None:
    completion = settings_from_dict({}).settings.completion
    assert (completion.enabled, completion.debounce_ms, completion.max_lines, completion.max_tokens) == (True, 75, 8, 64)
    assert completion.disabled_languages == [] and completion.enabled_for("python")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("enabled", False),
        ("debounce_ms", 0),
        ("debounce_ms", 2000),
        ("max_lines", 1),
        ("max_lines", 200),
        ("max_tokens", 1),
        ("max_tokens", 1024),
        ("disabled_languages", ["markdown", "plaintext"]),
    ],
)
def test_good_completion_values_are_taken(key: str, value: object) -> None:
    loaded = settings_from_dict({"completion": {key: value}})
    assert loaded.problems == []
    assert getattr(loaded.settings.completion, key) == value


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("enabled", "yes", "expected true or false, got 'yes'"),
        ("debounce_ms", -1, "expected a whole number from 0 to 2,000, got -1"),
        ("debounce_ms", 2001, "expected a whole number from 0 to 2,000, got 2001"),
        ("debounce_ms", 7.5, "expected a whole number from 0 to 2,000, got 7.5"),
        ("max_lines", 0, "expected a whole number from 1 to 200, got 0"),
        ("max_lines", 201, "expected a whole number from 1 to 200, got 201"),
        ("max_tokens", 0, "expected a whole number from 1 to 1,024, got 0"),
        ("max_tokens", 1025, "expected a whole number from 1 to 1,024, got 1025"),
        ("max_tokens", True, "expected a whole number from 1 to 1,024, got True"),
        ("disabled_languages", {"python": True}, "expected a list, got {'python': True}"),
    ],
)
def test_bad_completion_values_are_named_and_the_default_kept(key: str, value: object, words: str) -> None:
    loaded = settings_from_dict({"completion": {key: value}})
    assert loaded.problems == [f"settings: completion.{key}: {words}; using the default"]
    default = getattr(settings_from_dict({}).settings.completion, key)
    assert getattr(loaded.settings.completion, key) == default


def test_completion_is_layered_like_the_rest(tmp_path: Path, isolated_user: Path) -> None:
    write(isolated_user / "config" / "freescode" / "config.toml", "[completion]\nmax_lines = 4\ndebounce_ms = 150\n")
    config = write(tmp_path / "freescode.toml", '[completion]\nmax_lines = 2\ndisabled_languages = "markdown"\n')
    loaded = load_settings(tmp_path, {"completion": {"debounce_ms": 30, "unknown": 1}})
    completion = loaded.settings.completion
    assert (completion.max_lines, completion.debounce_ms, completion.disabled_languages) == (2, 30, ["markdown"])
    assert loaded.problems == [
        f"{config}: completion.disabled_languages: expected a list, got the string 'markdown'; taken as ['markdown']",
        "editor settings: completion.unknown: unknown setting; ignored",
    ]


def test_completion_can_be_turned_off_per_language() -> None:
    completion = settings_from_dict({"completion": {"disabled_languages": ["markdown"]}}).settings.completion
    assert completion.enabled_for("python") and not completion.enabled_for("markdown")
    off = settings_from_dict({"completion": {"enabled": False}}).settings.completion
    assert not off.enabled_for("python")


def test_paths_come_from_the_errors_structure_whatever_the_keys_look_like() -> None:
    odd = "m @ key 'x'.y"
    loaded = settings_from_dict({"models": {odd: {"context": "big", "fallback": ["a", 7]}}})
    where = "models.\"m @ key 'x'.y\""
    assert loaded.problems == [
        f"settings: {where}.context: expected a whole number from 1 to 2,097,152, got 'big'; using the default",
        f"settings: {where}.fallback[1]: expected a string, got 7; {where}.fallback[1] ignored",
    ]
    assert loaded.settings.models[odd].fallback == ["a"] and loaded.settings.models[odd].context is None
