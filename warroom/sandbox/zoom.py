"""A local Zoom: the OAuth host (``/oauth/token``) and the REST API ``/v2`` on one loopback server.

What it is based on (developers.zoom.us API reference and error pages, Zoom's developer forum answers, and the
reference notes in ../shared/reference/chat-and-bridges.md):

- Server-to-Server OAuth: ``POST /oauth/token`` with ``grant_type=account_credentials`` and ``account_id`` (in the
  form body or, as Zoom's older docs show, the query string) and ``Authorization: Basic base64(id:secret)``.
  Answers ``{access_token, token_type: "bearer", expires_in: 3600, scope, api_url}``; no refresh token. Failures
  use Zoom's OAuth shape ``{"reason": …, "error": …}``: wrong client credentials 400 ``invalid_client`` (what
  integrators report Zoom answering), missing credentials 401 ``invalid_client``, missing or unsupported grant
  400 ``invalid_request`` / ``unsupported_grant_type``, an unknown account 400 ``invalid_request`` "Account does
  not exist".
- API errors are ``{"code": …, "message": …}``: 401 code 124 "Invalid access token." (and "Access token is
  expired." once a token has expired); 404 code 1001 "User does not exist: {userId}."; 404 code 3001 "Meeting
  does not exist: {meetingId}."; 400 code 300 "Validation Failed." with ``errors: [{field, message}]``, or
  "Request Body should be a valid JSON object.".
- ``POST /v2/users/{userId}/meetings`` (``me`` = the account owner, the first user; or a user's id or email):
  type 1 instant, 2 scheduled, 3 recurring without fixed time, 8 recurring with fixed time; topic at most 200
  characters, agenda at most 2,000, password at most 10 of ``[A-Za-z0-9@-_*]``. Answers 201 with id (int64),
  uuid, host_id, host_email, topic, type, status "waiting", start_time (not for instant meetings), duration,
  timezone, agenda, created_at, start_url (host only: it starts the meeting as the host), join_url (with
  ``pwd``), password, h323_password, pstn_password, encrypted_password and settings (with
  ``global_dial_in_numbers`` when telephone audio is on).
- ``GET /v2/users/{userId}/meetings``: ``type`` scheduled (default: every unexpired meeting, live or upcoming),
  live, upcoming, upcoming_meetings, previous_meetings; ``page_size`` default 30, at most 300 (larger values are
  cut to the maximum); ``next_page_token`` (valid 15 minutes; "" on the last page). As documented, instant meetings
  are never listed and neither are expired ones (a non-recurring scheduled meeting expires 30 days after its
  start). Items carry no start_url and no passwords.
- ``GET /v2/meetings/{meetingId}`` (the whole record, start_url included) and ``DELETE`` (204).
- ``GET /v2/users/{userId}`` (``me``, an id or an email): id, first_name, last_name, display_name, email, type (1
  Basic, 2 Licensed, 4 Unassigned without Meetings Basic, 99 None), status (``active``, ``inactive`` — deactivated —,
  ``pending`` — invited, not yet joined), role_name, timezone, verified, account_id, created_at; 404 code 1001 for
  a user the account does not have.
- Scopes: a token carries the app's scopes when it was issued (:attr:`ZoomEmulator.scopes`, granular
  ``…:admin`` scopes as Server-to-Server apps have); each operation needs its own
  (:data:`OPERATION_SCOPES`). Without it: 400 code 4711 "Invalid access token, does not contain scopes:[…]." (the
  code and wording integrators report; Zoom's error page lists it under "Invalid Access Token").
- Rate limits: Create Meeting is in the *Medium* category (20 requests/s on Pro accounts) and, per user, at most
  100 meeting create/update requests a day, reset at 00:00 UTC. Over the per-second limit: 429 ``{"code": 429,
  "message": "You have reached the maximum per-second rate limit for this API. Try again later."}`` with
  ``X-RateLimit-Category``, ``X-RateLimit-Type: QPS``, ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
  ``Retry-After`` in seconds (Zoom documents no Retry-After for QPS answers; sent here as a helpful hint). Over
  the daily limit: 429 "You have exceeded the daily rate limit (100) of Meeting Create/Update API requests
  permitted for this particular user. You may resume these requests at GMT 00:00:00." with ``X-RateLimit-Type:
  Daily-limit`` and ``Retry-After`` as an ISO 8601 time (``2020-05-31T00:00:00Z``), as Zoom's rate-limit page
  shows. Successful creates carry ``X-RateLimit-Limit``/``-Remaining`` of the daily count. Both limits are
  attributes (``create_per_second``, ``daily_create_limit``) a test may lower; ``config.rate_limits=False`` turns
  them off.

Operation names for latency and faults: ``POST /oauth/token``, ``POST /users/{userId}/meetings``,
``GET /users/{userId}/meetings``, ``GET /meetings/{meetingId}``, ``DELETE /meetings/{meetingId}``,
``GET /users/{userId}``.

Read-back: :attr:`ZoomEmulator.meetings` (meeting id → the full record, host-only fields included, so tests can
prove they never leak) and ``GET /_sandbox/state``. :meth:`ZoomEmulator.expire_tokens`,
:meth:`ZoomEmulator.start_meeting` and :meth:`ZoomEmulator.end_meeting` act as time and people would.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .base import Emulator, EmulatorConfig, Handler, SlidingWindow

TOPIC_MAX = 200
AGENDA_MAX = 2000
PASSWORD_RE = re.compile(r"^[A-Za-z0-9@\-_*]{1,10}$")
MEETING_TYPES = (1, 2, 3, 8)
LIST_TYPES = ("scheduled", "live", "upcoming", "upcoming_meetings", "previous_meetings")
DEFAULT_PAGE_SIZE = 30
PAGE_TOKEN_LIFETIME = 15 * 60
EXPIRES_AFTER = 30 * 86400
SCOPES = (
    "meeting:read:meeting:admin meeting:read:list_meetings:admin meeting:write:meeting:admin "
    "meeting:delete:meeting:admin user:read:user:admin"
)
#: The scope each operation needs (granular, then the classic scope Zoom also accepts).
OPERATION_SCOPES = {
    "POST /users/{userId}/meetings": ("meeting:write:meeting:admin", "meeting:write:admin"),
    "GET /users/{userId}/meetings": ("meeting:read:list_meetings:admin", "meeting:read:admin"),
    "GET /meetings/{meetingId}": ("meeting:read:meeting:admin", "meeting:read:admin"),
    "DELETE /meetings/{meetingId}": ("meeting:delete:meeting:admin", "meeting:write:admin"),
    "GET /users/{userId}": ("user:read:user:admin", "user:read:admin"),
}
#: Zoom's user types: the number in ``type`` and what it means.
USER_TYPES = {1: "Basic", 2: "Licensed", 4: "Unassigned without Meetings Basic", 99: "None"}
QPS_MESSAGE = "You have reached the maximum per-second rate limit for this API. Try again later."
#: Sandbox dial-in numbers (555 numbers: never anyone's real line).
DIAL_IN = (
    {"country": "US", "country_name": "US", "city": "New York", "number": "+1 555 010 0100", "type": "toll"},
    {"country": "US", "country_name": "US", "city": "San Jose", "number": "+1 555 010 0200", "type": "toll"},
    {"country": "US", "country_name": "US", "number": "+1 855 555 0100", "type": "tollfree"},
)
DEFAULT_SETTINGS: dict[str, Any] = {
    "host_video": False,
    "participant_video": False,
    "join_before_host": False,
    "jbh_time": 0,
    "mute_upon_entry": False,
    "waiting_room": True,
    "approval_type": 2,
    "audio": "both",
    "auto_recording": "none",
    "meeting_authentication": False,
}
#: Meeting fields a list item shows (no start_url, no passwords).
LIST_FIELDS = ("uuid", "id", "host_id", "topic", "type", "start_time", "duration", "timezone", "agenda",
               "created_at", "join_url")


def stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_time(value: str) -> float:
    """Zoom's ``yyyy-MM-ddTHH:mm:ssZ`` (or any ISO 8601 time; without a zone it is taken as UTC)."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@dataclass
class ZoomUser:
    id: str
    email: str
    #: 1 Basic, 2 Licensed, 4 Unassigned without Meetings Basic, 99 None.
    type: int = 2
    #: active, inactive (deactivated) or pending (invited, not joined yet).
    status: str = "active"
    first_name: str = ""
    last_name: str = ""


class _Invalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ZoomEmulator(Emulator):
    name = "zoom"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        account_id: str = "sandbox-account",
        client_id: str = "zoom-sandbox",
        client_secret: str = "zoom-secret",
        users: dict[str, str] | None = None,
    ) -> None:
        """``users`` maps email → user id; the first is the account owner, whom ``me`` names."""
        super().__init__(config)
        self.account_id = account_id
        self.client_id = client_id
        self.client_secret = client_secret
        mapping = users or {"owner@example.com": "zsbOwner000000000000001"}
        self.users: list[ZoomUser] = [ZoomUser(id=uid, email=email.lower()) for email, uid in mapping.items()]
        #: The app's scopes; a token keeps those it was issued with.
        self.scopes: set[str] = set(SCOPES.split())
        #: Token lifetime in seconds (Zoom: one hour).
        self.token_lifetime = 3600
        #: Create Meeting requests per second per account (Medium category, Pro plan).
        self.create_per_second = 20
        #: Meeting create requests per user per UTC day.
        self.daily_create_limit = 100
        #: The most list items one page may hold.
        self.max_page_size = 300
        #: Wall clock (epoch seconds) and the clock the per-second limit runs on; tests may replace either.
        self.clock: Callable[[], float] = time.time
        self.monotonic: Callable[[], float] = time.monotonic
        #: Meeting id → the full record as ``GET /meetings/{id}`` shows it (host-only fields included).
        self.meetings: dict[int, dict[str, Any]] = {}
        self.deleted: list[dict[str, Any]] = []
        self.tokens_issued = 0
        self._tokens: dict[str, float] = {}
        self._token_scopes: dict[str, frozenset[str]] = {}
        self._revoked: set[str] = set()
        self._daily: dict[tuple[str, str], int] = {}
        self._qps = SlidingWindow(self.create_per_second, 1.0)
        self._page_tokens: dict[str, tuple[str, str, int, float]] = {}
        self._live: set[int] = set()
        self._ended: set[int] = set()
        self._next_id = 81_000_000_000 + secrets.randbelow(9_000_000_000)

        self.route("POST", "/oauth/token", "POST /oauth/token", self._token)
        for method, path, operation, handler in (
            ("POST", "/v2/users/{userId}/meetings", "POST /users/{userId}/meetings", self._create),
            ("GET", "/v2/users/{userId}/meetings", "GET /users/{userId}/meetings", self._list),
            ("GET", "/v2/meetings/{meetingId}", "GET /meetings/{meetingId}", self._get),
            ("DELETE", "/v2/meetings/{meetingId}", "DELETE /meetings/{meetingId}", self._delete),
            ("GET", "/v2/users/{userId}", "GET /users/{userId}", self._get_user),
        ):
            self.route(method, path, operation, self._api(handler, OPERATION_SCOPES[operation]))
        self.app.router.add_get("/j/{meetingId}", self._join_page)
        self.app.router.add_get("/_sandbox/state", self._state_endpoint)

    # -- control ------------------------------------------------------------------------------------
    def add_user(
        self, email: str, user_id: str | None = None, *, user_type: int = 2, status: str = "active"
    ) -> ZoomUser:
        """A user of the account: licensed and active unless told (``user_type`` 1 is Basic, ``status``
        ``inactive`` a deactivated user, ``pending`` one who has not accepted the invitation)."""
        user = ZoomUser(id=user_id or f"zsb{secrets.token_hex(10)}", email=email.lower(), type=user_type,
                        status=status)
        self.users.append(user)
        return user

    def expire_tokens(self) -> None:
        """Every access token issued so far stops working (as if an hour had passed)."""
        self._revoked.update(self._tokens)

    def start_meeting(self, meeting_id: int) -> None:
        """Someone started the meeting: it is live."""
        self.meetings[meeting_id]["status"] = "started"
        self._live.add(meeting_id)

    def end_meeting(self, meeting_id: int) -> None:
        self.meetings[meeting_id]["status"] = "waiting"
        self._live.discard(meeting_id)
        self._ended.add(meeting_id)

    def state(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "users": [{"id": u.id, "email": u.email} for u in self.users],
            "meetings": list(self.meetings.values()),
            "deleted": self.deleted,
            "tokens_issued": self.tokens_issued,
        }

    def user(self, user_id: str) -> ZoomUser | None:
        if user_id == "me":
            return self.users[0] if self.users else None
        wanted = user_id.lower()
        return next((u for u in self.users if u.id == user_id or u.email == wanted), None)

    # -- HTTP: plumbing -----------------------------------------------------------------------------
    async def _state_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    @staticmethod
    def _error(status: int, code: int, message: str, **extra: Any) -> web.Response:
        return web.json_response({"code": code, "message": message, **extra}, status=status)

    @staticmethod
    def _oauth_error(status: int, error: str, reason: str) -> web.Response:
        return web.json_response({"reason": reason, "error": error}, status=status)

    def _api(self, handler: Handler, scopes: tuple[str, ...]) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else ""
            expires = self._tokens.get(token)
            if expires is None:
                return self._error(401, 124, "Invalid access token.")
            if token in self._revoked or self.clock() >= expires:
                return self._error(401, 124, "Access token is expired.")
            if not self._token_scopes.get(token, frozenset()) & set(scopes):
                return self._error(400, 4711, f"Invalid access token, does not contain scopes:[{', '.join(scopes)}].")
            return await handler(request)

        return checked

    def rate_limited(self, retry_after: float) -> web.Response:
        return self._qps_limited(retry_after)

    def _qps_limited(self, retry_after: float) -> web.Response:
        headers = {
            "X-RateLimit-Category": "Medium",
            "X-RateLimit-Type": "QPS",
            "X-RateLimit-Limit": str(self.create_per_second),
            "X-RateLimit-Remaining": "0",
            "Retry-After": str(max(1, math.ceil(retry_after))),
        }
        return web.json_response({"code": 429, "message": QPS_MESSAGE}, status=429, headers=headers)

    # -- HTTP: OAuth --------------------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        params: dict[str, str] = {k: str(v) for k, v in request.query.items()}
        params.update({k: str(v) for k, v in form.items()})
        basic = request.headers.get("Authorization", "")
        if not basic.lower().startswith("basic "):
            return self._oauth_error(401, "invalid_client", "Client ID or client secret is missing.")
        try:
            client_id, _, secret = base64.b64decode(basic[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return self._oauth_error(401, "invalid_client", "Client ID or client secret is missing.")
        if not (secrets.compare_digest(client_id, self.client_id) and secrets.compare_digest(secret, self.client_secret)):
            return self._oauth_error(400, "invalid_client", "Invalid client_id or client_secret")
        grant = params.get("grant_type", "")
        if not grant:
            return self._oauth_error(400, "invalid_request", "Missing grant type.")
        if grant != "account_credentials":
            return self._oauth_error(400, "unsupported_grant_type", "unsupported grant type")
        if params.get("account_id", "") != self.account_id:
            return self._oauth_error(400, "invalid_request", "Account does not exist")
        token = f"zsb.{secrets.token_urlsafe(32)}"
        self._tokens[token] = self.clock() + self.token_lifetime
        self._token_scopes[token] = frozenset(self.scopes)
        self.tokens_issued += 1
        return web.json_response(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
                "scope": " ".join(sorted(self.scopes)),
                "api_url": self.base_url,
            }
        )

    # -- HTTP: meetings -----------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        user_id = request.match_info["userId"]
        user = self.user(user_id)
        if user is None:
            return self._error(404, 1001, f"User does not exist: {user_id}.")
        if self.config.rate_limits:
            self._qps.limit = self.create_per_second
            wait = self._qps.hit("create", now=self.monotonic())
            if wait:
                return self._qps_limited(wait)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._error(400, 300, "Request Body should be a valid JSON object.")
        try:
            fields = self._validate(body)
        except _Invalid as exc:
            return self._error(400, 300, "Validation Failed.", errors=[{"field": exc.field, "message": exc.message}])
        now = self.clock()
        day = (user.id, time.strftime("%Y-%m-%d", time.gmtime(now)))
        used = self._daily.get(day, 0)
        if self.config.rate_limits and used >= self.daily_create_limit:
            return self._daily_limited()
        self._daily[day] = used + 1
        record = self._new_meeting(user, fields, now)
        headers = {
            "X-RateLimit-Category": "Medium",
            "X-RateLimit-Limit": str(self.daily_create_limit),
            "X-RateLimit-Remaining": str(max(0, self.daily_create_limit - used - 1)),
        }
        return web.json_response(record, status=201, headers=headers)

    def _daily_limited(self) -> web.Response:
        limit = self.daily_create_limit
        midnight = (math.floor(self.clock() / 86400) + 1) * 86400
        headers = {
            "X-RateLimit-Category": "Medium",
            "X-RateLimit-Type": "Daily-limit",
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": "0",
            "Retry-After": stamp(midnight),
        }
        message = (
            f"You have exceeded the daily rate limit ({limit}) of Meeting Create/Update API requests permitted "
            "for this particular user. You may resume these requests at GMT 00:00:00."
        )
        return web.json_response({"code": 429, "message": message}, status=429, headers=headers)

    def _validate(self, body: dict[str, Any]) -> dict[str, Any]:
        topic = body.get("topic", "Zoom Meeting")
        if not isinstance(topic, str):
            raise _Invalid("topic", "Invalid field.")
        if len(topic) > TOPIC_MAX:
            raise _Invalid("topic", f"Topic cannot exceed {TOPIC_MAX} characters.")
        kind = body.get("type", 2)
        if not isinstance(kind, int) or isinstance(kind, bool) or kind not in MEETING_TYPES:
            raise _Invalid("type", "Invalid field.")
        agenda = body.get("agenda", "")
        if not isinstance(agenda, str):
            raise _Invalid("agenda", "Invalid field.")
        if len(agenda) > AGENDA_MAX:
            raise _Invalid("agenda", f"Agenda cannot exceed {AGENDA_MAX} characters.")
        duration = body.get("duration", 60)
        if not isinstance(duration, int) or isinstance(duration, bool) or duration < 0:
            raise _Invalid("duration", "Invalid field.")
        start: float | None = None
        if kind != 1 and body.get("start_time") not in (None, ""):
            raw = body["start_time"]
            try:
                start = parse_time(str(raw))
            except ValueError:
                raise _Invalid("start_time", "Invalid field.") from None
        timezone = body.get("timezone", "UTC")
        if not isinstance(timezone, str):
            raise _Invalid("timezone", "Invalid field.")
        password = body.get("password")
        if password is not None and (not isinstance(password, str) or not PASSWORD_RE.match(password)):
            raise _Invalid("password", "Password can only have a maximum of 10 characters of [a-z A-Z 0-9 @ - _ *].")
        settings = body.get("settings", {})
        if not isinstance(settings, dict):
            raise _Invalid("settings", "Invalid field.")
        for key, value in settings.items():
            default = DEFAULT_SETTINGS.get(key)
            if default is not None and type(value) is not type(default):
                raise _Invalid(f"settings.{key}", "Invalid field.")
        if settings.get("audio", "both") not in ("both", "telephony", "voip", "thirdParty"):
            raise _Invalid("settings.audio", "Invalid field.")
        return {
            "topic": topic,
            "type": kind,
            "agenda": agenda,
            "duration": duration,
            "start": start,
            "timezone": timezone,
            "password": password,
            "settings": settings,
        }

    def _new_meeting(self, user: ZoomUser, fields: dict[str, Any], now: float) -> dict[str, Any]:
        meeting_id = self._next_id
        self._next_id += 1 + secrets.randbelow(50)
        password = fields["password"] or _passcode()
        encrypted = secrets.token_urlsafe(24)
        settings = {**DEFAULT_SETTINGS, **fields["settings"]}
        if settings["audio"] in ("both", "telephony"):
            settings["global_dial_in_countries"] = ["US"]
            settings["global_dial_in_numbers"] = [dict(n) for n in DIAL_IN]
        record: dict[str, Any] = {
            "uuid": base64.b64encode(secrets.token_bytes(16)).decode(),
            "id": meeting_id,
            "host_id": user.id,
            "host_email": user.email,
            "topic": fields["topic"],
            "type": fields["type"],
            "status": "waiting",
            "timezone": fields["timezone"],
            "agenda": fields["agenda"],
            "created_at": stamp(now),
            "start_url": f"{self.base_url}/s/{meeting_id}?zak={secrets.token_urlsafe(32)}",
            "join_url": f"{self.base_url}/j/{meeting_id}?pwd={encrypted}",
            "password": password,
            "h323_password": "".join(secrets.choice(string.digits) for _ in range(6)),
            "pstn_password": "".join(secrets.choice(string.digits) for _ in range(6)),
            "encrypted_password": encrypted,
            "settings": settings,
            "pre_schedule": False,
        }
        if fields["type"] != 1:
            record["start_time"] = stamp(fields["start"] if fields["start"] is not None else now)
            record["duration"] = fields["duration"]
        self.meetings[meeting_id] = record
        return record

    def _listed(self, record: dict[str, Any], kind: str, now: float) -> bool:
        if record["type"] == 1:
            return False  # instant meetings are never listed
        start = parse_time(record["start_time"]) if "start_time" in record else now
        if record["type"] == 2 and now > start + EXPIRES_AFTER:
            return False  # expired
        live = record["id"] in self._live
        over = record["id"] in self._ended or now > start + 60 * int(record.get("duration", 0))
        if kind == "live":
            return live
        if kind in ("upcoming", "upcoming_meetings"):
            return live or not over
        if kind == "previous_meetings":
            return over and not live
        return True

    async def _list(self, request: web.Request) -> web.Response:
        user_id = request.match_info["userId"]
        user = self.user(user_id)
        if user is None:
            return self._error(404, 1001, f"User does not exist: {user_id}.")
        query = request.query
        try:
            size = int(query.get("page_size", DEFAULT_PAGE_SIZE))
        except ValueError:
            return self._error(400, 300, "Validation Failed.", errors=[{"field": "page_size", "message": "Invalid field."}])
        size = max(1, min(size, self.max_page_size))
        kind = query.get("type", "scheduled")
        offset = 0
        now = self.clock()
        token = query.get("next_page_token", "")
        if token:
            saved = self._page_tokens.get(token)
            if saved is None or saved[0] != user.id or now > saved[3]:
                return self._error(400, 300, "Invalid next_page_token, or the token has expired.")
            _, kind, offset, _ = saved
        if kind not in LIST_TYPES:
            return self._error(400, 300, "Validation Failed.", errors=[{"field": "type", "message": "Invalid field."}])
        mine = [m for m in self.meetings.values() if m["host_id"] == user.id and self._listed(m, kind, now)]
        mine.sort(key=lambda m: (m.get("start_time", ""), m["id"]))
        page = mine[offset : offset + size]
        next_token = ""
        if offset + size < len(mine):
            next_token = secrets.token_urlsafe(24)
            self._page_tokens[next_token] = (user.id, kind, offset + size, now + PAGE_TOKEN_LIFETIME)
        items = [{k: m[k] for k in LIST_FIELDS if k in m} for m in page]
        return web.json_response(
            {"next_page_token": next_token, "page_size": size, "total_records": len(mine), "meetings": items}
        )

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        raw = request.match_info["meetingId"]
        return self.meetings.get(int(raw)) if raw.isdigit() else None

    # -- HTTP: users --------------------------------------------------------------------------------
    async def _get_user(self, request: web.Request) -> web.Response:
        user_id = request.match_info["userId"]
        user = self.user(user_id)
        if user is None:
            return self._error(404, 1001, f"User does not exist: {user_id}.")
        local = user.email.split("@")[0]
        first = user.first_name or local.capitalize()
        return web.json_response({
            "id": user.id,
            "first_name": first,
            "last_name": user.last_name,
            "display_name": f"{first} {user.last_name}".strip(),
            "email": user.email,
            "type": user.type,
            "status": user.status,
            "role_name": "Owner" if user is self.users[0] else "Member",
            "timezone": "UTC",
            "verified": 1,
            "account_id": self.account_id,
            "created_at": "2024-01-01T00:00:00Z",
        })

    async def _get(self, request: web.Request) -> web.Response:
        record = self._find(request)
        if record is None:
            return self._error(404, 3001, f"Meeting does not exist: {request.match_info['meetingId']}.")
        return web.json_response(record)

    async def _delete(self, request: web.Request) -> web.Response:
        record = self._find(request)
        if record is None:
            return self._error(404, 3001, f"Meeting does not exist: {request.match_info['meetingId']}.")
        self.deleted.append(self.meetings.pop(record["id"]))
        self._live.discard(record["id"])
        return web.Response(status=204)

    async def _join_page(self, request: web.Request) -> web.Response:
        record = self._find(request)
        if record is None:
            return web.Response(status=404, text="This meeting link is not valid.")
        return web.Response(text=f"Sandbox Zoom meeting {record['id']}: {record['topic']}", content_type="text/plain")


def _passcode() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(6))

