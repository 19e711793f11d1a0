"""Workspace trust: a cloned repository's freescode.toml may not send code or spend money until the user says so.

Settings that send code somewhere or cost money (nodes, the registry, the network mode, budgets and
price caps, model paths, downloads) are taken from a workspace's freescode.toml only once the user has
trusted that workspace. Trust is a (folder, SHA-256 of the file's bytes) pair: the user trusts the
content they were shown, and any other content, a later edit included, is asked about again. The user's
own config, the file FREESCODE_CONFIG names and the editor's settings are always trusted; an editor's
word that the workspace is trusted is not taken: only the user's answer is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attrs import frozen

from freescode_lsp.config.faults import dotted
from freescode_lsp.config.values import shown
from freescode_lsp.system import paths
from freescode_lsp.system.files import read_regular

STORE_LIMIT = 1 << 20
CONFIG_LIMIT = 1_000_000
WORKSPACE_FILE = "freescode.toml"
SAFE_MODE = "local-only"
SHOWN_NODES = 4
SHOWN_CHARS = 80
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
    ("verify", "command"),
)
KeyPath = tuple[str, ...]


@frozen
class Untrusted:
    """A workspace file's content that sets guarded keys the user has not trusted: what to ask about."""

    workspace: Path
    digest: str
    keys: list[str]
    notice: str


def store_file() -> Path:
    """Where the trusted workspaces are recorded."""
    return paths.state_dir() / "trusted-workspaces.json"


def digest_of(content: bytes) -> str:
    """The SHA-256 of a freescode.toml's bytes: what trust is given to."""
    return hashlib.sha256(content).hexdigest()


def fingerprint(config: Path) -> str | None:
    """The SHA-256 of a freescode.toml as it is now, or None when it cannot be read."""
    try:
        return digest_of(read_regular(config, CONFIG_LIMIT))
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


def is_trusted(workspace: Path, digest: str | None = None) -> bool:
    """Whether the user trusted this workspace's freescode.toml with this content (default: as it is now)."""
    digest = digest if digest is not None else fingerprint(workspace / WORKSPACE_FILE)
    return digest is not None and _records().get(_key(workspace)) == digest


def trust(workspace: Path, digest: str | None = None) -> bool:
    """Trust the workspace's freescode.toml with this content (default: as it is now); False when there is none."""
    digest = digest if digest is not None else fingerprint(workspace / WORKSPACE_FILE)
    if digest is None:
        return False
    _write({**_records(), _key(workspace): digest})
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


def guarded_paths(raw: Mapping[str, Any]) -> list[KeyPath]:
    """The key paths of a layer that only a trusted workspace may set (mode local-only is always allowed)."""
    found: list[KeyPath] = []
    for path in GUARDED:
        found.extend(_matches(raw, path, ()))
    network = raw.get("network")
    safe_mode = isinstance(network, Mapping) and network.get("mode") == SAFE_MODE
    return [key for key in found if not (key == ("network", "mode") and safe_mode)]


def guarded_keys(raw: Mapping[str, Any]) -> list[str]:
    """The guarded keys of a layer as written in TOML: nodes, network.mode, models."code-llama-7b".gguf."""
    return [dotted(key) for key in guarded_paths(raw)]


def _matches(table: Any, path: KeyPath, seen: KeyPath) -> list[KeyPath]:
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


def without_guarded(raw: Mapping[str, Any], keys: list[KeyPath]) -> dict[str, Any]:
    """A copy of the layer without the guarded keys found in it."""
    cleaned: dict[str, Any] = dict(raw)
    for key in keys:
        _drop(cleaned, key)
    return cleaned


def _drop(table: dict[str, Any], parts: KeyPath) -> None:
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


def screen(workspace: Path, digest: str, raw: dict[str, Any]) -> tuple[dict[str, Any], Untrusted | None]:
    """A workspace file's settings as they may apply: without its guarded keys unless the user trusted this content."""
    keys = guarded_paths(raw)
    if not keys or is_trusted(workspace, digest):
        return raw, None
    return without_guarded(raw, keys), Untrusted(workspace, digest, [dotted(key) for key in keys], notice(workspace, raw))


def what_it_sets(raw: Mapping[str, Any]) -> list[str]:
    """Each guarded key of a layer with the value it would set, as the user reads it."""
    return [f"{dotted(key)} = {_value_words(key, _value_at(raw, key))}" for key in guarded_paths(raw)]


def _value_at(raw: Mapping[str, Any], key: KeyPath) -> Any:
    value: Any = raw
    for part in key:
        value = value[part]
    return value


def _value_words(key: KeyPath, value: Any) -> str:
    if key == ("nodes",) and isinstance(value, list):
        urls = [_scalar(node.get("url")) if isinstance(node, Mapping) else shown(node) for node in value]
        more = f", and {len(urls) - SHOWN_NODES} more" if len(urls) > SHOWN_NODES else ""
        return "[" + ", ".join(urls[:SHOWN_NODES]) + more + "]"
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        cut = value if len(value) <= SHOWN_CHARS else value[: SHOWN_CHARS - 3] + "..."
        return json.dumps(cut, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(value)
    return shown(value)


def notice(workspace: Path, raw: Mapping[str, Any]) -> str:
    """What the user reads about a workspace file's guarded settings: each key, its value, and why it waits."""
    return (
        f"{workspace / WORKSPACE_FILE} sets {', '.join(what_it_sets(raw))}. These can send your code to other "
        "machines, spend money or load other model files, so they are ignored until you trust this file as it "
        f'is now (choose "Trust", or run `freescode trust {workspace}`); other settings apply, and a change to '
        "the file is asked about again"
    )
