"""Fixtures of the network tests: a real PostgreSQL server, started once per session, and a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from freescode_lsp.testing.postgres import PostgresServer, PostgresUnavailable, start_postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server on loopback (Debian's package is installed when missing); skipped where it cannot be."""
    pytest.importorskip(
        "psycopg", reason="the registry's PostgreSQL driver is not installed (pip install 'freescode-lsp[registry]')"
    )
    pytest.importorskip("psycopg_pool", reason="psycopg_pool is not installed (pip install 'freescode-lsp[registry]')")
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL cannot be set up here: {exc}")
    yield server
    server.close()


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> str:
    """A new empty database on the session's PostgreSQL server."""
    return postgres.create_database()
