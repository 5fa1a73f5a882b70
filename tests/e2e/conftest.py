"""End-to-end fixtures: the real server on loopback against the sandbox emulators, over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from warroom.sandbox.harness import Harness

from .sync_helpers import Tweak, unthrottled


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
