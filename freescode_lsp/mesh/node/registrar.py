"""Keeping a node gateway registered: register, heartbeat every lease/3, retry with backoff, deregister."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable

from attrs import define

from freescode_lsp.wire.registry_client import (
    RegistryClient,
    RegistryError,
    RegistryUnavailable,
)

MAX_BACKOFF_S = 60.0
DEREGISTER_TIMEOUT_S = 5.0


@define(frozen=True)
class Listing:
    """What the gateway registers."""

    url: str
    model: str
    price_per_1k: float
    context: int
    probe_key: str


@define(frozen=True)
class Load:
    """What a heartbeat reports."""

    load: float
    ttft_ms: float | None
    tokens_per_s: float | None


def log(message: str) -> None:
    """One line on stderr."""
    print(f"freescode node: {message}", file=sys.stderr, flush=True)


class Registrar:
    """Runs in the background; the gateway keeps serving whatever the registry does."""

    def __init__(self, client: RegistryClient, listing: Listing, load: Callable[[], Load]) -> None:
        self.client = client
        self.listing = listing
        self.load = load
        self.node_id: str | None = None
        self.interval_s = 10.0
        self._failures = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start registering and heartbeating."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop heartbeating and deregister, within a few seconds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.node_id is not None:
            try:
                async with asyncio.timeout(DEREGISTER_TIMEOUT_S):
                    await self.client.deregister(self.node_id)
                log(f"deregistered {self.node_id} from {self.client.base_url}")
            except (RegistryError, TimeoutError) as exc:
                log(f"could not deregister {self.node_id}: {exc}")
        await self.client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await (self._beat() if self.node_id else self._register())
                self._failures = 0
                delay = self.interval_s
            except RegistryError as exc:
                self._failures += 1
                delay = min(2.0 ** (self._failures - 1), MAX_BACKOFF_S)
                what = "is unreachable" if isinstance(exc, RegistryUnavailable) else "refused us"
                log(f"the registry {what}: {exc}; still serving, retrying in {delay:g} s")
                if exc.status == 403 and self.node_id is None:
                    log(f"the registry must reach this gateway at {self.listing.url} to check it is yours (see --public-url)")
            await asyncio.sleep(delay)

    async def _register(self) -> None:
        listing = self.listing
        answer = await self.client.register(
            listing.url, [listing.model], listing.price_per_1k, listing.context, probe_key=listing.probe_key
        )
        self.node_id = str(answer["node_id"])
        interval = answer.get("heartbeat_interval_s")
        if isinstance(interval, int | float) and interval > 0:
            self.interval_s = float(interval)
        log(f"registered {listing.url} for {listing.model} as {self.node_id}; heartbeat every {self.interval_s:g} s")

    async def _beat(self) -> None:
        assert self.node_id is not None
        now = self.load()
        try:
            await self.client.heartbeat(self.node_id, load=now.load, ttft_ms=now.ttft_ms, tokens_per_s=now.tokens_per_s)
        except RegistryError as exc:
            if exc.status == 404:
                log(f"the registry forgot {self.node_id}; registering again")
                self.node_id = None
                await self._register()
                return
            raise
