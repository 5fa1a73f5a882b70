"""Online meetings in the Graph emulator.

- **Online meetings** ``POST /users/{id}/onlineMeetings`` and ``…/onlineMeetings/createOrGet`` (``externalId``
  required; one meeting per organizer and externalId: 201 when created, 200 with the same meeting after) →
  {id, joinWebUrl, subject, startDateTime, endDateTime (default start + 1 h), externalId, participants,
  joinMeetingIdSettings {joinMeetingId, passcode}, audioConferencing, chatInfo}. ``{id}`` must be the
  organizer's object id, who must have been granted an application access policy for the app (else 403
  ``General`` "No application access policy found for this app."); ``GET
  /users/{id}/onlineMeetings/{meetingId}``.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ..tenant import iso
from .core import GraphCore, _Refused


class GraphMeetings(GraphCore):
    """``/users/{id}/onlineMeetings``."""

    def _organizer(self, request: web.Request) -> dict[str, Any]:
        key = request.match_info["user"]
        user = self.tenant.users.get(key)  # application permissions take the organizer's object id only
        if user is None:
            raise _Refused(404, "NotFound", f"User {key} not found: give the organizer's object id.")
        if user["id"] not in self.tenant.policy_users:
            raise _Refused(403, "General", "No application access policy found for this app.")
        return user

    async def _create_meeting(self, request: web.Request) -> web.Response:
        organizer = self._organizer(request)
        body = await self._body(request)
        return web.json_response(self._new_meeting(organizer, body, external_id=None), status=201)

    async def _create_or_get_meeting(self, request: web.Request) -> web.Response:
        organizer = self._organizer(request)
        body = await self._body(request)
        external = body.get("externalId")
        if not isinstance(external, str) or not external:
            raise _Refused(400, "BadRequest", "externalId is required.")
        for meeting in self.tenant.meetings.values():
            if meeting["_organizer"] == organizer["id"] and meeting["externalId"] == external:
                return web.json_response(_public(meeting), status=200)
        return web.json_response(self._new_meeting(organizer, body, external_id=external), status=201)

    def _new_meeting(
        self, organizer: dict[str, Any], body: dict[str, Any], *, external_id: str | None
    ) -> dict[str, Any]:
        now = self.tenant.clock()
        try:
            start = _when(body.get("startDateTime")) if body.get("startDateTime") else now
            end = _when(body.get("endDateTime")) if body.get("endDateTime") else start + 3600
        except ValueError:
            raise _Refused(
                400, "BadRequest", "startDateTime and endDateTime must be ISO 8601 times."
            ) from None
        if body.get("endDateTime") and not body.get("startDateTime"):
            raise _Refused(400, "BadRequest", "endDateTime was given without startDateTime.")
        if end < start:
            raise _Refused(400, "BadRequest", "endDateTime is earlier than startDateTime.")
        subject = body.get("subject") or ""
        if not isinstance(subject, str):
            raise _Refused(400, "BadRequest", "subject must be a string.")
        thread = (
            f"19:meeting_{base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip('=')}@thread.v2"
        )
        meeting_id = (
            base64.urlsafe_b64encode(f"1*{organizer['id']}*0**{thread}".encode()).decode().rstrip("=")
        )
        join_id = "".join(secrets.choice("0123456789") for _ in range(12))
        conference = "".join(secrets.choice("0123456789") for _ in range(9))
        meeting: dict[str, Any] = {
            "id": meeting_id,
            "creationDateTime": iso(now),
            "startDateTime": iso(start),
            "endDateTime": iso(end),
            "joinWebUrl": f"{self.base_url}/l/meetup-join/{quote(thread, safe='')}/0?context="
            + quote(json.dumps({"Tid": self.tenant.tenant_id, "Oid": organizer["id"]}), safe=""),
            "subject": subject,
            "externalId": external_id,
            "isBroadcast": False,
            "autoAdmittedUsers": "everyoneInCompany",
            "allowedPresenters": "everyone",
            "participants": {
                "organizer": {
                    "upn": organizer["userPrincipalName"],
                    "role": "presenter",
                    "identity": {"user": {"id": organizer["id"]}},
                },
                "attendees": [],
            },
            "joinMeetingIdSettings": {
                "isPasscodeRequired": True,
                "joinMeetingId": join_id,
                "passcode": secrets.token_urlsafe(5)[:6],
            },
            "audioConferencing": {
                "conferenceId": conference,
                "tollNumber": "+1 555 010 0300",
                "tollFreeNumber": None,
                "dialinUrl": f"{self.base_url}/dialin/{conference}",
            },
            "chatInfo": {"threadId": thread, "messageId": "0", "replyChainMessageId": None},
            "lobbyBypassSettings": {"scope": "organization", "isDialInBypassEnabled": False},
            "_organizer": organizer["id"],
        }
        self.tenant.meetings[meeting_id] = meeting
        return _public(meeting)

    async def _get_meeting(self, request: web.Request) -> web.Response:
        organizer = self._organizer(request)
        meeting = self.tenant.meetings.get(request.match_info["meeting"])
        if meeting is None or meeting["_organizer"] != organizer["id"]:
            raise _Refused(404, "NotFound", "The online meeting was not found.")
        return web.json_response(_public(meeting))


def _public(meeting: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meeting.items() if not k.startswith("_")}


def _when(value: Any) -> float:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
