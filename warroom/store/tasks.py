"""A post-incident task's RFC link and its notes: what the ITSM sync reads and writes for tasks (sync/rfc.py).

``TaskLinkRepo`` (``tx.task_links``): the task's RFC (request id, URL, the sync's state) and the task fields the
sync applies from the RFC. ``TaskNoteRepo`` (``tx.task_notes``): a task's notes and comments, written in warroom
(origin ``imr``) or read from its RFC (origin ``itsm``, once per Xurrent note id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .repos import upsert_insert
from .schema import task_links, task_notes, tasks

#: Task statuses whose RFC is still watched by reconciliation (a closed task's for a week after it closed).
_OPEN = ("todo", "in_progress")


@dataclass(frozen=True, slots=True)
class TaskLink:
    task_id: int
    remote_id: str
    url: str | None
    data: dict[str, Any]


def _link(row: Any) -> TaskLink:
    return TaskLink(int(row["task_id"]), str(row["remote_id"]), row["url"], dict(row["data"] or {}))


class TaskLinkRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def get(self, task_id: int) -> TaskLink | None:
        row = (await self.conn.execute(select(task_links).where(task_links.c.task_id == task_id))).mappings().first()
        return _link(row) if row else None

    async def for_incident(self, incident_id: int) -> dict[int, TaskLink]:
        """The RFC links of the incident's tasks (task id → link), in one read."""
        rows = await self.conn.execute(select(task_links).join(tasks, tasks.c.id == task_links.c.task_id)
                                       .where(tasks.c.incident_id == incident_id))
        return {link.task_id: link for link in map(_link, rows.mappings())}

    async def find(self, remote_id: str) -> TaskLink | None:
        """The link of the RFC with this request id, if it is a task's."""
        row = (await self.conn.execute(
            select(task_links).where(task_links.c.remote_id == remote_id))).mappings().first()
        return _link(row) if row else None

    async def put(self, task_id: int, remote_id: str, url: str | None, data: dict[str, Any]) -> TaskLink:
        """Record (or replace) the task's RFC link."""
        stmt = upsert_insert(self.dialect, task_links).values(
            task_id=task_id, remote_id=remote_id, url=url, data=data, created_at=self.now, updated_at=self.now
        )
        await self.conn.execute(stmt.on_conflict_do_update(
            index_elements=["task_id"], set_={"remote_id": remote_id, "url": url, "data": data, "updated_at": self.now}
        ))
        return TaskLink(task_id, remote_id, url, data)

    async def live(self, closed_since: datetime) -> list[TaskLink]:
        """The links of open tasks, and of tasks changed since ``closed_since`` (their RFC may still move)."""
        rows = await self.conn.execute(
            select(task_links).join(tasks, tasks.c.id == task_links.c.task_id)
            .where(tasks.c.status.in_(_OPEN) | (tasks.c.updated_at >= closed_since))
        )
        return [_link(r) for r in rows.mappings()]

    # -- the task itself, as the sync reads and changes it --------------------------------------------
    async def task(self, task_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(tasks).where(tasks.c.id == task_id)
        if lock and self.dialect == "postgresql":
            query = query.with_for_update()
        row = (await self.conn.execute(query)).mappings().first()
        return dict(row) if row else None

    async def apply(self, task_id: int, values: dict[str, Any]) -> dict[str, Any] | None:
        """Set task fields changed on the RFC's side (its version moves on)."""
        result = await self.conn.execute(
            update(tasks).where(tasks.c.id == task_id)
            .values(**values, updated_at=self.now, version=tasks.c.version + 1).returning(*tasks.c)
        )
        row = result.mappings().first()
        return dict(row) if row else None


class TaskNoteRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def add(self, task_id: int, text: str, actor: str | None, origin: str, remote_id: str | None = None) -> int | None:
        """A note on the task; returns its id, or None when a note with this ``remote_id`` is there already."""
        if remote_id is not None:
            found = (await self.conn.execute(select(task_notes.c.id).where(
                task_notes.c.task_id == task_id, task_notes.c.remote_id == remote_id))).scalar()
            if found is not None:
                return None
        result = await self.conn.execute(task_notes.insert().values(
            task_id=task_id, text=text, actor=actor, origin=origin, remote_id=remote_id, created_at=self.now
        ).returning(task_notes.c.id))
        return int(result.scalar_one())

    async def of_task(self, task_id: int) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(task_notes).where(task_notes.c.task_id == task_id).order_by(task_notes.c.id))
        return [dict(r) for r in rows.mappings()]

    async def to_push(self, task_id: int) -> list[dict[str, Any]]:
        """Notes written in warroom that are not on the RFC yet, oldest first."""
        rows = await self.conn.execute(
            select(task_notes).where(task_notes.c.task_id == task_id, task_notes.c.origin == "imr",
                                     task_notes.c.remote_id.is_(None)).order_by(task_notes.c.id))
        return [dict(r) for r in rows.mappings()]

    async def pushed(self, note_id: int, remote_id: str) -> None:
        """The note is on the RFC now, as Xurrent note ``remote_id``."""
        await self.conn.execute(update(task_notes).where(task_notes.c.id == note_id).values(remote_id=remote_id))
