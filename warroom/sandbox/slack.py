"""A local Slack workspace: the Web API methods warroom uses, served at ``{base_url}/api/<method>`` so that
slack_sdk's ``AsyncWebClient(base_url=f"{base_url}/api/")`` (and slack-bolt on top of it) works unchanged.

What it is based on: Slack's method reference (docs.slack.dev / api.slack.com/methods, and its machine-readable
mirror slack-ruby/slack-api-ref) for arguments, response shapes and error codes; Slack's rate-limit page for the
tiers; slack_sdk 3.x for how a real client sends each method (query string, form or JSON body).

- Transport: every method answers on GET and POST; arguments come from the query string, a form body or a JSON
  body (slack_sdk uses all three; JSON values such as ``blocks``, ``metadata`` and ``view`` may also arrive as
  JSON-encoded strings). The token is ``Authorization: Bearer …`` or a ``token`` argument: none → ``not_authed``,
  wrong → ``invalid_auth``. API errors are HTTP 200 ``{"ok": false, "error": "<code>"}``, as Slack does; a body
  that is not JSON → ``invalid_json``; an unknown method → HTTP 404 ``unknown_method``.
- Channels: names are lowercase letters, digits, hyphens and underscores, at most 80 characters
  (``invalid_name_required`` / ``invalid_name_maxlength`` / ``invalid_name_specials`` / ``invalid_name_punctuation``
  when there is no letter or digit), unique among live and archived channels (``name_taken``). The creator is the
  bot and its first member. Private channels the bot is not in are invisible (``channel_not_found``), as in Slack.
  Topic and purpose are at most 250 characters (``too_long``).
- conversations.invite: up to 1,000 comma-separated ids (``too_many_users``, ``no_user``); one unknown id fails the
  whole call with ``user_not_found`` and an ``errors`` list ``[{"user", "ok": false, "error"}]`` and invites
  nobody (Slack: "users who can be successfully invited … will not be invited if any of the user invites fail");
  ``force=true`` invites the valid ones and still answers with the error and the list. Ids already in the channel
  are skipped; when every id is already a member the answer is ``already_in_channel``.
- Messages: ``text`` and/or ``blocks`` (neither → ``no_text``; more than 50 blocks or a block without ``type`` →
  ``invalid_blocks``; blocks that are not a JSON array → ``invalid_blocks_format``; text over 40,000 characters →
  ``msg_too_long``); ``metadata`` {event_type, event_payload} (otherwise ``invalid_metadata_format``) is stored and
  returned by conversations.history only with ``include_all_metadata``. Posting to a public channel does not need
  membership (the ``chat:write.public`` scope is assumed). chat.update keeps the previous blocks/metadata when the
  call leaves them out (an empty list/object clears them), answers ``message_not_found`` and
  ``cant_update_message`` (not the bot's), and records every edit in the message's ``edits`` list.
  Timestamps are unique and increasing. Slack's own system messages (channel_join, topic changes) are not emulated.
- Pagination: ``limit`` and opaque base64 ``cursor``s with ``response_metadata.next_cursor`` ("" on the last page);
  a cursor that does not decode → ``invalid_cursor``. conversations.history is newest first with ``has_more``.
- pins.add (``no_item_specified``, ``message_not_found``, ``already_pinned``), pins.list, bookmarks.add
  (``type=link`` only → ``invalid_bookmark_type``; an http(s) ``link`` → ``invalid_link``; ids ``Bk…``),
  bookmarks.list, users.lookupByEmail (case-insensitive; ``users_not_found``), users.info (``user_not_found``),
  views.open (``invalid_trigger_id`` without a trigger_id) and views.update, auth.test (the fields slack-bolt reads).
- Rate limits (``config.rate_limits``): a token bucket per method per workspace holding one minute's allowance of
  the method's tier plus :attr:`SlackEmulator.burst` (a fraction), refilled at the tier's rate — Tier 1 ≈ 1/min,
  Tier 2 ≈ 20/min, Tier 3 ≈ 50/min, Tier 4 ≈ 100/min (:attr:`SlackEmulator.tier_limits`, per minute, and
  :attr:`SlackEmulator.method_tiers` are plain dicts a test may change). chat.postMessage is Slack's "special" tier:
  per channel, :attr:`SlackEmulator.post_burst` messages back to back, then :attr:`SlackEmulator.post_per_second`.
  Over a limit: HTTP 429, ``Retry-After`` (whole seconds), body ``{"ok": false, "error": "ratelimited"}``.

Operation names for latency and faults are the method names (``"chat.postMessage"``). Read-back for tests and the
demo: :attr:`SlackEmulator.channels`, :meth:`SlackEmulator.channel_by_name`, :meth:`SlackEmulator.messages`,
:attr:`SlackEmulator.pins`, :attr:`SlackEmulator.bookmarks`, :attr:`SlackEmulator.users`,
:attr:`SlackEmulator.ephemeral`, :attr:`SlackEmulator.views`, :attr:`SlackEmulator.responses`,
:meth:`SlackEmulator.state` and ``GET /_sandbox/state``. :meth:`SlackEmulator.add_channel` and
:meth:`SlackEmulator.add_message` act as other people in the workspace would.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .base import Emulator, EmulatorConfig

#: Requests per minute for each of Slack's tiers.
TIER_LIMITS: dict[int, float] = {1: 1.0, 2: 20.0, 3: 50.0, 4: 100.0}

#: The tier of each method (Slack's method reference). chat.postMessage is absent: it is limited per channel.
METHOD_TIERS: dict[str, int] = {
    "auth.test": 4,  # "special": generous, treated as Tier 4
    "conversations.create": 2,
    "conversations.list": 2,
    "conversations.info": 3,
    "conversations.invite": 3,
    "conversations.members": 4,
    "conversations.setTopic": 2,
    "conversations.setPurpose": 2,
    "conversations.archive": 2,
    "conversations.history": 3,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "pins.add": 2,
    "pins.list": 2,
    "bookmarks.add": 2,
    "bookmarks.list": 3,
    "users.lookupByEmail": 3,
    "users.info": 4,
    "views.open": 4,
    "views.update": 4,
}

SCOPES = (
    "bookmarks:read,bookmarks:write,channels:history,channels:manage,channels:read,chat:write,chat:write.public,"
    "commands,groups:history,groups:read,groups:write,metadata.message:read,pins:read,pins:write,users:read,"
    "users:read.email"
)
NAME_RE = re.compile(r"[a-z0-9_-]+")
MAX_BLOCKS = 50
MAX_TEXT = 40_000
MAX_TOPIC = 250

Params = dict[str, Any]
Result = dict[str, Any]


class _ApiError(Exception):
    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


class _Ratelimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class TokenBucket:
    """Per-key token buckets: ``take`` spends one token and returns 0, or returns the seconds until one is there."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str, capacity: float, per_second: float, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        tokens, last = self._state.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * per_second)
        if tokens >= 1.0:
            self._state[key] = (tokens - 1.0, now)
            return 0.0
        self._state[key] = (tokens, now)
        return (1.0 - tokens) / per_second


# -- argument helpers -------------------------------------------------------------------------------------
def _str(params: Params, key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def _bool(params: Params, key: str, default: bool = False) -> bool:
    value = params.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes")


def _int(params: Params, key: str, default: int, *, low: int, high: int) -> int:
    value = params.get(key)
    try:
        number = int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        raise _ApiError("invalid_arguments") from None
    if number <= 0:
        number = default
    return max(low, min(high, number))


def _json_value(params: Params, key: str, error: str) -> Any:
    """A JSON argument: already decoded (JSON body) or a JSON-encoded string (form or query)."""
    value = params.get(key)
    if isinstance(value, str):
        if value.strip() == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise _ApiError(error) from None
    return value


def _ts(params: Params, key: str, default: float) -> float:
    value = _str(params, key)
    try:
        return default if value is None else float(value)
    except ValueError:
        raise _ApiError(f"invalid_ts_{key}") from None


def _encode_cursor(kind: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{offset}".encode()).decode()


def _decode_cursor(params: Params, kind: str) -> int:
    cursor = _str(params, "cursor")
    if cursor is None:
        return 0
    try:
        prefix, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != kind:
            raise ValueError(prefix)
        return max(0, int(number))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise _ApiError("invalid_cursor") from None


def _page(items: list[Any], params: Params, kind: str, *, default: int, high: int) -> tuple[list[Any], str]:
    start = _decode_cursor(params, kind)
    limit = _int(params, "limit", default, low=1, high=high)
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return chunk, _encode_cursor(kind, start + limit) if more else ""


def _validate_blocks(blocks: Any) -> list[dict[str, Any]] | None:
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise _ApiError("invalid_blocks_format")
    if len(blocks) > MAX_BLOCKS or not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
        raise _ApiError("invalid_blocks")
    return blocks


def _validate_metadata(metadata: Any) -> dict[str, Any] | None:
    if metadata is None:
        return None
    if metadata == {}:
        return {}
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not metadata["event_type"]
        or not isinstance(metadata.get("event_payload", {}), dict)
    ):
        raise _ApiError("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata.get("event_payload", {})}


class SlackEmulator(Emulator):
    name = "slack"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        bot_token: str = "xoxb-sandbox-token",
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0WARROOM",
    ) -> None:
        super().__init__(config)
        # slack_sdk sends conversations.invite's 1,000 ids in the query string (~12 KB); aiohttp's default request
        # line limit is 8 KB. The base class builds the Application, so its handler arguments are set here.
        self.handler_args["max_line_size"] = 65536
        self.bot_token = bot_token
        self.team_id = team_id
        self.team_name = "Sandbox"
        self.bot_user_id = bot_user_id
        self.bot_id = "B" + bot_user_id[1:]
        self.app_id = "A" + bot_user_id[1:]
        #: user id → Slack user object (people added with :meth:`add_user`; the bot is not listed here).
        self.users: dict[str, dict[str, Any]] = {}
        #: channel id → {id, name, topic, purpose, members, is_private, is_archived, is_general, creator, created}.
        self.channels: dict[str, dict[str, Any]] = {}
        #: channel id → messages, oldest first: {ts, text, blocks, metadata, user, edits, …}.
        self.history: dict[str, list[dict[str, Any]]] = {}
        #: channel id → timestamps of the pinned messages, in pinning order.
        self.pins: dict[str, list[str]] = {}
        #: channel id → bookmark objects, in the order added.
        self.bookmarks: dict[str, list[dict[str, Any]]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        #: Bodies posted to a ``response_url`` (``POST {base_url}/response…``).
        self.responses: list[Any] = []
        # rate limits
        self.tier_limits: dict[int, float] = dict(TIER_LIMITS)
        self.method_tiers: dict[str, int] = dict(METHOD_TIERS)
        self.burst = 0.2
        self.post_per_second = 1.0
        self.post_burst = 4
        self._buckets = TokenBucket()
        self._bot_user = self._user_object(bot_user_id, "warroom", "warroom", None, is_bot=True)
        self._pin_meta: dict[tuple[str, str], int] = {}
        self._seq = 0
        self._last_ts = 0.0
        self._methods: dict[str, Callable[[Params], Result]] = {
            "auth.test": self._auth_test,
            "conversations.create": self._conversations_create,
            "conversations.list": self._conversations_list,
            "conversations.info": self._conversations_info,
            "conversations.invite": self._conversations_invite,
            "conversations.members": self._conversations_members,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.setPurpose": self._conversations_set_purpose,
            "conversations.archive": self._conversations_archive,
            "conversations.history": self._conversations_history,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "pins.add": self._pins_add,
            "pins.list": self._pins_list,
            "bookmarks.add": self._bookmarks_add,
            "bookmarks.list": self._bookmarks_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.update": self._views_update,
        }
        for method, fn in self._methods.items():
            self._register(method, fn)
        self.app.router.add_get("/_sandbox/state", self._state_endpoint)
        self.route("POST", "/response", "response_url", self._response_url)
        self.route("POST", "/response/{tail:.*}", "response_url", self._response_url)
        self.app.router.add_route("*", "/api/{method}", self._unknown_method)

    # -- seeding and read-back --------------------------------------------------------------------------
    def add_user(self, email: str, name: str) -> str:
        """Put a person in the workspace; returns the user id (``U0`` + the first name, e.g. ``U0ANA``)."""
        for user in self.users.values():
            if user["profile"]["email"].lower() == email.lower():
                return str(user["id"])
        first = name.split()[0] if name.split() else ""
        stem = "U0" + ("".join(c for c in first if c.isascii() and c.isalnum()).upper() or "USER")
        user_id, n = stem, 1
        while user_id in self.users or user_id == self.bot_user_id:
            n += 1
            user_id = f"{stem}{n}"
        handle = email.split("@", 1)[0].lower()
        self.users[user_id] = self._user_object(user_id, handle, name, email)
        return user_id

    def add_channel(
        self, name: str, *, creator: str, is_private: bool = False, members: list[str] | None = None
    ) -> str:
        """A channel someone else made (not the bot unless ``creator`` is the bot's id); returns its id."""
        channel = self._new_channel(name, creator=creator, is_private=is_private)
        for member in members or []:
            if member not in channel["members"]:
                channel["members"].append(member)
        return str(channel["id"])

    def add_message(
        self,
        channel_id: str,
        text: str,
        *,
        user: str,
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """A message someone posted (for tests: messages not the bot's); returns its ts."""
        return str(self._store_message(self.channels[channel_id], text, blocks, metadata, user=user)["ts"])

    def channel_by_name(self, name: str) -> dict[str, Any]:
        for channel in self.channels.values():
            if channel["name"] == name.lstrip("#"):
                return channel
        raise LookupError(f"no channel named #{name.lstrip('#')} in the sandbox workspace")

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """The channel's messages, oldest first."""
        return list(self.history.get(channel_id, []))

    def state(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "bot_user_id": self.bot_user_id,
            "users": list(self.users.values()),
            "channels": list(self.channels.values()),
            "messages": {cid: self.messages(cid) for cid in self.channels},
            "pins": self.pins,
            "bookmarks": self.bookmarks,
            "ephemeral": self.ephemeral,
            "views": list(self.views.values()),
            "responses": self.responses,
        }

    def tier_capacity(self, tier: int) -> int:
        """How many calls of a method in this tier go through back to back."""
        limit = self.tier_limits[tier]
        return int(limit + max(1.0, math.ceil(limit * self.burst)))

    # -- serving -----------------------------------------------------------------------------------------
    def rate_limited(self, retry_after: float) -> web.Response:
        return web.json_response(
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )

    def _register(self, method: str, fn: Callable[[Params], Result]) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._dispatch(method, fn, request)

        self.route("POST", f"/api/{method}", method, handler)
        self.route("GET", f"/api/{method}", method, handler)

    async def _dispatch(self, method: str, fn: Callable[[Params], Result], request: web.Request) -> web.Response:
        try:
            params = await self._read_params(request)
            self._authenticate(request, params)
            self._throttle_method(method)
            result = fn(params)
        except _Ratelimited as limited:
            return self.rate_limited(limited.retry_after)
        except _ApiError as error:
            return web.json_response({"ok": False, "error": error.code, **error.extra})
        return web.json_response({"ok": True, **result}, headers={"X-OAuth-Scopes": SCOPES})

    @staticmethod
    async def _read_params(request: web.Request) -> Params:
        params: Params = dict(request.query)
        if request.method != "POST" or not request.can_read_body:
            return params
        if request.content_type == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise _ApiError("invalid_json") from None
                if not isinstance(body, dict):
                    raise _ApiError("json_not_object")
                params.update({k: v for k, v in body.items() if v is not None})
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params

    def _authenticate(self, request: web.Request, params: Params) -> None:
        header = request.headers.get("Authorization", "")
        token: str | None
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                raise _ApiError("invalid_auth")
        else:
            token = _str(params, "token")
        if not token:
            raise _ApiError("not_authed")
        if token.strip() != self.bot_token:
            raise _ApiError("invalid_auth")

    def _throttle_method(self, method: str) -> None:
        tier = self.method_tiers.get(method)
        if not self.config.rate_limits or tier is None:
            return
        limit = self.tier_limits[tier]
        wait = self._buckets.take(f"method:{method}", self.tier_capacity(tier), limit / 60.0)
        if wait > 0:
            raise _Ratelimited(wait)

    def _throttle_channel(self, channel_id: str) -> None:
        if not self.config.rate_limits:
            return
        wait = self._buckets.take(f"post:{channel_id}", float(self.post_burst), self.post_per_second)
        if wait > 0:
            raise _Ratelimited(wait)

    async def _unknown_method(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error": "unknown_method", "req_method": request.match_info.get("method", "")}, status=404
        )

    async def _state_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def _response_url(self, request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = await request.text()
        self.responses.append(body)
        return web.json_response({"ok": True})

    # -- model helpers -----------------------------------------------------------------------------------
    def _next(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}0{self._seq:08d}"

    def _next_ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _user_object(self, user_id: str, handle: str, name: str, email: str | None, *, is_bot: bool = False) -> Result:
        profile: dict[str, Any] = {
            "real_name": name,
            "display_name": name,
            "real_name_normalized": name,
            "display_name_normalized": name,
        }
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = self.bot_id
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": handle,
            "deleted": False,
            "real_name": name,
            "tz": "Europe/London",
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "profile": profile,
        }

    def _new_channel(self, name: str, *, creator: str, is_private: bool) -> dict[str, Any]:
        channel_id = self._next("C")
        channel: dict[str, Any] = {
            "id": channel_id,
            "name": name,
            "topic": "",
            "purpose": "",
            "members": [creator],
            "is_private": is_private,
            "is_archived": False,
            "is_general": False,
            "creator": creator,
            "created": int(time.time()),
            "topic_set_by": "",
            "topic_last_set": 0,
            "purpose_set_by": "",
            "purpose_last_set": 0,
        }
        self.channels[channel_id] = channel
        self.history[channel_id] = []
        return channel

    def _visible(self, channel: dict[str, Any]) -> bool:
        return not channel["is_private"] or self.bot_user_id in channel["members"]

    def _channel(self, params: Params, key: str = "channel") -> dict[str, Any]:
        ref = _str(params, key)
        if ref is None:
            raise _ApiError("channel_not_found")
        channel = self.channels.get(ref)
        if channel is None:
            channel = next((c for c in self.channels.values() if c["name"] == ref.lstrip("#")), None)
        if channel is None or not self._visible(channel):
            raise _ApiError("channel_not_found")
        return channel

    def _writable(self, channel: dict[str, Any], *, member: bool = True) -> None:
        if channel["is_archived"]:
            raise _ApiError("is_archived")
        if member and self.bot_user_id not in channel["members"]:
            raise _ApiError("not_in_channel")

    def _channel_object(self, channel: dict[str, Any], *, num_members: bool = True) -> Result:
        name = channel["name"]
        obj: Result = {
            "id": channel["id"],
            "name": name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel["is_private"],
            "created": channel["created"],
            "is_archived": channel["is_archived"],
            "is_general": channel["is_general"],
            "unlinked": 0,
            "name_normalized": name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": self.team_id,
            "parent_conversation": None,
            "creator": channel["creator"],
            "is_member": self.bot_user_id in channel["members"],
            "topic": {
                "value": channel["topic"],
                "creator": channel["topic_set_by"],
                "last_set": channel["topic_last_set"],
            },
            "purpose": {
                "value": channel["purpose"],
                "creator": channel["purpose_set_by"],
                "last_set": channel["purpose_last_set"],
            },
            "previous_names": [],
        }
        if num_members:
            obj["num_members"] = len(channel["members"])
        return obj

    def _store_message(
        self,
        channel: dict[str, Any],
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        metadata: dict[str, Any] | None,
        *,
        user: str,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "ts": self._next_ts(),
            "channel": channel["id"],
            "user": user,
            "text": text or "",
            "blocks": blocks or [],
            "metadata": metadata or None,
            "edits": [],
        }
        if user == self.bot_user_id:
            message["bot_id"] = self.bot_id
        if thread_ts:
            message["thread_ts"] = thread_ts
        self.history.setdefault(channel["id"], []).append(message)
        return message

    def _find_message(self, channel: dict[str, Any], ts: str | None) -> dict[str, Any]:
        for message in self.history.get(channel["id"], []):
            if message["ts"] == ts:
                return message
        raise _ApiError("message_not_found")

    def _message_object(self, message: dict[str, Any], *, with_metadata: bool = True) -> Result:
        obj: Result = {"type": "message", "user": message["user"], "text": message["text"], "ts": message["ts"],
                       "team": self.team_id}
        if "bot_id" in message:
            obj["bot_id"] = message["bot_id"]
            obj["app_id"] = self.app_id
        if message["blocks"]:
            obj["blocks"] = message["blocks"]
        if with_metadata and message["metadata"]:
            obj["metadata"] = message["metadata"]
        if message["edits"]:
            obj["edited"] = {"user": message["user"], "ts": message["edits"][-1]["ts"]}
        if "thread_ts" in message:
            obj["thread_ts"] = message["thread_ts"]
        if message["ts"] in self.pins.get(message["channel"], []):
            obj["pinned_to"] = [message["channel"]]
        return obj

    def _user(self, user_id: str | None) -> Result | None:
        if user_id == self.bot_user_id:
            return self._bot_user
        return self.users.get(user_id or "")

    # -- auth ----------------------------------------------------------------------------------------------
    def _auth_test(self, params: Params) -> Result:
        return {
            "url": f"{self.base_url}/",
            "team": self.team_name,
            "user": "warroom",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    # -- conversations -------------------------------------------------------------------------------------
    def _conversations_create(self, params: Params) -> Result:
        name = _str(params, "name")
        if name is None or not name.strip():
            raise _ApiError("invalid_name_required")
        if len(name) > 80:
            raise _ApiError("invalid_name_maxlength")
        if not NAME_RE.fullmatch(name):
            raise _ApiError("invalid_name_specials")
        if not re.search(r"[a-z0-9]", name):
            raise _ApiError("invalid_name_punctuation")
        if any(c["name"] == name for c in self.channels.values()):
            raise _ApiError("name_taken")
        channel = self._new_channel(name, creator=self.bot_user_id, is_private=_bool(params, "is_private"))
        return {"channel": self._channel_object(channel)}

    def _conversations_list(self, params: Params) -> Result:
        types = {t.strip() for t in (_str(params, "types") or "public_channel").split(",") if t.strip()}
        if not types <= {"public_channel", "private_channel", "mpim", "im"}:
            raise _ApiError("invalid_types")
        exclude_archived = _bool(params, "exclude_archived")
        chosen = [
            c
            for c in self.channels.values()
            if self._visible(c)
            and ("private_channel" if c["is_private"] else "public_channel") in types
            and not (exclude_archived and c["is_archived"])
        ]
        page, cursor = _page(chosen, params, "channels", default=100, high=1000)
        return {
            "channels": [self._channel_object(c) for c in page],
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_info(self, params: Params) -> Result:
        channel = self._channel(params)
        return {"channel": self._channel_object(channel, num_members=_bool(params, "include_num_members"))}

    def _conversations_invite(self, params: Params) -> Result:
        channel = self._channel(params)
        self._writable(channel)
        ids: list[str] = []
        for raw in (_str(params, "users") or "").split(","):
            if raw.strip() and raw.strip() not in ids:
                ids.append(raw.strip())
        if not ids:
            raise _ApiError("no_user")
        if len(ids) > 1000:
            raise _ApiError("too_many_users")
        failed: list[dict[str, Any]] = []
        new: list[str] = []
        already: list[str] = []
        for user_id in ids:
            if user_id == self.bot_user_id:
                failed.append({"user": user_id, "ok": False, "error": "cant_invite_self"})
            elif user_id not in self.users or self.users[user_id]["deleted"]:
                failed.append({"user": user_id, "ok": False, "error": "user_not_found"})
            elif user_id in channel["members"]:
                already.append(user_id)
            else:
                new.append(user_id)
        if failed:
            if _bool(params, "force"):
                channel["members"].extend(new)
            raise _ApiError(failed[0]["error"], errors=failed)
        if not new:
            raise _ApiError(
                "already_in_channel", errors=[{"user": u, "ok": False, "error": "already_in_channel"} for u in already]
            )
        channel["members"].extend(new)
        return {"channel": self._channel_object(channel)}

    def _conversations_members(self, params: Params) -> Result:
        channel = self._channel(params)
        page, cursor = _page(list(channel["members"]), params, "members", default=100, high=1000)
        return {"members": page, "response_metadata": {"next_cursor": cursor}}

    def _set_text(self, params: Params, field: str) -> Result:
        channel = self._channel(params)
        self._writable(channel)
        value = _str(params, field) or ""
        if len(value) > MAX_TOPIC:
            raise _ApiError("too_long")
        channel[field] = value
        channel[f"{field}_set_by"] = self.bot_user_id
        channel[f"{field}_last_set"] = int(time.time())
        return {"channel": self._channel_object(channel)}

    def _conversations_set_topic(self, params: Params) -> Result:
        return self._set_text(params, "topic")

    def _conversations_set_purpose(self, params: Params) -> Result:
        return self._set_text(params, "purpose")

    def _conversations_archive(self, params: Params) -> Result:
        channel = self._channel(params)
        if channel["is_archived"]:
            raise _ApiError("already_archived")
        if channel["is_general"]:
            raise _ApiError("cant_archive_general")
        self._writable(channel)
        channel["is_archived"] = True
        return {}

    def _conversations_history(self, params: Params) -> Result:
        channel = self._channel(params)
        latest = _ts(params, "latest", math.inf)
        oldest = _ts(params, "oldest", 0.0)
        inclusive = _bool(params, "inclusive")

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        newest_first = [m for m in reversed(self.history.get(channel["id"], [])) if within(float(m["ts"]))]
        page, cursor = _page(newest_first, params, "history", default=100, high=999)
        with_metadata = _bool(params, "include_all_metadata")
        return {
            "messages": [self._message_object(m, with_metadata=with_metadata) for m in page],
            "has_more": bool(cursor),
            "pin_count": len(self.pins.get(channel["id"], [])),
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    # -- chat ----------------------------------------------------------------------------------------------
    def _content(self, params: Params) -> tuple[str | None, list[dict[str, Any]] | None]:
        text = _str(params, "text")
        blocks = _validate_blocks(_json_value(params, "blocks", "invalid_blocks_format"))
        if text is not None and len(text) > MAX_TEXT:
            raise _ApiError("msg_too_long")
        return text, blocks

    def _chat_post_message(self, params: Params) -> Result:
        channel = self._channel(params)
        self._writable(channel, member=channel["is_private"])
        text, blocks = self._content(params)
        if not text and not blocks:
            raise _ApiError("no_text")
        metadata = _validate_metadata(_json_value(params, "metadata", "invalid_metadata_format"))
        self._throttle_channel(channel["id"])
        message = self._store_message(
            channel, text, blocks, metadata, user=self.bot_user_id, thread_ts=_str(params, "thread_ts")
        )
        return {"channel": channel["id"], "ts": message["ts"], "message": self._message_object(message)}

    def _chat_update(self, params: Params) -> Result:
        channel = self._channel(params)
        message = self._find_message(channel, _str(params, "ts"))
        if message["user"] != self.bot_user_id:
            raise _ApiError("cant_update_message")
        if channel["is_archived"]:
            raise _ApiError("is_archived")
        text, blocks = self._content(params)
        if text is None and blocks is None:
            raise _ApiError("no_text")
        metadata = _validate_metadata(_json_value(params, "metadata", "invalid_metadata_format"))
        if text is not None:
            message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        if metadata is not None:
            message["metadata"] = metadata or None
        message["edits"].append({"ts": self._next_ts(), "text": message["text"], "blocks": message["blocks"]})
        return {
            "channel": channel["id"],
            "ts": message["ts"],
            "text": message["text"],
            "message": self._message_object(message),
        }

    def _chat_post_ephemeral(self, params: Params) -> Result:
        channel = self._channel(params)
        self._writable(channel, member=channel["is_private"])
        user_id = _str(params, "user")
        if self._user(user_id) is None:
            raise _ApiError("user_not_found")
        if user_id not in channel["members"]:
            raise _ApiError("user_not_in_channel")
        text, blocks = self._content(params)
        if not text and not blocks:
            raise _ApiError("no_text")
        ts = self._next_ts()
        self.ephemeral.append({"channel": channel["id"], "user": user_id, "text": text or "", "blocks": blocks or [],
                               "ts": ts})
        return {"message_ts": ts}

    # -- pins and bookmarks --------------------------------------------------------------------------------
    def _pins_add(self, params: Params) -> Result:
        channel = self._channel(params)
        ts = _str(params, "timestamp")
        if ts is None:
            raise _ApiError("no_item_specified")
        self._writable(channel, member=False)
        message = self._find_message(channel, ts)
        pinned = self.pins.setdefault(channel["id"], [])
        if message["ts"] in pinned:
            raise _ApiError("already_pinned")
        pinned.append(message["ts"])
        self._pin_meta[(channel["id"], message["ts"])] = int(time.time())
        return {}

    def _pins_list(self, params: Params) -> Result:
        channel = self._channel(params)
        items = []
        for ts in self.pins.get(channel["id"], []):
            message = self._find_message(channel, ts)
            items.append({
                "type": "message",
                "created": self._pin_meta.get((channel["id"], ts), 0),
                "created_by": self.bot_user_id,
                "channel": channel["id"],
                "message": self._message_object(message),
            })
        return {"items": items}

    def _bookmarks_add(self, params: Params) -> Result:
        channel = self._channel(params, "channel_id")
        title, kind, link = _str(params, "title"), _str(params, "type"), _str(params, "link")
        if title is None or kind is None:
            raise _ApiError("invalid_arguments")
        if kind != "link":
            raise _ApiError("invalid_bookmark_type")
        if link is None or not re.match(r"https?://\S+$", link):
            raise _ApiError("invalid_link")
        self._writable(channel, member=False)
        now = int(time.time())
        bookmark = {
            "id": self._next("Bk"),
            "channel_id": channel["id"],
            "title": title,
            "link": link,
            "emoji": _str(params, "emoji"),
            "icon_url": None,
            "type": "link",
            "entity_id": None,
            "date_created": now,
            "date_updated": 0,
            "rank": chr(ord("a") + len(self.bookmarks.get(channel["id"], [])) % 26),
            "last_updated_by_user_id": self.bot_user_id,
            "last_updated_by_team_id": self.team_id,
            "shortcut_id": None,
            "app_id": self.app_id,
        }
        self.bookmarks.setdefault(channel["id"], []).append(bookmark)
        return {"bookmark": bookmark}

    def _bookmarks_list(self, params: Params) -> Result:
        channel = self._channel(params, "channel_id")
        return {"bookmarks": list(self.bookmarks.get(channel["id"], []))}

    # -- users -------------------------------------------------------------------------------------------
    def _users_lookup_by_email(self, params: Params) -> Result:
        email = (_str(params, "email") or "").strip().lower()
        if not email:
            raise _ApiError("invalid_arguments")
        for user in self.users.values():
            if user["profile"].get("email", "").lower() == email:
                return {"user": user}
        raise _ApiError("users_not_found")

    def _users_info(self, params: Params) -> Result:
        user = self._user(_str(params, "user"))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": user}

    # -- views -------------------------------------------------------------------------------------------
    def _view(self, params: Params) -> dict[str, Any]:
        view = _json_value(params, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise _ApiError("invalid_arguments")
        _validate_blocks(view.get("blocks", []))
        return view

    def _view_object(self, view_id: str, view: dict[str, Any]) -> Result:
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "title": view.get("title"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._seq:08d}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }

    def _views_open(self, params: Params) -> Result:
        trigger_id = _str(params, "trigger_id") or _str(params, "interactivity_pointer")
        if trigger_id is None:
            raise _ApiError("invalid_trigger_id")
        view = self._view(params)
        view_id = self._next("V")
        self.views[view_id] = {"id": view_id, "trigger_id": trigger_id, "view": view}
        return {"view": self._view_object(view_id, view)}

    def _views_update(self, params: Params) -> Result:
        view_id = _str(params, "view_id")
        external_id = _str(params, "external_id")
        record = self.views.get(view_id or "") or next(
            (v for v in self.views.values() if external_id and v["view"].get("external_id") == external_id), None
        )
        if record is None:
            raise _ApiError("not_found")
        record["view"] = self._view(params)
        return {"view": self._view_object(record["id"], record["view"])}
