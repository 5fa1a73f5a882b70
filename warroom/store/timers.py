"""Durable timers: a timer is a row with a fire time; firing turns it into an outbox job in one transaction.

One timer per key (scheduling the same key again moves it). Periodic timers (``interval``) are moved forward as
they fire; one-shot timers are deleted. Timers survive restarts and are claimed with ``SKIP LOCKED`` on
PostgreSQL, so several processes never fire the same timer twice.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import incidents, timers

if TYPE_CHECKING:
    from .db import Store

log = logging.getLogger("warroom.timers")


class TimerRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect
        self.scheduled = 0

    async def schedule(
        self,
        key: str,
        kind: str,
        *,
        delay: float,
        payload: dict[str, Any] | None = None,
        incident_id: int | None = None,
        interval: int | None = None,
    ) -> None:
        from .repos import upsert_insert

        fire_at = self.now + timedelta(seconds=delay)
        stmt = upsert_insert(self.dialect, timers).values(
            key=key,
            kind=kind,
            incident_id=incident_id,
            payload=payload or {},
            fire_at=fire_at,
            interval_s=interval,
            created_at=self.now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={"kind": kind, "payload": payload or {}, "fire_at": fire_at, "interval_s": interval},
        )
        await self.conn.execute(stmt)
        self.scheduled += 1

    async def cancel(self, key: str) -> bool:
        result = await self.conn.execute(delete(timers).where(timers.c.key == key))
        return bool(result.rowcount)

    async def cancel_for_incident(self, incident_id: int) -> int:
        result = await self.conn.execute(delete(timers).where(timers.c.incident_id == incident_id))
        return int(result.rowcount or 0)

    async def fire_due(self, limit: int = 100) -> int:
        """Turn due timers into outbox jobs (kind = the timer's kind); returns how many fired."""
        from .outbox import OutboxRepo

        query = select(timers).where(timers.c.fire_at <= self.now).order_by(timers.c.fire_at).limit(limit)
        if self.dialect == "postgresql":
            # Every transaction that changes an incident takes its row lock first, and some then move or cancel its
            # timers; the jobs inserted here reference those incidents, which takes a key-share lock on them. Take
            # those locks first too (in id order), before any timer's: else a tick holding a timer waits for an
            # incident whose holder waits for that timer — a deadlock.
            due = select(timers.c.incident_id).where(timers.c.fire_at <= self.now, timers.c.incident_id.is_not(None))
            ids = sorted({int(i) for i in (await self.conn.execute(due.order_by(timers.c.fire_at).limit(limit))).scalars()})
            if ids:
                await self.conn.execute(
                    select(incidents.c.id).where(incidents.c.id.in_(ids)).order_by(incidents.c.id)
                    .with_for_update(key_share=True)
                )
            query = query.with_for_update(skip_locked=True)
        rows = (await self.conn.execute(query)).mappings().all()
        jobs = OutboxRepo(self.conn, self.now, self.dialect)
        for row in rows:
            await jobs.enqueue(
                row["kind"],
                {**row["payload"], "timer": row["key"]},
                incident_id=row["incident_id"],
                dedup_key=f"timer:{row['key']}",
            )
            if row["interval_s"]:
                await self.conn.execute(
                    update(timers)
                    .where(timers.c.id == row["id"])
                    .values(fire_at=self.now + timedelta(seconds=row["interval_s"]))
                )
            else:
                await self.conn.execute(delete(timers).where(timers.c.id == row["id"]))
        self.scheduled += jobs.enqueued
        return len(rows)

    async def all(self) -> list[dict[str, Any]]:
        return [dict(r) for r in (await self.conn.execute(select(timers).order_by(timers.c.fire_at))).mappings()]


class TimerRunner:
    """Fires due timers every ``interval`` seconds."""

    def __init__(self, store: Store, interval: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="timers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def tick(self) -> int:
        async with self.store.tx(background=True) as tx:
            return await tx.timers.fire_due()

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("firing timers failed")
            await asyncio.sleep(self.interval)
