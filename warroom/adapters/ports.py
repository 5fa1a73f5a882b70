"""The seams between warroom and the outside systems: one small Protocol per kind of system.

Adapters implement these over real HTTP; tests and the demo point the same adapters at the sandbox
emulators. Every method raises only :mod:`warroom.adapters.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ChannelRef:
    id: str
    name: str
    url: str | None = None


@dataclass(frozen=True, slots=True)
class MessageRef:
    channel_id: str
    ts: str
    #: The message metadata's event_payload, when the message was found by it.
    payload: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Bookmark:
    id: str
    title: str
    link: str


class ChatPort(Protocol):
    """A chat workspace (Slack) as the war-room fan-out uses it."""

    async def bot_user_id(self) -> str: ...

    async def create_channel(self, name: str, *, private: bool = False) -> ChannelRef:
        """Create a channel. Raises :class:`~warroom.adapters.errors.Conflict` when the name is taken."""
        ...

    async def find_own_channel(self, name: str) -> ChannelRef | None:
        """The channel of that name if this bot created it (to adopt it after a crash), else None."""
        ...

    async def lookup_users(self, emails: Sequence[str]) -> dict[str, str]:
        """Email → user id for the emails that belong to someone in the workspace."""
        ...

    async def invite(self, channel_id: str, user_ids: Sequence[str]) -> None:
        """Invite everyone in one call; people already in the channel are not an error."""
        ...

    async def set_topic(self, channel_id: str, topic: str) -> None: ...

    async def post_message(
        self,
        channel_id: str,
        text: str,
        *,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> MessageRef:
        """``metadata`` is Slack message metadata {"event_type": …, "event_payload": {…}}."""
        ...

    async def update_message(
        self, channel_id: str, ts: str, text: str, *, blocks: Sequence[Mapping[str, Any]] | None = None
    ) -> None: ...

    async def find_message(
        self, channel_id: str, event_type: str, key: str, *, oldest: float | None = None
    ) -> MessageRef | None:
        """A message this bot posted whose metadata has that event_type and event_payload["key"] == key (posted
        since ``oldest``, a Unix time, when given)."""
        ...

    async def channel_id(self, name: str) -> str:
        """The id of a channel by its name (Permanent when the app sees none)."""
        ...

    async def archive(self, channel_id: str) -> None:
        """Archive a channel; archived already is not an error."""
        ...

    async def unarchive(self, channel_id: str) -> bool:
        """Unarchive a channel; False when the chat refuses the app (Slack: bot tokens cannot)."""
        ...

    async def pin(self, channel_id: str, ts: str) -> None:
        """Pin; already pinned is not an error."""
        ...

    async def add_bookmark(self, channel_id: str, title: str, link: str) -> Bookmark: ...

    async def list_bookmarks(self, channel_id: str) -> list[Bookmark]: ...

    def channel_url(self, channel_id: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    email: str


class ItsmPort(Protocol):
    """An ITSM (Xurrent) as the link engine uses it. Request bodies and results use Xurrent's REST shapes."""

    async def find_person(self, email: str) -> Person | None: ...

    async def get_person(self, person_id: int) -> Person | None:
        """The person with that id (None when there is none), for mapping a request's member to an email."""
        ...

    async def api_person_id(self) -> int:
        """The person the integration acts as in the ITSM (its own notes and changes carry this id)."""
        ...

    async def create_request(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """POST /requests; returns the created request."""
        ...

    async def find_request_by_source(self, source: str, source_id: str) -> dict[str, Any] | None:
        """The request created with that ``source``/``sourceID``, if any (the create idempotency key)."""
        ...

    async def get_request(self, request_id: int) -> dict[str, Any]: ...

    async def update_request(self, request_id: int, fields: Mapping[str, Any]) -> dict[str, Any]: ...

    async def add_note(self, request_id: int, text: str, *, internal: bool = False) -> int:
        """POST /requests/:id/notes; returns the note id."""
        ...

    async def list_notes(self, request_id: int) -> list[dict[str, Any]]: ...

    def request_url(self, request_id: int) -> str: ...

    def requests(self, filters: Mapping[str, str] | None = None) -> AsyncIterator[dict[str, Any]]:
        """Requests matching the ITSM's collection filters (e.g. ``updated_at: ">=…"``), every page."""
        ...

    async def confirm_webhook(self, callback_url: str) -> None:
        """Call a ``webhook.verify`` callback, which activates the webhook. Only URLs on the ITSM's own host."""
        ...


@dataclass(frozen=True, slots=True)
class Meeting:
    provider: str
    id: str
    join_url: str
    topic: str
    #: Dial-in and other details safe to share with everyone (never a host/start link).
    extra: dict[str, Any] = field(default_factory=dict)


class BridgePort(Protocol):
    """A conference bridge provider (Zoom, Webex)."""

    provider: str

    async def create_meeting(self, topic: str, *, agenda: str = "") -> Meeting: ...

    async def find_meeting(self, topic: str) -> Meeting | None:
        """A meeting this account created with exactly that topic (to adopt it after a crash)."""
        ...


@dataclass(frozen=True, slots=True)
class LogLine:
    """One log line read as evidence: when (UTC, from the source's timestamp), the line, and its labels or fields."""

    at: datetime
    line: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One series of a range query: its labels and ``(unix seconds, value)`` points, oldest first."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


class LogsPort(Protocol):
    """A log store read for evidence (Loki, Elasticsearch/OpenSearch). Read-only; bounded by ``limit``."""

    async def lines(
        self, query: str, start: datetime, end: datetime, *, limit: int, index: str = ""
    ) -> list[LogLine]:
        """Lines matching ``query`` between ``start`` and ``end``, newest first, at most ``limit``."""
        ...


class MetricsPort(Protocol):
    """A metrics store read for evidence (Prometheus). Read-only; bounded in series and points."""

    async def range(self, query: str, start: datetime, end: datetime, *, step: float) -> list[MetricSeries]:
        """The expression evaluated every ``step`` seconds from ``start`` to ``end``."""
        ...
