"""On-call records: overrides asked for in chat, escalations, the notifications they send, round-robin turns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .repos import upsert_insert
from .schema import escalations, notifications, oncall_overrides, oncall_turns

#: Escalation states that are over: nothing more is sent.
ENDED = frozenset({"acknowledged", "resolved", "exhausted", "stopped"})


@dataclass(frozen=True, slots=True)
class OverrideRow:
    id: int
    schedule: str
    email: str
    starts_at: datetime
    ends_at: datetime
    note: str
    created_by: str | None


class OverrideRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def add(self, schedule: str, email: str, starts_at: datetime, ends_at: datetime, *, note: str = "",
                  by: str | None) -> int:
        row = await self.conn.execute(
            oncall_overrides.insert()
            .values(schedule=schedule, email=email.lower(), starts_at=starts_at, ends_at=ends_at, note=note[:500],
                    created_by=by, created_at=self.now)
            .returning(oncall_overrides.c.id)
        )
        return int(row.scalar_one())

    async def current(self, schedule: str | None = None, *, since: datetime | None = None) -> list[OverrideRow]:
        """Overrides not removed that end after ``since`` (default now), oldest first; of one schedule or all."""
        cond = [oncall_overrides.c.removed_at.is_(None), oncall_overrides.c.ends_at > (since or self.now)]
        if schedule is not None:
            cond.append(oncall_overrides.c.schedule == schedule)
        rows = await self.conn.execute(select(oncall_overrides).where(*cond).order_by(oncall_overrides.c.id))
        return [OverrideRow(r["id"], r["schedule"], r["email"], r["starts_at"], r["ends_at"], r["note"], r["created_by"])
                for r in rows.mappings()]

    async def remove(self, override_id: int, *, by: str | None) -> bool:
        result = await self.conn.execute(
            update(oncall_overrides)
            .where(oncall_overrides.c.id == override_id, oncall_overrides.c.removed_at.is_(None))
            .values(removed_at=self.now, removed_by=by)
        )
        return bool(result.rowcount)


class EscalationRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def start(self, incident_id: int, policy: str, snapshot: dict[str, Any], urgency: str) -> int | None:
        """A new active escalation for the incident, or None when it has one (running or ended) already."""
        stmt = (
            upsert_insert(self.dialect, escalations)
            .values(incident_id=incident_id, policy=policy, snapshot=snapshot, urgency=urgency, state="active",
                    step=0, round=0, first_round=0, started_at=self.now, updated_at=self.now)
            .on_conflict_do_nothing(index_elements=["incident_id"])
            .returning(escalations.c.id)
        )
        value = (await self.conn.execute(stmt)).scalar()
        return None if value is None else int(value)

    async def restart(self, incident_id: int, policy: str, snapshot: dict[str, Any], urgency: str) -> int | None:
        """Start again from the first step an escalation that has ended (a reopened incident); None if active."""
        row = await self.get(incident_id, lock=True)
        if row is None:
            return await self.start(incident_id, policy, snapshot, urgency)
        if row["state"] == "active":
            return None
        await self.conn.execute(
            update(escalations).where(escalations.c.id == row["id"])
            .values(policy=policy, snapshot=snapshot, urgency=urgency, state="active", step=0,
                    round=int(row["round"]) + 1, first_round=int(row["round"]) + 1, updated_at=self.now,
                    ended_at=None, ended_by=None, reason=None)
        )
        return int(row["id"])

    async def get(self, incident_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(escalations).where(escalations.c.incident_id == incident_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return dict(row) if row else None

    async def by_id(self, escalation_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(escalations).where(escalations.c.id == escalation_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return dict(row) if row else None

    async def move(self, escalation_id: int, *, step: int, round: int) -> None:
        await self.conn.execute(
            update(escalations).where(escalations.c.id == escalation_id)
            .values(step=step, round=round, updated_at=self.now)
        )

    async def end(self, incident_id: int, state: str, *, by: str | None = None, reason: str | None = None) -> bool:
        """End the incident's escalation if it is active; True when it was."""
        assert state in ENDED
        result = await self.conn.execute(
            update(escalations)
            .where(escalations.c.incident_id == incident_id, escalations.c.state == "active")
            .values(state=state, ended_at=self.now, ended_by=by, reason=reason, updated_at=self.now)
        )
        return bool(result.rowcount)


class NotificationRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def plan(self, *, incident_id: int, escalation_id: int | None, round: int, step: int, email: str,
                   method: str, address: str | None, due_at: datetime) -> int | None:
        """A pending notification; None when this run of this step planned it already (a step run again)."""
        stmt = (
            upsert_insert(self.dialect, notifications)
            .values(incident_id=incident_id, escalation_id=escalation_id, round=round, step=step, email=email,
                    method=method, address=address, due_at=due_at, state="pending", attempts=0, created_at=self.now)
            .on_conflict_do_nothing(index_elements=["escalation_id", "round", "step", "email", "method"])
            .returning(notifications.c.id)
        )
        value = (await self.conn.execute(stmt)).scalar()
        return None if value is None else int(value)

    async def get(self, notification_id: int, *, lock: bool = False) -> dict[str, Any] | None:
        stmt = select(notifications).where(notifications.c.id == notification_id)
        if lock and self.dialect == "postgresql":
            stmt = stmt.with_for_update()
        row = (await self.conn.execute(stmt)).mappings().first()
        return dict(row) if row else None

    async def by_provider_id(self, provider_id: str) -> dict[str, Any] | None:
        row = (await self.conn.execute(
            select(notifications).where(notifications.c.provider_id == provider_id))).mappings().first()
        return dict(row) if row else None

    async def of_incident(self, incident_id: int) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(notifications).where(notifications.c.incident_id == incident_id).order_by(notifications.c.id))
        return [dict(r) for r in rows.mappings()]

    async def later_of(self, notification: dict[str, Any]) -> list[dict[str, Any]]:
        """The same person's pending notifications of the same step run, earliest first."""
        n = notifications.c
        rows = await self.conn.execute(
            select(notifications).where(
                n.escalation_id == notification["escalation_id"], n.round == notification["round"],
                n.step == notification["step"], n.email == notification["email"], n.state == "pending",
                n.id != notification["id"],
            ).order_by(n.due_at, n.id)
        )
        return [dict(r) for r in rows.mappings()]

    async def reached(self, notification: dict[str, Any]) -> bool:
        """Whether another method of the same person, step run, went out."""
        return await self._any(notification, person=True, states=("sent", "delivered"))

    async def anyone_reached(self, notification: dict[str, Any]) -> bool:
        """Whether anyone of the same step run was reached, or may still be."""
        return await self._any(notification, person=False, states=("sent", "delivered", "pending", "sending"))

    async def _any(self, notification: dict[str, Any], *, person: bool, states: tuple[str, ...]) -> bool:
        n = notifications.c
        cond = [n.escalation_id == notification["escalation_id"], n.round == notification["round"],
                n.step == notification["step"], n.state.in_(states), n.id != notification["id"]]
        if person:
            cond.append(n.email == notification["email"])
        return (await self.conn.execute(select(n.id).where(*cond).limit(1))).first() is not None

    async def set(self, notification_id: int, **values: Any) -> None:
        await self.conn.execute(update(notifications).where(notifications.c.id == notification_id).values(**values))

    async def cancel_pending(self, incident_id: int) -> list[int]:
        """Cancel what has not gone out yet; the ids cancelled (their timers are to be dropped)."""
        n = notifications.c
        rows = await self.conn.execute(
            select(n.id).where(n.incident_id == incident_id, n.state == "pending"))
        ids = [int(r) for r in rows.scalars()]
        if ids:
            await self.conn.execute(update(notifications).where(n.id.in_(ids)).values(state="cancelled"))
        return ids

    async def use(self, notification_id: int) -> bool:
        """Mark an acknowledge link used; False when it was used before (links work once)."""
        result = await self.conn.execute(
            update(notifications)
            .where(and_(notifications.c.id == notification_id, notifications.c.used_at.is_(None)))
            .values(used_at=self.now)
        )
        return bool(result.rowcount)


class TurnRepo:
    """Round-robin counters: ``take`` returns the turn and moves the counter on, in the caller's transaction."""

    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.dialect = dialect

    async def take(self, key: str) -> int:
        stmt = upsert_insert(self.dialect, oncall_turns).values(key=key[:255], turn=1)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={"turn": oncall_turns.c.turn + 1})
        await self.conn.execute(stmt.returning(oncall_turns.c.turn))
        row = (await self.conn.execute(select(oncall_turns.c.turn).where(oncall_turns.c.key == key[:255]))).scalar_one()
        return int(row) - 1
