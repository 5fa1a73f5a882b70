"""A status page's subscribers and the deliveries of its published updates to them (warroom.response.statuspages
.subscribers decides who gets what; this module only reads and writes the rows).

- A subscriber (``status_subscribers``) is an email address — confirmed by a link before anything is sent to it; for
  an unconfirmed one, ``created_at`` is when its confirmation was last mailed — or a webhook (confirmed when it is
  added), with its signing secret and the owner told when it is disabled.
- A delivery (``status_deliveries``) is one published update for one subscriber — the pair is unique, so an update
  reaches a subscriber once — or one notice of a scheduled maintenance window (scheduled, reminder, started,
  completed, rescheduled, cancelled; with the window's reschedule it follows), unique the same way. ``state``: pending → sending (an attempt is under way: its outcome is unknown until
  it is recorded) → sent | failed | skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .schema import (
    TS,
    incidents,
    outbox,
    status_deliveries,
    status_maintenances,
    status_page_incidents,
    status_page_updates,
    status_subscribers,
)

sub = status_subscribers
dlv = status_deliveries
PENDING, SENDING, SENT, FAILED, SKIPPED = "pending", "sending", "sent", "failed", "skipped"
#: Deliveries that will not be attempted again.
FINISHED = (SENT, FAILED, SKIPPED)


class StatusSubscriberRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect

    # -- subscribers -----------------------------------------------------------------------------------------
    async def add(
        self, page: str, scope: str, kind: str, address: str, token: str, *, secret: str | None = None,
        owner: str | None = None, confirmed: bool = False,
    ) -> int:
        result = await self.conn.execute(
            insert(sub).values(page=page, scope=scope, kind=kind, address=address, token=token, secret=secret,
                               owner=owner, created_at=self.now, confirmed_at=self.now if confirmed else None,
                               failures=0)
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    async def find(self, page: str, scope: str, kind: str, address: str) -> dict[str, Any] | None:
        row = (await self.conn.execute(
            select(sub).where(sub.c.page == page, sub.c.scope == scope, sub.c.kind == kind, sub.c.address == address)
        )).mappings().first()
        return dict(row) if row is not None else None

    async def get(self, subscriber_id: int) -> dict[str, Any] | None:
        row = (await self.conn.execute(select(sub).where(sub.c.id == subscriber_id))).mappings().first()
        return dict(row) if row is not None else None

    async def by_token(self, token: str) -> dict[str, Any] | None:
        row = (await self.conn.execute(select(sub).where(sub.c.token == token))).mappings().first()
        return dict(row) if row is not None else None

    async def of_page(self, page: str | None = None) -> list[dict[str, Any]]:
        query = select(sub).order_by(sub.c.id)
        if page is not None:
            query = query.where(sub.c.page == page)
        return [dict(r) for r in (await self.conn.execute(query)).mappings()]

    async def confirm(self, subscriber_id: int) -> bool:
        """Confirm a subscriber; False when it was confirmed already."""
        result = await self.conn.execute(
            update(sub).where(sub.c.id == subscriber_id, sub.c.confirmed_at.is_(None)).values(confirmed_at=self.now)
        )
        return bool(result.rowcount)

    async def mailed(self, subscriber_id: int) -> None:
        """An unconfirmed subscriber's confirmation was mailed again now."""
        await self.conn.execute(update(sub).where(sub.c.id == subscriber_id).values(created_at=self.now))

    async def remove(self, subscriber_id: int) -> bool:
        """Forget a subscriber (its deliveries go with it); False when there was none."""
        result = await self.conn.execute(delete(sub).where(sub.c.id == subscriber_id))
        return bool(result.rowcount)

    async def failed_again(self, subscriber_id: int) -> int:
        """Count one more delivery failed for good in a row; returns how many now."""
        await self.conn.execute(update(sub).where(sub.c.id == subscriber_id).values(failures=sub.c.failures + 1))
        found = (await self.conn.execute(select(sub.c.failures).where(sub.c.id == subscriber_id))).scalar()
        return int(found or 0)

    async def succeeded(self, subscriber_id: int) -> None:
        await self.conn.execute(
            update(sub).where(sub.c.id == subscriber_id, sub.c.failures != 0).values(failures=0)
        )

    async def disable(self, subscriber_id: int, reason: str) -> bool:
        """Disable a subscriber and skip its deliveries still to go; False when it was disabled already (so that
        whatever follows a disabling happens once)."""
        result = await self.conn.execute(
            update(sub).where(sub.c.id == subscriber_id, sub.c.disabled_at.is_(None))
            .values(disabled_at=self.now, disabled_reason=reason[:2000])
        )
        if not result.rowcount:
            return False
        await self.conn.execute(
            update(dlv).where(dlv.c.subscriber_id == subscriber_id, dlv.c.state.in_((PENDING, SENDING)))
            .values(state=SKIPPED, last_error="the subscriber was disabled")
        )
        return True

    # -- deliveries ------------------------------------------------------------------------------------------
    async def fan_out(self, page: str, update_id: int, kind: str) -> int:
        """A pending delivery of update ``update_id`` to each active, confirmed subscriber of ``page``, and an
        outbox job ``kind`` ({"delivery": id}) for each — three statements whatever the number of subscribers. A
        subscriber's jobs share an ordering key: its updates arrive in the order they were published, a retried one
        holding back the next. Returns how many."""
        return await self._fan_out(page, {"update_id": update_id}, dlv.c.update_id == update_id, kind)

    async def fan_out_notice(
        self, page: str, maintenance_id: int, notice: str, revision: int, scopes: list[str], kind: str
    ) -> int:
        """A pending delivery of maintenance ``maintenance_id``'s ``notice`` (after its ``revision``-th reschedule)
        to each active, confirmed subscriber of ``page`` with no scope or one of ``scopes``, and an outbox job each,
        as :meth:`fan_out` makes them. A subscriber that has it already (the unique notice) gets no second one.
        Returns how many were made."""
        return await self._fan_out(
            page, {"maintenance_id": maintenance_id, "notice": notice, "revision": revision},
            (dlv.c.maintenance_id == maintenance_id) & (dlv.c.notice == notice) & (dlv.c.revision == revision), kind,
            scopes=scopes,
        )

    async def notice_revision(self, maintenance_id: int) -> int:
        """The highest revision a notice of the window was delivered under (0: none yet)."""
        found = (await self.conn.execute(
            select(func.max(dlv.c.revision)).where(dlv.c.maintenance_id == maintenance_id))).scalar()
        return int(found or 0)

    async def _fan_out(
        self, page: str, what: dict[str, Any], made_where: ColumnElement[bool], kind: str,
        scopes: list[str] | None = None,
    ) -> int:
        had = select(dlv.c.subscriber_id).where(made_where)
        active = select(sub.c.id, *(literal(v, dlv.c[k].type) for k, v in what.items()),
                        literal(PENDING), literal(0), literal(self.now, TS)).where(
            sub.c.page == page, sub.c.confirmed_at.is_not(None), sub.c.disabled_at.is_(None), sub.c.id.not_in(had)
        )
        if scopes is not None:
            active = active.where(or_(sub.c.scope == "", sub.c.scope.in_(scopes)))
        before = (await self.conn.execute(select(func.max(dlv.c.id)))).scalar()
        await self.conn.execute(
            insert(dlv).from_select(["subscriber_id", *what, "state", "attempts", "created_at"], active)
        )
        query = select(dlv.c.id, dlv.c.subscriber_id).where(made_where)
        if before is not None:
            query = query.where(dlv.c.id > before)
        made = (await self.conn.execute(query.order_by(dlv.c.id))).all()
        if made:
            await self.conn.execute(insert(outbox), [
                {"kind": kind, "payload": {"delivery": int(i)}, "ordering_key": f"status-subscriber:{s}",
                 "status": "pending", "attempts": 0, "run_at": self.now, "created_at": self.now,
                 "updated_at": self.now} for i, s in made
            ])
        return len(made)

    async def delivery(self, delivery_id: int) -> dict[str, Any] | None:
        """A delivery with what it delivers: the update (``update_status``, ``body``, ``published_at``), its page
        incident (``page_incident_id``, ``incident_name``, ``incident_status``), the incident's ``service`` — or, for
        a maintenance notice (``maintenance_id`` set), the window: its ``page``, ``title``, ``body``,
        ``components``, ``starts_at``, ``ends_at`` and ``maintenance_state``."""
        found = (await self.conn.execute(select(dlv.c.maintenance_id).where(dlv.c.id == delivery_id))).first()
        if found is None:
            return None
        if found[0] is not None:
            mnt = status_maintenances
            query = (
                select(dlv, mnt.c.page, mnt.c.title, mnt.c.body, mnt.c.components, mnt.c.starts_at, mnt.c.ends_at,
                       mnt.c.state.label("maintenance_state"))
                .select_from(dlv.join(mnt, dlv.c.maintenance_id == mnt.c.id)).where(dlv.c.id == delivery_id)
            )
        else:
            upd, pinc = status_page_updates, status_page_incidents
            query = (
                select(dlv, upd.c.status.label("update_status"), upd.c.body, upd.c.published_at,
                       pinc.c.id.label("page_incident_id"), pinc.c.name.label("incident_name"),
                       pinc.c.status.label("incident_status"), pinc.c.page, incidents.c.service)
                .select_from(dlv.join(upd, dlv.c.update_id == upd.c.id)
                             .join(pinc, upd.c.page_incident_id == pinc.c.id)
                             .join(incidents, pinc.c.incident_id == incidents.c.id))
                .where(dlv.c.id == delivery_id)
            )
        row = (await self.conn.execute(query)).mappings().first()
        return dict(row) if row is not None else None

    async def sending(self, delivery_id: int) -> int | None:
        """Mark an attempt at a delivery that is still to go; returns its number (None: it is finished)."""
        result = await self.conn.execute(
            update(dlv).where(dlv.c.id == delivery_id, dlv.c.state.in_((PENDING, SENDING)))
            .values(state=SENDING, attempts=dlv.c.attempts + 1)
        )
        if not result.rowcount:
            return None
        return int((await self.conn.execute(select(dlv.c.attempts).where(dlv.c.id == delivery_id))).scalar() or 0)

    async def finish(self, delivery_id: int, state: str, error: str | None = None) -> bool:
        """Record a delivery's outcome (sent, failed or skipped) unless it has one; False when it had."""
        values: dict[str, Any] = {"state": state, "last_error": error[:2000] if error else None}
        if state == SENT:
            values["sent_at"] = self.now
        result = await self.conn.execute(
            update(dlv).where(dlv.c.id == delivery_id, dlv.c.state.not_in(FINISHED)).values(**values)
        )
        return bool(result.rowcount)

    async def note_error(self, delivery_id: int, error: str) -> None:
        """An attempt failed and will be tried again."""
        await self.conn.execute(update(dlv).where(dlv.c.id == delivery_id).values(last_error=error[:2000]))

    async def deliveries(self, subscriber_id: int | None = None) -> list[dict[str, Any]]:
        query = select(dlv).order_by(dlv.c.id)
        if subscriber_id is not None:
            query = query.where(dlv.c.subscriber_id == subscriber_id)
        return [dict(r) for r in (await self.conn.execute(query)).mappings()]


def older_than(now: datetime, value: datetime, seconds: float) -> bool:
    """Whether ``value`` is more than ``seconds`` before ``now``."""
    return now - value > timedelta(seconds=seconds)
