"""Who an operator is: the operator tokens the registry accepts and the bearer token a request carries."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from pathlib import Path

from starlette.requests import Request

from freescode_lsp.wire.ownership import ownership_key

TOKENS_ENV = "FREESCODE_OPERATOR_TOKENS"


class OperatorTokens:
    """The operator tokens the registry accepts, each mapped to the operator it identifies and its ownership key."""

    def __init__(self, pairs: Iterable[tuple[str | None, str]] = ()) -> None:
        self._entries: list[tuple[bytes, str]] = []
        self._keys: dict[str, list[bytes]] = {}
        for name, token in pairs:
            digest = hashlib.sha256(token.encode()).digest()
            operator = name or f"operator-{digest.hex()[:12]}"
            self._entries.append((digest, operator))
            self._keys.setdefault(operator, []).append(ownership_key(token))

    def __len__(self) -> int:
        return len(self._entries)

    def operator_for(self, token: str) -> str | None:
        """The operator a token belongs to, compared in constant time, or None."""
        return secret_owner(self._entries, token)

    def ownership_keys(self, operator: str) -> list[bytes]:
        """The keys a node of this operator may prove ownership with: one per token the operator holds."""
        return list(self._keys.get(operator, ()))

    def key_table(self) -> dict[str, list[bytes]]:
        """Every operator's ownership keys: what a probing process needs, without the tokens themselves."""
        return {operator: list(keys) for operator, keys in self._keys.items()}


def secret_owner(entries: Iterable[tuple[bytes, str]], secret: str) -> str | None:
    """Whose secret this is among (sha256 digest, owner) entries; every entry is compared, in constant time."""
    digest = hashlib.sha256(secret.encode()).digest()
    found = None
    for known, owner in entries:
        if hmac.compare_digest(known, digest):
            found = owner
    return found


def parse_tokens(text: str, separator: str = "\n") -> list[tuple[str | None, str]]:
    """`token` or `name:token` entries; blank entries and `#` comment lines are skipped."""
    pairs: list[tuple[str | None, str]] = []
    for raw in text.split(separator):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        name, colon, token = entry.partition(":")
        if colon and name.strip() and token.strip():
            pairs.append((name.strip(), token.strip()))
        else:
            pairs.append((None, entry))
    return pairs


def load_tokens(file: Path | None, env: Mapping[str, str]) -> OperatorTokens:
    """The tokens from the `--operator-tokens` file and the FREESCODE_OPERATOR_TOKENS variable."""
    pairs = parse_tokens(env.get(TOKENS_ENV, ""), ",")
    if file is not None:
        pairs += parse_tokens(file.read_text(encoding="utf-8"))
    return OperatorTokens(pairs)


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
