"""What the AI reads and writes besides the incident itself: changes near incidents (deployments, ITSM changes),
postmortem drafts, and post-incident tasks."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .repos import upsert_insert
from .schema import changes, incidents, postmortems, tasks

#: Task statuses still to be done (warroom.core.tasks.OPEN; the store imports nothing of core's task module).
_OPEN_TASKS = ("todo", "in_progress")


class RecordRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    # -- changes ------------------------------------------------------------------------------------
    async def add_change(
        self, *, source: str, external_id: str, title: str, at: datetime, service: str | None = None,
        details: str = "", url: str | None = None, kind: str = "deploy",
    ) -> bool:
        """Record a change once per (source, external id); a repeat updates it (its kind too). True when it was
        new. ``kind``: deploy, config, feature_flag, dns, infrastructure, database, rfc or other."""
        values = {
            "service": service, "title": title[:500], "details": details, "url": url, "at": at, "kind": kind[:16],
        }
        stmt = upsert_insert(self.dialect, changes).values(
            source=source, external_id=external_id[:255], received_at=self.now, **values
        )
        existed = (await self.conn.execute(
            select(changes.c.id).where(changes.c.source == source, changes.c.external_id == external_id[:255])
        )).first()
        await self.conn.execute(stmt.on_conflict_do_update(index_elements=["source", "external_id"], set_=values))
        return existed is None

    async def changes_near(
        self, start: datetime, *, before: timedelta, after: timedelta, services: list[str] | None = None,
        newest: int | None = None,
    ) -> list[dict[str, Any]]:
        """Changes from ``before`` ahead of ``start`` to ``after`` it, on the services (or on none named), oldest
        first; with ``newest``, only that many of the latest."""
        query = select(changes).where(changes.c.at >= start - before, changes.c.at <= start + after)
        if services is not None:
            query = query.where(or_(changes.c.service.in_(services), changes.c.service.is_(None)))
        if newest is not None:
            query = query.order_by(changes.c.at.desc(), changes.c.id.desc()).limit(newest)
            return [dict(r) for r in reversed((await self.conn.execute(query)).mappings().all())]
        rows = await self.conn.execute(query.order_by(changes.c.at))
        return [dict(r) for r in rows.mappings()]

    # -- postmortems --------------------------------------------------------------------------------
    async def put_postmortem(self, incident_id: int, markdown: str, engine: str) -> None:
        values = {"markdown": markdown, "engine": engine, "updated_at": self.now}
        stmt = upsert_insert(self.dialect, postmortems).values(incident_id=incident_id, created_at=self.now, **values)
        await self.conn.execute(stmt.on_conflict_do_update(index_elements=["incident_id"], set_=values))

    async def postmortem(self, incident_id: int) -> dict[str, Any] | None:
        row = (await self.conn.execute(select(postmortems).where(postmortems.c.incident_id == incident_id))).mappings()
        found = row.first()
        return dict(found) if found else None

    # -- post-incident tasks ------------------------------------------------------------------------
    async def add_task(self, incident_id: int, title: str, *, details: str = "", origin: str = "postmortem",
                       status: str = "proposed", by: str | None = None) -> int:
        """A task, once per (incident, title) while it is proposed; returns its id."""
        found = (await self.conn.execute(select(tasks.c.id).where(
            and_(tasks.c.incident_id == incident_id, tasks.c.title == title)
        ))).scalar()
        if found is not None:
            return int(found)
        result = await self.conn.execute(tasks.insert().values(
            incident_id=incident_id, title=title, details=details, origin=origin, status=status, created_by=by,
            created_at=self.now, updated_at=self.now,
        ).returning(tasks.c.id))
        return int(result.scalar_one())

    async def tasks(self, incident_id: int) -> list[dict[str, Any]]:
        rows = await self.conn.execute(select(tasks).where(tasks.c.incident_id == incident_id).order_by(tasks.c.id))
        return [dict(r) for r in rows.mappings()]

    async def set_task_status(self, task_id: int, status: str, *, by: str | None = None) -> dict[str, Any] | None:
        """Move a task (proposed → open when a person accepts it); None if there is no such task."""
        result = await self.conn.execute(
            update(tasks).where(tasks.c.id == task_id).values(status=status, updated_at=self.now)
            .returning(*tasks.c)
        )
        row = result.mappings().first()
        return dict(row) if row else None

    async def new_task(self, incident_id: int, title: str, *, by: str | None, owner: str | None = None,
                       due_at: datetime | None = None, origin: str = "chat", status: str = "todo") -> dict[str, Any]:
        """A task made by a person (not de-duplicated by title: two tasks may share one); returns its row."""
        result = await self.conn.execute(tasks.insert().values(
            incident_id=incident_id, title=title, details="", origin=origin, status=status, created_by=by,
            owner=owner, due_at=due_at, version=1, created_at=self.now, updated_at=self.now,
        ).returning(*tasks.c))
        return dict(result.mappings().one())

    async def task(self, task_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        query = select(tasks).where(tasks.c.id == task_id)
        if lock and self.dialect == "postgresql":
            query = query.with_for_update()
        row = (await self.conn.execute(query)).mappings().first()
        return dict(row) if row else None

    async def update_task(self, task_id: int, **values: Any) -> dict[str, Any] | None:
        """Change a task's fields (title, status, owner, due_at, closed_reason, details) and bump its version;
        None if there is no such task."""
        result = await self.conn.execute(
            update(tasks).where(tasks.c.id == task_id)
            .values(**values, version=tasks.c.version + 1, updated_at=self.now)
            .returning(*tasks.c)
        )
        row = result.mappings().first()
        return dict(row) if row else None

    async def open_task_count(self, incident_id: int) -> int:
        """How many of the incident's tasks are still to be done (To Do or In Progress)."""
        found = await self.conn.execute(
            select(func.count()).select_from(tasks)
            .where(tasks.c.incident_id == incident_id, tasks.c.status.in_(_OPEN_TASKS))
        )
        return int(found.scalar_one())

    async def open_tasks(self, *, services: list[str] | None = None, due_before: datetime | None = None,
                         limit: int = 1000) -> list[dict[str, Any]]:
        """Open tasks of every incident (or of ``services``' incidents; or due before ``due_before``), each with
        its incident's ``service``, ``incident_title`` and ``incident_number``: the soonest due first, then the
        oldest."""
        query = (
            select(*tasks.c, incidents.c.service, incidents.c.title.label("incident_title"))
            .join(incidents, incidents.c.id == tasks.c.incident_id)
            .where(tasks.c.status.in_(_OPEN_TASKS))
        )
        if services is not None:
            query = query.where(incidents.c.service.in_(services))
        if due_before is not None:
            query = query.where(tasks.c.due_at.is_not(None), tasks.c.due_at < due_before)
        query = query.order_by(tasks.c.due_at.is_(None), tasks.c.due_at, tasks.c.id).limit(limit)
        rows = await self.conn.execute(query)
        return [dict(r) for r in rows.mappings()]
