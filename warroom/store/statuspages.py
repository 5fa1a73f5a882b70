"""Status pages in the database: each component's status history, and the incidents a page shows with their
published updates (warroom.response.statuspages decides what changes; warroom.web.statuspages reads it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import (
    incidents,
    status_component_history,
    status_maintenances,
    status_page_incidents,
    status_page_updates,
)

OPERATIONAL = "operational"

hist = status_component_history
pinc = status_page_incidents
upd = status_page_updates
mnt = status_maintenances


class StatusPageRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect
        #: Whether this transaction changed what a page shows.
        self.changed = False

    # -- components -----------------------------------------------------------------------------------------
    async def current(self, page: str) -> dict[str, str]:
        """Component → its status now (components with no row are operational)."""
        rows = await self.conn.execute(
            select(hist.c.component, hist.c.status).where(hist.c.page == page, hist.c.ended_at.is_(None))
        )
        return {str(c): str(s) for c, s in rows}

    async def set_status(self, page: str, component: str, status: str, incident_id: int | None) -> bool:
        """Make ``status`` the component's status now (the open row is closed, a new one opened); False when it had
        that status already."""
        row = (
            await self.conn.execute(
                select(hist.c.id, hist.c.status).where(
                    hist.c.page == page, hist.c.component == component, hist.c.ended_at.is_(None)
                )
            )
        ).first()
        if (row[1] if row is not None else OPERATIONAL) == status:
            return False
        self.changed = True
        if row is not None:
            await self.conn.execute(update(hist).where(hist.c.id == row[0]).values(ended_at=self.now))
        await self.conn.execute(
            insert(hist).values(page=page, component=component, status=status, started_at=self.now,
                                incident_id=incident_id)
        )
        return True

    async def history(self, page: str, since: datetime) -> list[dict[str, Any]]:
        """The rows of ``page`` that were open at or after ``since``, oldest first."""
        rows = await self.conn.execute(
            select(hist.c.component, hist.c.status, hist.c.started_at, hist.c.ended_at)
            .where(hist.c.page == page, (hist.c.ended_at.is_(None)) | (hist.c.ended_at >= since))
            .order_by(hist.c.id)
        )
        return [dict(r) for r in rows.mappings()]

    async def open_incidents(self, services: Iterable[str]) -> list[tuple[int, str, str | None]]:
        """(id, service, priority) of the unresolved incidents of ``services`` (duplicates merged away excluded)."""
        names = list(services)
        if not names:
            return []
        rows = await self.conn.execute(
            select(incidents.c.id, incidents.c.service, incidents.c.priority).where(
                incidents.c.service.in_(names), incidents.c.status != "resolved", incidents.c.merged_into.is_(None)
            )
        )
        return [(int(i), str(s), p) for i, s, p in rows]

    # -- incidents and updates ----------------------------------------------------------------------------------
    async def page_incident(self, page: str, incident_id: int) -> dict[str, Any] | None:
        row = (
            await self.conn.execute(select(pinc).where(pinc.c.page == page, pinc.c.incident_id == incident_id))
        ).mappings().first()
        return dict(row) if row is not None else None

    async def add_update(
        self, page: str, incident_id: int, status: str, body: str, by: str | None, *, name: str
    ) -> int:
        """Publish an update: the page's incident is created with its first one; returns the update's id."""
        self.changed = True
        found = await self.page_incident(page, incident_id)
        resolved_at = self.now if status == "resolved" else None
        if found is None:
            result = await self.conn.execute(
                insert(pinc).values(page=page, incident_id=incident_id, name=name, status=status,
                                    created_at=self.now, updated_at=self.now, resolved_at=resolved_at)
            )
            page_incident_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        else:
            page_incident_id = int(found["id"])
            await self.conn.execute(
                update(pinc).where(pinc.c.id == page_incident_id)
                .values(status=status, updated_at=self.now, resolved_at=resolved_at)
            )
        result = await self.conn.execute(
            insert(upd).values(page_incident_id=page_incident_id, status=status, body=body, published_at=self.now,
                               published_by=by)
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def incidents(self, page: str, *, active: bool | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The page's incidents, newest first, each with its incident's ``service`` (for scoped pages; never shown)
        and ``updates`` (newest first)."""
        query = (
            select(pinc.c.id, pinc.c.name, pinc.c.status, pinc.c.created_at, pinc.c.updated_at, pinc.c.resolved_at,
                   incidents.c.service)
            .select_from(pinc.join(incidents, pinc.c.incident_id == incidents.c.id))
            .where(pinc.c.page == page)
        )
        if active is True:
            query = query.where(pinc.c.status != "resolved")
        elif active is False:
            query = query.where(pinc.c.status == "resolved")
        rows = [dict(r) for r in (await self.conn.execute(query.order_by(pinc.c.id.desc()).limit(limit))).mappings()]
        if not rows:
            return rows
        ids = [int(r["id"]) for r in rows]
        updates: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        found = await self.conn.execute(
            select(upd.c.id, upd.c.page_incident_id, upd.c.status, upd.c.body, upd.c.published_at)
            .where(upd.c.page_incident_id.in_(ids)).order_by(upd.c.id.desc())
        )
        for u in found.mappings():
            updates[int(u["page_incident_id"])].append(dict(u))
        for r in rows:
            r["updates"] = updates[int(r["id"])]
        return rows

    async def version(self, page: str) -> tuple[int, ...]:
        """Changes whenever anything the page shows changes: the history rows and updates (newest and how many), and the
        page's maintenance windows (how many, and the newest change to one — each change stamps ``updated_at``)."""
        # counts as well as the newest ids: on PostgreSQL a lower id can commit after a higher one, which leaves
        # the newest id where it was — the count moves all the same (rows are only ever added)
        changed, rows = (
            await self.conn.execute(select(func.max(hist.c.id), func.count(hist.c.id)).where(hist.c.page == page))
        ).one()
        published, updates = (
            await self.conn.execute(
                select(func.max(upd.c.id), func.count(upd.c.id))
                .select_from(upd.join(pinc, upd.c.page_incident_id == pinc.c.id))
                .where(pinc.c.page == page)
            )
        ).one()
        windows, touched = (
            await self.conn.execute(select(func.count(mnt.c.id), func.max(mnt.c.updated_at)).where(mnt.c.page == page))
        ).one()
        stamp = int(touched.timestamp() * 1_000_000) if isinstance(touched, datetime) else 0
        return int(changed or 0), int(rows or 0), int(published or 0), int(updates or 0), int(windows or 0), stamp

    # -- scheduled maintenance ------------------------------------------------------------------------------------
    async def add_maintenance(
        self, page: str, title: str, body: str, components: list[str], starts_at: datetime, ends_at: datetime,
        by: str | None,
    ) -> int:
        """A new maintenance window, ``scheduled``; returns its id."""
        self.changed = True
        result = await self.conn.execute(
            insert(mnt).values(page=page, title=title, body=body, components=list(components), starts_at=starts_at,
                               ends_at=ends_at, state="scheduled", created_by=by, created_at=self.now,
                               updated_at=self.now)
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def maintenance(self, maintenance_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        """One maintenance window (``lock``: held until the transaction ends, on PostgreSQL)."""
        query = select(mnt).where(mnt.c.id == maintenance_id)
        if lock and self.dialect == "postgresql":
            query = query.with_for_update()
        row = (await self.conn.execute(query)).mappings().first()
        return dict(row) if row is not None else None

    async def change_maintenance(self, maintenance_id: int, **values: Any) -> None:
        """Change a window's columns (``state``, ``ends_at``, ``title``, ``body`` …); stamps ``updated_at``."""
        self.changed = True
        await self.conn.execute(update(mnt).where(mnt.c.id == maintenance_id).values(**values, updated_at=self.now))

    async def maintenances(
        self, page: str, *, states: Iterable[str] | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The page's maintenance windows, the latest to start first (``states``: only those)."""
        query = select(mnt).where(mnt.c.page == page)
        if states is not None:
            query = query.where(mnt.c.state.in_(list(states)))
        rows = await self.conn.execute(query.order_by(mnt.c.starts_at.desc(), mnt.c.id.desc()).limit(limit))
        return [dict(r) for r in rows.mappings()]

    async def in_maintenance(self, page: str, component: str) -> bool:
        """Whether a window in progress on ``page`` covers ``component``."""
        rows = await self.conn.execute(
            select(mnt.c.components).where(mnt.c.page == page, mnt.c.state == "in_progress")
        )
        return any(component in (names or []) for (names,) in rows)
