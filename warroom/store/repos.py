"""Repositories for incidents, alerts, timeline and links, bound to one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from warroom.core.model import (
    AlertIn,
    AlertStatus,
    Incident,
    Link,
    LinkKind,
    Origin,
    Status,
    TimelineEvent,
    Urgency,
)

from .schema import alerts, inbox, incidents, links, timeline, webhook_policies


def upsert_insert(dialect: str, table: Any) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def incident_from_row(row: RowMapping) -> Incident:
    return Incident(
        id=row["id"],
        title=row["title"],
        status=Status(row["status"]),
        priority=row["priority"],
        urgency=Urgency(row["urgency"]),
        service=row["service"],
        details=row["details"],
        assignee=row["assignee"],
        origin=Origin(row["origin"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        acknowledged_at=row["acknowledged_at"],
        resolved_at=row["resolved_at"],
        version=row["version"],
        merged_into=row.get("merged_into"),
    )


class IncidentRepo:
    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.conn = conn
        self.now = now

    async def create(
        self,
        *,
        title: str,
        service: str,
        priority: str | None,
        urgency: Urgency,
        details: str,
        assignee: str | None,
        origin: Origin,
        alert_group: str | None = None,
    ) -> Incident:
        result = await self.conn.execute(
            insert(incidents)
            .values(
                title=title[:255],
                status=Status.TRIGGERED.value,
                priority=priority,
                urgency=urgency.value,
                service=service,
                details=details,
                assignee=assignee,
                origin=origin.value,
                alert_group=alert_group,
                created_at=self.now,
                updated_at=self.now,
                version=0,
            )
            .returning(*incidents.c)
        )
        return incident_from_row(result.mappings().one())

    async def get(self, incident_id: int, *, lock: bool = False) -> Incident | None:
        query = select(incidents).where(incidents.c.id == incident_id)
        if lock:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).mappings().first()
        return incident_from_row(row) if row else None

    async def lock(self, incident_id: int) -> None:
        """Take the incident's row lock until commit: serialises the transactions that record results of its jobs
        (each then sees the others' links). A no-op where writes are serial anyway (SQLite)."""
        await self.get(incident_id, lock=True)

    async def open_for_alert_group(self, service: str, *, lock: bool = False) -> Incident | None:
        query = select(incidents).where(incidents.c.alert_group == service)
        if lock:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).mappings().first()
        return incident_from_row(row) if row else None

    async def update(self, incident_id: int, **values: Any) -> Incident:
        """Change fields, bump the version; returns the new state."""
        for key in ("status", "urgency", "origin"):
            if key in values and hasattr(values[key], "value"):
                values[key] = values[key].value
        result = await self.conn.execute(
            update(incidents)
            .where(incidents.c.id == incident_id)
            .values(**values, updated_at=self.now, version=incidents.c.version + 1)
            .returning(*incidents.c)
        )
        return incident_from_row(result.mappings().one())

    async def list(self, *, limit: int = 100, open_only: bool = False, service: str | None = None) -> list[Incident]:
        """The newest incidents first; ``open_only``: not resolved; ``service``: of that service only."""
        query = select(incidents)
        if open_only:
            query = query.where(incidents.c.status != Status.RESOLVED.value)
        if service is not None:
            query = query.where(incidents.c.service == service)
        rows = (await self.conn.execute(query.order_by(incidents.c.id.desc()).limit(limit))).mappings()
        return [incident_from_row(r) for r in rows]

    async def count(self) -> int:
        return int((await self.conn.execute(select(func.count()).select_from(incidents))).scalar_one())


class AlertRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def record(self, alert: AlertIn, priority: str | None) -> tuple[int, str, int | None]:
        """Store an alert occurrence, deduplicated by (source, fingerprint, startsAt).

        Returns (alert id, what happened, its incident): "new" for a first firing, "repeat" for a duplicate of a
        firing one, "resolved" when a firing alert resolves, "refired" when a resolved one fires again with the
        same occurrence, "stale" for a resolution of an alert never seen or already resolved. A repeat — the
        common case, Alertmanager re-sends every group — costs one statement.
        """
        occurrence = alert.starts_at.isoformat() if alert.starts_at else ""
        key = (alerts.c.source == alert.source) & (alerts.c.fingerprint == alert.fingerprint) & (
            alerts.c.occurrence == occurrence
        )
        values = {
            "name": alert.name[:255],
            "summary": alert.summary,
            "service": alert.service,
            "severity": alert.severity,
            "priority": priority,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "generator_url": alert.generator_url,
            "starts_at": alert.starts_at,
            "ends_at": alert.ends_at,
            "updated_at": self.now,
        }
        firing = alert.status is AlertStatus.FIRING
        same = (
            await self.conn.execute(
                update(alerts)
                .where(key, alerts.c.status == alert.status.value)
                .values(repeats=alerts.c.repeats + 1, **values)
                .returning(alerts.c.id, alerts.c.incident_id)
            )
        ).first()
        if same is not None:
            return int(same.id), ("repeat" if firing else "stale"), same.incident_id
        ins = (
            upsert_insert(self.dialect, alerts)
            .values(
                source=alert.source,
                fingerprint=alert.fingerprint,
                occurrence=occurrence,
                status=alert.status.value,
                received_at=self.now,
                repeats=0,
                **values,
            )
            .on_conflict_do_nothing(index_elements=["source", "fingerprint", "occurrence"])
            .returning(alerts.c.id)
        )
        new_id = (await self.conn.execute(ins)).scalar()
        if new_id is not None:
            return int(new_id), ("new" if firing else "stale"), None
        changed = (
            await self.conn.execute(
                update(alerts)
                .where(key, alerts.c.status != alert.status.value)
                .values(status=alert.status.value, repeats=alerts.c.repeats + 1, **values)
                .returning(alerts.c.id, alerts.c.incident_id)
            )
        ).first()
        if changed is None:
            # a concurrent delivery of the same alert got in first: this one is its duplicate
            again = (await self.conn.execute(
                update(alerts).where(key).values(repeats=alerts.c.repeats + 1).returning(alerts.c.id, alerts.c.incident_id)
            )).one()
            return int(again.id), ("repeat" if firing else "stale"), again.incident_id
        return int(changed.id), ("refired" if firing else "resolved"), changed.incident_id

    async def unannounced(self, incident_id: int) -> list[dict[str, Any]]:
        """The incident's alerts whose status differs from what the war room was last told."""
        rows = await self.conn.execute(
            select(alerts.c.id, alerts.c.name, alerts.c.status)
            .where(alerts.c.incident_id == incident_id)
            .where((alerts.c.announced.is_(None)) | (alerts.c.announced != alerts.c.status))
            .order_by(alerts.c.id)
        )
        return [dict(r) for r in rows.mappings()]

    async def mark_announced(self, told: list[tuple[int, str]]) -> None:
        """Record what the war room was told; an alert that changed again since stays unannounced."""
        for alert_id, status in told:
            await self.conn.execute(
                update(alerts).where(alerts.c.id == alert_id, alerts.c.status == status).values(announced=status)
            )

    async def attach(self, alert_ids: list[int], incident_id: int) -> None:
        if alert_ids:
            await self.conn.execute(
                update(alerts).where(alerts.c.id.in_(alert_ids)).values(incident_id=incident_id)
            )

    async def get(self, alert_id: int) -> dict[str, Any]:
        row = (await self.conn.execute(select(alerts).where(alerts.c.id == alert_id))).mappings().one()
        return dict(row)

    async def unattached_firing(self, service: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(alerts)
            .where(alerts.c.service == service)
            .where(alerts.c.status == AlertStatus.FIRING.value)
            .where(alerts.c.incident_id.is_(None))
            .order_by(alerts.c.id)
        )
        return [dict(r) for r in rows.mappings()]

    async def for_incident(self, incident_id: int) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            select(alerts).where(alerts.c.incident_id == incident_id).order_by(alerts.c.id)
        )
        return [dict(r) for r in rows.mappings()]

    async def of_services_between(
        self, services: list[str], since: datetime, until: datetime, *, besides: int, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Alerts of ``services`` that began (``starts_at``, else when received) from ``since`` to ``until`` — or
        earlier and still firing at ``since`` (a dependency broken for hours is broken now) — in any incident but
        ``besides`` or in none; the earliest first, at most ``limit``."""
        if not services:
            return []
        began = func.coalesce(alerts.c.starts_at, alerts.c.received_at)
        still_firing = (alerts.c.ends_at >= since) | ((alerts.c.ends_at.is_(None)) & (alerts.c.status == "firing"))
        rows = await self.conn.execute(
            select(alerts)
            .where(alerts.c.service.in_(services), began <= until, (began >= since) | still_firing)
            .where((alerts.c.incident_id.is_(None)) | (alerts.c.incident_id != besides))
            .order_by(began, alerts.c.id)
            .limit(limit)
        )
        return [dict(r) for r in rows.mappings()]

    async def count(self) -> int:
        return int((await self.conn.execute(select(func.count()).select_from(alerts))).scalar_one())


class TimelineRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str = "sqlite") -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def add(
        self, incident_id: int, kind: str, text: str, *, actor: str | None = None, data: dict[str, Any] | None = None,
        source_key: str | None = None,
    ) -> None:
        await self.conn.execute(
            insert(timeline).values(
                incident_id=incident_id, at=self.now, kind=kind, actor=actor, text=text, data=data or {},
                source_key=source_key,
            )
        )

    async def record_message(
        self, incident_id: int, source_key: str, text: str, *, actor: str | None, kind: str = "discussion",
        data: dict[str, Any] | None = None,
    ) -> bool:
        """A chat message of the war room on the timeline, once per ``source_key`` (a redelivered event is not
        a second message). True when it was new."""
        stmt = (
            upsert_insert(self.dialect, timeline)
            .values(incident_id=incident_id, at=self.now, kind=kind, actor=actor, text=text, data=data or {},
                    source_key=source_key)
            .on_conflict_do_nothing(index_elements=["source_key"])
            .returning(timeline.c.id)
        )
        return (await self.conn.execute(stmt)).scalar() is not None

    async def edit_message(self, source_key: str, text: str) -> bool:
        """Honour an edit of a recorded chat message: the text is replaced, the edit noted. False if unknown."""
        row = (await self.conn.execute(
            select(timeline.c.id, timeline.c.data).where(timeline.c.source_key == source_key)
        )).first()
        if row is None:
            return False
        data = {**(row.data or {}), "edited_at": self.now.isoformat()}
        await self.conn.execute(update(timeline).where(timeline.c.id == row.id).values(text=text, data=data))
        return True

    async def delete_message(self, source_key: str) -> bool:
        """Honour a deletion: the message leaves the timeline (what the AI and the postmortem read)."""
        result = await self.conn.execute(delete(timeline).where(timeline.c.source_key == source_key))
        return bool(result.rowcount)

    async def itsm_note_ids(self, incident_id: int) -> set[int]:
        """Ids of the linked request's notes already matched to this incident's notes (either direction)."""
        rows = await self.conn.execute(
            select(timeline.c.data).where(timeline.c.incident_id == incident_id, timeline.c.kind == "note")
        )
        return {int(d["itsm_note_id"]) for (d,) in rows if d and d.get("itsm_note_id")}

    async def notes_to_push(self, incident_id: int) -> list[dict[str, Any]]:
        """The incident's own notes (and role changes, which the request gets as notes) not yet on the linked
        request, oldest first."""
        rows = await self.conn.execute(
            select(timeline)
            .where(timeline.c.incident_id == incident_id, timeline.c.kind.in_(("note", "role")))
            .order_by(timeline.c.id)
        )
        return [
            dict(r) for r in rows.mappings()
            if (r["data"] or {}).get("origin") == "imr" and not (r["data"] or {}).get("itsm_note_id")
        ]

    async def merge_data(self, event_id: int, data: dict[str, Any]) -> None:
        row = (await self.conn.execute(select(timeline.c.data).where(timeline.c.id == event_id))).one()
        await self.conn.execute(update(timeline).where(timeline.c.id == event_id).values(data={**(row.data or {}), **data}))

    async def for_incident(self, incident_id: int) -> list[TimelineEvent]:
        rows = await self.conn.execute(
            select(timeline).where(timeline.c.incident_id == incident_id).order_by(timeline.c.id)
        )
        return [
            TimelineEvent(
                incident_id=r["incident_id"], at=r["at"], kind=r["kind"], text=r["text"], actor=r["actor"], data=r["data"],
                id=r["id"],
            )
            for r in rows.mappings()
        ]


class LinkRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def put(
        self, incident_id: int, kind: LinkKind, remote_id: str, url: str | None, data: dict[str, Any] | None = None
    ) -> Link:
        """Record (or replace) the incident's link of this kind."""
        stmt = upsert_insert(self.dialect, links).values(
            incident_id=incident_id,
            kind=kind.value,
            remote_id=remote_id,
            url=url,
            data=data or {},
            created_at=self.now,
            updated_at=self.now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["incident_id", "kind"],
            set_={"remote_id": remote_id, "url": url, "data": data or {}, "updated_at": self.now},
        )
        await self.conn.execute(stmt)
        return Link(incident_id, kind, remote_id, url, data or {})

    async def all(self, incident_id: int) -> dict[LinkKind, Link]:
        rows = await self.conn.execute(select(links).where(links.c.incident_id == incident_id))
        return {
            LinkKind(r["kind"]): Link(r["incident_id"], LinkKind(r["kind"]), r["remote_id"], r["url"], r["data"])
            for r in rows.mappings()
        }

    async def get(self, incident_id: int, kind: LinkKind) -> Link | None:
        return (await self.all(incident_id)).get(kind)

    async def live_of_kind(self, kind: LinkKind, resolved_since: datetime) -> list[Link]:
        """The links of this kind whose incident is open, or was resolved since the given time (its record can
        still be reopened on the other side)."""
        rows = await self.conn.execute(
            select(links)
            .join(incidents, incidents.c.id == links.c.incident_id)
            .where(links.c.kind == kind.value)
            .where((incidents.c.status != Status.RESOLVED.value) | (incidents.c.resolved_at >= resolved_since))
        )
        return [Link(r["incident_id"], kind, r["remote_id"], r["url"], r["data"]) for r in rows.mappings()]

    async def find(self, kind: LinkKind, remote_id: str) -> Link | None:
        row = (
            await self.conn.execute(select(links).where(links.c.kind == kind.value, links.c.remote_id == remote_id))
        ).mappings().first()
        if row is None:
            return None
        return Link(row["incident_id"], kind, row["remote_id"], row["url"], row["data"])


class InboxRepo:
    """Deliveries already taken in, so that a repeated webhook is applied once."""

    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    async def remember(self, source: str, key: str) -> bool:
        """True the first time (source, key) is seen; False for a repeat."""
        stmt = (
            upsert_insert(self.dialect, inbox)
            .values(source=source, key=key[:255], received_at=self.now)
            .on_conflict_do_nothing(index_elements=["source", "key"])
            .returning(inbox.c.id)
        )
        return (await self.conn.execute(stmt)).scalar() is not None


class PolicyRepo:
    def __init__(self, conn: AsyncConnection, now: datetime) -> None:
        self.conn = conn
        self.now = now

    async def put(self, remote_id: str, algorithm: str, issuer: str, audience: str, key: str) -> None:
        await self.conn.execute(
            insert(webhook_policies).values(
                remote_id=remote_id, algorithm=algorithm, issuer=issuer, audience=audience, key=key, created_at=self.now
            )
        )

    async def all(self) -> list[dict[str, Any]]:
        rows = await self.conn.execute(select(webhook_policies).order_by(webhook_policies.c.id.desc()))
        return [dict(r) for r in rows.mappings()]
