"""Scheduled maintenance on the built-in status pages: a window (page, title, text, components, start, end) that
people announce ahead, as Atlassian Statuspage and instatus users know it.

- **States**: ``scheduled`` → ``in_progress`` (at its start) → ``completed`` (at its end); ``cancelled`` before it
  starts. Cancelling a window in progress ends it now (``completed``, its end moved to now).
- **Edges on durable timers** (:data:`~warroom.core.jobs.STATUS_MAINTENANCE`, keys ``statuspage-maintenance:<id>:
  start|end``, payload ``{"maintenance", "edge", "at"}``): at the start the window's components show
  ``under_maintenance`` — unless an incident gives them something worse (incidents win: see
  :func:`warroom.response.statuspages.wanted`); at the end they take what the incidents give. Each change is a row
  of ``status_component_history`` (the page's bars show maintenance apart, and it is not downtime). A job whose
  window was cancelled, ended or moved meanwhile (its ``at`` no longer the window's edge) does nothing; changing a
  window's start or end moves its timer.
- **Subscribers are told** (:func:`warroom.response.statuspages.subscribers.maintenance_notice`, in the transaction
  of the change): ``scheduled`` when a window is added with a start ahead, ``rescheduled`` when its start or end
  moves, ``cancelled`` when it is cancelled before it starts, ``started`` and ``completed`` at its edges (a window
  cancelled while it runs is ``completed``), and a ``reminder`` ``status_subscribers.maintenance_reminder_minutes``
  before its start — on a third timer (``…:reminder``, payload ``{"maintenance", "edge": "reminder", "at": <the
  start it reminds of>, "revision"}``) that does nothing once the window was cancelled or its start moved. A scoped
  subscriber hears only of windows touching its group's components.
- Every change runs in one transaction: refused input (:class:`MaintenanceRefused`, a sentence) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from warroom.core.jobs import STATUS_MAINTENANCE
from warroom.settings import Settings
from warroom.settings.model import StatusPageSettings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job

from .subscribers import maintenance_notice

#: A window's states, and those it can still change from.
STATES = ("scheduled", "in_progress", "completed", "cancelled")
LIVE = ("scheduled", "in_progress")
#: The most a window's text may hold.
MAX_BODY = 10_000
MAX_TITLE = 255
#: How a time is written on the command line.
WHEN_USAGE = "write it as YYYY-MM-DD HH:MM, e.g. \"2026-12-10 02:00\""


class MaintenanceRefused(ValueError):
    """A maintenance change that cannot be made; the message says why, and what to do, in a sentence."""


def timer_key(maintenance_id: int, edge: str) -> str:
    return f"statuspage-maintenance:{maintenance_id}:{edge}"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def shown(value: datetime) -> str:
    """A time as the CLI and the page say it: ``2026-12-10 02:00 UTC``."""
    return f"{_utc(value):%Y-%m-%d %H:%M} UTC"


def zone(name: str | None) -> ZoneInfo | None:
    """The time zone ``--tz`` names (None: UTC); raises :class:`MaintenanceRefused` for an unknown one."""
    if not name:
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise MaintenanceRefused(f"'{name[:64]}' is not a time zone: name one as the tz database does, e.g. "
                                 "Europe/Berlin or America/New_York (or leave out --tz for UTC).") from None


def read_when(text: str, tz: ZoneInfo | None = None, *, what: str = "start") -> datetime:
    """A time as written on the command line (``2026-12-10 02:00``, seconds allowed; an explicit offset such as
    ``+01:00`` wins over ``tz``), in ``tz`` (None: UTC) → an aware UTC datetime."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MaintenanceRefused(f"'{text[:40]}' is not a time for the {what}: {WHEN_USAGE}.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz or UTC)
    return value.astimezone(UTC)


def _page(settings: Settings, name: str) -> StatusPageSettings:
    page = settings.status_page(name)
    if page is None:
        names = ", ".join(p.name for p in settings.status_pages) or "none are configured"
        raise MaintenanceRefused(f"There is no status page '{name[:63]}' in status_pages. Pages: {names}.")
    return page


def _components(page: StatusPageSettings, wanted: list[str]) -> list[str]:
    """The page's components named in ``wanted`` (case aside), in the page's order."""
    known = {c.name.casefold(): c.name for c in page.components}
    names = [w.strip() for w in wanted if w.strip()]
    if not names:
        raise MaintenanceRefused(f"Name the components under maintenance with --components (of '{page.name}': "
                                 f"{', '.join(known.values()) or 'none are configured'}).")
    unknown = [n for n in names if n.casefold() not in known]
    if unknown:
        raise MaintenanceRefused(f"'{page.name}' has no component {', '.join(repr(u[:64]) for u in unknown)}: its "
                                 f"components are {', '.join(known.values()) or 'none'} (--components a,b).")
    chosen = {known[n.casefold()] for n in names}
    return [c.name for c in page.components if c.name in chosen]


def _text(title: str | None, body: str | None) -> tuple[str | None, str | None]:
    if title is not None:
        title = " ".join(title.split())
        if not title:
            raise MaintenanceRefused("The title is empty: say what the maintenance is, e.g. --title \"Database "
                                     "upgrade\".")
        if len(title) > MAX_TITLE:
            raise MaintenanceRefused(f"The title is {len(title)} characters: at most {MAX_TITLE} fit.")
    if body is not None:
        body = body.strip()
        if len(body) > MAX_BODY:
            raise MaintenanceRefused(f"The text is {len(body):,} characters: at most {MAX_BODY:,} fit.")
    return title, body


async def _schedule_edge(tx: Tx, row: dict[str, Any], edge: str, at: datetime) -> None:
    await tx.timers.schedule(
        timer_key(int(row["id"]), edge), STATUS_MAINTENANCE, delay=max(0.0, (at - tx.now).total_seconds()),
        payload={"maintenance": int(row["id"]), "edge": edge, "at": _utc(at).isoformat()},
    )


async def _schedule_reminder(tx: Tx, settings: Settings, row: dict[str, Any], revision: int) -> None:
    """The reminder of the window's (new) start, when reminders are on and it is still ahead; else none."""
    minutes = settings.status_subscribers.maintenance_reminder_minutes
    start = _utc(row["starts_at"])
    remind_at = start - timedelta(minutes=minutes)
    if minutes == 0 or remind_at <= tx.now or row["state"] != "scheduled":
        await tx.timers.cancel(timer_key(int(row["id"]), "reminder"))
        return
    await tx.timers.schedule(
        timer_key(int(row["id"]), "reminder"), STATUS_MAINTENANCE, delay=(remind_at - tx.now).total_seconds(),
        payload={"maintenance": int(row["id"]), "edge": "reminder", "at": start.isoformat(), "revision": revision},
    )


async def _tell(tx: Tx, settings: Settings, row: dict[str, Any], notice: str, revision: int = 0) -> None:
    """Tell the page's subscribers ``notice`` about the window (nothing when its page is no longer configured)."""
    page = settings.status_page(str(row["page"]))
    if page is not None:
        await maintenance_notice(tx, page, row, notice, revision)


async def _follow(tx: Tx, settings: Settings, page: str, components: list[str]) -> None:
    """Bring the window's components to what they should show now (incidents win over maintenance)."""
    from . import _apply

    for component in sorted(set(components)):  # one lock order, as incident changes take them
        await _apply(tx, settings, page, component)


async def add(
    tx: Tx, settings: Settings, page: str, *, title: str, components: list[str], starts_at: datetime,
    ends_at: datetime, body: str = "", by: str | None = None, allow_past: bool = False,
) -> dict[str, Any]:
    """Schedule a window on ``page``; returns it. Refused (:class:`MaintenanceRefused`): an unknown page or
    component, an empty or overlong title or text, an end not after the start or already past, a start in the past
    unless ``allow_past`` (it then starts at once). Windows may overlap."""
    found = _page(settings, page)
    names = _components(found, components)
    clean_title, clean_body = _text(title, body)
    assert clean_title is not None
    starts_at, ends_at = _utc(starts_at), _utc(ends_at)
    if ends_at <= starts_at:
        raise MaintenanceRefused(f"The end ({shown(ends_at)}) is not after the start ({shown(starts_at)}): give an "
                                 "--end later than --start.")
    if ends_at <= tx.now:
        raise MaintenanceRefused(f"The end ({shown(ends_at)}) is already past: a window must end in the future.")
    if starts_at < tx.now and not allow_past:
        raise MaintenanceRefused(f"The start ({shown(starts_at)}) is in the past: give a later --start, or add "
                                 "--now to start the maintenance at once.")
    maintenance_id = await tx.statuspages.add_maintenance(found.name, clean_title, clean_body or "", names,
                                                          starts_at, ends_at, by)
    row = await tx.statuspages.maintenance(maintenance_id)
    assert row is not None
    await _schedule_edge(tx, row, "start", starts_at)
    await _schedule_edge(tx, row, "end", ends_at)
    if starts_at > tx.now:  # one starting at once is told when it starts
        await _tell(tx, settings, row, "scheduled")
        await _schedule_reminder(tx, settings, row, 0)
    return row


async def _live(tx: Tx, maintenance_id: int, doing: str) -> dict[str, Any]:
    row = await tx.statuspages.maintenance(maintenance_id, lock=True)
    if row is None:
        raise MaintenanceRefused(f"There is no maintenance {maintenance_id}: `warroom statuspage maintenance list "
                                 "<page>` shows them.")
    if row["state"] not in LIVE:
        raise MaintenanceRefused(f"Maintenance {maintenance_id} is {str(row['state']).replace('_', ' ')} already: "
                                 f"there is nothing to {doing}.")
    return row


async def extend(
    tx: Tx, settings: Settings, maintenance_id: int, *, starts_at: datetime | None = None,
    ends_at: datetime | None = None, title: str | None = None, body: str | None = None,
) -> dict[str, Any]:
    """Change a scheduled or running window: a new end (earlier or later), a new start (before it started), a new
    title or text — its timers move with its times; returns it."""
    if starts_at is None and ends_at is None and title is None and body is None:
        raise MaintenanceRefused("Say what changes: --end, --start, --title or --body.")
    row = await _live(tx, maintenance_id, "change")
    clean_title, clean_body = _text(title, body)
    values: dict[str, Any] = {}
    if starts_at is not None:
        starts_at = _utc(starts_at)
        if row["state"] != "scheduled":
            raise MaintenanceRefused(f"Maintenance {maintenance_id} has started already: only its end, title and "
                                     "text can change.")
        if starts_at < tx.now:
            raise MaintenanceRefused(f"The new start ({shown(starts_at)}) is in the past: give a later --start.")
        values["starts_at"] = starts_at
    start = values.get("starts_at", _utc(row["starts_at"]))
    if ends_at is not None:
        ends_at = _utc(ends_at)
        if ends_at <= tx.now:
            raise MaintenanceRefused(f"The new end ({shown(ends_at)}) is already past: to end the maintenance now, "
                                     f"cancel it (`warroom statuspage maintenance cancel {maintenance_id}`).")
        values["ends_at"] = ends_at
    end = values.get("ends_at", _utc(row["ends_at"]))
    if end <= start:
        raise MaintenanceRefused(f"The end ({shown(end)}) would not be after the start ({shown(start)}): give a "
                                 "later --end.")
    if clean_title is not None:
        values["title"] = clean_title
    if clean_body is not None:
        values["body"] = clean_body
    await tx.statuspages.change_maintenance(maintenance_id, **values)
    if starts_at is not None:
        await _schedule_edge(tx, row, "start", starts_at)
    if ends_at is not None:
        await _schedule_edge(tx, row, "end", ends_at)
    changed = await tx.statuspages.maintenance(maintenance_id)
    assert changed is not None
    if start != _utc(row["starts_at"]) or end != _utc(row["ends_at"]):  # new times: a new revision of the window
        revision = await tx.status_subscribers.notice_revision(maintenance_id) + 1
        await _tell(tx, settings, changed, "rescheduled", revision)
        if start != _utc(row["starts_at"]):
            await _schedule_reminder(tx, settings, changed, revision)
    return changed


async def cancel(tx: Tx, settings: Settings, maintenance_id: int) -> dict[str, Any]:
    """Cancel a scheduled window (its timers with it), or end a running one now (its components back to what
    incidents give them); returns it."""
    row = await _live(tx, maintenance_id, "cancel")
    for which in ("start", "end", "reminder"):
        await tx.timers.cancel(timer_key(maintenance_id, which))
    if row["state"] == "scheduled":
        await tx.statuspages.change_maintenance(maintenance_id, state="cancelled")
    else:
        await tx.statuspages.change_maintenance(maintenance_id, state="completed", ends_at=tx.now)
        await _follow(tx, settings, str(row["page"]), list(row["components"]))
    changed = await tx.statuspages.maintenance(maintenance_id)
    assert changed is not None
    await _tell(tx, settings, changed, "cancelled" if row["state"] == "scheduled" else "completed")
    return changed


async def listed(tx: Tx, settings: Settings, page: str, *, every: bool = False) -> list[dict[str, Any]]:
    """The page's windows, the latest to start first: those scheduled or in progress (``every``: all of them)."""
    found = _page(settings, page)
    return await tx.statuspages.maintenances(found.name, states=None if every else LIVE, limit=200)


async def edge(tx: Tx, settings: Settings, maintenance_id: int, which: str, at: str, revision: int = 0) -> bool:
    """A window's start or end has come (its timer fired): the state moves on, its components follow and its
    subscribers are told. Nothing happens (False) when the window is gone, cancelled or over, or its edge is no
    longer ``at`` (moved since). ``reminder``: the subscribers are reminded of the start ``at``, if it still is."""
    row = await tx.statuspages.maintenance(maintenance_id, lock=True)
    if row is None or row["state"] not in LIVE or which not in ("start", "end", "reminder"):
        return False
    if which == "reminder":
        if row["state"] != "scheduled" or _utc(row["starts_at"]).isoformat() != at or not (
            settings.status_subscribers.maintenance_reminder_minutes
        ):
            return False  # started, cancelled or moved since (a moved start has a reminder of its own), or off
        await _tell(tx, settings, row, "reminder", revision)
        return True
    moment = _utc(row["starts_at" if which == "start" else "ends_at"])
    moved = moment.isoformat() != at if at else moment > tx.now
    if moved:
        return False  # the window moved since: the timer at its new time does it
    if which == "start":
        if row["state"] != "scheduled":
            return False
        await tx.statuspages.change_maintenance(maintenance_id, state="in_progress")
    else:
        await tx.statuspages.change_maintenance(maintenance_id, state="completed")
        await tx.timers.cancel(timer_key(maintenance_id, "start"))  # ended before its start ran: never starts
    await tx.timers.cancel(timer_key(maintenance_id, "reminder"))
    if settings.status_page(str(row["page"])) is not None:
        await _follow(tx, settings, str(row["page"]), list(row["components"]))
    changed = await tx.statuspages.maintenance(maintenance_id)
    assert changed is not None
    await _tell(tx, settings, changed, "started" if which == "start" else "completed")
    return True


@dataclass
class MaintenanceJobs:
    """The maintenance windows' timer job."""

    settings: Settings
    store: Store

    def handlers(self) -> dict[str, Handler]:
        return {STATUS_MAINTENANCE: self.fire}

    async def fire(self, job: Job) -> Commit | None:
        maintenance_id = int(job.payload.get("maintenance") or 0)
        which = str(job.payload.get("edge") or "")
        at = str(job.payload.get("at") or "")
        revision = int(job.payload.get("revision") or 0)

        async def commit(tx: Tx) -> None:
            await edge(tx, self.settings, maintenance_id, which, at, revision)

        return commit
