"""End-to-end fixtures: the real server on loopback against the sandbox emulators, over HTTP.

``db_url`` and ``sqlite_url`` here are copies of a database migrated once per run (tests/conftest.py): the server
under test still runs its start-up migration, which finds the schema at head, instead of every migration again
for every test. The migrations from empty stay tested on both databases outside tests/e2e.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import migrated_sqlite, pg_database
from warroom.sandbox.harness import Harness

from .sync_helpers import Tweak, unthrottled


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each test that takes this runs once on SQLite and once on PostgreSQL (``@pytest.mark.one_db`` narrows it),
    on a fresh database already at the newest migration."""
    if request.param == "sqlite":
        yield await migrated_sqlite(tmp_path / "warroom.db")
        return
    async with pg_database(migrated=True) as url:
        yield url


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database already at the newest migration."""
    return await migrated_sqlite(tmp_path / "warroom.db")


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[Harness]:
    h = await Harness.start(db_url)
    yield h
    await h.stop()


@pytest.fixture
async def sqlite_harness(sqlite_url: str) -> AsyncIterator[Harness]:
    h = await Harness.start(sqlite_url)
    yield h
    await h.stop()


# -- the sync's tests (incidents and tasks' RFCs): the emulators' rate limits off (sync_helpers.unthrottled) -------
@pytest.fixture
def both(harness: Harness) -> Harness:
    """The real server on SQLite and on PostgreSQL."""
    return unthrottled(harness)


@pytest.fixture
def lite(sqlite_harness: Harness) -> Harness:
    """The real server on SQLite."""
    return unthrottled(sqlite_harness)


@pytest.fixture
async def start(sqlite_url: str) -> AsyncIterator[Callable[..., Any]]:
    """A harness on SQLite with settings tweaked by the test."""
    started: list[Harness] = []

    async def go(tweak: Tweak | None = None) -> Harness:
        h = unthrottled(await Harness.start(sqlite_url, tweak=tweak))
        started.append(h)
        return h

    yield go
    for h in started:
        await h.stop()
