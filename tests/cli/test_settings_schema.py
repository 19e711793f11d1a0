"""`freescode settings --json-schema`: the settings classes as a JSON Schema that editors check their copies against."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any, get_args, get_origin, get_type_hints

import attrs
import pytest

from freescode_lsp.cli import main
from freescode_lsp.commands.settings import DIALECT, USER_ONLY, schema_of, settings_schema
from freescode_lsp.config import CONVERTER, LocalSettings, Mode, PromptStyleSetting, Settings, settings_from_dict, trust
from freescode_lsp.config.values import BOUNDS, Threads

SCHEMA = settings_schema()
KINDS = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
}


def problems(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Where a value breaks the schema: the keywords the settings schema uses, checked as JSON Schema says."""
    kinds = schema["type"] if isinstance(schema.get("type"), list) else [schema.get("type", "")]
    if "type" in schema and not any(KINDS[kind](value) for kind in kinds):
        return [f"{where}: not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: not one of {schema['enum']}"]
    found = []
    if "minimum" in schema and KINDS["number"](value) and value < schema["minimum"]:
        found.append(f"{where}: below the minimum")
    if "exclusiveMinimum" in schema and KINDS["number"](value) and value <= schema["exclusiveMinimum"]:
        found.append(f"{where}: not above the minimum")
    if "maximum" in schema and KINDS["number"](value) and value > schema["maximum"]:
        found.append(f"{where}: above the maximum")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(item, schema["items"], f"{where}[{index}]")
    if isinstance(value, dict):
        found += [f"{where}.{key}: missing" for key in schema.get("required", []) if key not in value]
        names = schema.get("propertyNames", {}).get("enum")
        for key, item in value.items():
            if names is not None and key not in names:
                found.append(f"{where}.{key}: not an allowed key")
            elif key in schema.get("properties", {}):
                found += problems(item, schema["properties"][key], f"{where}.{key}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{where}.{key}: not a setting")
            elif isinstance(schema.get("additionalProperties"), dict):
                found += problems(item, schema["additionalProperties"], f"{where}.{key}")
    return found


def nodes(schema: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every sub-schema with its key path (`*` for any key of a table)."""
    yield path, schema
    for name, inner in schema.get("properties", {}).items():
        yield from nodes(inner, (*path, name))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from nodes(schema["additionalProperties"], (*path, "*"))
    if "items" in schema:
        yield from nodes(schema["items"], path)


def settings_classes(cls: type, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], type]]:
    """Each attrs settings class reachable from `cls`, with the key path of its table (`*` for a table's any key)."""
    yield path, cls
    for name, kind in get_type_hints(cls).items():
        step: tuple[str, ...] = (name,)
        if get_origin(kind) is dict:
            kind, step = get_args(kind)[1], (name, "*")
        elif get_origin(kind) is list:
            kind = get_args(kind)[0]
        if attrs.has(kind):
            yield from settings_classes(kind, (*path, *step))


def test_the_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["settings", "--json-schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == SCHEMA
    assert printed["$schema"] == DIALECT


def test_without_the_flag_the_command_says_what_it_needs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["settings"])
    assert exited.value.code == 2
    assert "--json-schema" in capsys.readouterr().err


def test_the_defaults_are_the_settings_defaults_and_valid() -> None:
    defaults = CONVERTER.unstructure(Settings())
    assert SCHEMA["default"] == defaults
    assert problems(defaults, SCHEMA) == []
    for section, value in defaults.items():
        assert SCHEMA["properties"][section]["default"] == value, section
        for name, field_default in value.items() if isinstance(value, dict) else ():
            assert SCHEMA["properties"][section]["properties"][name]["default"] == field_default, f"{section}.{name}"


def test_every_field_of_every_settings_class_appears_and_no_other() -> None:
    found = dict(nodes(SCHEMA))
    classes = dict(settings_classes(Settings))
    assert set(classes) == {(), ("models", "*"), ("nodes",), ("local",), ("network",), ("server",), ("completion",), ("verify",)}
    for path, cls in classes.items():
        table = found[path]["items"] if "items" in found[path] else found[path]
        assert list(table["properties"]) == [field.name for field in attrs.fields(cls)], path
        assert table["additionalProperties"] is False, path


def test_literal_types_become_enums() -> None:
    assert SCHEMA["properties"]["network"]["properties"]["mode"]["enum"] == list(get_args(Mode))
    prompt_style = SCHEMA["properties"]["models"]["additionalProperties"]["properties"]["prompt_style"]
    assert prompt_style["enum"] == [*get_args(PromptStyleSetting), None]
    assert prompt_style["type"] == ["string", "null"]


def test_a_changed_default_shows_up() -> None:
    @attrs.define
    class MoreThreads(LocalSettings):
        threads: Threads = Threads(12)

    schema = schema_of(MoreThreads)
    assert schema["properties"]["threads"]["default"] == 12
    assert SCHEMA["properties"]["local"]["properties"]["threads"]["default"] == LocalSettings().threads != 12


def test_field_descriptions_come_from_attrs_metadata_and_tables_from_docstrings() -> None:
    @attrs.define
    class Described:
        """A table."""

        told: int = attrs.field(default=1, metadata={"description": "What it does."})
        untold: int = 2

    schema = schema_of(Described)
    assert schema["description"] == "A table."
    assert schema["properties"]["told"]["description"] == "What it does."
    assert "description" not in schema["properties"]["untold"]


def test_the_user_only_keys_are_the_ones_trust_guards() -> None:
    marked = {path for path, schema in nodes(SCHEMA) if schema.get(USER_ONLY) is True}
    assert marked == set(trust.GUARDED)


def test_bounded_numbers_carry_the_range_the_server_checks() -> None:
    threads = SCHEMA["properties"]["local"]["properties"]["threads"]
    assert (threads["type"], threads["minimum"], threads["maximum"]) == ("integer", BOUNDS[Threads].low, BOUNDS[Threads].high)
    timeout = SCHEMA["properties"]["network"]["properties"]["connect_timeout_s"]
    assert (timeout["type"], timeout["exclusiveMinimum"]) == ("number", 0)


@pytest.mark.parametrize(
    "layer",
    [
        {"local": {"threads": 0}},
        {"local": {"threads": 2.5}},
        {"local": {"idle_unload_s": 0}},
        {"completion": {"debounce_ms": 2001}},
        {"network": {"mode": "everywhere"}},
        {"network": {"budget_usd": "5"}},
        {"server": {"streaming": "yes"}},
        {"server": {"no_such_key": 1}},
        {"nodes": [{"models": ["mistral-7b"]}]},
        {"models": {"mine": {"prompt_style": "poem"}}},
        {"routing": {"no_such_task": "mistral-7b"}},
    ],
)
def test_the_schema_refuses_what_the_server_refuses(layer: dict[str, Any]) -> None:
    assert settings_from_dict(layer).problems, "the server takes it"
    assert problems(layer, SCHEMA), "the schema takes it"


@pytest.mark.parametrize(
    "layer",
    [
        {"local": {"threads": 256, "idle_unload_s": 0.5, "models_dir": None}},
        {"completion": {"debounce_ms": 0, "disabled_languages": ["markdown"]}},
        {"network": {"mode": "remote-only", "budget_usd": 0, "registry": "http://127.0.0.1:9"}},
        {"nodes": [{"url": "http://127.0.0.1:9", "models": ["mistral-7b"], "context": 4096}]},
        {"models": {"mine": {"prompt_style": "completion", "fallback": ["mistral-7b"]}}},
        {"routing": {"fix": "mistral-7b"}},
    ],
)
def test_the_schema_takes_what_the_server_takes(layer: dict[str, Any]) -> None:
    assert settings_from_dict(layer).problems == []
    assert problems(layer, SCHEMA) == []
