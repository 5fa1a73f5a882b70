"""A local Bot Connector (the Bot Framework REST API v3 as Teams serves it): the bot's proactive posts, replies and
in-place updates land here, in the channels and chats of the shared :class:`~warroom.sandbox.teams.tenant.TeamsTenant`.

What it is based on (the Bot Framework Connector REST reference, Teams' "send proactive messages", "rate limiting
for bots" and "update and delete messages" pages, and ../shared/reference/chat-and-bridges.md):

- Served under ``{base}/teams/`` (:attr:`ConnectorEmulator.service_url`), as ``https://smba.trafficmanager.net/teams/``.
  Every call needs ``Authorization: Bearer`` with an Entra token for ``https://api.botframework.com`` (the tenant's
  token endpoint issues them); otherwise 401 ``{"message": "Authorization has been denied for this request."}``.
- ``POST /v3/conversations`` {isGroup, bot, members, tenantId, activity, channelData: {channel: {id}, tenant: {id}}}
  starts a thread in a channel with ``activity`` as its first post → 201 ``{id: "<channel id>;messageid=<id>",
  activityId}``; with one member and no channel it opens (or finds) the 1:1 chat ``a:…`` (an ``activity`` in the
  body is its first message). Teams has bots create no group chats: 400.
- A 1:1 chat needs the bot to reach the person (Microsoft's "send proactive messages": the app installed for the
  user, or the user in a team that has it): a member named by Entra object id (``aadObjectId``, or the object id
  as ``id``) needs the app in the person's personal scope (Graph's ``/users/{id}/teamwork/installedApps``); one
  named by Bot Framework id (``29:…``, from a roster) may also share a team with the bot. Otherwise 403
  ``BotNotInConversationRoster`` "The bot is not part of the conversation roster." — the real service's answer.
- ``POST /v3/conversations/{id}/activities``: a new post in a channel (``id`` the channel), a reply in a thread
  (``…;messageid=<root>``), a message in a chat → 201 ``{id}``; ``POST …/activities/{activityId}`` replies to that
  activity; ``PUT …/activities/{activityId}`` replaces a message the bot sent → 200 ``{id}`` (someone else's: 403);
  ``DELETE`` removes it; ``GET /v3/conversations/{id}/members`` lists the roster.
- The bot must be in the conversation: installed in the channel's team or in the chat, else 403
  ``BotNotInConversationRoster``. Deleted channels and unknown conversations are 404 ``ConversationNotFound``;
  archived channels are read-only (403). A message has text or attachments, an Adaptive Card attachment's content
  is an ``AdaptiveCard`` object, and a message is at most about 28 KB (413 ``MessageSizeTooBig``).
- Throttling per bot per thread (a channel, chat or 1:1 conversation): 7 operations a second and 60 in 30 seconds;
  beyond, 429 (``Retry-After`` in seconds, as a hint). ``config.rate_limits=False`` turns it off; the limits are
  attributes a test may lower.

Operation names for latency and faults are ``POST /v3/conversations``, ``POST /v3/conversations/{id}/activities``,
``POST /v3/conversations/{id}/activities/{activityId}``, ``PUT /v3/conversations/{id}/activities/{activityId}``,
``DELETE …`` and ``GET /v3/conversations/{id}/members``.

Read-back: :meth:`ConnectorEmulator.posted` (a conversation's messages, each with every version the bot sent),
:meth:`ConnectorEmulator.cards`, and :meth:`ConnectorEmulator.personal_of` (a person's 1:1 chat with the bot). ``lenient`` accepts conversations this tenant does not know (the emulated Teams
client's own) as new ones, for tests of the inbound bot that only need its replies recorded.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from ..base import Emulator, EmulatorConfig, Handler, SlidingWindow
from .graph import ADAPTIVE_CARD
from .tenant import BOT_AUDIENCE, Message, TeamsTenant

PREFIX = "/teams"
MESSAGE_MAX_BYTES = 28 * 1024


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ConnectorEmulator(Emulator):
    name = "bot-connector"

    def __init__(
        self, tenant: TeamsTenant, config: EmulatorConfig | None = None, *, lenient: bool = False
    ) -> None:
        super().__init__(config)
        self.tenant = tenant
        self.lenient = lenient
        self.per_second = 7
        self.per_30_seconds = 60
        self._second = SlidingWindow(self.per_second, 1.0)
        self._half_minute = SlidingWindow(self.per_30_seconds, 30.0)
        #: 1:1 conversations: id → the user's object id.
        self.personal: dict[str, str] = {}
        self.throttled = 0
        base = f"{PREFIX}/v3/conversations"
        routes: list[tuple[str, str, str, Handler]] = [
            ("POST", base, "POST /v3/conversations", self._create),
            (
                "POST",
                f"{base}/{{conversation}}/activities",
                "POST /v3/conversations/{id}/activities",
                self._send,
            ),
            (
                "POST",
                f"{base}/{{conversation}}/activities/{{activity}}",
                "POST /v3/conversations/{id}/activities/{activityId}",
                self._reply,
            ),
            (
                "PUT",
                f"{base}/{{conversation}}/activities/{{activity}}",
                "PUT /v3/conversations/{id}/activities/{activityId}",
                self._update,
            ),
            (
                "DELETE",
                f"{base}/{{conversation}}/activities/{{activity}}",
                "DELETE /v3/conversations/{id}/activities/{activityId}",
                self._delete,
            ),
            ("GET", f"{base}/{{conversation}}/members", "GET /v3/conversations/{id}/members", self._members),
        ]
        for method, path, op, handler in routes:
            self.route(method, path, op, self._api(handler))

    @property
    def service_url(self) -> str:
        return f"{self.base_url}{PREFIX}/"

    # -- read-back ----------------------------------------------------------------------------------
    def posted(self, conversation: str) -> list[Message]:
        """The messages of a channel or chat (``conversation`` may name a thread: its channel's are returned)."""
        return list(self.tenant.messages.get(conversation.partition(";messageid=")[0], []))

    def personal_of(self, user_id: str) -> str | None:
        """The id of the bot's 1:1 chat with a user (object id), once it was created."""
        return next((c for c, u in self.personal.items() if u == user_id), None)

    def cards(self, conversation: str) -> list[tuple[Message, dict[str, Any]]]:
        """The Adaptive Cards posted in a conversation (their current version), with their messages."""
        out = []
        for message in self.posted(conversation):
            for attachment in message.activity.get("attachments") or []:
                if attachment.get("contentType") == ADAPTIVE_CARD:
                    out.append((message, attachment["content"]))
        return out

    # -- plumbing -----------------------------------------------------------------------------------
    @staticmethod
    def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response(
            {"error": {"code": code, "message": message}}, status=status, headers=headers
        )

    def rate_limited(self, retry_after: float) -> web.Response:
        return self.error(
            429,
            "TooManyRequests",
            "The bot is sending too many messages to this conversation.",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )

    def _api(self, handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            if self.tenant.check_token(request.headers.get("Authorization", ""), BOT_AUDIENCE) is not None:
                return web.json_response(
                    {"message": "Authorization has been denied for this request."}, status=401
                )
            try:
                return await handler(request)
            except _Refused as exc:
                return self.error(exc.status, exc.code, exc.message)

        return checked

    def _throttle(self, root: str) -> web.Response | None:
        if not self.config.rate_limits:
            return None
        self._second.limit, self._half_minute.limit = self.per_second, self.per_30_seconds
        wait = self._second.hit(root) or self._half_minute.hit(root)
        if wait:
            self.throttled += 1
            return self.rate_limited(wait)
        return None

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if len(raw) > MESSAGE_MAX_BYTES + 4096:
            raise _Refused(413, "MessageSizeTooBig", "Message size too big.")
        try:
            body = json.loads(raw)
        except ValueError:
            raise _Refused(400, "BadSyntax", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise _Refused(400, "BadArgument", "The request body must be a JSON object.")
        return body

    def _resolve(self, conversation: str) -> tuple[str, str | None]:
        """(root conversation, thread root message) of a conversation id; checks the bot may post there."""
        base, _, thread = conversation.partition(";messageid=")
        t = self.tenant
        if base in t.channels:
            channel = t.channels[base]
            if channel["deleted_at"] is not None:
                raise _Refused(404, "ConversationNotFound", "Conversation not found.")
            if not t.bot_in_team(channel["teamId"]):
                raise _Refused(
                    403, "BotNotInConversationRoster", "The bot is not part of the conversation roster."
                )
            if channel["isArchived"]:
                raise _Refused(403, "Forbidden", "The channel is archived: it is read-only.")
            if thread and t.message(base, thread) is None:
                raise _Refused(
                    404, "ConversationNotFound", "Conversation not found: no such thread in the channel."
                )
            return base, thread or None
        if base in t.chats:
            if t.catalog_app_id not in t.chats[base]["apps"]:
                raise _Refused(
                    403, "BotNotInConversationRoster", "The bot is not part of the conversation roster."
                )
            return base, None
        if base in self.personal or self.lenient:
            t.messages.setdefault(base, [])
            return base, thread or None
        raise _Refused(404, "ConversationNotFound", "Conversation not found.")

    @staticmethod
    def _check_activity(activity: Any) -> dict[str, Any]:
        if not isinstance(activity, dict):
            raise _Refused(400, "BadArgument", "An activity object is required.")
        kind = activity.get("type", "message")
        if kind != "message":
            if kind == "typing":
                return activity
            raise _Refused(400, "BadArgument", f"Unsupported activity type '{kind}'.")
        attachments = activity.get("attachments") or []
        if not activity.get("text") and not attachments:
            raise _Refused(400, "BadArgument", "A message needs text or attachments.")
        if not isinstance(attachments, list):
            raise _Refused(400, "BadArgument", "attachments must be a list.")
        for item in attachments:
            if not isinstance(item, dict) or not item.get("contentType"):
                raise _Refused(400, "BadArgument", "Each attachment needs a contentType.")
            content = item.get("content")
            if item["contentType"] == ADAPTIVE_CARD and (
                not isinstance(content, dict) or content.get("type") != "AdaptiveCard"
            ):
                raise _Refused(
                    400, "BadArgument", "An Adaptive Card attachment's content must be an AdaptiveCard."
                )
        if len(json.dumps(activity).encode()) > MESSAGE_MAX_BYTES:
            raise _Refused(413, "MessageSizeTooBig", "Message size too big.")
        return activity

    # -- handlers -----------------------------------------------------------------------------------
    async def _create(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        channel_data = _obj(body.get("channelData"))
        channel = _obj(channel_data.get("channel"))
        if channel.get("id"):
            root, _ = self._resolve(str(channel["id"]))
            if root not in self.tenant.channels:
                raise _Refused(400, "BadArgument", "channelData.channel.id does not name a channel.")
            activity = self._check_activity(body.get("activity"))
            if limited := self._throttle(root):
                return limited
            message = self.tenant.post(root, activity)
            return web.json_response(
                {"id": f"{root};messageid={message.id}", "activityId": message.id}, status=201
            )
        members = body.get("members") or []
        if body.get("isGroup") or not isinstance(members, list) or len(members) != 1:
            raise _Refused(
                400,
                "BadArgument",
                "Teams does not let a bot create group conversations: give a channel "
                "in channelData, or exactly one member for a 1:1 chat.",
            )
        member = members[0] if isinstance(members[0], dict) else {}
        key = str(member.get("aadObjectId") or member.get("id") or "")
        by_roster_id = key.startswith("29:") and not member.get("aadObjectId")
        user = self._roster_user(key) if by_roster_id else self.tenant.user(key)
        if user is None:
            raise _Refused(404, "NotFound", "The member is not a user of this tenant.")
        t = self.tenant
        in_a_team = any(user["id"] in team["members"] and t.bot_in_team(tid) for tid, team in t.teams.items())
        if not (t.bot_installed_for(user["id"]) or (by_roster_id and in_a_team)):
            raise _Refused(
                403, "BotNotInConversationRoster", "The bot is not part of the conversation roster."
            )
        conversation = self.personal_of(user["id"])
        if conversation is None:
            conversation = f"a:1{user['id'].replace('-', '')}"
            self.personal[conversation] = user["id"]
            self.tenant.messages.setdefault(conversation, [])
        answer: dict[str, Any] = {"id": conversation}
        if body.get("activity") is not None:
            message = self.tenant.post(conversation, self._check_activity(body["activity"]))
            answer["activityId"] = message.id
        return web.json_response(answer, status=201)

    def _roster_user(self, bot_framework_id: str) -> dict[str, Any] | None:
        """The user a Bot Framework id (``29:1`` and the object id without dashes, as rosters give) names."""
        compact = bot_framework_id.removeprefix("29:").removeprefix("1")
        return next((u for u in self.tenant.users.values() if u["id"].replace("-", "") == compact), None)

    async def _send(self, request: web.Request) -> web.Response:
        root, thread = self._resolve(request.match_info["conversation"])
        activity = self._check_activity(await self._body(request))
        if limited := self._throttle(root):
            return limited
        message = self.tenant.post(root, activity, reply_to=thread)
        return web.json_response({"id": message.id}, status=201)

    async def _reply(self, request: web.Request) -> web.Response:
        root, thread = self._resolve(request.match_info["conversation"])
        activity = self._check_activity(await self._body(request))
        if limited := self._throttle(root):
            return limited
        reply_to: str | None = None
        if root in self.tenant.channels:
            target = self.tenant.message(root, request.match_info["activity"])
            reply_to = thread or (
                target.reply_to or target.id if target is not None else request.match_info["activity"]
            )
        message = self.tenant.post(root, activity, reply_to=reply_to)
        return web.json_response({"id": message.id}, status=201)

    def _own_message(self, request: web.Request) -> Message:
        root, _ = self._resolve(request.match_info["conversation"])
        message = self.tenant.message(root, request.match_info["activity"])
        if message is None:
            raise _Refused(404, "NotFound", "The activity was not found in the conversation.")
        if message.app_id != self.tenant.app_id:
            raise _Refused(403, "Forbidden", "A bot can only change messages it sent.")
        return message

    async def _update(self, request: web.Request) -> web.Response:
        message = self._own_message(request)
        activity = self._check_activity(await self._body(request))
        if limited := self._throttle(message.root):
            return limited
        message.activity = activity
        message.versions.append(activity)
        message.modified = self.tenant.clock()
        return web.json_response({"id": message.id})

    async def _delete(self, request: web.Request) -> web.Response:
        message = self._own_message(request)
        self.tenant.messages[message.root].remove(message)
        return web.Response(status=200)

    async def _members(self, request: web.Request) -> web.Response:
        root, _ = self._resolve(request.match_info["conversation"])
        t = self.tenant
        if root in t.channels:
            ids = sorted(t.teams[t.channels[root]["teamId"]]["members"])
        elif root in t.chats:
            ids = sorted(t.chats[root]["members"])
        else:
            ids = [self.personal[root]] if root in self.personal else []
        members = [
            {
                "id": f"29:1{u.replace('-', '')}",
                "name": t.users[u]["displayName"],
                "aadObjectId": u,
                "email": t.users[u]["mail"],
                "userPrincipalName": t.users[u]["userPrincipalName"],
                "tenantId": t.tenant_id,
            }
            for u in ids
            if u in t.users
        ]
        return web.json_response(members)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
