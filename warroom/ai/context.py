"""What the AI responder knows about an incident: plain frozen data the caller builds (from the database).

Every text field is untrusted: it came from alert senders, chat, the service desk or deploy tools. The
assistant never writes anything back; it reads an :class:`IncidentContext` and returns results.

Each alert, timeline event and change is a *record* with a reference ``"<kind>:<id>"`` (``alert:17``,
``event:203``, ``change:CHG-88``, a neighbouring service's open incident ``incident:INC-7``); answers cite records
by that reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

ChangeSource = Literal["itsm-rfc", "deploy"]
#: What a change changed (``/events/changes`` ``kind``; ITSM RFCs are ``rfc``). RCA weighs each kind by how soon
#: such a change typically bites (a flag at once, a release within hours).
ChangeKind = Literal["deploy", "config", "feature_flag", "dns", "infrastructure", "database", "rfc", "other"]
CHANGE_KINDS: tuple[str, ...] = (
    "deploy", "config", "feature_flag", "dns", "infrastructure", "database", "rfc", "other"
)
#: How each kind is named where a change is shown ("feature flag flag-9", "DNS change RFC-3").
CHANGE_KIND_NAMES = {
    "deploy": "deploy",
    "config": "config change",
    "feature_flag": "feature flag",
    "dns": "DNS change",
    "infrastructure": "infrastructure change",
    "database": "database change",
    "rfc": "RFC",
    "other": "change",
}

#: Timeline event kinds the caller may use; others are accepted and treated like notes.
EVENT_KINDS = ("note", "discussion", "status", "priority", "role", "itsm", "alert", "bridge", "summary")


@dataclass(frozen=True, slots=True)
class AlertFact:
    id: str
    name: str
    summary: str
    service: str | None = None
    severity: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    #: "firing" or "resolved".
    status: str = "firing"
    generator_url: str | None = None
    #: A related alert's (``IncidentContext.related_alerts``): the incident it belongs to (``INC-7``), None for an
    #: alert that belongs to none.
    related_incident: str | None = None

    @property
    def ref(self) -> str:
        return f"alert:{self.id}"


@dataclass(frozen=True, slots=True)
class EventFact:
    id: str
    at: datetime
    #: note, discussion, status, priority, role, itsm, … (see EVENT_KINDS). ``summary`` events (the
    #: assistant's own earlier posts) are shown on the timeline but never used as evidence.
    kind: str
    actor: str | None
    text: str
    url: str | None = None

    @property
    def ref(self) -> str:
        return f"event:{self.id}"


@dataclass(frozen=True, slots=True)
class ChangeFact:
    id: str
    source: ChangeSource
    service: str | None
    title: str
    at: datetime
    url: str | None = None
    details: str = ""
    kind: ChangeKind = "deploy"

    @property
    def ref(self) -> str:
        return f"change:{self.id}"

    @property
    def kind_name(self) -> str:
        """The kind in words: "feature flag", "DNS change", "deploy", "RFC" (an RFC of an unknown kind)."""
        return CHANGE_KIND_NAMES.get(self.kind, "change")


@dataclass(frozen=True, slots=True)
class RelatedIncidentFact:
    """An open incident on a neighbouring service: one the incident's service depends on (``dependency``) or one
    that depends on it (``dependent``). Its title is untrusted text."""

    #: ``INC-7``.
    incident: str
    title: str
    service: str
    priority: str | None
    #: triggered or acknowledged.
    status: str
    #: When it was declared.
    since: datetime
    relation: Literal["dependency", "dependent"]
    url: str | None = None

    @property
    def ref(self) -> str:
        return f"incident:{self.incident}"


EvidenceKind = Literal["log", "metric"]


@dataclass(frozen=True, slots=True)
class EvidenceFact:
    """An excerpt of the logs or metrics read around the incident's start (``warroom.response.ai.evidence``): log
    lines sharing one template (counted, first and last seen, one example), a metric series' inflection point (when
    it departed from its baseline, by how much) — or a source that could not be read in time (``unavailable``),
    so that answers can say so. Its text is redacted already by whoever built it; ``url`` opens the same query
    and window in the source's UI."""

    #: ``<source>.<n>`` (``checkout-loki.2``).
    id: str
    kind: EvidenceKind
    #: The source's name in ``evidence.sources``.
    source: str
    label: str
    text: str
    at: datetime | None = None
    url: str | None = None
    service: str | None = None
    unavailable: bool = False
    #: Metrics: the departure from the baseline as a ratio (3.0: three times the baseline).
    change: float | None = None
    #: Logs: when the template was last seen (``at`` is when it was first seen).
    last_at: datetime | None = None
    #: What the source is: ``loki``, ``elasticsearch`` or ``prometheus``.
    system: str = ""

    @property
    def ref(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class IncidentContext:
    ref: str
    title: str
    #: triggered, acknowledged or resolved.
    status: str
    priority: str | None
    service: str
    details: str = ""
    assignee: str | None = None
    created_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    #: Role → person (``commander`` → ``dana@example.com`` or a chat user id).
    roles: dict[str, str] = field(default_factory=dict)
    alerts: list[AlertFact] = field(default_factory=list)
    events: list[EventFact] = field(default_factory=list)
    changes: list[ChangeFact] = field(default_factory=list)
    #: Services this one depends on.
    dependencies: list[str] = field(default_factory=list)
    #: Name → URL: war room, bridge, ITSM request, status page, runbooks.
    links: dict[str, str] = field(default_factory=dict)
    #: Logs and metrics read around the start, and the sources that could not be read.
    evidence: list[EvidenceFact] = field(default_factory=list)
    #: Alerts of the neighbouring services (those it depends on and those that depend on it) that fired around the
    #: start, in other incidents or in none — evidence, not the incident's own alerts (they do not move its start).
    related_alerts: list[AlertFact] = field(default_factory=list)
    #: The open incidents of the neighbouring services.
    related_incidents: list[RelatedIncidentFact] = field(default_factory=list)

    def started_at(self) -> datetime | None:
        """When the trouble began: the earliest alert start, else when the incident was declared.

        An alert that began more than 12 hours before the declaration (a warning left firing for days) does not
        move the start."""
        times = [a.starts_at for a in self.alerts if a.starts_at is not None]
        if self.created_at is not None:
            cutoff = self.created_at - timedelta(hours=12)
            times = [t for t in times if t >= cutoff]
            times.append(self.created_at)
        return min(times) if times else None

    def evidence_events(self) -> list[EventFact]:
        """Timeline events that may serve as evidence (the assistant's own posts excluded), oldest first."""
        return sorted((e for e in self.events if e.kind != "summary"), key=lambda e: e.at)

    def record_refs(self) -> set[str]:
        """Every record reference that exists in this incident."""
        refs = {a.ref for a in self.alerts} | {c.ref for c in self.changes} | {f.ref for f in self.evidence}
        refs |= {a.ref for a in self.related_alerts} | {r.ref for r in self.related_incidents}
        return refs | {e.ref for e in self.events if e.kind != "summary"}

    def record_urls(self) -> dict[str, str]:
        """Record reference → its URL, for records that have one."""
        urls: dict[str, str] = {}
        for a in [*self.alerts, *self.related_alerts]:
            if a.generator_url:
                urls[a.ref] = a.generator_url
        for r in self.related_incidents:
            if r.url:
                urls[r.ref] = r.url
        for e in self.events:
            if e.url:
                urls[e.ref] = e.url
        for c in self.changes:
            if c.url:
                urls[c.ref] = c.url
        for f in self.evidence:
            if f.url:
                urls[f.ref] = f.url
        return urls

    def unavailable_sources(self) -> list[EvidenceFact]:
        """The logs and metrics sources that could not be read for this context."""
        return [f for f in self.evidence if f.unavailable]
