"""Shared fixtures: a fresh database per test on SQLite and, where it runs, PostgreSQL (127.0.0.1:5432).

In CI (``CI=true``) PostgreSQL must be there: its tests fail instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

PG_HOST = os.environ.get("WARROOM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("WARROOM_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("WARROOM_TEST_PG_USER", "postgres")
_pg_state: dict[str, str | None] = {}


async def _pg_admin():  # type: ignore[no-untyped-def]
    import asyncpg

    return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=3)


async def _pg_reason() -> str | None:
    """None when PostgreSQL answers, else why not."""
    if "reason" not in _pg_state:
        try:
            conn = await _pg_admin()
            await conn.close()
            _pg_state["reason"] = None
        except Exception as exc:
            _pg_state["reason"] = f"PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable ({type(exc).__name__}: {exc})"
    return _pg_state["reason"]


async def require_postgres() -> None:
    reason = await _pg_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; in CI the PostgreSQL tests must run — .ci/run starts the server")
    pytest.skip(f"{reason}; start it to run the PostgreSQL half of the suite")


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    await require_postgres()
    name = f"warroom_test_{uuid.uuid4().hex[:12]}"
    admin = await _pg_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        admin = await _pg_admin()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with pg_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'warroom.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'warroom.db'}"
        return
    async with pg_database() as url:
        yield url
