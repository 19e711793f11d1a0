"""The engines a router owns: built from the settings, and closed without letting one failure stop the rest."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from attrs import define, field

from freescode_lsp.config import Settings
from freescode_lsp.models.catalog import Catalog, build_catalog
from freescode_lsp.routing.metering import Ledger

if TYPE_CHECKING:
    from freescode_lsp.engines.local.engine import LocalEngine
    from freescode_lsp.engines.remote import RemoteEngine
    from freescode_lsp.wire.registry_client import RegistryClient

log = logging.getLogger(__name__)


class Closable(Protocol):
    """Anything the router opens and must close: engines and the registry client."""

    async def aclose(self) -> None:
        """Release what it holds."""
        ...


@define
class EngineSet:
    """The engines and registry client built from one version of the settings."""

    catalog: Catalog
    local: LocalEngine | None = None
    remotes: list[RemoteEngine] = field(factory=list)
    registry: RegistryClient | None = None


def build_engines(settings: Settings, with_local: bool, keep: LocalEngine | None = None) -> EngineSet:
    """The local engine (if llama-cpp-python is installed; `keep` when its settings match), static nodes, registry."""
    built = EngineSet(build_catalog(settings))
    if with_local and settings.network.mode != "remote-only":
        if keep is not None and keep.settings == settings.local:
            keep.catalog = built.catalog
            built.local = keep
        else:
            built.local = _local_engine(built.catalog, settings)
    if settings.network.mode != "local-only":
        from freescode_lsp.engines.remote import RemoteEngine

        built.remotes = [RemoteEngine.from_settings(node, settings.network) for node in settings.nodes]
        if settings.network.registry:
            from freescode_lsp.wire.registry_client import RegistryClient

            built.registry = RegistryClient(settings.network.registry, timeout=settings.network.connect_timeout_s)
    return built


def _local_engine(catalog: Catalog, settings: Settings) -> LocalEngine | None:
    try:
        import llama_cpp  # noqa: F401

        from freescode_lsp.engines.local.engine import LocalEngine

        return LocalEngine(catalog, settings.local)
    except ImportError:
        return None


async def close_quietly(item: Closable) -> None:
    """Close one engine or client; a failure to close is logged, never raised."""
    try:
        await item.aclose()
    except Exception as exc:  # noqa: BLE001 - closing the rest matters more than one failure
        log.warning("closing %s failed: %s", getattr(item, "name", type(item).__name__), exc)


def open_ledger() -> Ledger | None:
    """The usage ledger, or None (logged) when it cannot be opened."""
    try:
        return Ledger()
    except Exception as exc:  # noqa: BLE001 - no ledger, no metering; requests still work
        log.warning("usage ledger unavailable: %s", exc)
        return None
