"""Schedules as they are in effect: the YAML schedule with the overrides asked for in chat above its own; which
schedules a name means (a service's, a team's, one schedule), who is on a schedule, and who may override it."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from warroom.core import markup
from warroom.oncall import Override, Schedule, on_call_at
from warroom.settings import Settings
from warroom.store.db import Tx
from warroom.store.oncall import OverrideRow

#: The ``response.groups`` group whose members may override any schedule (besides the people on it).
ADMIN_GROUP = "oncall-admins"


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


async def effective_many(tx: Tx, settings: Settings, schedules: Sequence[Schedule], *,
                         since: datetime | None = None) -> list[Schedule]:
    """Each of ``schedules`` as in effect (one read of the chat overrides for them all)."""
    if not schedules:
        return []
    rows = await tx.overrides.current(None, since=since)
    return [with_overrides(schedule, rows) for schedule in schedules]


# ---------------------------------------------------------------------------------------------- who is on it


def members(schedule: Schedule) -> list[str]:
    """Everyone on the schedule's layers (rotations and explicit shifts), in the order the YAML names them."""
    seen: dict[str, None] = {}
    for layer in schedule.layers:
        for email in [*layer.users, *(s.user for s in layer.shifts)]:
            seen.setdefault(email, None)
    return list(seen)


def admins(settings: Settings) -> list[str] | None:
    """The members of the ``oncall-admins`` group (response.groups), or None when it is not configured."""
    return settings.response.groups.get(ADMIN_GROUP)


def may_override(settings: Settings, schedule: Schedule, email: str | None) -> bool:
    """Whether the person ``email`` may add or remove overrides of ``schedule``: anyone on it, or an admin."""
    if not email:
        return False
    email = email.strip().lower()
    return email in members(schedule) or email in (admins(settings) or [])


def who_may_override(settings: Settings, schedule: Schedule, *, shown: int = 8,
                     escape: Callable[[str], str] = markup.escape) -> str:
    """Who may override ``schedule``, as words: "the people on payments-primary (ana@…, bo@…) or the oncall-admins
    group" (the group only when it is configured)."""
    people = members(schedule)
    listed = ", ".join(escape(p) for p in people[:shown]) + (f" and {len(people) - shown} more" if len(people) > shown else "")
    on_it = f"the people on {escape(schedule.name)} ({listed})" if people else f"the people on {escape(schedule.name)}"
    return on_it if admins(settings) is None else f"{on_it} or the {ADMIN_GROUP} group"


def admins_hint(settings: Settings) -> str:
    """A sentence for refusals where no ``oncall-admins`` group is configured (else nothing)."""
    if admins(settings) is not None:
        return ""
    return f" (An {ADMIN_GROUP} group in response.groups would let its members override any schedule.)"


# ---------------------------------------------------------------------------------------------- what a name means


@dataclass(frozen=True, slots=True)
class Selection:
    """The schedules a name (or a channel) means, and how to say which they are."""

    #: "service payments (escalation policy payments)", "team payments", "schedule payments-primary", "every schedule"
    what: str
    schedules: list[Schedule]


def service_schedules(settings: Settings, service: str) -> list[Schedule]:
    """The schedules the service's escalation policy pages (its steps' ``notify.schedules``), in step order."""
    svc = settings.service(service)
    policy = settings.oncall.policy(svc.escalation_policy) if svc and svc.escalation_policy else None
    if policy is None:
        return []
    found = [settings.oncall.schedule(name) for name in policy.schedules()]
    return [s for s in found if s is not None]


def everything(settings: Settings) -> Selection:
    return Selection("every schedule", list(settings.oncall.schedules))


def select(settings: Settings, name: str, *, escape: Callable[[str], str] = markup.escape) -> Selection | str:
    """The schedules ``name`` means — a service's (its escalation policy's), else a team's, else the schedule called
    so (case does not matter) — or a sentence saying what exists (outside text through ``escape``)."""
    wanted = " ".join(name.split()).casefold()
    oncall = settings.oncall
    if not oncall.schedules:
        return "No on-call schedules are configured (oncall.schedules; see docs/oncall.md)."
    service = next((s for s in settings.services if s.name.casefold() == wanted), None)
    if service is not None:
        found = service_schedules(settings, service.name)
        if found:
            return Selection(f"service {escape(service.name)} (escalation policy {escape(service.escalation_policy or '')})",
                             found)
    team = [s for s in oncall.schedules if s.team and " ".join(s.team.split()).casefold() == wanted]
    if team:
        return Selection(f"team {escape(team[0].team)}", team)
    schedule = next((s for s in oncall.schedules if " ".join(s.name.split()).casefold() == wanted), None)
    if schedule is not None:
        return Selection(f"schedule {escape(schedule.name)}", [schedule])
    if service is not None:
        why = (f"its escalation policy {escape(service.escalation_policy)} names no schedule"
               if service.escalation_policy else "it has no escalation_policy")
        return (f"Service {escape(service.name)} has no on-call schedule: {why}. Schedules: "
                f"{', '.join(escape(s.name) for s in oncall.schedules)}.")
    names = [s.name for s in oncall.schedules]
    teams = sorted({s.team for s in oncall.schedules if s.team})
    services = [s.name for s in settings.services if service_schedules(settings, s.name)]
    close = difflib.get_close_matches(wanted, [n.casefold() for n in [*names, *teams, *services]], n=1, cutoff=0.7)
    hint = ""
    if close:
        original = next(n for n in [*names, *teams, *services] if n.casefold() == close[0])
        hint = f" Did you mean {escape(original)}?"
    shown = name.strip()
    shown = shown if len(shown) <= 60 else shown[:59] + "…"
    parts = [f"Schedules: {', '.join(escape(n) for n in names)}."]
    if teams:
        parts.append(f"Teams: {', '.join(escape(t) for t in teams)}.")
    if services:
        parts.append(f"Services with an on-call schedule: {', '.join(escape(s) for s in services)}.")
    return f"There is no service, team or schedule called '{escape(shown)}'.{hint} " + " ".join(parts)
