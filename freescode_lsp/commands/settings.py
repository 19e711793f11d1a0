"""`freescode settings --json-schema`: every setting as a JSON Schema, generated from the settings classes."""

from __future__ import annotations

import argparse
import json
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import attrs

from freescode_lsp.config import CONVERTER, Settings, trust
from freescode_lsp.config.values import BOUNDS, Bounds, HttpUrl
from freescode_lsp.task_table import TASK_IDS

DIALECT = "https://json-schema.org/draft/2020-12/schema"
USER_ONLY = "x-freescode-user-only"
JSON_TYPES: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
FORMATS: dict[Any, str] = {HttpUrl: "uri"}


def register(subparsers: Any) -> None:
    """Add `settings` to the CLI."""
    parser = subparsers.add_parser("settings", help="describe the settings freescode.toml and the editors may set")
    parser.add_argument(
        "--json-schema",
        action="store_true",
        required=True,
        help="print the settings as a JSON Schema: types, defaults, choices, and the keys only the user may set",
    )
    parser.set_defaults(handler=print_schema)


def print_schema(_args: argparse.Namespace) -> int:
    """Print the settings' JSON Schema."""
    print(json.dumps(settings_schema(), indent=2))
    return 0


def settings_schema() -> dict[str, Any]:
    """The schema of everything a user can set: defaults as `Settings()` has them, trust-guarded keys marked user-only."""
    schema: dict[str, Any] = {"$schema": DIALECT, "title": "freescode settings", **schema_of(Settings)}
    schema["default"] = CONVERTER.unstructure(Settings())
    schema["properties"]["routing"]["propertyNames"] = {"enum": list(TASK_IDS)}
    for path in trust.GUARDED:
        node_at(schema, path)[USER_ONLY] = True
    return schema


def node_at(schema: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The schema of the value at a key path; `*` stands for any key of a table."""
    node = schema
    for part in path:
        node = node["additionalProperties"] if part == "*" else node["properties"][part]
    return node


def schema_of(kind: Any) -> dict[str, Any]:
    """The JSON Schema of one settings type: a settings class, a list, a table, a choice, a bounded number, a plain value."""
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        return _nullable(kind)
    if origin is Literal:
        choices = list(get_args(kind))
        return {"type": _json_type(type(choices[0])), "enum": choices}
    if origin is list:
        return {"type": "array", "items": schema_of(get_args(kind)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": schema_of(get_args(kind)[1])}
    if attrs.has(kind):
        return _class_schema(kind)
    if kind in BOUNDS:
        return _bounded(BOUNDS[kind])
    schema = {"type": _json_type(getattr(kind, "__supertype__", kind))}
    if kind in FORMATS:
        schema["format"] = FORMATS[kind]
    return schema


def _nullable(kind: Any) -> dict[str, Any]:
    """`X | None`: X's schema that also takes null."""
    kept = [arg for arg in get_args(kind) if arg is not type(None)]
    if len(kept) != 1:
        raise TypeError(f"no JSON Schema for the union {kind!r}: only `X | None` is a setting's type")
    schema = schema_of(kept[0])
    schema["type"] = [schema["type"], "null"]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def _class_schema(cls: type) -> dict[str, Any]:
    """A settings table: its fields, their defaults, the fields without one required, no other key allowed."""
    hints = get_type_hints(cls)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in attrs.fields(cls):
        prop = schema_of(hints[field.name])
        if description := field.metadata.get("description"):
            prop["description"] = description
        if field.default is attrs.NOTHING:
            required.append(field.name)
        else:
            prop["default"] = CONVERTER.unstructure(_default(field.default))
        properties[field.name] = prop
    schema: dict[str, Any] = {"type": "object"}
    if cls.__doc__:
        schema["description"] = cls.__doc__
    schema["properties"] = properties
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def _default(default: Any) -> Any:
    """A field's default value, a factory called."""
    is_factory = isinstance(default, attrs.Factory)  # type: ignore[arg-type]  # typed as a function, is a class
    return default.factory() if is_factory else default


def _bounded(bounds: Bounds) -> dict[str, Any]:
    """A number with the range the converter checks."""
    schema: dict[str, Any] = {"type": "integer" if bounds.whole else "number"}
    schema["exclusiveMinimum" if bounds.above else "minimum"] = _number(bounds.low)
    schema["maximum"] = _number(bounds.high)
    return schema


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _json_type(kind: Any) -> str:
    if kind not in JSON_TYPES:
        raise TypeError(f"no JSON Schema for the setting type {kind!r}")
    return JSON_TYPES[kind]
