"""On-call settings for the sandbox world, and moving an escalation's delayed jobs to now (as if the minutes had
passed) — never waiting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from warroom.core.jobs import ONCALL_NOTIFY, ONCALL_STEP
from warroom.sandbox.harness import Harness
from warroom.store.schema import escalations, notifications, outbox


def oncall(*, steps: list[dict[str, Any]] | None = None, repeat: int = 0, people: list[dict[str, Any]] | None = None,
           extra: Callable[[dict[str, Any]], None] | None = None) -> Callable[[dict[str, Any]], None]:
    """A tweak: checkout-api pages policy ``checkout`` — by default ana's schedule (ana on call all the time), then
    ben five minutes later."""

    def apply(data: dict[str, Any]) -> None:
        data["oncall"] = {
            "schedules": [{"name": "checkout-primary", "team": "checkout", "time_zone": "Europe/London",
                           "layers": [{"name": "always ana", "users": ["ana@example.com"],
                                       "rotation_start": "2026-01-05T09:00", "handoff": "weekly"}]}],
            "escalation_policies": [{"name": "checkout", "repeat": repeat, "steps": steps or [
                {"notify": {"schedules": ["checkout-primary"]}, "wait_minutes": 5},
                {"notify": {"users": ["ben@example.com"]}, "wait_minutes": 10},
            ]}],
            "people": people or [],
        }
        data["services"][0]["escalation_policy"] = "checkout"
        if extra is not None:
            extra(data)

    return apply


async def make_due(h: Harness, kind: str = ONCALL_STEP) -> int:
    """Move the pending jobs of ``kind`` to now; how many there were."""
    async with h.runtime.store.tx() as tx:
        result = await tx.conn.execute(
            update(outbox).where(outbox.c.kind == kind, outbox.c.status == "pending").values(run_at=tx.now))
        return int(result.rowcount)


async def make_notifications_due(h: Harness) -> int:
    return await make_due(h, ONCALL_NOTIFY)


async def escalation(h: Harness, incident: int) -> dict[str, Any]:
    async with h.runtime.store.read() as tx:
        row = (await tx.conn.execute(select(escalations).where(escalations.c.incident_id == incident))).mappings().one()
        return dict(row)


async def sent(h: Harness, incident: int) -> list[tuple[str, str, str]]:
    """(email, method, state) of the incident's notifications, in order."""
    async with h.runtime.store.read() as tx:
        rows = await tx.conn.execute(select(notifications.c.email, notifications.c.method, notifications.c.state)
                                     .where(notifications.c.incident_id == incident).order_by(notifications.c.id))
        return [(str(a), str(b), str(c)) for a, b, c in rows]
