"""A local Webex Meetings REST API (``/v1/meetings``) on a loopback server.

What it is based on (Webex's public OpenAPI description, webex/webex-openapi-specs ``webex-meeting.json``, the
"REST API Basics" page, and the reference notes in ../shared/reference/chat-and-bridges.md):

- Every call needs ``Authorization: Bearer <token>``; otherwise 401. Error bodies are ``{"message": …,
  "errors": [{"description": …}], "trackingId": …}`` (the tracking id is also sent as the ``TrackingID`` header).
- ``POST /v1/meetings``: ``title`` required (at most 128 characters; an ad-hoc meeting defaults it to the user's
  name), ``agenda`` at most 1,300. With ``adhoc: true`` a ``roomId`` is required and start/end are set by Webex
  (5 and 20 minutes from now); ad-hoc meetings are never listed and cannot be deleted. Otherwise ``start`` and
  ``end`` are required, in any ISO 8601 form (without a zone they are read in ``timezone``, default UTC): start may
  not be before now, a start within the current minute moves to the next minute, seconds are cut off, and the
  meeting lasts between 10 minutes and 23 h 59 min. The answer (200) carries id, meetingNumber, title, agenda,
  password, phoneAndVideoSystemPassword, meetingType "meetingSeries", state, timezone, start, end, hostUserId,
  hostDisplayName, hostEmail, hostKey (host only), siteUrl, webLink, sipAddress, dialInIpAddress,
  telephony{accessCode, callInNumbers[{label, callInNumber, tollType}], links} and the join settings sent.
  Regular users may schedule about 100 meetings in 24 hours, failed requests included.
- ``GET /v1/meetings``: ``meetingType`` meetingSeries (default), scheduledMeeting or meeting; ``state`` (active,
  scheduled, ready, lobby, inProgress, ended, missed, expired); ``from``/``to`` (meeting series overlapping the
  range are listed; defaults: ``from`` now, ``to`` 7 days after ``from``, or ``from`` 7 days before a given
  ``to``); ``max`` default 10, at most 100; ``meetingNumber``. Answers ``{"items": […]}`` and, when more remain, a
  ``Link: <…>; rel="next"`` header (RFC 5988) whose URL carries the whole query and a cursor.
- ``GET /v1/meetings/{meetingId}`` and ``DELETE`` (204); unknown ids 404.
- ``GET /v1/people/me``: the token's own person (``id``, ``emails``, ``displayName``, ``orgId``, ``type``).
- Scopes: the token's (:attr:`WebexEmulator.scopes`). Reading meetings needs ``meeting:schedules_read``;
  scheduling, changing and deleting them ``meeting:schedules_write``. Without it: 403 — Webex's answer when "the
  token doesn't have the required scopes" (its developer support's words) — with the response-code table's
  description as the message; checked before the request is read, so a refused request schedules nothing and counts
  toward no limit. ``people/me`` answers any valid token.
- 429 with ``Retry-After`` seconds when rate limited. Webex publishes no per-second figure for these APIs; here it
  is ``per_second_limit`` (10/s per token, adjustable). The 24-hour scheduling limit (``daily_limit``) counts
  every authenticated ``POST /meetings`` in a sliding 24-hour window and answers 429 with the seconds until the
  oldest leaves it. The wording of both messages is this emulator's own (Webex does not document it).

Operation names for latency and faults: ``POST /meetings``, ``GET /meetings``, ``GET /meetings/{meetingId}``,
``DELETE /meetings/{meetingId}``, ``GET /people/me``.

Read-back: :attr:`WebexEmulator.meetings` (id → the full record, hostKey included, so tests can prove it never
leaks) and ``GET /_sandbox/state``. :meth:`WebexEmulator.start_meeting` acts as a participant joining would.
"""

from __future__ import annotations

import base64
import math
import secrets
import string
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from .base import Emulator, EmulatorConfig, Handler, SlidingWindow

TITLE_MAX = 128
AGENDA_MAX = 1300
MIN_DURATION = 10 * 60
MAX_DURATION = 23 * 3600 + 59 * 60
MEETING_TYPES = ("meetingSeries", "scheduledMeeting", "meeting")
STATES = ("active", "scheduled", "ready", "lobby", "inProgress", "ended", "missed", "expired")
JOIN_MINUTES = (0, 5, 10, 15)
SECURITY = ("allowJoin", "allowJoinWithLobby", "blockFromJoin")
DEFAULT_MAX = 10
WEEK = 7 * 86400
DAY = 86400
UNAUTHORIZED = "The request requires a valid access token set in the Authorization request header."
FORBIDDEN = "The request is understood, but it has been refused or access is not allowed."
READ, WRITE = "meeting:schedules_read", "meeting:schedules_write"
RATE_LIMITED = "Too many requests have been sent in a given amount of time and the request has been rate limited."
#: Sandbox call-in numbers (555 numbers: never anyone's real line).
CALL_IN = (
    {"label": "United States Toll", "callInNumber": "+1-555-010-0300", "tollType": "toll"},
    {"label": "United States Toll Free", "callInNumber": "+1-855-555-0300", "tollType": "tollFree"},
)
#: Booleans a create request may set, with the defaults Webex applies.
FLAGS: dict[str, bool] = {
    "enabledAutoRecordMeeting": False,
    "allowAnyUserToBeCoHost": False,
    "enabledJoinBeforeHost": False,
    "enableConnectAudioBeforeHost": False,
    "excludePassword": False,
    "publicMeeting": False,
    "enableAutomaticLock": False,
    "allowFirstUserToBeCoHost": False,
    "allowAuthenticatedDevices": False,
    "sendEmail": True,
}


def stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_time(value: str, zone: str = "UTC") -> float:
    """Any ISO 8601 date or time; without an offset it is read in the IANA ``zone``."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC if zone == "UTC" else ZoneInfo(zone))
    return parsed.timestamp()


class _Refused(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class WebexEmulator(Emulator):
    name = "webex"

    def __init__(
        self, config: EmulatorConfig | None = None, *, token: str = "webex-sandbox-token", daily_limit: int = 100
    ) -> None:
        super().__init__(config)
        #: The one valid access token; set another to make the current one invalid.
        self.token = token
        #: Meetings one user may schedule in 24 hours (failed requests count).
        self.daily_limit = daily_limit
        #: The token's scopes (a test may take one away).
        self.scopes: set[str] = {"spark:people_read", READ, WRITE}
        #: Requests per second per token.
        self.per_second_limit = 10
        #: The largest page served (requests may ask for up to 100).
        self.max_page_size = 100
        self.site_url = "sandbox.webex.com"
        self.host = {"id": f"Y2lzY29zcGFyazovL3VzL1BFT1BMRS9{secrets.token_hex(8)}", "email": "host@example.com",
                     "displayName": "Sandbox Host"}
        #: Wall clock (epoch seconds) and the clock the rate limits run on; tests may replace either.
        self.clock: Callable[[], float] = time.time
        self.monotonic: Callable[[], float] = time.monotonic
        #: Meeting series id → the full record as ``GET /meetings/{id}`` shows it (hostKey included).
        self.meetings: dict[str, dict[str, Any]] = {}
        self.deleted: list[dict[str, Any]] = []
        self._started: set[str] = set()
        self._per_second = SlidingWindow(self.per_second_limit, 1.0)
        self._daily = SlidingWindow(self.daily_limit, DAY)
        self._next_number = 25_000_000_000 + secrets.randbelow(1_000_000_000)

        self.route("POST", "/v1/meetings", "POST /meetings", self._api(self._create, WRITE))
        self.route("GET", "/v1/meetings", "GET /meetings", self._api(self._list, READ))
        self.route("GET", "/v1/meetings/{meetingId}", "GET /meetings/{meetingId}", self._api(self._get, READ))
        self.route("DELETE", "/v1/meetings/{meetingId}", "DELETE /meetings/{meetingId}",
                   self._api(self._delete, WRITE))
        self.route("GET", "/v1/people/me", "GET /people/me", self._api(self._me))
        self.app.router.add_get("/sandbox/j.php", self._join_page)
        self.app.router.add_get("/_sandbox/state", self._state_endpoint)

    # -- control ------------------------------------------------------------------------------------
    def start_meeting(self, meeting_id: str) -> None:
        """Someone joined: the series is in progress."""
        self._started.add(meeting_id)

    def state(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "meetings": [self._view(m) for m in self.meetings.values()],
            "deleted": self.deleted,
        }

    # -- HTTP: plumbing -----------------------------------------------------------------------------
    async def _state_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    @staticmethod
    def error(status: int, message: str, *descriptions: str, headers: dict[str, str] | None = None) -> web.Response:
        tracking = f"ROUTER_{uuid.uuid4()}".upper()
        body = {
            "message": message,
            "errors": [{"description": d} for d in (descriptions or (message,))],
            "trackingId": tracking,
        }
        return web.json_response(body, status=status, headers={"TrackingID": tracking, **(headers or {})})

    def rate_limited(self, retry_after: float) -> web.Response:
        return self.error(429, RATE_LIMITED, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})

    def _api(self, handler: Handler, scope: str | None = None) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if not token or not secrets.compare_digest(token, self.token):
                return self.error(401, UNAUTHORIZED)
            if scope is not None and scope not in self.scopes:
                return self.error(403, FORBIDDEN)
            if self.config.rate_limits:
                self._per_second.limit = self.per_second_limit
                wait = self._per_second.hit(token, now=self.monotonic())
                if wait:
                    return self.rate_limited(wait)
            try:
                return await handler(request)
            except _Refused as exc:
                return self.error(exc.status, exc.message)

        return checked

    # -- HTTP: people -------------------------------------------------------------------------------
    async def _me(self, request: web.Request) -> web.Response:
        """``GET /people/me``: the token's own person (the host every bridge is scheduled for)."""
        return web.json_response({
            "id": self.host["id"],
            "emails": [self.host["email"]],
            "displayName": self.host["displayName"],
            "orgId": "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9zYW5kYm94",
            "type": "person",
        })

    # -- HTTP: meetings -----------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        if self.config.rate_limits:
            self._daily.limit = self.daily_limit
            wait = self._daily.hit(self.host["id"], now=self.monotonic())
            if wait:
                message = (
                    f"The user has scheduled the most meetings allowed in 24 hours ({self.daily_limit}); "
                    "try again later."
                )
                return self.error(429, message, headers={"Retry-After": str(math.ceil(wait))})
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _Refused("The request body is not a valid JSON object.")
        now = self.clock()
        specific = self._adhoc(body, now) if body.get("adhoc") is True else self._scheduled(body, now)
        record = {**self._common(body), **specific}
        self.meetings[record["id"]] = record
        return web.json_response(self._view(record))

    def _adhoc(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        room = body.get("roomId")
        if not isinstance(room, str) or not room:
            raise _Refused("roomId is required when adhoc is true.")
        start = math.floor(now / 60) * 60 + 5 * 60
        return {
            "title": _text(body, "title", TITLE_MAX, self.host["displayName"]),
            "start": start,
            "end": start + 15 * 60,
            "timezone": "UTC",
            "roomId": room,
            "adhoc": True,
            "enabledJoinBeforeHost": True,
            "enableConnectAudioBeforeHost": True,
            "allowAnyUserToBeCoHost": True,
            "joinBeforeHostMinutes": 5,
            "unlockedMeetingJoinSecurity": "allowJoinWithLobby",
        }

    def _scheduled(self, body: dict[str, Any], now: float) -> dict[str, Any]:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _Refused("title is required.")
        zone = body.get("timezone", "UTC")
        if not isinstance(zone, str):
            raise _Refused("timezone is not a valid time zone.")
        try:
            if zone != "UTC":
                ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise _Refused(f"timezone '{zone}' is not a valid IANA time zone.") from None
        times: dict[str, float] = {}
        for key in ("start", "end"):
            raw = body.get(key)
            if not isinstance(raw, str) or not raw:
                raise _Refused(f"{key} is required.")
            try:
                times[key] = parse_time(raw, zone)
            except ValueError:
                raise _Refused(f"{key} is not a valid ISO 8601 date and time.") from None
        minute = math.floor(now / 60) * 60
        start, end = times["start"], math.floor(times["end"] / 60) * 60
        if start < minute:
            raise _Refused("start cannot be before current date and time.")
        start = minute + 60 if start < minute + 60 else math.floor(start / 60) * 60
        if end <= start:
            raise _Refused("end cannot be before start.")
        if not MIN_DURATION <= end - start <= MAX_DURATION:
            raise _Refused("Duration between start and end must be between 10 minutes and 23 hours 59 minutes.")
        if start - now >= 10 * 365 * DAY:
            raise _Refused("start cannot be 10 years or more in the future.")
        minutes = body.get("joinBeforeHostMinutes", 0)
        if minutes not in JOIN_MINUTES:
            raise _Refused("joinBeforeHostMinutes must be 0, 5, 10 or 15 for a meeting.")
        security = body.get("unlockedMeetingJoinSecurity", "allowJoinWithLobby")
        if security not in SECURITY:
            raise _Refused(f"unlockedMeetingJoinSecurity must be one of {', '.join(SECURITY)}.")
        return {
            "title": _text(body, "title", TITLE_MAX, ""),
            "start": start,
            "end": end,
            "timezone": zone,
            "adhoc": False,
            "joinBeforeHostMinutes": minutes,
            "unlockedMeetingJoinSecurity": security,
        }

    def _common(self, body: dict[str, Any]) -> dict[str, Any]:
        flags: dict[str, bool] = {}
        for key, default in FLAGS.items():
            value = body.get(key, default)
            if not isinstance(value, bool):
                raise _Refused(f"{key} must be true or false.")
            flags[key] = value
        password = body.get("password")
        if password is not None and (not isinstance(password, str) or not 4 <= len(password) <= 32):
            raise _Refused("password does not conform to the site's password rules.")
        meeting_id = uuid.uuid4().hex
        number = str(self._next_number)
        self._next_number += 1 + secrets.randbelow(97)
        return {
            "id": meeting_id,
            "meetingNumber": number,
            "agenda": _text(body, "agenda", AGENDA_MAX, ""),
            "password": password or _password(),
            "phoneAndVideoSystemPassword": "".join(secrets.choice(string.digits) for _ in range(8)),
            "meetingType": "meetingSeries",
            "scheduledType": "meeting",
            "hostUserId": self.host["id"],
            "hostDisplayName": self.host["displayName"],
            "hostEmail": self.host["email"],
            "hostKey": "".join(secrets.choice(string.digits) for _ in range(6)),
            "siteUrl": self.site_url,
            "webLink": f"{self.base_url}/sandbox/j.php?MTID=m{secrets.token_hex(16)}",
            "sipAddress": f"{number}@{self.site_url}",
            "dialInIpAddress": "192.0.2.10",
            "telephony": {
                "accessCode": number,
                "callInNumbers": [dict(n) for n in CALL_IN],
                "links": [
                    {"rel": "globalCallinNumbers", "href": f"/v1/meetings/{meeting_id}/globalCallinNumbers", "method": "GET"}
                ],
            },
            **{k: v for k, v in flags.items() if k != "sendEmail"},
        }

    def _series_state(self, record: dict[str, Any], now: float) -> str:
        if record["id"] in self._started:
            return "inProgress"
        return "expired" if now >= record["end"] else "active"

    def _view(self, record: dict[str, Any]) -> dict[str, Any]:
        """The series as the API shows it (times as text, the state as of now)."""
        shown = {k: v for k, v in record.items() if k != "adhoc"}
        shown["start"], shown["end"] = stamp(record["start"]), stamp(record["end"])
        shown["state"] = self._series_state(record, self.clock())
        return shown

    def _occurrence(self, record: dict[str, Any], now: float) -> dict[str, Any]:
        shown = self._view(record)
        shown["meetingSeriesId"] = record["id"]
        shown["id"] = f"{record['id']}_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(record['start']))}"
        shown["meetingType"] = "scheduledMeeting"
        opens = record["start"] - 60 * record["joinBeforeHostMinutes"]
        if record["id"] in self._started:
            shown["state"] = "ready"
        elif now >= record["end"]:
            shown["state"] = "missed"
        else:
            shown["state"] = "ready" if now >= opens else "scheduled"
        return shown

    def _instance(self, record: dict[str, Any]) -> dict[str, Any]:
        shown = self._view(record)
        shown["meetingSeriesId"] = record["id"]
        shown["id"] = f"{record['id']}_I_{int(record['start'])}"
        shown["meetingType"] = "meeting"
        shown["state"] = "inProgress"
        shown.pop("end", None)
        return shown

    async def _list(self, request: web.Request) -> web.Response:
        query = request.query
        now = self.clock()
        kind = query.get("meetingType", "meetingSeries")
        if kind not in MEETING_TYPES:
            raise _Refused(f"meetingType must be one of {', '.join(MEETING_TYPES)}.")
        state = query.get("state")
        if state is not None and state not in STATES:
            raise _Refused(f"state must be one of {', '.join(STATES)}.")
        try:
            limit = int(query.get("max", DEFAULT_MAX))
        except ValueError:
            raise _Refused("max must be a number from 1 to 100.") from None
        if not 1 <= limit <= 100:
            raise _Refused("max must be a number from 1 to 100.")
        limit = min(limit, self.max_page_size)
        try:
            offset = int(base64.urlsafe_b64decode(query.get("cursor", "MA==")).decode())
        except ValueError:
            raise _Refused("cursor is not valid.") from None
        candidates = [m for m in self.meetings.values() if not m["adhoc"]]
        number = query.get("meetingNumber")
        if number is not None:
            items = [self._view(m) for m in candidates if m["meetingNumber"] == number]
        else:
            begin, until = self._range(query, kind, now)
            overlapping = sorted(
                (m for m in candidates if m["start"] < until and m["end"] > begin), key=lambda m: (m["start"], m["id"])
            )
            if kind == "meetingSeries":
                items = [self._view(m) for m in overlapping]
            elif kind == "scheduledMeeting":
                items = [self._occurrence(m, now) for m in overlapping]
            else:
                items = [self._instance(m) for m in overlapping if m["id"] in self._started]
            if state is not None:
                items = [i for i in items if i["state"] == state]
        page = items[offset : offset + limit]
        headers: dict[str, str] = {}
        if offset + limit < len(items):
            params = [(k, v) for k, v in query.items() if k != "cursor"]
            params.append(("cursor", base64.urlsafe_b64encode(str(offset + limit).encode()).decode()))
            headers["Link"] = f'<{self.base_url}/v1/meetings?{urlencode(params)}>; rel="next"'
        return web.json_response({"items": page}, headers=headers)

    @staticmethod
    def _range(query: Any, kind: str, now: float) -> tuple[float, float]:
        bounds: dict[str, float] = {}
        for key in ("from", "to"):
            if key in query:
                try:
                    bounds[key] = parse_time(str(query[key]))
                except ValueError:
                    raise _Refused(f"{key} is not a valid ISO 8601 date and time.") from None
        if "from" in bounds and "to" in bounds:
            begin, until = bounds["from"], bounds["to"]
        elif "from" in bounds:
            begin, until = bounds["from"], bounds["from"] + WEEK
        elif "to" in bounds:
            begin, until = bounds["to"] - WEEK, bounds["to"]
        elif kind == "meeting":
            begin, until = now - WEEK, now
        else:
            begin, until = now, now + WEEK
        if begin > until:
            raise _Refused("from cannot be after to.")
        return begin, until

    def _lookup(self, raw: str) -> dict[str, Any] | None:
        series, _, _ = raw.partition("_")
        return self.meetings.get(series)

    async def _get(self, request: web.Request) -> web.Response:
        raw = request.match_info["meetingId"]
        record = self._lookup(raw)
        if record is None:
            raise _Refused("Meeting not found.", 404)
        if raw == record["id"]:
            return web.json_response(self._view(record))
        return web.json_response(self._occurrence(record, self.clock()))

    async def _delete(self, request: web.Request) -> web.Response:
        record = self._lookup(request.match_info["meetingId"])
        if record is None:
            raise _Refused("Meeting not found.", 404)
        if record["adhoc"]:
            raise _Refused("An ad-hoc meeting cannot be deleted.")
        self.deleted.append(self._view(self.meetings.pop(record["id"])))
        return web.Response(status=204)

    async def _join_page(self, request: web.Request) -> web.Response:
        record = next((m for m in self.meetings.values() if m["webLink"].endswith(request.path_qs)), None)
        if record is None:
            return web.Response(status=404, text="This meeting link is not valid.")
        return web.Response(text=f"Sandbox Webex meeting {record['meetingNumber']}: {record['title']}")


def _text(body: dict[str, Any], key: str, limit: int, default: str) -> str:
    value = body.get(key, default)
    if value is None:
        value = default
    if not isinstance(value, str):
        raise _Refused(f"{key} must be text.")
    if len(value) > limit:
        raise _Refused(f"{key} can be at most {limit} characters long.")
    return value


def _password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8)) + "@1"

