"""The domain's records and value types: plain data, no I/O."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Urgency(StrEnum):
    LOW = "low"
    HIGH = "high"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Origin(StrEnum):
    """Where a major incident was declared from."""

    ALERT = "alert"
    CHAT = "chat"
    ITSM = "itsm"


class LinkKind(StrEnum):
    """The outside records an incident is linked to (its Communication section)."""

    SLACK_CHANNEL = "slack_channel"
    SLACK_CARD = "slack_card"
    XURRENT_REQUEST = "xurrent_request"
    BRIDGE = "bridge"
    #: The Teams war room: a channel in the service's team, or a group chat.
    TEAMS_CHANNEL = "teams_channel"
    #: The incident's Adaptive Card in the Teams war room (its conversation and activity id).
    TEAMS_CARD = "teams_card"
    #: The postmortem draft (its capability URL on this server).
    POSTMORTEM = "postmortem"
    #: The post-incident tasks' cards in the Teams war room: data {"cards": {task id: {"activity", "conversation",
    #: "service_url"}}} (the Bot Connector cannot be asked what the bot posted, so they are remembered).
    TEAMS_TASK_CARDS = "teams_task_cards"


@dataclass(frozen=True, slots=True)
class Incident:
    id: int
    title: str
    status: Status
    priority: str | None
    urgency: Urgency
    service: str
    details: str
    assignee: str | None
    origin: Origin
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    version: int = 0
    #: Set when this incident was folded into another as its duplicate.
    merged_into: int | None = None

    @property
    def number(self) -> int:
        return self.id

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"


@dataclass(frozen=True, slots=True)
class AlertIn:
    """An alert as an intake source delivered it, translated at the edge."""

    source: str
    fingerprint: str
    status: AlertStatus
    name: str
    summary: str
    service: str | None
    severity: str | None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    incident_id: int
    kind: LinkKind
    remote_id: str
    url: str | None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    incident_id: int
    at: datetime
    kind: str
    text: str
    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    id: int = 0


@dataclass(frozen=True, slots=True)
class RoleHolder:
    """Who holds a role on an incident: ``role`` is the role's key (``commander``)."""

    role: str
    display: str
    email: str | None = None
    #: The holder in a chat, for mentions: "slack:U123".
    chat_user: str | None = None


@dataclass(frozen=True, slots=True)
class Stakeholder:
    kind: str  # user | channel | email
    ref: str
    display: str


_SLUG_DROP = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_len: int = 40) -> str:
    """Lower-case ASCII words joined by hyphens, as Slack channel names allow."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = _SLUG_DROP.sub("-", ascii_text).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rsplit("-", 1)[0] if "-" in slug[:max_len] else slug[:max_len]
    return slug.strip("-") or "incident"


_CHANNEL_BAD = re.compile(r"[^a-z0-9_-]+")


def channel_name(pattern: str, *, number: int, title: str, service: str, priority: str | None) -> str:
    """Render a war-room channel name: lower-case, Slack's alphabet, at most 80 characters."""
    raw = pattern.format(number=number, slug=slugify(title), service=service, priority=(priority or "").lower())
    name = _CHANNEL_BAD.sub("-", raw.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)
    return name[:80].rstrip("-") or f"inc-{number}"
