"""`warroom migrate` brings an empty database to the newest schema, on both databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import inspect

from warroom.cli import main
from warroom.store.db import Store


async def test_migrate_command(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "warroom.yaml"
    config.write_text(f"database: {{url: '{db_url}', auto_migrate: false}}\nslack: {{enabled: false}}\n")
    monkeypatch.setenv("WARROOM_INTAKE__GENERIC_TOKEN", "t")
    assert await asyncio.to_thread(main, ["--config", str(config), "migrate"]) == 0
    store = Store.from_url(db_url)
    try:
        async with store.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await store.dispose()
    assert {"incidents", "alerts", "timeline", "links", "outbox", "timers", "alembic_version"} <= tables
