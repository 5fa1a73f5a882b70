"""Slack as warroom's :class:`~warroom.adapters.ports.ChatPort`, over slack_sdk's ``AsyncWebClient``.

This is the one choke point for Web API calls. Retries use slack_sdk's own retry handlers, narrowed to what is
safe for an outbox whose creates are looked up before they are retried:

- HTTP 429: waited out inline while ``Retry-After`` ≤ ``max_inline_wait`` (the call never ran, so any method may
  be repeated); a longer wait is raised as :class:`RateLimited` for the worker to schedule.
- Connection errors and HTTP 500/502/503/504: retried inline with backoff only for methods that are safe to repeat
  (reads, and writes whose repeat is harmless or recognised: setTopic, invite, pins.add, chat.update, archive).
  For chat.postMessage, conversations.create, bookmarks.add and the like the effect may have happened before the
  answer was lost, so the error goes straight to the worker (:class:`Transient`), whose retry looks the effect up
  first (find_own_channel, find_message, list_bookmarks) instead of repeating it blindly. A connection that was
  refused before anything was sent is retried for every method.

Every slack_sdk and aiohttp exception is translated here: ``ratelimited``/429 → :class:`RateLimited`,
``name_taken`` → :class:`Conflict`, 5xx / connection / timeout / Slack's ``internal_error`` → :class:`Transient`,
``*_not_found`` → :class:`NotFound`, any other API error → :class:`Permanent` with the Slack error code and what
to do about it. Tokens are never logged (slack_sdk redacts the Authorization header in its own debug log).

Every attempt slack_sdk makes on a client this adapter builds — each retry, and the calls slack-bolt makes through
the shared client — is told to the observer as system ``slack`` (:mod:`warroom.adapters.observe`), from the first
of the client's retry handlers: slack_sdk asks its handlers about every answer and every failure, in order.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from .errors import AdapterError, Conflict, NotFound, Permanent, RateLimited, Transient
from .observe import CallObserver, Outcome, ignore
from .ports import Bookmark, ChannelRef, MessageRef

log = logging.getLogger("warroom.adapters.slack")

SYSTEM = "Slack"
#: The name Web API calls are observed under.
LABEL = "slack"

#: Methods whose inline repeat after a lost answer cannot create a second effect.
REPEATABLE = frozenset({
    "auth.test",
    "conversations.list",
    "conversations.info",
    "conversations.history",
    "conversations.members",
    "conversations.setTopic",
    "conversations.setPurpose",
    "conversations.invite",
    "conversations.archive",
    "chat.update",
    "pins.add",
    "pins.list",
    "bookmarks.list",
    "users.lookupByEmail",
    "users.info",
})

#: Slack error codes that mean "try again later".
TRANSIENT_CODES = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout"})

#: What to do about the errors people are most likely to meet.
HINTS = {
    "not_authed": "no bot token was sent; set slack.bot_token (WARROOM_SLACK__BOT_TOKEN)",
    "invalid_auth": "the bot token was refused; check slack.bot_token (WARROOM_SLACK__BOT_TOKEN)",
    "token_revoked": "the bot token was revoked; reinstall the Slack app and update slack.bot_token",
    "account_inactive": "the bot token belongs to a deactivated app or workspace; reinstall the Slack app",
    "missing_scope": "the Slack app lacks a scope; add it in the app manifest and reinstall the app",
    "not_in_channel": "the bot is not a member of the channel; invite it with /invite @warroom",
    "is_archived": "the channel is archived; unarchive it or open a new war room",
    "channel_not_found": "the channel does not exist or the bot cannot see it",
    "invalid_blocks": "the message blocks were rejected (too many, or malformed)",
    "msg_too_long": "the message is too long; shorten it",
    "invalid_name_specials": "channel names may only hold lowercase letters, digits, hyphens and underscores",
    "invalid_name_maxlength": "channel names are at most 80 characters",
    "too_long": "the text is longer than Slack allows (250 characters for a topic)",
}

#: apps.connections.open's refusals of an app-level token, and what each means.
APP_TOKEN_REFUSALS = {
    "not_authed": "no app-level token was sent",
    "invalid_auth": "the token is not valid",
    "not_allowed_token_type": "that is not an app-level token (xapp-…)",
    "missing_scope": "the token lacks the connections:write scope",
    "missing_args": "no app-level token was sent",
    "token_revoked": "the token was revoked",
    "token_expired": "the token has expired",
    "account_inactive": "the app's workspace or account is inactive",
}

#: What a call may raise: API errors, and failures to get an answer at all (TimeoutError is an OSError).
_SEND_ERRORS = (SlackClientError, aiohttp.ClientError, OSError)

_NOT_FOUND = frozenset({"channel_not_found", "message_not_found", "user_not_found", "users_not_found", "not_found"})


def _method_of(url: str) -> str:
    return urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]


class _EqualJitter(Jitter):
    """Half the interval fixed, half random (slack_sdk's default adds up to a whole second)."""

    def recalculate(self, duration: float) -> float:
        return duration / 2 + random.uniform(0, duration / 2)


class InlineRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    """Wait out a 429 inline, but only while Retry-After is at most ``max_wait`` seconds."""

    def __init__(self, max_wait: float, max_retry_count: int = 2) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return _retry_after(response.headers) <= self.max_wait

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = _retry_after(response.headers if response is not None else {})
        state.next_attempt_requested = True
        await asyncio.sleep(wait + random.uniform(0, min(0.25, wait / 10 + 0.01)))
        state.increment_current_attempt()


class SafeServerErrorHandler(AsyncServerErrorRetryHandler):
    """slack_sdk's server-error retry (500, 503, plus 502 and 504 from proxies) for repeatable methods only."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code in (500, 502, 503, 504)
            and _method_of(request.url) in REPEATABLE
        )


class SafeConnectionErrorHandler(AsyncConnectionErrorRetryHandler):
    """slack_sdk's connection-error retry: any method when the connection was refused (nothing was sent), and
    repeatable methods after a dropped connection or a timeout."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if error is None:
            return False
        if isinstance(error, aiohttp.ClientConnectorError):
            return True
        repeatable = _method_of(request.url) in REPEATABLE
        return repeatable and isinstance(error, (*self.error_types_to_do_retries, TimeoutError))


def _retry_after(headers: Mapping[str, Any]) -> float:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return 1.0
    return 1.0


class AttemptObserver(AsyncRetryHandler):
    """Not a retry policy: first among a client's retry handlers, it tells ``observe`` the outcome of every attempt
    (slack_sdk asks its handlers, in order, about each answer and each failure) and never asks for a retry."""

    def __init__(self, observe: CallObserver) -> None:
        super().__init__(max_retry_count=0)
        self.observe = observe

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        self.observe(LABEL, attempt_outcome(response, error))
        return False


def attempt_outcome(response: HttpResponse | None, error: Exception | None) -> Outcome:
    """One Web API attempt as an outcome: Slack's answer (its status, then the body's ``ok`` and error code), or
    what kept it from answering."""
    if response is None:
        if isinstance(error, SlackApiError):
            return "transient"  # an answer whose body could not be read
        return "unreachable"
    status = response.status_code
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "transient"
    body = response.body if isinstance(response.body, dict) else None
    if body is None or body.get("ok"):
        return "ok" if status < 400 else ("not_found" if status == 404 else "refused")
    code = str(body.get("error") or "")
    if code == "ratelimited":
        return "rate_limited"
    if code in TRANSIENT_CODES:
        return "transient"
    if code in _NOT_FOUND:
        return "not_found"
    return "refused"


def retry_handlers(
    max_inline_wait: float, *, retries: int = 2, backoff: float = 0.5, observe: CallObserver = ignore
) -> list[AsyncRetryHandler]:
    """The retry policy SlackChat installs on a client it builds (usable on a shared client too), after the
    :class:`AttemptObserver` that tells ``observe`` of each attempt."""
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff, jitter=_EqualJitter())
    return [
        AttemptObserver(observe),
        SafeConnectionErrorHandler(max_retry_count=retries, interval_calculator=interval),
        InlineRateLimitHandler(max_inline_wait),
        SafeServerErrorHandler(max_retry_count=retries, interval_calculator=interval),
    ]


def translate(method: str, exc: BaseException) -> AdapterError:
    """A slack_sdk / aiohttp exception as one of warroom's adapter errors."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        data = getattr(response, "data", None)
        code = str(data.get("error", "")) if isinstance(data, dict) else ""
        if status == 429 or code == "ratelimited":
            wait = _retry_after(dict(getattr(response, "headers", {}) or {}))
            return RateLimited(SYSTEM, f"{method} was rate limited; try again in {wait:g} s", wait)
        if status >= 500 or code in TRANSIENT_CODES:
            what = f"Slack error '{code}'" if code else f"HTTP {status}"
            return Transient(SYSTEM, f"{method} failed with {what}; it will be tried again")
        if not code:
            return Permanent(SYSTEM, f"{method} answered HTTP {status} without a Slack error code")
        reason = f"{method} failed with Slack error '{code}'"
        if code == "missing_scope" and isinstance(data, dict) and data.get("needed"):
            reason += f": the Slack app needs the scope {data['needed']}; add it to the app manifest and reinstall"
        elif code in HINTS:
            reason += f": {HINTS[code]}"
        if code == "name_taken":
            return Conflict(SYSTEM, reason + ": a channel with that name exists already")
        if code in _NOT_FOUND:
            return NotFound(SYSTEM, reason)
        return Permanent(SYSTEM, reason)
    if isinstance(exc, TimeoutError):
        return Transient(SYSTEM, f"{method} timed out; it will be tried again")
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Transient(SYSTEM, f"{method} could not reach Slack ({type(exc).__name__}); it will be tried again")
    if isinstance(exc, SlackClientError):
        return Permanent(SYSTEM, f"{method} could not be sent: {exc}")
    return Permanent(SYSTEM, f"{method} failed unexpectedly ({type(exc).__name__})")


def _error_code(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    return str(data.get("error", "")) if isinstance(data, dict) else ""


@dataclass(frozen=True, slots=True)
class SlackIdentity:
    """What ``auth.test`` says of the bot token: the workspace, the bot user and the scopes granted."""

    team_id: str
    team: str
    user_id: str
    user: str
    url: str
    #: The scopes of the token (Slack's ``X-OAuth-Scopes`` header); None when Slack did not send the header.
    scopes: frozenset[str] | None


class SlackChat:
    """:class:`~warroom.adapters.ports.ChatPort` over the Slack Web API.

    ``client`` lets the composition root share one ``AsyncWebClient`` with the bolt app; a client passed in keeps
    its own retry handlers (:func:`retry_handlers` builds this adapter's, ``observe`` hearing each attempt).
    ``.client`` is the client in use.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = "https://slack.com/api/",
        team_url: str = "https://slack.com/",
        max_inline_wait: float = 5.0,
        client: AsyncWebClient | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
        concurrency: int = 8,
        observe: CallObserver = ignore,
    ) -> None:
        self.client = client or AsyncWebClient(
            token=token,
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            timeout=int(max(1, timeout)),
            retry_handlers=retry_handlers(max_inline_wait, retries=retries, backoff=backoff, observe=observe),
        )
        self.team_url = team_url if team_url.endswith("/") else team_url + "/"
        self.max_inline_wait = max_inline_wait
        self._concurrency = max(1, concurrency)
        self._bot_user_id: str | None = None

    async def _call(self, method: str, call: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse:
        try:
            return await call
        except _SEND_ERRORS as exc:
            error = translate(method, exc)
            log.log(logging.DEBUG if isinstance(error, NotFound) else logging.INFO, "%s", error)
            raise error from None

    # -- identity -----------------------------------------------------------------------------------------
    async def bot_user_id(self) -> str:
        if self._bot_user_id is None:
            response = await self._call("auth.test", self.client.auth_test())
            self._bot_user_id = str(response["user_id"])
        return self._bot_user_id

    async def identity(self) -> SlackIdentity:
        """``auth.test``: who the bot token is, and the scopes it was granted (a check of the token and the app's
        installation, for ``warroom check-config --online``)."""
        response = await self._call("auth.test", self.client.auth_test())
        header = next((str(v) for k, v in (response.headers or {}).items() if k.lower() == "x-oauth-scopes"), None)
        scopes = None if header is None else frozenset(s.strip() for s in header.split(",") if s.strip())
        return SlackIdentity(
            team_id=str(response.get("team_id") or ""),
            team=str(response.get("team") or ""),
            user_id=str(response.get("user_id") or ""),
            user=str(response.get("user") or ""),
            url=str(response.get("url") or ""),
            scopes=scopes,
        )

    async def open_socket_url(self, app_token: str) -> str:
        """``apps.connections.open`` with the app-level token: the single-use WebSocket URL Socket Mode connects to.
        Nothing connects to it here (a check of ``slack.app_token``; an unused ticket lapses)."""
        try:
            response = await self.client.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            code = _error_code(exc)
            if code in APP_TOKEN_REFUSALS:
                raise Permanent(SYSTEM, f"apps.connections.open answered '{code}': {APP_TOKEN_REFUSALS[code]}") from None
            raise translate("apps.connections.open", exc) from None
        except _SEND_ERRORS as exc:
            raise translate("apps.connections.open", exc) from None
        return str(response.get("url") or "")

    def channel_url(self, channel_id: str) -> str:
        return f"{self.team_url}archives/{channel_id}"

    # -- channels ---------------------------------------------------------------------------------------
    async def create_channel(self, name: str, *, private: bool = False) -> ChannelRef:
        response = await self._call(
            "conversations.create", self.client.conversations_create(name=name, is_private=private)
        )
        channel = response["channel"]
        return ChannelRef(id=str(channel["id"]), name=str(channel["name"]), url=self.channel_url(str(channel["id"])))

    async def find_own_channel(self, name: str) -> ChannelRef | None:
        """Pages conversations.list (public and private, archived left out) for ``name`` created by this bot."""
        me = await self.bot_user_id()
        cursor: str | None = None
        while True:
            response = await self._call(
                "conversations.list",
                self.client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
                ),
            )
            for channel in response.get("channels") or []:
                if channel.get("name") == name and channel.get("creator") == me:
                    return ChannelRef(id=str(channel["id"]), name=name, url=self.channel_url(str(channel["id"])))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return None

    async def set_topic(self, channel_id: str, topic: str) -> None:
        await self._call("conversations.setTopic", self.client.conversations_setTopic(channel=channel_id, topic=topic))

    # -- people -------------------------------------------------------------------------------------------
    async def lookup_users(self, emails: Sequence[str]) -> dict[str, str]:
        """One users.lookupByEmail per distinct email, a few at a time; emails nobody in the workspace has (and
        deactivated accounts) are left out. Any other failure is raised after the lookups finish."""
        gate = asyncio.Semaphore(self._concurrency)

        async def one(email: str) -> tuple[str, str | None]:
            async with gate:
                try:
                    response = await self._call("users.lookupByEmail", self.client.users_lookupByEmail(email=email))
                except NotFound:
                    return email, None
            user = response.get("user") or {}
            return email, None if user.get("deleted") else str(user["id"])

        unique = list(dict.fromkeys(e.strip() for e in emails if e.strip()))
        found: dict[str, str] = {}
        for result in await asyncio.gather(*(one(e) for e in unique), return_exceptions=True):
            if isinstance(result, BaseException):
                raise result
            email, user_id = result
            if user_id is not None:
                found[email] = user_id
        return found

    async def invite(self, channel_id: str, user_ids: Sequence[str]) -> None:
        """Invite in one call per 1,000 people; the bot itself is left out and people already in the channel are
        not an error.

        Slack fails the whole call with ``user_not_found`` when any id is unknown (deleted or never existed) and
        invites nobody. Then the ids its ``errors`` list names (or, when it gives no list, the ids users.info does
        not know) are dropped and the rest are invited in a second call, so one departed person does not keep
        everyone else out of the war room.
        """
        me = await self.bot_user_id()
        wanted = [u for u in dict.fromkeys(user_ids) if u and u != me]
        for start in range(0, len(wanted), 1000):
            await self._invite_batch(channel_id, wanted[start : start + 1000])

    async def _invite_batch(self, channel_id: str, user_ids: list[str]) -> None:
        for attempt in range(2):
            if not user_ids:
                return
            try:
                # A form body rather than slack_sdk's query string: 1,000 ids make a ~12 KB URL.
                await self.client.api_call(
                    "conversations.invite", data={"channel": channel_id, "users": ",".join(user_ids)}
                )
                return
            except SlackApiError as exc:
                code = _error_code(exc)
                if code == "already_in_channel":
                    return
                if code != "user_not_found" or attempt == 1:
                    raise translate("conversations.invite", exc) from None
                unknown = await self._unknown_users(exc, user_ids)
                log.info("slack invite: leaving out %d unknown user id(s): %s", len(unknown), ", ".join(unknown))
                user_ids = [u for u in user_ids if u not in unknown]
            except _SEND_ERRORS as exc:
                raise translate("conversations.invite", exc) from None

    async def _unknown_users(self, exc: SlackApiError, user_ids: list[str]) -> set[str]:
        data = getattr(exc.response, "data", None)
        errors = data.get("errors") if isinstance(data, dict) else None
        if isinstance(errors, list) and errors:
            return {str(e.get("user")) for e in errors if isinstance(e, dict) and e.get("error") == "user_not_found"}

        async def known(user_id: str) -> bool:
            try:
                await self._call("users.info", self.client.users_info(user=user_id))
            except NotFound:
                return False
            return True

        flags = await asyncio.gather(*(known(u) for u in user_ids))
        return {u for u, ok in zip(user_ids, flags, strict=True) if not ok}

    # -- messages -----------------------------------------------------------------------------------------
    async def post_message(
        self,
        channel_id: str,
        text: str,
        *,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> MessageRef:
        response = await self._call(
            "chat.postMessage",
            self.client.chat_postMessage(
                channel=channel_id,
                text=text,
                blocks=[dict(b) for b in blocks] if blocks is not None else None,
                metadata=dict(metadata) if metadata is not None else None,
            ),
        )
        return MessageRef(channel_id=str(response["channel"]), ts=str(response["ts"]))

    async def update_message(
        self, channel_id: str, ts: str, text: str, *, blocks: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        await self._call(
            "chat.update",
            self.client.chat_update(
                channel=channel_id, ts=ts, text=text, blocks=[dict(b) for b in blocks] if blocks is not None else None
            ),
        )

    async def find_message(
        self, channel_id: str, event_type: str, key: str, *, oldest: float | None = None
    ) -> MessageRef | None:
        """Pages conversations.history (newest first, with metadata) for this bot's message carrying that
        event_type and ``event_payload["key"] == key`` — only messages since ``oldest`` (a Unix time) when given,
        so that a busy channel's whole history is not read."""
        me = await self.bot_user_id()
        since = f"{oldest:.6f}" if oldest is not None else "0"
        cursor: str | None = None
        while True:
            response = await self._call(
                "conversations.history",
                self.client.conversations_history(
                    channel=channel_id, oldest=since, include_all_metadata=True, limit=200, cursor=cursor
                ),
            )
            for message in response.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if (
                    message.get("user") == me
                    and metadata.get("event_type") == event_type
                    and str(payload.get("key")) == key
                ):
                    return MessageRef(channel_id=channel_id, ts=str(message["ts"]), payload=dict(payload))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None or not response.get("has_more", True):
                return None

    async def channel_id(self, name: str) -> str:
        """The id of the channel of that name the app can see (conversations.list, paged); Permanent when none."""
        cursor: str | None = None
        while True:
            response = await self._call(
                "conversations.list",
                self.client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
                ),
            )
            for channel in response.get("channels") or []:
                if channel.get("name") == name:
                    return str(channel["id"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                raise Permanent(
                    "Slack",
                    f"there is no channel #{name} the app can see: create it, or invite the app to it if it is private",
                )

    async def archive(self, channel_id: str) -> None:
        """Archive a channel; archived already is not an error."""
        await self._conversation("conversations.archive", self.client.conversations_archive(channel=channel_id),
                                 accept={"already_archived"})

    async def unarchive(self, channel_id: str) -> bool:
        """Unarchive a channel (not archived is not an error); False when Slack refuses the app — its reference:
        bot tokens cannot unarchive conversations (answered ``not_in_channel``)."""
        refused = await self._conversation(
            "conversations.unarchive", self.client.conversations_unarchive(channel=channel_id),
            accept={"not_archived", "not_in_channel"},
        )
        return refused != "not_in_channel"

    async def _conversation(self, method: str, call: Awaitable[AsyncSlackResponse], *, accept: set[str]) -> str | None:
        """A call whose Slack error codes in ``accept`` are outcomes, returned, rather than failures."""
        try:
            await call
        except SlackApiError as exc:
            data = getattr(exc.response, "data", None)
            code = str(data.get("error", "")) if isinstance(data, dict) else ""
            if code in accept:
                return code
            raise translate(method, exc) from None
        except _SEND_ERRORS as exc:
            raise translate(method, exc) from None
        return None

    async def pin(self, channel_id: str, ts: str) -> None:
        try:
            await self.client.pins_add(channel=channel_id, timestamp=ts)
        except SlackApiError as exc:
            if _error_code(exc) == "already_pinned":
                return
            raise translate("pins.add", exc) from None
        except _SEND_ERRORS as exc:
            raise translate("pins.add", exc) from None

    # -- bookmarks ----------------------------------------------------------------------------------------
    async def add_bookmark(self, channel_id: str, title: str, link: str) -> Bookmark:
        response = await self._call(
            "bookmarks.add", self.client.bookmarks_add(channel_id=channel_id, title=title, type="link", link=link)
        )
        bookmark = response["bookmark"]
        return Bookmark(id=str(bookmark["id"]), title=str(bookmark["title"]), link=str(bookmark.get("link") or link))

    async def list_bookmarks(self, channel_id: str) -> list[Bookmark]:
        response = await self._call("bookmarks.list", self.client.bookmarks_list(channel_id=channel_id))
        return [
            Bookmark(id=str(b["id"]), title=str(b.get("title", "")), link=str(b.get("link", "")))
            for b in response.get("bookmarks") or []
        ]
