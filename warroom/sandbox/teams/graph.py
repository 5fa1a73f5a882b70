"""A local Microsoft Graph (v1.0, the Teams parts warroom uses) and the Entra ID token endpoint, on one server.

What it is based on (learn.microsoft.com Graph reference and the microsoftgraph docs repository, Teams' limits
page, integrators' reports, and ../shared/reference/chat-and-bridges.md):

- **Tokens**: ``POST /{tenant}/oauth2/v2.0/token`` (client credentials, ``client_secret_post``) with ``scope``
  ``https://graph.microsoft.com/.default`` or ``https://api.botframework.com/.default`` → ``{token_type: "Bearer",
  expires_in: 3599, ext_expires_in, access_token}``. Failures are Entra's ``{error, error_description: "AADSTS…",
  error_codes, timestamp, trace_id, correlation_id}``: unknown tenant 400 ``invalid_request`` (AADSTS90002), unknown
  app 400 ``unauthorized_client`` (AADSTS700016), wrong secret 401 ``invalid_client`` (AADSTS7000215), bad scope
  400 ``invalid_scope`` (AADSTS1002012), other grants 400 ``unsupported_grant_type`` (AADSTS70003).
- **Errors** are ``{"error": {"code", "message", "innerError": {date, request-id, client-request-id}}}``; a missing,
  foreign or expired token is 401 ``InvalidAuthenticationToken``.
- **Throttling**: at most 4 requests per second per app per team (every call under ``/teams/{id}``) and 30
  channel creations per second per tenant; beyond, 429 ``TooManyRequests`` with ``Retry-After`` in whole seconds.
  Both are attributes a test may lower (``team_rps``, ``channel_creates_per_second``); ``config.rate_limits=False``
  turns them off. Under load Graph throttles with 503 and ``Retry-After`` instead: ``throttle_status = 503``.
- **Channels** ``POST /teams/{id}/channels`` {displayName, description, membershipType standard|private,
  members (private: ``aadUserConversationMember`` with ``user@odata.bind``, at least one ``owner``, at most 200,
  each a member of the team)} → 201 channel {id ``19:…@thread.tacv2``, displayName, description, membershipType,
  createdDateTime, email, webUrl}. displayName is at most 50 characters, may not contain ``~ # % & * { } + / \\ :
  < > ? | ' " ,`` or ``..``, may not start with ``_`` or ``.`` nor end with ``.``. A name in use — case-insensitively,
  counting channels deleted in the last 30 days — is 400 "Channel name already existed, please use other name.".
  A team holds at most 1,000 channels and 30 private channels, deleted ones counted for 30 days (400 beyond).
  ``GET /teams/{id}/channels`` (``$filter`` on displayName or membershipType; deleted ones never listed),
  ``GET``/``DELETE /teams/{id}/channels/{id}`` (the General channel cannot be deleted),
  ``POST …/archive`` and ``…/unarchive`` → 202 with ``Location`` of the operation, ``GET``/``POST …/members`` (one member; 409 when
  already a member; private channels only take members of the team), ``GET /teams/{id}/members``,
  ``GET …/channels/{id}/messages`` (top-level messages newest first, ``$top`` at most 50, ``@odata.nextLink``).
- **Users** ``GET /users?$filter=`` (``mail``/``userPrincipalName`` ``eq`` or ``in``, joined by ``or``; anything
  else 400 ``Request_UnsupportedQuery``) and ``GET /users/{id | userPrincipalName}`` (404
  ``Request_ResourceNotFound``).
- **Chats** ``POST /chats`` {chatType group|oneOnOne, topic (group only), members (each with role owner or guest;
  a group at least 2, at most 250)} → 201; ``GET /users/{id}/chats`` (``$filter`` chatType/topic ``eq``),
  ``GET /chats/{id}/messages`` (newest first, ``$top`` ≤ 50), ``POST /chats/{id}/installedApps``
  {``teamsApp@odata.bind``} → 201, 409 when installed already.
- **Online meetings** ``POST /users/{id}/onlineMeetings`` and ``…/onlineMeetings/createOrGet`` (``externalId``
  required; one meeting per organizer and externalId: 201 when created, 200 with the same meeting after) →
  {id, joinWebUrl, subject, startDateTime, endDateTime (default start + 1 h), externalId, participants,
  joinMeetingIdSettings {joinMeetingId, passcode}, audioConferencing, chatInfo}. ``{id}`` must be the
  organizer's object id, who must have been granted an application access policy for the app (else 403 ``General``
  "No application access policy found for this app."); ``GET /users/{id}/onlineMeetings/{meetingId}``.

Operation names for latency and faults are ``"<METHOD> <path template>"`` without ``/v1.0``, e.g.
``POST /teams/{team-id}/channels``; the token endpoint is ``POST /{tenant}/oauth2/v2.0/token``.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
import time
import uuid
from datetime import datetime
from html import escape as html_escape
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from ..base import Emulator, EmulatorConfig, Handler, SlidingWindow
from .tenant import GRAPH_AUDIENCE, SCOPES, Message, TeamsTenant, iso

NAME_MAX = 50
NAME_FORBIDDEN = set("~#%&*{}+/\\:<>?|'\",")
NAME_TAKEN = "Channel name already existed, please use other name."
PRIVATE_MEMBERS_MAX = 200
CHAT_MEMBERS_MAX = 250
MESSAGES_TOP_MAX = 50
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|in)\s+(.+?)\s*$", re.IGNORECASE)
_STRING = re.compile(r"'((?:[^']|'')*)'")
_BIND = re.compile(r"/users\('([^']+)'\)$|/users/([^/]+)$")


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GraphEmulator(Emulator):
    name = "graph"

    def __init__(self, tenant: TeamsTenant, config: EmulatorConfig | None = None) -> None:
        super().__init__(config)
        self.tenant = tenant
        #: Requests per second per app per team (every call under /teams/{id}).
        self.team_rps = 4
        #: Channel creations per second per app per tenant.
        self.channel_creates_per_second = 30
        #: Graph answers throttled requests with 429, and under load sometimes with 503 — both with Retry-After.
        self.throttle_status = 429
        self.channel_limit = 1000
        self.private_channel_limit = 30
        self._team_window = SlidingWindow(self.team_rps, 1.0)
        self._create_window = SlidingWindow(self.channel_creates_per_second, 1.0)
        #: Throttled answers given (429s), per operation, for tests.
        self.throttled: dict[str, int] = {}
        self.operations: dict[str, dict[str, Any]] = {}

        self.route("POST", "/{tenant}/oauth2/v2.0/token", "POST /{tenant}/oauth2/v2.0/token", self._token)
        api: list[tuple[str, str, Handler, bool]] = [
            ("GET", "/teams/{team}/channels", self._list_channels, True),
            ("POST", "/teams/{team}/channels", self._create_channel, True),
            ("GET", "/teams/{team}/channels/{channel}", self._get_channel, True),
            ("DELETE", "/teams/{team}/channels/{channel}", self._delete_channel, True),
            ("POST", "/teams/{team}/channels/{channel}/archive", self._archive_channel, True),
            ("POST", "/teams/{team}/channels/{channel}/unarchive", self._unarchive_channel, True),
            ("GET", "/teams/{team}/channels/{channel}/members", self._list_channel_members, True),
            ("POST", "/teams/{team}/channels/{channel}/members", self._add_channel_member, True),
            ("GET", "/teams/{team}/channels/{channel}/messages", self._channel_messages, True),
            ("GET", "/teams/{team}/members", self._list_team_members, True),
            ("GET", "/users", self._list_users, False),
            ("GET", "/users/{user}", self._get_user, False),
            ("GET", "/users/{user}/chats", self._list_chats, False),
            ("POST", "/users/{user}/onlineMeetings", self._create_meeting, False),
            ("POST", "/users/{user}/onlineMeetings/createOrGet", self._create_or_get_meeting, False),
            ("GET", "/users/{user}/onlineMeetings/{meeting}", self._get_meeting, False),
            ("POST", "/chats", self._create_chat, False),
            ("GET", "/chats/{chat}", self._get_chat, False),
            ("GET", "/chats/{chat}/messages", self._chat_messages, False),
            ("POST", "/chats/{chat}/installedApps", self._install_in_chat, False),
        ]
        for method, path, handler, per_team in api:
            op = f"{method} {path.replace('{team}', '{team-id}').replace('{channel}', '{channel-id}')}"
            op = (
                op.replace("{user}", "{user-id}")
                .replace("{chat}", "{chat-id}")
                .replace("{meeting}", "{meeting-id}")
            )
            self.route(method, f"/v1.0{path}", op, self._api(op, handler, per_team))
        self.app.router.add_get("/_sandbox/state", self._state_endpoint)

    # -- plumbing -----------------------------------------------------------------------------------
    @staticmethod
    def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        inner = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "request-id": str(uuid.uuid4()),
            "client-request-id": str(uuid.uuid4()),
        }
        return web.json_response(
            {"error": {"code": code, "message": message, "innerError": inner}}, status=status, headers=headers
        )

    def rate_limited(self, retry_after: float) -> web.Response:
        code, text = (
            ("TooManyRequests", "Too many requests.")
            if self.throttle_status == 429
            else ("ServiceUnavailable", "The service is temporarily unavailable.")
        )
        return self.error(
            self.throttle_status,
            code,
            f"{text} Please retry after the time given in Retry-After.",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )

    def _api(self, op: str, handler: Handler, per_team: bool) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            problem = self.tenant.check_token(request.headers.get("Authorization", ""), GRAPH_AUDIENCE)
            if problem is not None:
                return self.error(401, "InvalidAuthenticationToken", problem)
            if per_team and self.config.rate_limits:
                team = request.match_info["team"]
                self._team_window.limit = self.team_rps
                wait = self._team_window.hit(team)
                if wait:
                    self.throttled[op] = self.throttled.get(op, 0) + 1
                    return self.rate_limited(wait)
            if per_team and request.match_info["team"] not in self.tenant.teams:
                return self.error(
                    404, "NotFound", f"No team found with Group Id {request.match_info['team']}"
                )
            try:
                return await handler(request)
            except _Refused as exc:
                return self.error(exc.status, exc.code, exc.message)

        return checked

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise _Refused(400, "BadRequest", "Empty Payload. JSON content expected.") from None
        if not isinstance(body, dict):
            raise _Refused(400, "BadRequest", "Invalid request body: a JSON object is expected.")
        return body

    def _page(
        self,
        request: web.Request,
        items: list[dict[str, Any]],
        *,
        top_max: int,
        top_default: int,
        context: str,
    ) -> web.Response:
        try:
            top = int(request.query.get("$top", top_default))
        except ValueError:
            raise _Refused(400, "BadRequest", "Invalid value for $top.") from None
        if top < 1 or top > top_max:
            raise _Refused(400, "BadRequest", f"$top must be between 1 and {top_max}.")
        skip = 0
        token = request.query.get("$skiptoken")
        if token:
            try:
                skip = int(base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError:
                raise _Refused(400, "BadRequest", "Invalid $skiptoken.") from None
        page = items[skip : skip + top]
        body: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{context}",
            "value": page,
        }
        if skip + top < len(items):
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = base64.urlsafe_b64encode(str(skip + top).encode()).decode()
            body["@odata.nextLink"] = f"{self.base_url}{request.path}?{urlencode(query)}"
        return web.json_response(body)

    async def _state_endpoint(self, request: web.Request) -> web.Response:
        t = self.tenant
        return web.json_response(
            json.loads(
                json.dumps(
                    {
                        "tenant": t.tenant_id,
                        "teams": list(t.teams.values()),
                        "channels": list(t.channels.values()),
                        "chats": list(t.chats.values()),
                        "meetings": list(t.meetings.values()),
                    },
                    default=lambda o: sorted(o) if isinstance(o, set) else str(o),
                )
            )
        )

    # -- Entra ID token endpoint --------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        t = self.tenant

        def refuse(status: int, error: str, code: int, text: str) -> web.Response:
            trace = str(uuid.uuid4())
            return web.json_response(
                {
                    "error": error,
                    "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {uuid.uuid4()} "
                    f"Timestamp: {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}",
                    "error_codes": [code],
                    "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                    "trace_id": trace,
                    "correlation_id": str(uuid.uuid4()),
                },
                status=status,
            )

        if request.match_info["tenant"] not in (t.tenant_id, t.domain):
            return refuse(
                400,
                "invalid_request",
                90002,
                f"Tenant '{request.match_info['tenant']}' not found. Check to make sure you have the correct tenant ID.",
            )
        if form.get("grant_type") != "client_credentials":
            return refuse(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        if form.get("client_id") != t.app_id:
            return refuse(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id', '')}' was not found in the directory.",
            )
        if not secrets.compare_digest(form.get("client_secret", ""), t.app_secret):
            return refuse(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                "secret value, not the client secret ID.",
            )
        scope = form.get("scope", "")
        if scope not in SCOPES:
            return refuse(
                400, "invalid_scope", 1002012, f"The provided value for scope {scope} is not valid."
            )
        token = t.issue_token(scope)
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": t.token_lifetime,
                "ext_expires_in": t.token_lifetime,
                "access_token": token,
            }
        )

    # -- teams and channels -------------------------------------------------------------------------
    def _channel(self, request: web.Request) -> dict[str, Any]:
        team, channel_id = request.match_info["team"], request.match_info["channel"]
        channel = self.tenant.channels.get(channel_id)
        if channel is None or channel["teamId"] != team or channel["deleted_at"] is not None:
            raise _Refused(404, "NotFound", f"Channel {channel_id} not found in team {team}.")
        return channel

    def _channel_view(self, channel: dict[str, Any]) -> dict[str, Any]:
        keys = (
            "id",
            "createdDateTime",
            "displayName",
            "description",
            "isArchived",
            "email",
            "webUrl",
            "membershipType",
        )
        return {
            "isFavoriteByDefault": None,
            "tenantId": self.tenant.tenant_id,
            **{k: channel[k] for k in keys},
        }

    async def _list_channels(self, request: web.Request) -> web.Response:
        team = request.match_info["team"]
        channels = [self._channel_view(c) for c in self.tenant.team_channels(team)]
        clauses = _filter(request, {"displayName", "membershipType"})
        channels = [c for c in channels if _matches(c, clauses)]
        return web.json_response(
            {
                "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#teams('{team}')/channels",
                "@odata.count": len(channels),
                "value": channels,
            }
        )

    async def _get_channel(self, request: web.Request) -> web.Response:
        return web.json_response(self._channel_view(self._channel(request)))

    async def _create_channel(self, request: web.Request) -> web.Response:
        t = self.tenant
        team_id = request.match_info["team"]
        team = t.teams[team_id]
        body = await self._body(request)
        name = body.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise _Refused(400, "BadRequest", "Channel name must not be empty.")
        _check_name(name)
        membership = body.get("membershipType", "standard")
        if membership not in ("standard", "private", "shared"):
            raise _Refused(400, "BadRequest", f"Invalid value '{membership}' for membershipType.")
        if membership == "shared":
            raise _Refused(400, "BadRequest", "Shared channels are not enabled in this sandbox.")
        description = body.get("description") or ""
        if not isinstance(description, str) or len(description) > 1024:
            raise _Refused(
                400, "BadRequest", "Channel description must be a string of at most 1024 characters."
            )
        members, owners = self._members(body.get("members") or [], limit=PRIVATE_MEMBERS_MAX)
        if membership == "standard" and members:
            raise _Refused(
                400, "BadRequest", "Members can only be added when creating a private or shared channel."
            )
        if membership == "private":
            if not owners:
                raise _Refused(
                    400, "BadRequest", "A private channel needs at least one member with the owner role."
                )
            outside = sorted(m for m in members if m not in team["members"])
            if outside:
                raise _Refused(400, "BadRequest", f"User {outside[0]} is not a member of the team.")
        taken = {c["displayName"].lower() for c in t.team_channels(team_id, deleted=True)}
        if name.lower() in taken or name.lower() == "general":
            raise _Refused(400, "BadRequest", NAME_TAKEN)
        counted = t.team_channels(team_id, deleted=True)
        if len(counted) >= self.channel_limit:
            raise _Refused(
                400,
                "BadRequest",
                f"The team has reached the maximum number of channels ({self.channel_limit}), "
                "counting channels deleted in the last 30 days.",
            )
        if (
            membership == "private"
            and sum(c["membershipType"] == "private" for c in counted) >= self.private_channel_limit
        ):
            raise _Refused(
                400,
                "BadRequest",
                "The team has reached the maximum number of private channels "
                f"({self.private_channel_limit}), counting channels deleted in the last 30 days.",
            )
        if self.config.rate_limits:
            self._create_window.limit = self.channel_creates_per_second
            wait = self._create_window.hit("create")
            if wait:
                return self.rate_limited(wait)
        channel = t.new_channel(
            team_id, name, membership, description=description, members=members, owners=owners
        )
        view = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#teams('{team_id}')/channels/$entity",
            **self._channel_view(channel),
        }
        return web.json_response(view, status=201)

    def _members(self, raw: Any, *, limit: int) -> tuple[set[str], set[str]]:
        if not isinstance(raw, list):
            raise _Refused(400, "BadRequest", "members must be a list of conversation members.")
        if len(raw) > limit:
            raise _Refused(400, "BadRequest", f"At most {limit} members can be added at creation.")
        members: set[str] = set()
        owners: set[str] = set()
        for item in raw:
            user = self._bound_user(item)
            members.add(user)
            roles = item.get("roles") or []
            if not isinstance(roles, list) or any(r not in ("owner", "guest", "member") for r in roles):
                raise _Refused(400, "BadRequest", "roles may only hold 'owner' or 'guest'.")
            if "owner" in roles:
                owners.add(user)
        return members, owners

    def _bound_user(self, item: Any) -> str:
        if not isinstance(item, dict) or "aadUserConversationMember" not in str(item.get("@odata.type", "")):
            raise _Refused(
                400, "BadRequest", "Each member must be a #microsoft.graph.aadUserConversationMember."
            )
        bind = str(item.get("user@odata.bind", ""))
        match = _BIND.search(bind)
        user = self.tenant.user(match.group(1) or match.group(2)) if match else None
        if user is None:
            raise _Refused(404, "NotFound", f"User in {bind or 'user@odata.bind'} was not found.")
        return str(user["id"])

    async def _delete_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel["general"]:
            raise _Refused(400, "BadRequest", "The General channel cannot be deleted.")
        channel["deleted_at"] = self.tenant.clock()
        return web.Response(status=204)

    async def _archive_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel["general"]:
            raise _Refused(400, "BadRequest", "The General channel cannot be archived.")
        channel["isArchived"] = True
        operation = str(uuid.uuid4())
        self.operations[operation] = {
            "id": operation,
            "operationType": "archiveChannel",
            "status": "succeeded",
        }
        location = f"/teams('{request.match_info['team']}')/operations('{operation}')"
        return web.Response(status=202, headers={"Location": location, "Content-Location": location})

    async def _unarchive_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        channel["isArchived"] = False
        operation = str(uuid.uuid4())
        self.operations[operation] = {
            "id": operation,
            "operationType": "unarchiveChannel",
            "status": "succeeded",
        }
        location = f"/teams('{request.match_info['team']}')/operations('{operation}')"
        return web.Response(status=202, headers={"Location": location, "Content-Location": location})

    def _member_view(self, user_id: str, roles: list[str]) -> dict[str, Any]:
        user = self.tenant.users[user_id]
        return {
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "id": base64.b64encode(f"{user_id}##{secrets.token_hex(4)}".encode()).decode(),
            "roles": roles,
            "displayName": user["displayName"],
            "userId": user_id,
            "email": user["mail"],
            "tenantId": self.tenant.tenant_id,
        }

    async def _list_channel_members(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        team = self.tenant.teams[request.match_info["team"]]
        ids = channel["members"] if channel["membershipType"] == "private" else team["members"]
        owners = channel["owners"] if channel["membershipType"] == "private" else team["owners"]
        value = [self._member_view(u, ["owner"] if u in owners else []) for u in sorted(ids)]
        return web.json_response({"@odata.count": len(value), "value": value})

    async def _add_channel_member(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        team = self.tenant.teams[request.match_info["team"]]
        body = await self._body(request)
        user = self._bound_user(body)
        roles = body.get("roles") or []
        if channel["membershipType"] == "standard":
            raise _Refused(400, "BadRequest", "Members of a standard channel are the members of its team.")
        if user not in team["members"]:
            raise _Refused(400, "BadRequest", f"User {user} is not a member of the team.")
        if user in channel["members"]:
            raise _Refused(409, "Conflict", f"User {user} is already a member of the channel.")
        channel["members"].add(user)
        if "owner" in roles:
            channel["owners"].add(user)
        return web.json_response(self._member_view(user, list(roles)), status=201)

    async def _list_team_members(self, request: web.Request) -> web.Response:
        team = self.tenant.teams[request.match_info["team"]]
        value = [
            self._member_view(u, ["owner"] if u in team["owners"] else []) for u in sorted(team["members"])
        ]
        return self._page(request, value, top_max=999, top_default=100, context="teams/members")

    async def _channel_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        top_level = [m for m in self.tenant.messages.get(channel["id"], []) if m.reply_to is None]
        value = [self.chat_message(m, team_id=channel["teamId"]) for m in reversed(top_level)]
        return self._page(request, value, top_max=MESSAGES_TOP_MAX, top_default=20, context="chatMessages")

    # -- messages as Graph shows them -----------------------------------------------------------------
    def chat_message(self, message: Message, *, team_id: str | None = None) -> dict[str, Any]:
        activity = message.activity
        attachments = []
        parts = []
        text = str(activity.get("text") or "")
        if text:
            mentions = {
                str(e.get("text")): e for e in activity.get("entities") or [] if e.get("type") == "mention"
            }
            rendered = html_escape(text)
            for n, mention_text in enumerate(mentions):
                name = mention_text.removeprefix("<at>").removesuffix("</at>")
                rendered = rendered.replace(
                    html_escape(mention_text), f'<at id="{n}">{html_escape(name)}</at>'
                )
            parts.append(f"<p>{rendered}</p>")
        for item in activity.get("attachments") or []:
            attachment_id = secrets.token_hex(16)
            content = item.get("content")
            attachments.append(
                {
                    "id": attachment_id,
                    "contentType": item.get("contentType"),
                    "contentUrl": None,
                    "content": json.dumps(content) if content is not None else None,
                    "name": None,
                    "thumbnailUrl": None,
                    "teamsAppId": None,
                }
            )
            parts.append(f'<attachment id="{attachment_id}"></attachment>')
        out: dict[str, Any] = {
            "id": message.id,
            "replyToId": message.reply_to,
            "etag": str(int(message.modified * 1000)),
            "messageType": "message",
            "createdDateTime": iso(message.created),
            "lastModifiedDateTime": iso(message.modified),
            "lastEditedDateTime": iso(message.modified) if len(message.versions) > 1 else None,
            "deletedDateTime": None,
            "subject": None,
            "summary": activity.get("summary"),
            "importance": "normal",
            "locale": "en-us",
            "webUrl": None,
            "from": {
                "application": {
                    "@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
                    "id": message.app_id,
                    "displayName": self.tenant.app_name,
                    "applicationIdentityType": "bot",
                },
                "device": None,
                "user": None,
            },
            "body": {"contentType": "html", "content": "".join(parts)},
            "attachments": attachments,
            "mentions": [],
            "reactions": [],
        }
        if team_id is not None:
            out["channelIdentity"] = {"teamId": team_id, "channelId": message.root}
        else:
            out["chatId"] = message.root
        return out

    # -- users --------------------------------------------------------------------------------------
    @staticmethod
    def _user_view(user: dict[str, Any]) -> dict[str, Any]:
        return {
            k: user[k] for k in ("id", "displayName", "givenName", "surname", "mail", "userPrincipalName")
        }

    async def _list_users(self, request: web.Request) -> web.Response:
        clauses = _filter(request, {"mail", "userPrincipalName"})
        users = [self._user_view(u) for u in self.tenant.users.values()]
        users = [u for u in users if _matches(u, clauses, casefold=True)]
        return self._page(request, users, top_max=999, top_default=100, context="users")

    async def _get_user(self, request: web.Request) -> web.Response:
        key = request.match_info["user"]
        user = self.tenant.user(key)
        if user is None:
            raise _Refused(
                404,
                "Request_ResourceNotFound",
                f"Resource '{key}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        return web.json_response(self._user_view(user))

    # -- chats --------------------------------------------------------------------------------------
    def _chat_view(self, chat: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "topic", "createdDateTime", "lastUpdatedDateTime", "chatType", "webUrl", "tenantId")
        return {k: chat[k] for k in keys}

    async def _create_chat(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        chat_type = body.get("chatType")
        if chat_type not in ("group", "oneOnOne"):
            raise _Refused(400, "BadRequest", "chatType must be 'group' or 'oneOnOne'.")
        raw = body.get("members") or []
        if not isinstance(raw, list):
            raise _Refused(400, "BadRequest", "members must be a list of conversation members.")
        members, _ = self._members(raw, limit=CHAT_MEMBERS_MAX)
        for item in raw:
            if not set(item.get("roles") or []) & {"owner", "guest"}:
                raise _Refused(400, "BadRequest", "Each member must have the role 'owner' or 'guest'.")
        topic = body.get("topic")
        if chat_type == "oneOnOne":
            if len(members) != 2 or topic:
                raise _Refused(400, "BadRequest", "A oneOnOne chat has exactly two members and no topic.")
        elif len(members) < 2:
            raise _Refused(400, "BadRequest", "A group chat needs at least two members.")
        if topic is not None and (not isinstance(topic, str) or len(topic) > 250):
            raise _Refused(400, "BadRequest", "topic must be a string of at most 250 characters.")
        chat = self.tenant.new_chat(topic, str(chat_type), members)
        return web.json_response(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#chats/$entity",
                **self._chat_view(chat),
            },
            status=201,
        )

    def _chat(self, request: web.Request) -> dict[str, Any]:
        chat = self.tenant.chats.get(request.match_info["chat"])
        if chat is None:
            raise _Refused(404, "NotFound", f"Chat {request.match_info['chat']} not found.")
        return chat

    async def _get_chat(self, request: web.Request) -> web.Response:
        return web.json_response(self._chat_view(self._chat(request)))

    async def _list_chats(self, request: web.Request) -> web.Response:
        user = self.tenant.user(request.match_info["user"])
        if user is None:
            raise _Refused(404, "NotFound", f"User {request.match_info['user']} not found.")
        clauses = _filter(request, {"chatType", "topic"})
        chats = [self._chat_view(c) for c in self.tenant.chats.values() if user["id"] in c["members"]]
        chats = [c for c in chats if _matches(c, clauses)]
        return self._page(request, chats, top_max=50, top_default=50, context="chats")

    async def _chat_messages(self, request: web.Request) -> web.Response:
        chat = self._chat(request)
        value = [self.chat_message(m) for m in reversed(self.tenant.messages.get(chat["id"], []))]
        return self._page(request, value, top_max=MESSAGES_TOP_MAX, top_default=20, context="chatMessages")

    async def _install_in_chat(self, request: web.Request) -> web.Response:
        chat = self._chat(request)
        body = await self._body(request)
        bind = str(body.get("teamsApp@odata.bind", ""))
        app_id = bind.rstrip("/").rsplit("/", 1)[-1].removeprefix("teamsApps('").removesuffix("')")
        if app_id != self.tenant.catalog_app_id:
            raise _Refused(
                404, "NotFound", f"The app {app_id or '(none)'} is not in the organization's app catalog."
            )
        if app_id in chat["apps"]:
            raise _Refused(409, "Conflict", "The app is already installed in this chat.")
        chat["apps"].add(app_id)
        return web.Response(status=201)

    # -- online meetings ----------------------------------------------------------------------------
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


def _check_name(name: str) -> None:
    if len(name) > NAME_MAX:
        raise _Refused(400, "BadRequest", f"Channel name cannot be longer than {NAME_MAX} characters.")
    bad = sorted({c for c in name if c in NAME_FORBIDDEN})
    if bad or ".." in name:
        shown = " ".join(bad) if bad else ".."
        raise _Refused(400, "BadRequest", f"Channel name contains characters that are not allowed: {shown}")
    if name.startswith(("_", ".")) or name.endswith("."):
        raise _Refused(
            400,
            "BadRequest",
            "Channel name cannot start with an underscore or a period, nor end with a period.",
        )


def _filter(request: web.Request, allowed: set[str]) -> list[tuple[str, list[str]]]:
    """An OData ``$filter`` of ``field eq 'v'`` / ``field in ('a','b')`` clauses joined by ``or``."""
    raw = request.query.get("$filter")
    if not raw:
        return []
    clauses = []
    for part in re.split(r"\s+or\s+(?=(?:[^']*'[^']*')*[^']*$)", raw.strip()):
        match = _CLAUSE.match(part)
        if match is None or match.group(1) not in allowed:
            raise _Refused(400, "Request_UnsupportedQuery", "Unsupported Query.")
        values = [v.replace("''", "'") for v in _STRING.findall(match.group(3))]
        if not values:
            raise _Refused(400, "Request_UnsupportedQuery", "Unsupported Query.")
        clauses.append((match.group(1), values))
    return clauses


def _matches(record: dict[str, Any], clauses: list[tuple[str, list[str]]], *, casefold: bool = False) -> bool:
    if not clauses:
        return True
    for field_name, values in clauses:
        value = str(record.get(field_name) or "")
        if casefold and value.lower() in {v.lower() for v in values}:
            return True
        if not casefold and value in values:
            return True
    return False
