"""Schedules as they are in effect: the YAML schedule with the overrides asked for in chat above its own."""

from __future__ import annotations

from datetime import datetime

from warroom.oncall import Override, Schedule, on_call_at
from warroom.settings import Settings
from warroom.store.db import Tx
from warroom.store.oncall import OverrideRow


def with_overrides(schedule: Schedule, rows: list[OverrideRow]) -> Schedule:
    """``schedule`` with the chat overrides ``rows`` (of this schedule) above its own, the later above the earlier."""
    extra = [Override(user=r.email, start=r.starts_at, end=r.ends_at, note=r.note) for r in rows
             if r.schedule == schedule.name]
    if not extra:
        return schedule
    return schedule.model_copy(update={"overrides": [*schedule.overrides, *extra]})


async def effective(tx: Tx, settings: Settings, name: str, *, since: datetime | None = None) -> Schedule | None:
    """The schedule called ``name`` as in effect (YAML and chat overrides), or None when there is none."""
    schedule = settings.oncall.schedule(name)
    if schedule is None:
        return None
    return with_overrides(schedule, await tx.overrides.current(name, since=since))


async def on_call(tx: Tx, settings: Settings, name: str, at: datetime) -> str | None:
    """Who is on call in the schedule ``name`` at ``at`` (an email), or None."""
    schedule = await effective(tx, settings, name, since=at)
    return None if schedule is None else on_call_at(schedule, at)
