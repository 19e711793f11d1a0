"""The client keys a node gateway accepts, read from a file that may change while it runs."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from freescode_lsp.mesh.registry.auth import parse_tokens, secret_owner

PROBE_CLIENT = "registry-probe"
ANONYMOUS = "anonymous"


def key_label(name: str | None, key: str) -> str:
    """How a key appears in the ledger: its name, or a short hash that does not reveal it."""
    return name or f"key-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class ClientKeys:
    """`key` or `name:key` lines of a file (reread when it changes), plus the registry's probe key."""

    def __init__(self, file: Path | None, probe_key: str) -> None:
        self.file = file
        self.probe_key = probe_key
        self._stamp: tuple[int, int] | None = None
        self._entries: list[tuple[bytes, str]] = []
        if file is not None:
            self._reload()

    @property
    def enforced(self) -> bool:
        """Whether requests must carry a key."""
        return self.file is not None

    def _reload(self) -> None:
        """Read the file again if its size or modification time changed; keep the old keys if it vanished."""
        assert self.file is not None
        try:
            stat = self.file.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            text = self.file.read_text(encoding="utf-8")
        except OSError:
            return
        self._stamp = stamp
        self._entries = [(hashlib.sha256(key.encode()).digest(), key_label(name, key)) for name, key in parse_tokens(text)]

    def client_for(self, key: str | None) -> str | None:
        """The client a bearer key belongs to, compared in constant time; None when refused."""
        if not self.enforced:
            return ANONYMOUS
        if key is None:
            return None
        if hmac.compare_digest(key.encode(), self.probe_key.encode()):
            return PROBE_CLIENT
        self._reload()
        return secret_owner(self._entries, key)
