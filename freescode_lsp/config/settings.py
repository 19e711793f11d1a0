"""Typed settings from defaults, TOML files and the editor, with bad values reported, never fatal."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from attrs import define, evolve, field

from freescode_lsp.config import trust
from freescode_lsp.config.faults import dotted, faults, sweep
from freescode_lsp.config.values import (
    Attempts,
    ByteCount,
    ContextTokens,
    DebounceMs,
    Dollars,
    FilePath,
    GiB,
    HfRef,
    HttpUrl,
    RegistryUrls,
    Seconds,
    SecondsOrZero,
    SuggestionLines,
    SuggestionTokens,
    Threads,
    TokenCount,
    make_converter,
    shown,
)
from freescode_lsp.models.catalog import BUILTIN_MODELS
from freescode_lsp.system import paths
from freescode_lsp.system.files import UnreadableFile, read_regular
from freescode_lsp.task_table import TASK_IDS, default_routing

MAX_CONFIG_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_ROUNDS = 50
ROOT_MARKERS = ("freescode.toml", ".git")

Mode = Literal["local-first", "remote-first", "local-only", "remote-only"]
PromptStyleSetting = Literal["chat", "completion"]


@define
class ModelSettings:
    """`[models."id"]`: override a catalog model or add one."""

    gguf: FilePath | None = None
    hf: HfRef | None = None
    context: ContextTokens | None = None
    price_per_1k: Dollars | None = None
    prompt_style: PromptStyleSetting | None = None
    specialties: list[str] | None = None
    fallback: list[str] | None = None
    memory_gb: GiB | None = None
    threads: Threads | None = None
    quantization: str | None = None


@define
class LocalSettings:
    """`[local]`: the in-process llama.cpp engine."""

    memory_budget_gb: GiB = GiB(8.0)
    threads: Threads = Threads(4)
    idle_unload_s: Seconds = Seconds(600.0)
    max_context: ContextTokens = ContextTokens(8192)
    models_dir: FilePath | None = None
    auto_pull: bool = False


@define
class NodeSettings:
    """`[[nodes]]`: a static remote node speaking the OpenAI-compatible API."""

    url: HttpUrl
    models: list[str] = field(factory=list)
    api_key: str | None = None
    api_key_env: str | None = None
    price_per_1k: Dollars = Dollars(0.0)
    context: ContextTokens | None = None
    name: str | None = None


@define
class NetworkSettings:
    """`[network]`: where code may go and what it may cost."""

    mode: Mode = "local-first"
    registry: RegistryUrls | None = None
    registry_key: str | None = None
    max_price_per_1k: Dollars | None = None
    budget_usd: Dollars | None = None
    connect_timeout_s: Seconds = Seconds(5.0)
    first_token_timeout_s: Seconds = Seconds(60.0)
    chunk_gap_timeout_s: Seconds = Seconds(30.0)
    total_timeout_s: Seconds = Seconds(600.0)


@define
class ServerSettings:
    """`[server]`: how the language server behaves in the editor."""

    streaming: bool = True
    diagnostics_on_save: bool = True
    diagnostics_idle_s: SecondsOrZero = SecondsOrZero(2.0)
    diagnostics_enabled: bool = True
    hover_enabled: bool = True
    hover_timeout_s: SecondsOrZero = SecondsOrZero(1.5)
    max_file_bytes: ByteCount = ByteCount(2_000_000)
    max_tokens: TokenCount = TokenCount(1024)


@define
class CompletionSettings:
    """`[completion]`: ghost text offered as you type (inline completion)."""

    enabled: bool = True
    debounce_ms: DebounceMs = DebounceMs(75)
    max_lines: SuggestionLines = SuggestionLines(8)
    max_tokens: SuggestionTokens = SuggestionTokens(64)
    disabled_languages: list[str] = field(factory=list)

    def enabled_for(self, language_id: str) -> bool:
        """Whether suggestions are offered in a document of this LSP languageId."""
        return self.enabled and language_id not in self.disabled_languages


@define
class VerifySettings:
    """`[verify]`: the check (`{file}`, `{tests}` filled in) a verified fix must pass, and with `guard` a plain fix too."""

    command: str | None = None
    timeout_s: Seconds = Seconds(120.0)
    attempts: Attempts = Attempts(3)
    max_output_bytes: ByteCount = ByteCount(1_000_000)
    guard: bool = True


@define
class Settings:
    """Everything a user can set."""

    routing: dict[str, str] = field(factory=dict)
    models: dict[str, ModelSettings] = field(factory=dict)
    local: LocalSettings = field(factory=LocalSettings)
    nodes: list[NodeSettings] = field(factory=list)
    network: NetworkSettings = field(factory=NetworkSettings)
    server: ServerSettings = field(factory=ServerSettings)
    completion: CompletionSettings = field(factory=CompletionSettings)
    verify: VerifySettings = field(factory=VerifySettings)


@define
class LoadedSettings:
    """Settings plus the plain-words problems found while reading them."""

    settings: Settings
    problems: list[str] = field(factory=list)
    sources: list[str] = field(factory=list)
    untrusted: list[str] = field(factory=list)
    workspace: Path | None = None
    waiting: trust.Untrusted | None = None


CONVERTER = make_converter()


def validate_layer(raw: Mapping[str, Any], source: str, known_models: set[str] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Structure one layer alone; drop (or mend) what is invalid and say why, once per key, in plain words."""
    if not isinstance(raw, Mapping):
        return {}, [f"{source}: expected a table of settings, got {shown(raw)}; ignored"]
    problems: list[str] = []
    layer = _without_faults(copy_tree(_without_deep(raw, (), source, problems)), source, problems)
    if layer is None:
        return {}, problems
    known = {spec.id for spec in BUILTIN_MODELS} | set(layer.get("models", {})) | (known_models or set())
    problems.extend(_check_routing(layer, source, known))
    return layer, problems


def _without_faults(layer: dict[str, Any], source: str, problems: list[str]) -> dict[str, Any] | None:
    """The layer with each value cattrs refuses dropped or mended, each fault said once; None when unreadable.

    One round finds every fault (cattrs collects them all); the next confirms the repaired layer reads.
    """
    for _ in range(MAX_ROUNDS):
        error = _structure_error(layer)
        if error is None:
            return layer
        found = faults(error)
        if not found:
            problems.append(f"{source}: could not be read ({type(error).__name__}); ignored")
            return None
        for fault in found:
            message = fault.describe(source)
            if message not in problems:
                problems.append(message)
            fault.repair(layer)
        layer = sweep(layer)
    problems.append(f"{source}: too many problems to read; ignored")
    return None


def _structure_error(layer: dict[str, Any]) -> Exception | None:
    """Why the layer does not read as Settings, or None when it does."""
    try:
        CONVERTER.structure(layer, Settings)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message
        return exc
    return None


def _check_routing(raw: dict[str, Any], source: str, known: set[str]) -> list[str]:
    routing = raw.get("routing")
    if not isinstance(routing, dict):
        return []
    problems = []
    for task, model in list(routing.items()):
        where = dotted(["routing", task])
        if task not in TASK_IDS:
            problems.append(f"{source}: {where}: unknown task; expected one of {', '.join(TASK_IDS)}")
            del routing[task]
        elif model not in known:
            problems.append(f"{source}: {where}: unknown model {shown(model)}; using {default_routing()[task]!r}")
            del routing[task]
    return problems


def _without_deep(table: Mapping[str, Any], path: tuple[str, ...], source: str, problems: list[str]) -> dict[str, Any]:
    """The table without values nested deeper than MAX_DEPTH, each dropped alone with a message."""
    kept: dict[str, Any] = {}
    for key, value in table.items():
        where = (*path, str(key))
        if depth_of(value) <= MAX_DEPTH - len(where):
            kept[key] = value
        elif isinstance(value, Mapping) and (len(where) == 1 or where[0] == "models" and len(where) == 2):
            kept[key] = _without_deep(value, where, source, problems)
        else:
            problems.append(f"{source}: {dotted(where)}: tables or lists nested more than {MAX_DEPTH} deep; ignored")
    return kept


def depth_of(value: Any) -> int:
    """How deep tables and lists nest in a value, counted without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def copy_tree(value: Any) -> Any:
    """A copy of nested tables and lists (plain dicts and lists), everything else shared."""
    if isinstance(value, Mapping):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


def merge(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge a layer over a base: tables merge, everything else replaces."""
    out: dict[str, Any] = copy_tree(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy_tree(value)
    return out


def read_toml(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """Read a TOML file; a missing file is no layer, a broken, huge or odd one is a problem."""
    content, problems = read_config_bytes(path)
    return (None, problems) if content is None else parse_toml(content, path)


def read_config_bytes(path: Path) -> tuple[bytes | None, list[str]]:
    """A config file's bytes, read once; a missing file is None without a problem."""
    try:
        return read_regular(path, MAX_CONFIG_BYTES), []
    except FileNotFoundError:
        return None, []
    except UnreadableFile as exc:
        return None, [f"{path}: {exc}; ignored"]
    except OSError as exc:
        return None, [f"{path}: cannot be read ({exc}); ignored"]


def parse_toml(content: bytes, path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """Settings from a config file's bytes, or the reason they cannot be read."""
    try:
        return tomllib.loads(content.decode("utf-8")), []
    except UnicodeDecodeError as exc:
        return None, [f"{path}: cannot be read ({exc}); ignored"]
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{path}: not valid TOML ({exc}); ignored"]
    except RecursionError:
        return None, [f"{path}: tables or arrays nested too deep to read; ignored"]


def node_from_registry(host: Any, model: str) -> NodeSettings:
    """A host from a registry's answer as a checked node serving `model`; ValueError says what is wrong."""
    if not isinstance(host, Mapping):
        raise ValueError(f"a host must be an object, got {shown(host)}")
    raw = {key: host[key] for key in ("url", "price_per_1k", "context") if host.get(key) is not None}
    try:
        return CONVERTER.structure({**raw, "models": [model]}, NodeSettings)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the reason the host is skipped
        found = faults(exc)
        reasons = "; ".join(f"{dotted(fault.path)}: {fault.message}" for fault in found) or type(exc).__name__
        raise ValueError(f"host {shown(host.get('url'))}: {reasons}") from None


def find_workspace(start: Path) -> Path:
    """The project root for a folder: the nearest one above with freescode.toml, else with .git, else itself."""
    folders = [start, *start.parents]
    for marker in ROOT_MARKERS:
        for folder in folders:
            try:
                if (folder / marker).exists():
                    return folder
            except (OSError, ValueError):
                continue
    return start


def config_files(workspace: Path | None) -> list[Path]:
    """The config files in the order they apply, later ones winning (a file named twice is read once, as the user's)."""
    files = [paths.user_config_file()]
    named = named_config()
    if workspace is not None and not _same_file(workspace / trust.WORKSPACE_FILE, named):
        files.append(workspace / trust.WORKSPACE_FILE)
    if named is not None:
        files.append(named)
    return files


def named_config() -> Path | None:
    """The file FREESCODE_CONFIG names: the user's own choice, so always trusted, even inside a workspace."""
    named = os.environ.get("FREESCODE_CONFIG")
    return Path(named) if named else None


def _same_file(path: Path, other: Path | None) -> bool:
    if other is None:
        return False
    try:
        return path.resolve() == other.resolve() or os.path.samefile(path, other)
    except (OSError, RuntimeError, ValueError):
        return False


def load_settings(
    workspace: Path | None = None,
    editor_settings: Mapping[str, Any] | None = None,
    trusted_workspace: bool = False,
) -> LoadedSettings:
    """Read every layer in order and return valid settings and what was wrong (see `trust` for the workspace file).

    `trusted_workspace` takes the workspace's file as trusted whatever its content (validation only).
    """
    merged: dict[str, Any] = {}
    problems: list[str] = []
    sources: list[str] = []
    layers: list[tuple[str, Mapping[str, Any]]] = []
    named = named_config()
    waiting: trust.Untrusted | None = None
    for path in config_files(workspace):
        content, read_problems = read_config_bytes(path)
        raw, parse_problems = (None, []) if content is None else parse_toml(content, path)
        problems.extend(read_problems + parse_problems)
        if content is None and path == named and not read_problems:
            problems.append(f"FREESCODE_CONFIG names {path}, which does not exist; ignored")
        from_workspace = workspace is not None and path == workspace / trust.WORKSPACE_FILE and path != named
        if raw is not None and content is not None and workspace is not None and from_workspace:
            if not trusted_workspace:
                raw, waiting = trust.screen(workspace, trust.digest_of(content), raw)
            if waiting is not None:
                problems.append(waiting.notice)
        if raw is not None:
            layers.append((str(path), raw))
    if editor_settings:
        if isinstance(editor_settings, Mapping):
            layers.append(("editor settings", editor_settings))
        else:
            problems.append("editor settings: expected an object; ignored")
    known_models = {str(model_id) for _, raw in layers if isinstance(raw.get("models"), Mapping) for model_id in raw["models"]}
    for source, layer in layers:
        cleaned, layer_problems = validate_layer(layer, source, known_models)
        problems.extend(layer_problems)
        merged = merge(merged, cleaned)
        sources.append(source)
    try:
        settings = CONVERTER.structure(merged, Settings)
    except Exception as exc:  # noqa: BLE001 - layers were valid alone; say so and go on
        problems.append(f"settings could not be combined ({type(exc).__name__}); using the defaults")
        settings = Settings()
    if waiting is not None and "network.mode" in waiting.keys:
        told = f'{waiting.notice}; meanwhile network.mode is "{settings.network.mode}"'
        problems[problems.index(waiting.notice)] = told
        waiting = evolve(waiting, notice=told)
    untrusted = waiting.keys if waiting is not None else []
    return LoadedSettings(settings, problems, sources, untrusted, workspace, waiting)


def settings_from_dict(raw: Mapping[str, Any], source: str = "settings") -> LoadedSettings:
    """Settings from one mapping alone (tests, editor settings without files)."""
    cleaned, problems = validate_layer(raw, source)
    return LoadedSettings(CONVERTER.structure(cleaned, Settings), problems, [source])
