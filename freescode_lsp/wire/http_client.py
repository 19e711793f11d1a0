"""HTTP clients: one TLS context per process, and an httpx.AsyncClient an object creates on demand and closes if it did."""

from __future__ import annotations

import functools
import ssl
from typing import Self

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The verifying TLS context every client of this process shares: building one reads the CA bundle (~25 ms)."""
    return httpx.create_ssl_context()


class OwnedHttpClient:
    """Mixin: `_http()` gives the shared or own client; `aclose()` closes only our own."""

    _client: httpx.AsyncClient | None
    _owns_client: bool

    def _adopt_client(self, client: httpx.AsyncClient | None) -> None:
        self._client = client
        self._owns_client = client is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(verify=tls_context())
        return self._client
