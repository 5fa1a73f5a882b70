"""Teams online meetings through Graph, and :class:`TeamsMeetings`: Teams meetings as incident bridges (a
:class:`~warroom.adapters.ports.BridgePort`).

- **Online meetings** are created with ``POST /users/{organizer}/onlineMeetings/createOrGet`` and an
  ``externalId`` derived from the topic: Graph's idempotent create, so a retry after a crash returns the same
  meeting. :meth:`TeamsMeetings.find_meeting` returns None — Graph cannot list or filter meetings by subject,
  and :meth:`TeamsMeetings.create_meeting` already gets the existing one.
- **The application access policy** an app needs to act on a user's online meetings is a Teams setting
  (``New-CsApplicationAccessPolicy``, ``Grant-CsApplicationAccessPolicy``) that Graph does not expose. So
  :meth:`GraphMeetings.check_meeting_access` asks for a meeting of the organizer that does not exist (an id in
  Graph's own form, ``1*{organizer}*0**19:meeting_…@thread.v2``, base64url): Graph answers 404 when the policy lets
  the app in, 403 "No application access policy found for this app." (:class:`~.client.NoAccessPolicy`) when it
  does not. Nothing is created.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from warroom.adapters.errors import NotFound, Permanent
from warroom.adapters.ports import Meeting

from .client import SYSTEM, GraphClient, _obj, _q

if TYPE_CHECKING:
    from . import TeamsGraph

MEETING_HOURS = 4


def meeting_external_id(topic: str) -> str:
    """The createOrGet key of a bridge: stable for a topic (which carries the incident's reference)."""
    return "warroom-" + hashlib.sha256(topic.encode()).hexdigest()[:40]


class GraphMeetings(GraphClient):
    """Online meetings (``/users/{organizer}/onlineMeetings``)."""

    async def create_or_get_meeting(
        self, organizer_id: str, external_id: str, subject: str, start: datetime, end: datetime
    ) -> dict[str, Any]:
        body = {
            "externalId": external_id,
            "subject": subject,
            "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        record = await self.api.json(
            "POST", f"users/{_q(organizer_id)}/onlineMeetings/createOrGet", json=body, idempotent=True
        )
        if not isinstance(record, dict):
            raise Permanent(SYSTEM, "createOrGet did not answer with a meeting")
        return record


    async def check_meeting_access(self, organizer_id: str) -> None:
        """Whether the app may act on the online meetings of ``organizer_id`` (an object id), without creating one;
        raises :class:`~.client.NoAccessPolicy` when no application access policy lets it (see the module notes)."""
        thread = "19:meeting_warroom-access-check@thread.v2"
        nothing = base64.urlsafe_b64encode(f"1*{organizer_id}*0**{thread}".encode()).decode().rstrip("=")
        try:
            await self.api.json("GET", f"users/{_q(organizer_id)}/onlineMeetings/{_q(nothing)}")
        except NotFound:
            return


class TeamsMeetings:
    """Teams meetings as incident bridges (``bridge: teams``), organised by one user of the tenant."""

    provider = "teams"

    def __init__(self, graph: TeamsGraph, organizer: str, *, hours: int = MEETING_HOURS) -> None:
        self.graph = graph
        self.organizer = organizer
        self.hours = hours
        self._organizer_id: str | None = None

    async def _organizer(self) -> str:
        if not self.organizer:
            raise Permanent(
                SYSTEM,
                "teams.meeting_organizer is not set: name the user (object id or sign-in name) "
                "whose Teams meetings serve as bridges.",
            )
        if self._organizer_id is None:
            self._organizer_id = (
                self.organizer if _is_guid(self.organizer) else await self.graph.user_id(self.organizer)
            )
        return self._organizer_id

    async def create_meeting(self, topic: str, *, agenda: str = "") -> Meeting:
        start = datetime.now(UTC)
        record = await self.graph.create_or_get_meeting(
            await self._organizer(),
            meeting_external_id(topic),
            topic,
            start,
            start + timedelta(hours=self.hours),
        )
        return _meeting(record, topic)

    async def find_meeting(self, topic: str) -> Meeting | None:
        """Always None: Graph cannot look meetings up by subject, and :meth:`create_meeting` is idempotent."""
        return None


def _is_guid(value: str) -> bool:
    return (
        re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", value)
        is not None
    )


def _meeting(record: Mapping[str, Any], topic: str) -> Meeting:
    try:
        meeting_id = str(record["id"])
        join_url = str(record["joinWebUrl"])
    except KeyError:
        raise Permanent(
            SYSTEM, "Graph answered with an online meeting that has no id or joinWebUrl"
        ) from None
    extra: dict[str, Any] = {}
    settings = _obj(record.get("joinMeetingIdSettings"))
    if settings.get("joinMeetingId"):
        extra["meeting_number"] = str(settings["joinMeetingId"])
    if settings.get("passcode"):
        extra["passcode"] = str(settings["passcode"])
    audio = _obj(record.get("audioConferencing"))
    dial_in = [
        {"label": label, "number": str(audio[key]), "type": kind}
        for key, label, kind in (("tollNumber", "Toll", "toll"), ("tollFreeNumber", "Toll-free", "tollfree"))
        if audio.get(key)
    ]
    if dial_in:
        extra["dial_in"] = dial_in
    if audio.get("conferenceId"):
        extra["phone_passcode"] = str(audio["conferenceId"])
    return Meeting(
        provider="teams",
        id=meeting_id,
        join_url=join_url,
        topic=str(record.get("subject") or topic),
        extra=extra,
    )
