"""The Bot Connector REST API (v3) for the bot's proactive messages in Teams: start a thread in a channel, open a 1:1
chat with a person (on-call pages), post into a conversation, edit a message in place.

Based on the Bot Framework Connector REST reference and Teams' "send proactive messages" and "rate limiting for
bots" pages; :mod:`warroom.sandbox.teams.connector` emulates the same behaviour.

- **Tokens**: Entra client credentials of the bot's app registration for ``https://api.botframework.com/.default``
  (:class:`~warroom.adapters.microsoft.entra.EntraToken`; single-tenant bots ask their own tenant), cached, fetched again once
  on a 401.
- **Where**: every call goes to a service URL (``https://smba.trafficmanager.net/teams/`` or the one an activity
  told the bot); :class:`Posted` keeps it with the conversation so that edits go where the post went.
- **Retries** (Microsoft: retry 429, 412, 502 and 504 with exponential backoff and jitter): a 429 — nothing was
  done — is waited out inline (``Retry-After``, with jitter), whatever the request. An edit (``PUT``) is idempotent
  and retried inline on 412, 502 and 504 too. A new post is not: after a 412 or a 5xx it may have been delivered,
  so the failure goes back to the caller as :class:`~warroom.adapters.errors.Transient`, whose retry looks for the
  post (through Graph) before posting again.
- **Errors**: ``{"error": {"code", "message"}}`` becomes warroom's errors; a bot missing from the team or chat
  (403 ``BotNotInConversationRoster``, :class:`NotInRoster`) says to install the app there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from warroom.adapters.errors import NotFound, Permanent
from warroom.adapters.http import JsonApi, error_reason, hook, unhook
from warroom.adapters.microsoft.entra import BOT_SCOPE, EntraToken
from warroom.adapters.observe import CallObserver, ignore
from warroom.settings import TeamsSettings

SYSTEM = "Bot Connector"


class NotInRoster(Permanent):
    """403 ``BotNotInConversationRoster``: the bot is not in that conversation — for a 1:1 chat, the app is not
    installed for the person (installing it for them is the caller's remedy)."""


@dataclass(frozen=True, slots=True)
class Posted:
    """Where a message went: the service URL, the conversation (a channel thread ``…;messageid=…``, a chat) and
    the message's activity id."""

    service_url: str
    conversation_id: str
    activity_id: str


class BotConnector:
    """The bot's outbound Bot Connector calls. Build with :meth:`from_settings`; close with :meth:`aclose`."""

    def __init__(
        self,
        *,
        service_url: str,
        token_url: str,
        app_id: str,
        app_password: str,
        tenant_id: str = "",
        timeout: float = 15.0,
        max_retries: int = 4,
        max_inline_wait: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        observe: CallObserver = ignore,
    ) -> None:
        self.service_url = _base(service_url)
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.token = EntraToken(
            token_url=token_url,
            client_id=app_id,
            client_secret=app_password,
            scope=BOT_SCOPE,
            system=SYSTEM,
            timeout=timeout,
            max_retries=max_retries,
            max_inline_wait=max_inline_wait,
            clock=clock,
            observe=observe,
        )
        http = client or httpx.AsyncClient(timeout=timeout)
        hook(http, "response", self._translate)
        self._http = http
        self.api = JsonApi(
            SYSTEM,
            self.service_url,
            client=http,
            timeout=timeout,
            max_retries=max_retries,
            max_inline_wait=max_inline_wait,
            auth=self._headers,
            on_unauthorized=self.token.forget,
            retry_after_jitter=0.2,
            observe=observe,
        )
        #: Service URLs this connector posts to (its own plus those conversations were started on).
        self._known: set[str] = {self.service_url}

    @classmethod
    def from_settings(cls, settings: TeamsSettings, *, observe: CallObserver = ignore) -> BotConnector:
        secret = settings.app_password.get_secret_value() if settings.app_password is not None else ""
        return cls(
            service_url=settings.service_url,
            token_url=EntraToken.url_for(settings.login_url, settings.tenant_id),
            app_id=settings.app_id,
            app_password=secret,
            tenant_id=settings.tenant_id,
            timeout=settings.timeout,
            observe=observe,
        )

    @property
    def calls(self) -> int:
        return self.api.calls

    async def aclose(self) -> None:
        unhook(self._http, "response", self._translate)
        await self.api.aclose()
        await self.token.aclose()

    async def _headers(self) -> Mapping[str, str]:
        return {**(await self.token.headers()), "Accept": "application/json"}

    # -- calls --------------------------------------------------------------------------------------
    async def start_thread(
        self, channel_id: str, activity: Mapping[str, Any], *, service_url: str | None = None
    ) -> Posted:
        """A new thread in a channel with ``activity`` as its first post (``POST /v3/conversations``)."""
        base = self._service(service_url)
        body = {
            "isGroup": True,
            "bot": {"id": f"28:{self.app_id}"},
            "tenantId": self.tenant_id,
            "activity": dict(activity),
            "channelData": {
                "channel": {"id": channel_id},
                **({"tenant": {"id": self.tenant_id}} if self.tenant_id else {}),
            },
        }
        answer = await self.api.json("POST", f"{base}/v3/conversations", json=body)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise Permanent(SYSTEM, "POST /v3/conversations answered without a conversation id")
        conversation = str(answer["id"])
        activity_id = str(answer.get("activityId") or conversation.partition(";messageid=")[2])
        if not activity_id:
            raise Permanent(SYSTEM, "POST /v3/conversations answered without the first post's id")
        return Posted(base, conversation, activity_id)

    async def open_personal(self, user_id: str, *, service_url: str | None = None) -> str:
        """The bot's 1:1 chat with a person given by their Entra object id (``POST /v3/conversations`` with that
        member, ``isGroup`` false, the tenant): its conversation id, the same each time. :class:`NotInRoster` when
        the app is not installed for the person (Microsoft: a conversation with a user by object id needs the app
        in their personal scope)."""
        base = self._service(service_url)
        body: dict[str, Any] = {
            "isGroup": False,
            "bot": {"id": f"28:{self.app_id}"},
            "members": [{"id": user_id}],
            "tenantId": self.tenant_id,
            "channelData": {"tenant": {"id": self.tenant_id}} if self.tenant_id else {},
        }
        # creating a 1:1 conversation is idempotent (Teams answers the existing one): retried like a read
        answer = await self.api.json("POST", f"{base}/v3/conversations", json=body, idempotent=True)
        if not isinstance(answer, dict) or not answer.get("id"):
            raise Permanent(SYSTEM, "POST /v3/conversations answered without a conversation id")
        return str(answer["id"])

    async def send(
        self, conversation_id: str, activity: Mapping[str, Any], *, service_url: str | None = None
    ) -> Posted:
        """Post into a conversation: a new post in a channel, a reply in a thread, a message in a chat."""
        base = self._service(service_url)
        answer = await self.api.json(
            "POST", f"{base}/v3/conversations/{_q(conversation_id)}/activities", json=dict(activity)
        )
        if not isinstance(answer, dict) or not answer.get("id"):
            raise Permanent(SYSTEM, "POST …/activities answered without the message id")
        return Posted(base, conversation_id, str(answer["id"]))

    async def update(
        self,
        conversation_id: str,
        activity_id: str,
        activity: Mapping[str, Any],
        *,
        service_url: str | None = None,
    ) -> None:
        """Replace a message the bot sent (its card, edited in place)."""
        base = self._service(service_url)
        body = {**activity, "id": activity_id}
        await self.api.json(
            "PUT", f"{base}/v3/conversations/{_q(conversation_id)}/activities/{_q(activity_id)}", json=body
        )

    def _service(self, service_url: str | None) -> str:
        base = _base(service_url) if service_url else self.service_url
        self._known.add(base)
        return base

    async def _translate(self, response: httpx.Response) -> None:
        """httpx response hook: the Connector's error answers into warroom's errors."""
        status = response.status_code
        url = str(response.request.url)
        if (
            status < 400
            or status in (401, 412, 429)
            or status >= 500
            or not any(url.startswith(k) for k in self._known)
        ):
            return
        await response.aread()
        code, message = _error(response)
        what = f"{response.request.method} {response.request.url.path}"
        if status == 403 and code == "BotNotInConversationRoster":
            raise NotInRoster(
                SYSTEM,
                f"{what} was refused: the bot is not in that conversation — install the warroom app in the team "
                "(or, for group chats, set teams.catalog_app_id so that warroom installs it).",
            )
        if status == 404:
            raise NotFound(SYSTEM, f"{what}: {message or 'conversation not found'}")
        if status == 413:
            raise Permanent(SYSTEM, f"{what}: the message is larger than Teams allows (about 28 KB).")
        raise Permanent(SYSTEM, f"{what} was refused ({code or status}): {message or error_reason(response)}")


def _base(url: str) -> str:
    return url.rstrip("/")


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text.strip()[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("code") or ""), str(error.get("message") or "")[:300]
        if body.get("message"):
            return "", str(body["message"])[:300]
    return "", ""
