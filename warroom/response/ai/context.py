"""What the AI responder is told about an incident, read from the database (and the ITSM's RFCs on the service):
an :class:`warroom.ai.IncidentContext`.

- alerts of the incident; the timeline (notes, war-room discussion, changes of status, priority and roles, the
  ITSM's notes, paging, the bridge) — warroom's own bookkeeping and the assistant's earlier posts left out;
- changes near the start: deployment events (``POST /events/changes``) and Xurrent RFCs on the service, on
  the services it depends on and that alerted, and on any other service the responders name in the war room or
  whose change's title they quote (read through the Xurrent adapter and kept in the changes table, so that they
  are there next time even when Xurrent is not);
- roles, assignee, dependencies (``services[].depends_on``) and links (war room, bridge, request, postmortem,
  the service's bookmarks);
- related evidence (warroom.response.related): the open incidents of the services it depends on and of those that
  depend on it, and those services' alerts from two hours before the start until now — in other incidents or in
  none, marked as such — most relevant first, bounded.

Everything here is untrusted text as far as the assistant is concerned; it fences and neutralises it itself.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from warroom.adapters.errors import AdapterError
from warroom.adapters.ports import ItsmPort
from warroom.ai import AlertFact, ChangeFact, EventFact, IncidentContext
from warroom.ai.context import CHANGE_KINDS, ChangeKind, EvidenceFact, RelatedIncidentFact
from warroom.ai.rca import platform_values
from warroom.ai.statements import names_release
from warroom.ai.text import stem, words
from warroom.core.model import Incident, Link, LinkKind, Origin, RoleHolder, Status, TimelineEvent
from warroom.response import related
from warroom.settings import Settings
from warroom.store.db import Store, Tx

from .evidence import EvidenceReader

log = logging.getLogger("warroom.ai_context")

#: Changes this long before the trouble began are candidates (the ranking decays over a day).
CHANGES_BEFORE = timedelta(hours=24)
#: Older changes, back this far, are candidates too when they are on the services in question (or named, or quoted):
#: what bites days later — a certificate or credential that expires, a cron's first run, a leak, a ceiling reached at
#: a peak. The ranking weighs each kind's delay; at most OLD_CHANGES of them, the newest.
CHANGES_LONG_BEFORE = timedelta(days=14)
OLD_CHANGES = 20
#: … and changes up to this long after it (rollbacks and fixes belong to the story), at most until it resolved.
CHANGES_AFTER = timedelta(hours=24)
#: RFCs read from the ITSM per incident, at most.
MAX_RFCS = 200

#: Timeline kinds → the assistant's event kinds (see warroom.ai.context.EVENT_KINDS). Kinds not listed keep their
#: own name; kinds in SKIPPED are warroom's bookkeeping, and the assistant's own posts, which are no evidence.
_KINDS = {
    "note": "note",
    "discussion": "discussion",
    "declared": "status",
    "status_changed": "status",
    "title_changed": "status",
    "priority_changed": "priority",
    "role": "role",
    "assignee_changed": "role",
    "alert_firing": "alert",
    "alert_resolved": "alert",
    "bridge": "bridge",
}
SKIPPED = frozenset(
    {
        "invited",
        "itsm_linked",
        "itsm_pushed",
        "job_failed",
        "sync_skipped",
        "sync_conflict",
        "war_room",
        "summary",
        "ai_answer",
        "ai_rca",
        "postmortem",
        "task",
        "related",
    }
)
#: Link kinds → the names the assistant knows them by.
_LINK_NAMES = {
    LinkKind.SLACK_CHANNEL: "war_room",
    LinkKind.TEAMS_CHANNEL: "teams_war_room",
    LinkKind.BRIDGE: "bridge",
    LinkKind.XURRENT_REQUEST: "itsm_request",
    LinkKind.POSTMORTEM: "postmortem",
}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The incident's records as read from the database."""

    incident: Incident
    alerts: list[dict[str, Any]]
    events: list[TimelineEvent]
    roles: dict[str, RoleHolder]
    links: dict[LinkKind, Link]
    changes: list[dict[str, Any]]
    #: chat user key → the name the chat shows for them (warroom.store.responders.PeopleRepo)
    names: dict[str, str] = field(default_factory=dict)
    #: The neighbouring services' alerts around the start (rows with ``related_incident``), most relevant first.
    related_alerts: list[dict[str, Any]] = field(default_factory=list)
    #: The neighbouring services' open incidents, each with how it is related and its war room's URL.
    related_incidents: list[tuple[Incident, related.Relation, str | None]] = field(default_factory=list)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def trouble_started(incident: Incident, alerts: Iterable[Mapping[str, Any]]) -> datetime:
    """When the trouble began, for finding changes near it: the earliest alert start within 12 hours before the
    declaration, else the declaration (as :meth:`IncidentContext.started_at` decides)."""
    cutoff = incident.created_at - timedelta(hours=12)
    starts = [_utc(a["starts_at"]) for a in alerts if a.get("starts_at") is not None]
    return min([t for t in starts if t >= cutoff] + [incident.created_at])


def change_window(incident: Incident, started: datetime, now: datetime) -> tuple[timedelta, timedelta]:
    """(before, after) the start that changes are looked for in."""
    end = incident.resolved_at or now
    return CHANGES_BEFORE, max(timedelta(0), min(CHANGES_AFTER, end - started))


def services_of(incident: Incident, settings: Settings, alerts: Iterable[Mapping[str, Any]]) -> list[str]:
    """The affected service, the services it depends on, the services that alerted, and where the alerting services
    run as their labels say (a cluster, node pool or host: a change made there is made under them)."""
    alerts = list(alerts)
    svc = settings.service(incident.service)
    names = [incident.service, *(svc.depends_on if svc else [])]
    names += [str(a["service"]) for a in alerts if a.get("service")]
    names += sorted({p for a in alerts for p in platform_values(a.get("labels") or {})})
    return list(dict.fromkeys(names))


async def changes_around(
    tx: Tx, started: datetime, before: timedelta, after: timedelta, services: Sequence[str],
    events: Sequence[TimelineEvent],
) -> list[dict[str, Any]]:
    """The changes the assistant weighs (:func:`changes_on`): those in the window around the start, and the
    :data:`OLD_CHANGES` newest of the two weeks before it that concern the incident as closely."""
    near = changes_on(await tx.records.changes_near(started, before=before, after=after), services, events)
    if CHANGES_LONG_BEFORE <= before:
        return near
    seen = {r["id"] for r in near}
    older = await tx.records.changes_near(
        started - before, before=CHANGES_LONG_BEFORE - before, after=timedelta(0), newest=OLD_CHANGES * 25
    )
    kept = [r for r in changes_on(older, services, events) if r["id"] not in seen][-OLD_CHANGES:]
    return [*kept, *near]


#: Timeline kinds whose text is people's words (where a responder names the service whose change they suspect).
_SAID = frozenset({"note", "discussion"})


def named_services(events: Iterable[TimelineEvent], candidates: Iterable[str]) -> set[str]:
    """The services among ``candidates`` that responders named in the war room (notes and discussion), as whole
    words, case-insensitively."""
    said = " ".join(e.text for e in events if e.kind in _SAID and e.text).lower()
    return {
        name
        for name in candidates
        if name and re.search(rf"(?<![\w-]){re.escape(name.lower())}(?![\w-])", said)
    }


#: Words every change's title may hold, which say nothing about which change it is.
_CHANGE_WORDS = frozenset(
    stem(w)
    for w in "deploy deployed release released rollout rolled roll back rollback revert change changed update "
    "updated version fix fixed service api prod production new".split()
)
#: Distinct words of a change's title the responders must have said for it to count as talked about.
QUOTED_WORDS = 3


def _stems(text: str) -> set[str]:
    """The distinctive word stems of ``text`` (three letters or more, no stop words nor generic change words)."""
    return {s for w in words(text) if len(s := stem(w)) >= 3 and s not in _CHANGE_WORDS}


def talked_about(title: str, said: set[str]) -> bool:
    """Whether the responders' words (``said``: their stems) quote a change's title: at least
    :data:`QUOTED_WORDS` of its distinctive words ("pause the firmware upgrade … the switch maintenance" for
    "Firmware upgrade of core switches")."""
    return len(_stems(title) & said) >= QUOTED_WORDS


def changes_on(rows: Sequence[Mapping[str, Any]], services: Sequence[str], events: Iterable[TimelineEvent]) -> list[
    dict[str, Any]
]:
    """The changes near the start that the assistant weighs: those on the affected service, the services it
    depends on and the services that alerted (or on none named), and those on any other service that the
    responders name in the war room, whose title they quote, or whose version they say ("since lb 7.4.1") — a
    change by another team (a migration on a shared
    database, a network maintenance) is found by the people who say whose it was or what it did, and the catalog's
    dependencies cannot know it."""
    events = list(events)
    wanted = {s.lower() for s in services}
    others = {str(r["service"]) for r in rows if r.get("service") and str(r["service"]).lower() not in wanted}
    named = named_services(events, others)
    text = " ".join(e.text for e in events if e.kind in _SAID and e.text)
    said = _stems(text)
    return [
        dict(r)
        for r in rows
        if not r.get("service")
        or str(r["service"]).lower() in wanted
        or str(r["service"]) in named
        or talked_about(str(r.get("title") or ""), said)
        or names_release(str(r.get("title") or ""), text)
    ]


def _person(actor: str | None, roles: Mapping[str, RoleHolder], names: Mapping[str, str]) -> str | None:
    """How the assistant names who did something: the name the chat shows for them, a role holder's name or email,
    a Xurrent person's name — never a chat id (``slack:U123``), which would read as noise or, echoed into Slack,
    as a mention."""
    if not actor:
        return None
    if actor in names:
        return names[actor]
    for holder in roles.values():
        if holder.chat_user == actor and (holder.display or holder.email):
            return holder.display if holder.display and not holder.display.startswith("<") else holder.email
    if actor.startswith("xurrent:"):
        return actor.removeprefix("xurrent:")
    chat = actor.split(":", 1)[0]
    return f"someone in {chat.capitalize()}" if chat in ("slack", "teams") else actor


def _event(e: TimelineEvent, roles: Mapping[str, RoleHolder], names: Mapping[str, str]) -> EventFact | None:
    data = e.data or {}
    if e.kind in SKIPPED or data.get("postmortem"):
        return None
    kind = _KINDS.get(e.kind, e.kind)
    if e.kind == "note" and data.get("origin") == "itsm":
        kind = "itsm"
    return EventFact(id=str(e.id), at=e.at, kind=kind, actor=_person(e.actor, roles, names), text=e.text)


def _alert(row: Mapping[str, Any]) -> AlertFact:
    return AlertFact(
        id=str(row["id"]),
        name=str(row["name"]),
        summary=str(row.get("summary") or ""),
        service=row.get("service"),
        severity=row.get("severity"),
        labels={str(k): str(v) for k, v in (row.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (row.get("annotations") or {}).items()},
        starts_at=row.get("starts_at"),
        status=str(row.get("status") or "firing"),
        generator_url=row.get("generator_url"),
    )


def _related_alert(row: Mapping[str, Any]) -> AlertFact:
    return replace(_alert(row), related_incident=row.get("related_incident"))


def _related_incident(incident: Incident, relation: related.Relation, url: str | None) -> RelatedIncidentFact:
    return RelatedIncidentFact(
        incident=incident.ref,
        title=incident.title,
        service=incident.service,
        priority=incident.priority,
        status=incident.status.value,
        since=incident.created_at,
        relation=relation,
        url=url,
    )


def _change(row: Mapping[str, Any]) -> ChangeFact:
    return ChangeFact(
        id=str(row["external_id"]),
        source="itsm-rfc" if row["source"] == "itsm-rfc" else "deploy",
        service=row.get("service"),
        title=str(row["title"]),
        at=row["at"],
        url=row.get("url"),
        details=str(row.get("details") or ""),
        kind=_change_kind(row),
    )


def _change_kind(row: Mapping[str, Any]) -> ChangeKind:
    """The stored kind, when it is one the assistant knows (an older row or a stray value: by its source)."""
    kind = row.get("kind")
    if isinstance(kind, str) and kind in CHANGE_KINDS:
        return cast(ChangeKind, kind)
    return "rfc" if row["source"] == "itsm-rfc" else "deploy"


def build_context(snap: Snapshot, settings: Settings) -> IncidentContext:
    """The assistant's view of one incident (pure: from what was read)."""
    inc = snap.incident
    svc = settings.service(inc.service)
    links: dict[str, str] = {}
    if svc is not None:
        for title, url in svc.slack.bookmarks.items():
            links[title] = url
    for kind, name in _LINK_NAMES.items():
        link = snap.links.get(kind)
        if link is not None and link.url:
            links[name] = link.url
    events = [fact for e in snap.events if (fact := _event(e, snap.roles, snap.names)) is not None]
    return IncidentContext(
        ref=inc.ref,
        title=inc.title,
        status=inc.status.value,
        priority=inc.priority,
        service=inc.service,
        # an alert-declared incident's details repeat its alert (which the assistant has): only people's words
        details=""
        if inc.origin is Origin.ALERT and inc.details.startswith("Declared from alert")
        else inc.details,
        assignee=inc.assignee,
        created_at=inc.created_at,
        acknowledged_at=inc.acknowledged_at,
        resolved_at=inc.resolved_at if inc.status is Status.RESOLVED else None,
        roles={role: holder.email or holder.display for role, holder in snap.roles.items()},
        alerts=[_alert(a) for a in snap.alerts],
        events=events,
        changes=[_change(c) for c in snap.changes],
        dependencies=list(svc.depends_on) if svc else [],
        links=links,
        related_alerts=[_related_alert(a) for a in snap.related_alerts],
        related_incidents=[_related_incident(i, rel, url) for i, rel, url in snap.related_incidents],
    )


# -- reading ------------------------------------------------------------------------------------------------
async def snapshot(
    store: Store, settings: Settings, incident_id: int, *, now: datetime | None = None
) -> Snapshot | None:
    """The incident's records, with the changes near its start that the database knows of."""
    async with store.read() as tx:
        incident = await tx.incidents.get(incident_id)
        if incident is None:
            return None
        alerts = await tx.alerts.for_incident(incident_id)
        events = await tx.timeline.for_incident(incident_id)
        roles = await tx.roles.all(incident_id)
        links = await tx.links.all(incident_id)
        started = trouble_started(incident, alerts)
        before, after = change_window(incident, started, now or tx.now)
        services = services_of(incident, settings, alerts)
        changes = await changes_around(tx, started, before, after, services, events)
        names = await tx.people.names(e.actor for e in events if e.actor)
        near_alerts = await related.related_alerts(tx, settings, incident, started, now or tx.now)
        near_alerts += await _alerts_of_brought_in(tx, incident, started, now or tx.now, changes, services,
                                                   {int(a["id"]) for a in near_alerts})
        near_alerts += await _alerts_naming(tx, settings, incident, started, now or tx.now,
                                            {int(a["id"]) for a in near_alerts})
        near = [
            (other, relation, _room_url(await tx.links.all(other.id)))
            for other, relation in await related.related_incidents(tx, settings, incident)
        ]
    return Snapshot(incident, alerts, events, roles, links, changes, names, near_alerts, near)


async def _alerts_of_brought_in(
    tx: Tx,
    incident: Incident,
    started: datetime,
    now: datetime,
    changes: Sequence[Mapping[str, Any]],
    services: Sequence[str],
    seen: set[int],
) -> list[dict[str, Any]]:
    """The alerts around the start of the services whose changes the responders brought in (:func:`changes_on`:
    named or quoted; no neighbours by the catalog), as related alerts: the network's own alert tells whether its
    maintenance hurt."""
    wanted = {s.lower() for s in services}
    brought = sorted(
        {str(c["service"]) for c in changes if c.get("service") and str(c["service"]).lower() not in wanted}
    )
    if not brought:
        return []
    since, until = related.alert_window(started, incident, now)
    rows = await tx.alerts.of_services_between(brought, since, until, besides=incident.id)
    chosen = [r for r in related.most_relevant(rows) if int(r["id"]) not in seen]
    for row in chosen:
        row["related_incident"] = f"INC-{row['incident_id']}" if row.get("incident_id") else None
    return chosen


def _alert_words(row: Mapping[str, Any]) -> str:
    """An alert's words: its name, summary and annotations (not the links among them)."""
    annotations = row.get("annotations") or {}
    return " ".join(
        [str(row.get("name") or ""), str(row.get("summary") or ""),
         *(str(v) for k, v in annotations.items() if "url" not in str(k).lower())]
    )


async def _alerts_naming(
    tx: Tx, settings: Settings, incident: Incident, started: datetime, now: datetime, seen: set[int]
) -> list[dict[str, Any]]:
    """The alerts around the start, on services that are no neighbour in the catalog, whose own words name the
    incident's service ("9% of uploads fail with 504 from image-resizer"): the catalog does not know every caller,
    and such an alert is where users meet the trouble (the status update shows it as seen downstream). Only a
    distinctive name is looked for (``image-resizer``, ``ledger``): a short word such as ``web`` or ``auth`` occurs in
    alerts about other things."""
    name = incident.service
    others = [s.name for s in settings.services if s.name.lower() != name.lower()]
    if not others or not ("-" in name or "_" in name or len(name) >= 6):
        return []
    since, until = related.alert_window(started, incident, now)
    rows = await tx.alerts.of_services_between(others, since, until, besides=incident.id)
    named = re.compile(rf"(?i)(?<![\w-]){re.escape(incident.service)}(?![\w-])")
    chosen = related.most_relevant(r for r in rows if int(r["id"]) not in seen and named.search(_alert_words(r)))
    for row in chosen:
        row["related_incident"] = f"INC-{row['incident_id']}" if row.get("incident_id") else None
    return chosen


def _room_url(links: Mapping[LinkKind, Link]) -> str | None:
    """An incident's war room: its Slack channel, else its Teams channel."""
    for kind in (LinkKind.SLACK_CHANNEL, LinkKind.TEAMS_CHANNEL):
        link = links.get(kind)
        if link is not None and link.url:
            return link.url
    return None


async def load_context(
    store: Store,
    settings: Settings,
    incident_id: int,
    *,
    itsm: ItsmPort | None = None,
    now: datetime | None = None,
    evidence: EvidenceReader | bool = True,
) -> IncidentContext | None:
    """The incident as the assistant sees it; RFCs on its services are read from the ITSM first (when it is
    linked and answers in time — a slow or failing ITSM leaves out only what was not stored before), and the
    service's logs and metrics around the start meanwhile (each source within its timeout). ``evidence``: the
    composition root's :class:`EvidenceReader`; True (the default) opens one for this call when the service reads
    any; False reads none (for text that leaves the organisation, such as a public status update's draft)."""
    snap = await snapshot(store, settings, incident_id, now=now)
    if snap is None:
        return None
    reader = evidence if isinstance(evidence, EvidenceReader) else None
    reading = asyncio.create_task(_evidence(snap, settings, reader, now, wanted=evidence is not False))
    try:
        if itsm is not None and await _store_rfcs(store, settings, itsm, snap):
            snap = await snapshot(store, settings, incident_id, now=now) or snap
    finally:
        facts = await reading
    ctx = build_context(snap, settings)
    return with_evidence(ctx, facts) if facts else ctx


def with_evidence(ctx: IncidentContext, facts: list[EvidenceFact]) -> IncidentContext:
    """``ctx`` with the evidence records; their links join the incident's links (``logs: <source>``), which makes
    them links the assistant may show."""
    links = dict(ctx.links)
    for f in facts:
        if f.url:
            links.setdefault(f"{'logs' if f.kind == 'log' else 'metrics'}: {f.source}", f.url)
    return replace(ctx, evidence=[*ctx.evidence, *facts], links=links)


async def _evidence(
    snap: Snapshot, settings: Settings, reader: EvidenceReader | None, now: datetime | None, *, wanted: bool
) -> list[EvidenceFact]:
    """The service's logs and metrics around the start (nothing when it reads none; never an exception)."""
    if not wanted:
        return []
    own = reader is None
    reader = reader or EvidenceReader(settings)
    try:
        if not reader.wanted(snap.incident.service):
            return []
        inc = snap.incident
        return await reader.read(
            inc.service,
            trouble_started(inc, snap.alerts),
            now=now or datetime.now(UTC),
            resolved=inc.resolved_at if inc.status is Status.RESOLVED else None,
            alert_urls=[a.get("generator_url") for a in snap.alerts],
        )
    except Exception:  # evidence is a bonus: the answer goes out without it
        log.exception("reading the evidence of %s failed", snap.incident.ref)
        return []
    finally:
        if own:
            await reader.aclose()


def _instances(settings: Settings, names: Sequence[str]) -> dict[int, str]:
    """Xurrent service instance id → service, for the configured services among ``names`` linked to Xurrent."""
    out: dict[int, str] = {}
    for name in names:
        svc = settings.service(name)
        if svc is not None and svc.itsm.enabled and svc.itsm.service_instance_id is not None:
            out[svc.itsm.service_instance_id] = svc.name
    return out


@dataclass(frozen=True, slots=True)
class _Rfc:
    external_id: str
    title: str
    at: datetime
    service: str | None
    details: str
    url: str


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


async def _store_rfcs(store: Store, settings: Settings, itsm: ItsmPort, snap: Snapshot) -> bool:
    """Read the RFCs on the incident's services touched since the change window opened, and keep them as
    changes. True when any was read."""
    if not settings.xurrent.enabled:
        return False
    inc = snap.incident
    instances = _instances(
        settings, [inc.service, *(s.depends_on if (s := settings.service(inc.service)) else [])]
    )
    if not instances:
        return False
    started = trouble_started(inc, snap.alerts)
    since = (started - CHANGES_BEFORE).strftime("%Y-%m-%dT%H:%M:%SZ")
    filters = {
        "category": "rfc",
        "service_instance": ",".join(str(i) for i in sorted(instances)),
        "updated_at": f">={since}",
    }
    found: list[dict[str, Any]] = []

    async def read() -> None:
        async for request in itsm.requests(filters):
            found.append(request)
            if len(found) >= MAX_RFCS:
                return

    try:
        await asyncio.wait_for(read(), timeout=min(15.0, settings.xurrent.timeout))
    except (AdapterError, TimeoutError) as exc:
        log.info(
            "RFCs for %s could not be read from Xurrent (%s); using the changes stored",
            inc.ref,
            getattr(exc, "reason", type(exc).__name__),
        )
    rfcs: list[_Rfc] = []
    for r in found:
        if str(r.get("category") or "rfc") != "rfc" or not isinstance(r.get("id"), int):
            continue
        at = _time(r.get("completed_at")) or _time(r.get("updated_at")) or _time(r.get("created_at"))
        if at is None:
            continue
        si = (
            (r.get("service_instance") or {}).get("id")
            if isinstance(r.get("service_instance"), dict)
            else None
        )
        status = str(r.get("status") or "")
        rfcs.append(
            _Rfc(
                external_id=f"RFC-{r['id']}",
                title=str(r.get("subject") or f"Xurrent RFC #{r['id']}").replace("\x00", ""),
                at=at,
                service=instances.get(int(si)) if isinstance(si, int) else inc.service,
                details=f"Xurrent RFC #{r['id']}" + (f", status {status}" if status else ""),
                url=itsm.request_url(int(r["id"])),
            )
        )
    if not rfcs:
        return False
    async with store.tx() as tx:
        for c in rfcs:
            await tx.records.add_change(
                source="itsm-rfc",
                external_id=c.external_id,
                title=c.title,
                at=c.at,
                service=c.service,
                details=c.details,
                url=c.url,
                kind="rfc",
            )
    return True
