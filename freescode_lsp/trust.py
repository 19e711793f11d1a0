"""Workspace trust: a cloned repository's freescode.toml may not send code or spend money until the user says so.

Settings that send code somewhere or cost money (nodes, the registry, the network mode, budgets and
price caps, model paths, downloads) are taken from a workspace's freescode.toml only once the user has
trusted that workspace. Trust is remembered per folder and per content of its freescode.toml: a
changed file must be trusted again. The user's own config, FREESCODE_CONFIG and the editor's settings
are always trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from freescode_lsp import paths
from freescode_lsp.files import read_regular

STORE_LIMIT = 1 << 20
CONFIG_LIMIT = 1 << 20
SAFE_MODE = "local-only"
GUARDED: tuple[tuple[str, ...], ...] = (
    ("nodes",),
    ("network", "registry"),
    ("network", "registry_key"),
    ("network", "mode"),
    ("network", "budget_usd"),
    ("network", "max_price_per_1k"),
    ("local", "auto_pull"),
    ("local", "models_dir"),
    ("models", "*", "gguf"),
    ("models", "*", "hf"),
)


def store_file() -> Path:
    """Where the trusted workspaces are recorded."""
    return paths.state_dir() / "trusted-workspaces.json"


def fingerprint(config: Path) -> str | None:
    """The SHA-256 of a workspace's freescode.toml, or None when it cannot be read."""
    try:
        return hashlib.sha256(read_regular(config, CONFIG_LIMIT)).hexdigest()
    except (OSError, ValueError):
        return None


def _records() -> dict[str, str]:
    try:
        data = json.loads(read_regular(store_file(), STORE_LIMIT))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _key(workspace: Path) -> str:
    try:
        return str(workspace.resolve())
    except (OSError, RuntimeError, ValueError):
        return str(workspace.absolute())


def is_trusted(workspace: Path) -> bool:
    """Whether the user trusted this workspace's freescode.toml as it is now."""
    digest = fingerprint(workspace / "freescode.toml")
    return digest is not None and _records().get(_key(workspace)) == digest


def trust(workspace: Path) -> bool:
    """Trust the workspace's freescode.toml as it is now; False when there is none to trust."""
    digest = fingerprint(workspace / "freescode.toml")
    if digest is None:
        return False
    records = {**_records(), _key(workspace): digest}
    _write(records)
    return True


def forget(workspace: Path) -> bool:
    """Stop trusting the workspace; False when it was not trusted."""
    records = _records()
    if records.pop(_key(workspace), None) is None:
        return False
    _write(records)
    return True


def _write(records: dict[str, str]) -> None:
    target = store_file()
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staged.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")
    staged.replace(target)


def guarded_keys(raw: Mapping[str, Any]) -> list[str]:
    """The dotted keys of a layer that only a trusted workspace may set (mode local-only is always allowed)."""
    found = []
    for path in GUARDED:
        found.extend(_matches(raw, path, ()))
    network = raw.get("network")
    safe_mode = isinstance(network, Mapping) and network.get("mode") == SAFE_MODE
    return [".".join(key) for key in found if not (key == ("network", "mode") and safe_mode)]


def _matches(table: Any, path: tuple[str, ...], seen: tuple[str, ...]) -> list[tuple[str, ...]]:
    if not isinstance(table, Mapping) or not path:
        return []
    head, rest = path[0], path[1:]
    names = [str(k) for k in table] if head == "*" else ([head] if head in table else [])
    found = []
    for name in names:
        if rest:
            found.extend(_matches(table[name], rest, (*seen, name)))
        else:
            found.append((*seen, name))
    return found


def without_guarded(raw: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
    """A copy of the layer without the guarded keys found in it."""
    cleaned: dict[str, Any] = dict(raw)
    for dotted in keys:
        parts = dotted.split(".")
        _drop(cleaned, parts)
    return cleaned


def _drop(table: dict[str, Any], parts: list[str]) -> None:
    head = parts[0]
    if head not in table:
        return
    if len(parts) == 1:
        del table[head]
        return
    inner = table[head]
    if isinstance(inner, Mapping):
        inner = dict(inner)
        table[head] = inner
        _drop(inner, parts[1:])


def notice(workspace: Path, keys: list[str]) -> str:
    """What the user reads about settings ignored until they trust the workspace."""
    listed = ", ".join(keys[:6]) + (f" and {len(keys) - 6} more" if len(keys) > 6 else "")
    return (
        f"{workspace / 'freescode.toml'} sets {listed}, which can send your code to other machines or spend "
        f"money; ignored until you trust this workspace (run `freescode trust {workspace}`, or choose "
        '"Trust" when the editor asks)'
    )
