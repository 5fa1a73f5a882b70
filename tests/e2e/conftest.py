"""End-to-end fixtures: the real server on loopback against the sandbox emulators, over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from warroom.sandbox.harness import Harness


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
