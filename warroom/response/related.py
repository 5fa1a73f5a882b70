"""Related incidents: the services an incident's service depends on and those that depend on it
(``services[].depends_on``, direct neighbours in both directions), their open incidents and their alerts around the
incident's start.

Three uses:

- the war room is told, in the transaction that declares an incident, of the open incidents upstream — when the new
  incident's service depends on a service with an open incident, its war room gets a line; when open incidents'
  services depend on the new incident's service, each of their war rooms gets one — and the timeline of the room
  told gets an entry (``related``). A declaration happens once, so each pair is told once, by whichever of the two
  was declared later;
- the AI responder's context (warroom.response.ai.context) reads the neighbours' open incidents and their recent
  alerts as evidence (:func:`related_incidents`, :func:`related_alerts`);
- evidence that arrives later on a service — a change (``POST /events/changes``), a newly firing alert wherever it
  is routed — has the probable causes of the open incidents on that service and on its neighbours ranked again
  (:func:`rank_near`, ``ai.auto_rca``), in the transaction that records it; the ranking posts only when the leading
  causes moved.

A resolved incident (a merged duplicate is resolved too) is not open. On PostgreSQL, two neighbours declared in
transactions that commit at the same moment do not see each other; so each declaration also leaves a job
(``RELATED_CHECK``) that looks again once it has committed, and tells what is not told yet — under the rooms' row
locks, so that two such jobs tell a pair once. (A lock in the declaring transactions would order them instead, at
the price of lock cycles with the intake's and the status pages' locks.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from warroom.core import markup
from warroom.core.jobs import RELATED_CHECK
from warroom.core.model import Incident, Status
from warroom.response import jobs
from warroom.response.ai import schedule as ai_schedule
from warroom.settings import Settings
from warroom.store.db import Tx
from warroom.store.outbox import Commit, Handler, Job

#: Alerts of the neighbours this long before the incident's trouble began are evidence (and any until now, and any
#: that began earlier and was still firing then).
ALERTS_BEFORE = timedelta(hours=2)
#: Related alerts in a context, at most (critical first, then the earliest).
MAX_ALERTS = 12
#: Open incidents of the neighbours in a context, at most (dependencies' first, then the oldest).
MAX_INCIDENTS = 6
#: Open incidents read per neighbouring service.
PER_SERVICE = 10
#: Open incidents ranked again for a change that names no service (it may concern any of them), at most: the newest.
MAX_UNNAMED = 50

Relation = Literal["dependency", "dependent"]


@dataclass(frozen=True, slots=True)
class Neighbours:
    """A service's direct neighbours: the services it depends on and the services that depend on it."""

    dependencies: tuple[str, ...]
    dependents: tuple[str, ...]

    def relation(self, service: str) -> Relation:
        return "dependency" if service in self.dependencies else "dependent"

    @property
    def all(self) -> list[str]:
        return list(dict.fromkeys([*self.dependencies, *self.dependents]))


def neighbours(settings: Settings, service: str) -> Neighbours:
    """Who ``service`` depends on and who depends on it, as configured (itself left out)."""
    svc = settings.service(service)
    deps = tuple(dict.fromkeys(d for d in (svc.depends_on if svc else []) if d != service))
    dependents = tuple(s.name for s in settings.services if s.name != service and service in s.depends_on)
    return Neighbours(deps, dependents)


def is_open(incident: Incident) -> bool:
    return incident.status is not Status.RESOLVED and incident.merged_into is None


async def related_incidents(
    tx: Tx, settings: Settings, incident: Incident, *, limit: int = MAX_INCIDENTS
) -> list[tuple[Incident, Relation]]:
    """The open incidents of the incident's neighbours: those of services it depends on first, then the oldest."""
    near = neighbours(settings, incident.service)
    found: list[tuple[Incident, Relation]] = []
    for service in near.all:
        for other in await tx.incidents.list(open_only=True, service=service, limit=PER_SERVICE):
            if other.id != incident.id and is_open(other):
                found.append((other, near.relation(service)))
    found.sort(key=lambda pair: (pair[1] != "dependency", pair[0].created_at, pair[0].id))
    return found[:limit]


async def open_near(tx: Tx, settings: Settings, service: str | None, *, itself: bool = True) -> set[int]:
    """The open incidents on the direct neighbours of ``service`` (:data:`PER_SERVICE` each), and with ``itself``
    on ``service`` too; with no service (a change that names none), the newest :data:`MAX_UNNAMED` open incidents."""
    if not service:
        return {i.id for i in await tx.incidents.list(open_only=True, limit=MAX_UNNAMED) if is_open(i)}
    found: set[int] = set()
    for name in [*([service] if itself else []), *neighbours(settings, service).all]:
        found |= {i.id for i in await tx.incidents.list(open_only=True, service=name, limit=PER_SERVICE) if is_open(i)}
    return found


async def rank_near(
    tx: Tx, settings: Settings, services: Iterable[str | None], *, itself: bool = True, also: Iterable[int] = ()
) -> None:
    """New evidence on ``services``: the probable causes of the open incidents on their neighbours (and with
    ``itself`` on the services themselves; and of the incidents ``also``) ranked again, each coalesced into its
    pending ranking (``ai.auto_rca``; nothing without it). A change is evidence for its own service's incidents
    (``itself``); an alert is for the incidents it joined (``also``) — one on the same service that went elsewhere
    is not in their records. Enqueued in incident order, so that two transactions doing this never wait on each
    other's pending rankings in opposite orders (PostgreSQL locks a coalesced job until commit)."""
    if not settings.ai.auto_rca:
        return
    ids = set(also)
    for service in dict.fromkeys(services):
        ids |= await open_near(tx, settings, service, itself=itself)
    for incident_id in sorted(ids):
        await ai_schedule.rank_causes(tx, incident_id, settings)


def alert_window(started: datetime, incident: Incident, now: datetime) -> tuple[datetime, datetime]:
    """From :data:`ALERTS_BEFORE` ahead of when the trouble began until now (until it resolved, once resolved)."""
    end = incident.resolved_at if incident.status is Status.RESOLVED and incident.resolved_at else now
    return started - ALERTS_BEFORE, max(end, started)


def _severity_rank(severity: object) -> int:
    value = str(severity or "").lower()
    if value in ("critical", "page", "p1", "error", "high", "major"):
        return 0
    return 1 if value in ("warning", "warn", "p2", "medium") else 2


def _began(row: Mapping[str, Any]) -> datetime:
    at = row.get("starts_at") or row.get("received_at") or datetime.min.replace(tzinfo=UTC)
    assert isinstance(at, datetime)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def most_relevant(rows: Iterable[Mapping[str, Any]], limit: int = MAX_ALERTS) -> list[dict[str, Any]]:
    """At most ``limit`` alerts, the most relevant first: critical before warning before the rest, then the
    earliest (the dependency that alerted first is the likelier cause)."""
    ranked = sorted(rows, key=lambda r: (_severity_rank(r.get("severity")), _began(r), int(r.get("id") or 0)))
    return [dict(r) for r in ranked[:limit]]


async def related_alerts(
    tx: Tx, settings: Settings, incident: Incident, started: datetime, now: datetime, *, limit: int = MAX_ALERTS
) -> list[dict[str, Any]]:
    """The neighbours' alerts that began in :func:`alert_window` or were still firing when it opened, in other
    incidents or in none; each row has
    ``related_incident`` (``INC-7`` or None)."""
    since, until = alert_window(started, incident, now)
    rows = await tx.alerts.of_services_between(neighbours(settings, incident.service).all, since, until,
                                               besides=incident.id)
    chosen = most_relevant(rows, limit)
    for row in chosen:
        row["related_incident"] = f"INC-{row['incident_id']}" if row.get("incident_id") else None
    return chosen


# -- telling the war rooms -------------------------------------------------------------------------------------
def since_text(at: datetime, now: datetime) -> str:
    """``10:02 UTC`` today, ``Dec 5 10:02 UTC`` on an earlier day."""
    at = at.astimezone(UTC)
    if at.date() == now.astimezone(UTC).date():
        return f"{at:%H:%M} UTC"
    return f"{at:%b} {at.day} {at:%H:%M} UTC"


def line(other: Incident, now: datetime) -> str:
    """``🔗 INC-7 on payments-db is open since 10:02 UTC (P1: <title>) — likely related.`` in the war-room line
    format (warroom.core.markup): the title and the service escaped."""
    title = markup.escape(" ".join(other.title.split())[:200])
    what = f"{markup.escape(other.priority)}: {title}" if other.priority else title
    return (f"🔗 {other.ref} on {markup.escape(other.service)} is open since {since_text(other.created_at, now)} "
            f"({what}) — likely related.")


async def _tell(tx: Tx, room: Incident, other: Incident, relation: Relation) -> None:
    """The line in ``room``'s war room about ``other``, and the entry on its timeline."""
    text = line(other, tx.now)
    await tx.timeline.add(
        room.id,
        "related",
        f"{other.ref} on {other.service} is open since {since_text(other.created_at, tx.now)} "
        f"({other.priority or 'no priority'}: {other.title}) — likely related",
        data={"related": other.id, "ref": other.ref, "service": other.service, "relation": relation},
    )
    await jobs.say(tx, room.id, text, escaped=True)


async def incident_declared(tx: Tx, incident: Incident, settings: Settings) -> None:
    """In the transaction that declares ``incident``: its war room is told of the open incidents of the services
    it depends on, and the war rooms of the open incidents of the services that depend on it are told of it; and a
    job looks again once this has committed (:class:`RelatedJobs`)."""
    for room, other in await _pairs(tx, incident, settings):
        await _tell(tx, room, other, "dependency")
    if neighbours(settings, incident.service).all:
        await tx.outbox.enqueue(RELATED_CHECK, incident_id=incident.id)


async def _pairs(tx: Tx, incident: Incident, settings: Settings) -> list[tuple[Incident, Incident]]:
    """(room to tell, the open incident upstream it is told of) for ``incident`` and its neighbours' open
    incidents, each pair once."""
    near = neighbours(settings, incident.service)
    pairs: list[tuple[Incident, Incident]] = []
    for service in near.dependencies:
        for other in reversed(await tx.incidents.list(open_only=True, service=service, limit=PER_SERVICE)):
            if other.id != incident.id and is_open(other) and all(o.id != other.id for _, o in pairs):
                pairs.append((incident, other))
    for service in near.dependents:
        for other in reversed(await tx.incidents.list(open_only=True, service=service, limit=PER_SERVICE)):
            if other.id != incident.id and is_open(other):
                pairs.append((other, incident))
    return pairs


async def _told(tx: Tx, room_id: int) -> set[int]:
    """The incidents ``room_id``'s war room has been told of."""
    return {int(e.data["related"]) for e in await tx.timeline.for_incident(room_id)
            if e.kind == "related" and e.data and e.data.get("related") is not None}


class RelatedJobs:
    """The look again after a declaration has committed: the pairs its transaction could not see are told now."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def handlers(self) -> dict[str, Handler]:
        return {RELATED_CHECK: self.check}

    async def check(self, job: Job) -> Commit | None:
        incident_id = job.incident_id

        async def commit(tx: Tx) -> None:
            incident = await tx.incidents.get(incident_id) if incident_id is not None else None
            if incident is None or not is_open(incident):
                return
            pairs = await _pairs(tx, incident, self.settings)
            told: dict[int, set[int]] = {}
            for room_id in sorted({room.id for room, _ in pairs}):
                await tx.incidents.lock(room_id)  # two checks of one pair: the second sees the first's entry
                told[room_id] = await _told(tx, room_id)
            for room, other in pairs:
                if other.id not in told[room.id]:
                    await _tell(tx, room, other, "dependency")

        return commit
