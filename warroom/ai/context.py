"""What the AI responder knows about an incident: plain frozen data the caller builds (from the database).

Every text field is untrusted: it came from alert senders, chat, the service desk or deploy tools. The
assistant never writes anything back; it reads an :class:`IncidentContext` and returns results.

Each alert, timeline event and change is a *record* with a reference ``"<kind>:<id>"`` (``alert:17``,
``event:203``, ``change:CHG-88``); answers cite records by that reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

ChangeSource = Literal["itsm-rfc", "deploy"]

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

    @property
    def ref(self) -> str:
        return f"change:{self.id}"


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
        refs = {a.ref for a in self.alerts} | {c.ref for c in self.changes}
        return refs | {e.ref for e in self.events if e.kind != "summary"}

    def record_urls(self) -> dict[str, str]:
        """Record reference → its URL, for records that have one."""
        urls: dict[str, str] = {}
        for a in self.alerts:
            if a.generator_url:
                urls[a.ref] = a.generator_url
        for e in self.events:
            if e.url:
                urls[e.ref] = e.url
        for c in self.changes:
            if c.url:
                urls[c.ref] = c.url
        return urls
