"""Typed settings from defaults, TOML files and the editor, with bad values reported, never fatal."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NewType

import cattrs
from attrs import define, field

from freescode_lsp import paths
from freescode_lsp.mesh.catalog import BUILTIN_MODELS, DEFAULT_ROUTING, TASKS

PositiveInt = NewType("PositiveInt", int)
PositiveFloat = NewType("PositiveFloat", float)
NonNegativeFloat = NewType("NonNegativeFloat", float)
HttpUrl = NewType("HttpUrl", str)
HfRef = NewType("HfRef", str)
Mode = Literal["local-first", "remote-first", "local-only", "remote-only"]
PromptStyleSetting = Literal["chat", "completion"]


@define
class ModelSettings:
    """`[models."id"]`: override a catalog model or add one."""

    gguf: str | None = None
    hf: HfRef | None = None
    context: PositiveInt | None = None
    price_per_1k: NonNegativeFloat | None = None
    prompt_style: PromptStyleSetting | None = None
    specialties: list[str] | None = None
    fallback: list[str] | None = None
    memory_gb: PositiveFloat | None = None
    threads: PositiveInt | None = None
    quantization: str | None = None


@define
class LocalSettings:
    """`[local]`: the in-process llama.cpp engine."""

    memory_budget_gb: PositiveFloat = 8.0
    threads: PositiveInt = 4
    idle_unload_s: PositiveFloat = 600.0
    max_context: PositiveInt = 8192
    models_dir: str | None = None
    auto_pull: bool = False


@define
class NodeSettings:
    """`[[nodes]]`: a static remote node speaking the OpenAI-compatible API."""

    url: HttpUrl
    models: list[str] = field(factory=list)
    api_key: str | None = None
    api_key_env: str | None = None
    price_per_1k: NonNegativeFloat = 0.0
    context: PositiveInt | None = None
    name: str | None = None


@define
class NetworkSettings:
    """`[network]`: where code may go and what it may cost."""

    mode: Mode = "local-first"
    registry: HttpUrl | None = None
    registry_key: str | None = None
    max_price_per_1k: NonNegativeFloat | None = None
    budget_usd: NonNegativeFloat | None = None
    connect_timeout_s: PositiveFloat = 5.0
    first_token_timeout_s: PositiveFloat = 60.0
    chunk_gap_timeout_s: PositiveFloat = 30.0
    total_timeout_s: PositiveFloat = 600.0


@define
class ServerSettings:
    """`[server]`: how the language server behaves in the editor."""

    streaming: bool = True
    diagnostics_on_save: bool = True
    diagnostics_idle_s: NonNegativeFloat = 2.0
    diagnostics_enabled: bool = True
    hover_enabled: bool = True
    hover_timeout_s: NonNegativeFloat = 1.5
    max_file_bytes: PositiveInt = 2_000_000
    max_tokens: PositiveInt = 1024


@define
class Settings:
    """Everything a user can set."""

    routing: dict[str, str] = field(factory=dict)
    models: dict[str, ModelSettings] = field(factory=dict)
    local: LocalSettings = field(factory=LocalSettings)
    nodes: list[NodeSettings] = field(factory=list)
    network: NetworkSettings = field(factory=NetworkSettings)
    server: ServerSettings = field(factory=ServerSettings)


@define
class LoadedSettings:
    """Settings plus the plain-words problems found while reading them."""

    settings: Settings
    problems: list[str] = field(factory=list)
    sources: list[str] = field(factory=list)


def _check(predicate: Any, expected: str) -> Any:
    def hook(value: Any, _type: Any) -> Any:
        if not predicate(value):
            raise ValueError(f"expected {expected}, got {value!r}")
        return value

    return hook


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    hooks: dict[Any, Any] = {
        str: _check(lambda v: isinstance(v, str), "a string"),
        int: _check(lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
        float: _check(_is_number, "a number"),
        bool: _check(lambda v: isinstance(v, bool), "true or false"),
        PositiveInt: _check(
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
            "a positive whole number",
        ),
        PositiveFloat: _check(lambda v: _is_number(v) and v > 0, "a positive number"),
        NonNegativeFloat: _check(lambda v: _is_number(v) and v >= 0, "a number >= 0"),
        HttpUrl: _check(
            lambda v: isinstance(v, str) and re.match(r"^https?://[^\s/]+", v) is not None,
            "an http:// or https:// URL",
        ),
        HfRef: _check(
            lambda v: isinstance(v, str) and re.fullmatch(r"[\w.-]+/[\w.-]+:[^\s:]+", v) is not None,
            'a Hugging Face reference "owner/repo:file.gguf"',
        ),
    }
    for kind, hook in hooks.items():
        converter.register_structure_hook(kind, hook)
    return converter


CONVERTER = _make_converter()
_PATH_TOKEN = re.compile(r"\.([A-Za-z_][\w-]*)|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]|\[(\d+)\]")


def _format_error(exc: BaseException, kind: Any) -> str:
    message = str(exc)
    literal = re.match(r"(.*) not in literal typing\.Literal\[(.*)\]$", message)
    if literal:
        return f"expected one of {literal.group(2)}, got {literal.group(1)!r}"
    if isinstance(exc, KeyError) or "required field missing" in message:
        return "required key missing"
    if isinstance(exc, ValueError):
        return message
    return cattrs.v.format_exception(exc, kind)


def _parse_path(text: str) -> list[str | int]:
    parts: list[str | int] = []
    for match in _PATH_TOKEN.finditer(text):
        name, quoted, dquoted, index = match.groups()
        if index is not None:
            parts.append(int(index))
        else:
            parts.append(name or quoted or dquoted or "")
    return parts


def _dotted(parts: list[str | int]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][\w]*", part):
            out += f".{part}" if out else part
        else:
            out += f'."{part}"' if out else f'"{part}"'
    return out or "(top level)"


def _remove(raw: dict[str, Any], parts: list[str | int], extra: list[str]) -> None:
    """Drop the bad key (or the list item holding it) so the default applies."""
    node: Any = raw
    for depth, part in enumerate(parts):
        if isinstance(part, int):
            if isinstance(node, list) and part < len(node):
                del node[part]
            return
        if not isinstance(node, dict) or part not in node:
            return
        if depth == len(parts) - 1 and not extra:
            del node[part]
            return
        node = node[part]
    if isinstance(node, dict):
        for key in extra:
            node.pop(key, None)


def validate_layer(
    raw: Mapping[str, Any], source: str, known_models: set[str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Structure one layer alone; drop what is invalid and say why, in plain words."""
    cleaned: dict[str, Any] = _deep_copy(raw)
    problems: list[str] = []
    for _ in range(50):
        try:
            CONVERTER.structure(cleaned, Settings)
            break
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message
            errors = (
                cattrs.transform_error(exc, format_exception=_format_error)
                if isinstance(exc, cattrs.BaseValidationError)
                else [f"{exc} @ $"]
            )
            removed_any = False
            for error in errors:
                message, _, where = error.rpartition(" @ ")
                parts = _parse_path(where[1:] if where.startswith("$") else where)
                extra_match = re.match(r"extra fields found \((.*)\)", message)
                extra = [k.strip() for k in extra_match.group(1).split(",")] if extra_match else []
                if extra:
                    for key in extra:
                        problems.append(f"{source}: {_dotted([*parts, key])}: unknown setting; ignored")
                elif any(isinstance(part, int) for part in parts):
                    entry = parts[: next(i for i, p in enumerate(parts) if isinstance(p, int)) + 1]
                    problems.append(f"{source}: {_dotted(parts)}: {message}; {_dotted(entry)} ignored")
                else:
                    problems.append(f"{source}: {_dotted(parts)}: {message}; using the default")
                if not parts and not extra:
                    return {}, problems
                _remove(cleaned, parts, extra)
                removed_any = True
            if not removed_any:
                return {}, problems
    known = {spec.id for spec in BUILTIN_MODELS} | set(cleaned.get("models", {})) | (known_models or set())
    problems.extend(_check_routing(cleaned, source, known))
    return cleaned, problems


def _check_routing(raw: dict[str, Any], source: str, known: set[str]) -> list[str]:
    routing = raw.get("routing")
    if not isinstance(routing, dict):
        return []
    problems = []
    for task, model in list(routing.items()):
        if task not in TASKS:
            problems.append(f"{source}: routing.{task}: unknown task; expected one of {', '.join(TASKS)}")
            del routing[task]
        elif model not in known:
            problems.append(
                f"{source}: routing.{task}: unknown model {model!r}; using {DEFAULT_ROUTING[task]!r}"
            )
            del routing[task]
    return problems


def _deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def merge(base: dict[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge a layer over a base: tables merge, everything else replaces."""
    out = _deep_copy(base)
    for key, value in layer.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = _deep_copy(value)
    return out


def read_toml(path: Path) -> tuple[dict[str, Any] | None, list[str]]:
    """Read a TOML file; a missing file is no layer, a broken one is a problem."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None, []
    except (OSError, UnicodeDecodeError) as exc:
        return None, [f"{path}: cannot be read ({exc}); ignored"]
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        return None, [f"{path}: not valid TOML ({exc}); ignored"]


def config_files(workspace: Path | None) -> list[Path]:
    """The config files in the order they apply, later ones winning."""
    files = [paths.user_config_file()]
    if workspace is not None:
        files.append(workspace / "freescode.toml")
    named = os.environ.get("FREESCODE_CONFIG")
    if named:
        files.append(Path(named))
    return files


def load_settings(
    workspace: Path | None = None,
    editor_settings: Mapping[str, Any] | None = None,
) -> LoadedSettings:
    """Read every layer in order and return valid settings and what was wrong."""
    merged: dict[str, Any] = {}
    problems: list[str] = []
    sources: list[str] = []
    layers: list[tuple[str, Mapping[str, Any]]] = []
    named = os.environ.get("FREESCODE_CONFIG")
    for path in config_files(workspace):
        raw, read_problems = read_toml(path)
        problems.extend(read_problems)
        if raw is None and named and path == Path(named) and not read_problems:
            problems.append(f"FREESCODE_CONFIG names {path}, which does not exist; ignored")
        if raw is not None:
            layers.append((str(path), raw))
    if editor_settings:
        if isinstance(editor_settings, Mapping):
            layers.append(("editor settings", editor_settings))
        else:
            problems.append("editor settings: expected an object; ignored")
    known_models = {
        str(model_id)
        for _, raw in layers
        if isinstance(raw.get("models"), Mapping)
        for model_id in raw["models"]
    }
    for source, raw in layers:
        cleaned, layer_problems = validate_layer(raw, source, known_models)
        problems.extend(layer_problems)
        merged = merge(merged, cleaned)
        sources.append(source)
    try:
        settings = CONVERTER.structure(merged, Settings)
    except Exception as exc:  # noqa: BLE001 - layers were valid alone; say so and go on
        problems.append(f"settings could not be combined ({exc}); using the defaults")
        settings = Settings()
    return LoadedSettings(settings, problems, sources)


def settings_from_dict(raw: Mapping[str, Any], source: str = "settings") -> LoadedSettings:
    """Settings from one mapping alone (tests, editor settings without files)."""
    cleaned, problems = validate_layer(raw, source)
    return LoadedSettings(CONVERTER.structure(cleaned, Settings), problems, [source])
