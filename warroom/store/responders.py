"""Who is on an incident besides its assignee: role holders, stakeholders, and responders paged into it; and the
names the chats give people."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from warroom.core.model import RoleHolder, Stakeholder

from .repos import upsert_insert
from .schema import incident_roles, pages, people, stakeholders


class RoleRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def all(self, incident_id: int) -> dict[str, RoleHolder]:
        """Role key → holder."""
        rows = await self.conn.execute(
            select(incident_roles).where(incident_roles.c.incident_id == incident_id).order_by(incident_roles.c.id)
        )
        return {
            r["role"]: RoleHolder(r["role"], r["display"], r["email"], r["chat_user"]) for r in rows.mappings()
        }

    async def assign(self, incident_id: int, holder: RoleHolder, *, by: str | None) -> RoleHolder | None:
        """Give the role to ``holder``; returns who held it before (None if nobody)."""
        before = (await self.all(incident_id)).get(holder.role)
        values: dict[str, Any] = {
            "email": holder.email, "chat_user": holder.chat_user, "display": holder.display[:255],
            "assigned_by": by, "assigned_at": self.now,
        }
        stmt = upsert_insert(self.dialect, incident_roles).values(incident_id=incident_id, role=holder.role, **values)
        await self.conn.execute(stmt.on_conflict_do_update(index_elements=["incident_id", "role"], set_=values))
        return before

    async def move(self, from_incident: int, to_incident: int) -> None:
        """A merge: roles of the duplicate the surviving incident has nobody in are taken over."""
        held = await self.all(to_incident)
        for role, holder in (await self.all(from_incident)).items():
            if role not in held:
                await self.assign(to_incident, holder, by=None)
        await self.conn.execute(delete(incident_roles).where(incident_roles.c.incident_id == from_incident))


class StakeholderRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def add(self, incident_id: int, who: Stakeholder, *, by: str | None) -> bool:
        """True when they were not a stakeholder yet."""
        stmt = (
            upsert_insert(self.dialect, stakeholders)
            .values(incident_id=incident_id, kind=who.kind, ref=who.ref, display=who.display[:255], added_by=by,
                    added_at=self.now)
            .on_conflict_do_nothing(index_elements=["incident_id", "kind", "ref"])
            .returning(stakeholders.c.id)
        )
        return (await self.conn.execute(stmt)).scalar() is not None

    async def all(self, incident_id: int) -> list[Stakeholder]:
        rows = await self.conn.execute(
            select(stakeholders).where(stakeholders.c.incident_id == incident_id).order_by(stakeholders.c.id)
        )
        return [Stakeholder(r["kind"], r["ref"], r["display"]) for r in rows.mappings()]

    async def move(self, from_incident: int, to_incident: int) -> None:
        for who in await self.all(from_incident):
            await self.add(to_incident, who, by=None)
        await self.conn.execute(delete(stakeholders).where(stakeholders.c.incident_id == from_incident))


class PageRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def add(self, incident_id: int, email: str, display: str, *, by: str | None) -> bool:
        """True when the person was not paged into this incident yet."""
        stmt = (
            upsert_insert(self.dialect, pages)
            .values(incident_id=incident_id, email=email, display=display[:255], paged_by=by, paged_at=self.now,
                    notified=0)
            .on_conflict_do_nothing(index_elements=["incident_id", "email"])
            .returning(pages.c.id)
        )
        return (await self.conn.execute(stmt)).scalar() is not None

    async def all(self, incident_id: int) -> list[dict[str, Any]]:
        rows = await self.conn.execute(select(pages).where(pages.c.incident_id == incident_id).order_by(pages.c.id))
        return [dict(r) for r in rows.mappings()]

    async def notified(self, incident_id: int, emails: list[str]) -> None:
        await self.conn.execute(
            update(pages)
            .where(pages.c.incident_id == incident_id, pages.c.email.in_(emails))
            .values(notified=pages.c.notified + 1, last_notified_at=self.now)
        )


class PeopleRepo:
    """Chat user key → the name shown for them."""

    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def remember(self, key: str, name: str, *, stand_in: bool = False) -> None:
        """The name a chat shows for ``key``; ``stand_in``: only until one is known (a slash command's handle)."""
        name = " ".join(name.split())[:255]
        if not key or not name:
            return
        values = {"name": name, "updated_at": self.now}
        stmt = upsert_insert(self.dialect, people).values(key=key[:320], **values)
        if stand_in:
            await self.conn.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))
        else:
            await self.conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=values))

    async def names(self, keys: Iterable[str]) -> dict[str, str]:
        wanted = sorted({k for k in keys if k})
        if not wanted:
            return {}
        rows = await self.conn.execute(select(people.c.key, people.c.name).where(people.c.key.in_(wanted)))
        return {str(k): str(n) for k, n in rows}
