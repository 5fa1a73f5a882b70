"""A local Teams client and channel service: people type in Teams, and the Bot Framework delivers the activities,
signed, to the bot's messaging endpoint (``POST /api/messages``).

What it is based on (Microsoft's Bot Framework REST reference "Authenticate requests from the Bot Connector
service to your bot" and "Activity schema", the Teams bot docs on conversation basics, message edits/deletes,
Adaptive Card actions and dialogs, and the Microsoft 365 Agents SDK's activity models):

- Signing: an RS256 JWS ``{"alg": "RS256", "kid", "x5t", "typ": "JWT"}`` over ``{"serviceurl", "nbf", "exp",
  "iss": "https://api.botframework.com", "aud": <bot app id>}`` (a token lives an hour), sent as
  ``Authorization: Bearer …``. The keys are published as the Bot Framework does: an OpenID metadata document at
  ``GET /v1/.well-known/openidconfiguration`` (``issuer``, ``jwks_uri``, ``id_token_signing_alg_values_supported``)
  and a JWK set at ``GET /v1/.well-known/keys`` whose keys carry ``endorsements`` (the channels they sign for:
  ``msteams``). :meth:`TeamsClientEmulator.rotate_key` rolls the key over as Microsoft does.
- Activities as Teams sends them: ``channelId`` "msteams"; ids of messages are epoch milliseconds; ``from``
  ``{id: "29:…", name, aadObjectId}``; ``recipient`` ``{id: "28:<app id>", name}``; channel conversations
  ``{conversationType: "channel", isGroup: true, id: "19:…@thread.tacv2;messageid=<root>", tenantId}`` with
  ``channelData`` ``{teamsChannelId, teamsTeamId, channel: {id}, team: {id}, tenant: {id}}``; personal (1:1)
  conversations ``{conversationType: "personal", id: "a:…"}``; group chats ``{conversationType: "groupChat",
  isGroup: true, id: "19:…@thread.v2"}``. Text is HTML-encoded (``&amp;`` ``&lt;`` ``&gt;``; a typed ``<b>``
  arrives as ``&lt;b&gt;``) and each mention is ``<at>Name</at>`` with a ``mention`` entity ``{mentioned: {id,
  name}, text: "<at>Name</at>"}``; a ``clientInfo`` entity rides along.
- Edits and deletes (the bot receives them with the resource-specific consent ``ChannelMessage.Read.Group``):
  ``messageUpdate`` with ``channelData.eventType`` "editMessage" and the message's id, ``messageDelete`` with
  "softDeleteMessage".
- Cards: ``Action.Submit`` on a card the bot posted arrives as a ``message`` whose ``value`` is the action's
  data, ``replyToId`` the card's id and ``channelData.postBack`` true; ``Action.Execute`` arrives as an
  ``invoke`` named ``adaptiveCard/action`` with ``value {action: {type: "Action.Execute", verb, data}, trigger}``.
  Dialogs (task modules): ``task/fetch`` and ``task/submit`` invokes with ``value {data, context: {theme}}``; the
  HTTP answer to an invoke is its result.

The bot answers an activity with 200/202 at once (or the invoke's result) and posts its replies to the activity's
``serviceUrl`` — set that to the Bot Connector emulator's. Read-back: :attr:`TeamsClientEmulator.sent` (every
activity delivered and the bot's HTTP answer); the call log holds the key fetches.
"""

from __future__ import annotations

import html
import itertools
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from ..base import Emulator, EmulatorConfig
from .tenant import Message, TeamsTenant

ISSUER = "https://api.botframework.com"
CHANNEL_ID = "msteams"
TOKEN_LIFETIME = 3600
TENANT_ID = "72f988bf-0000-4000-8000-00000000cafe"

ConversationType = Literal["channel", "personal", "groupChat"]


@dataclass(frozen=True)
class TeamsUser:
    """A person in the tenant: ``id`` is their Bot Framework id (29:…), ``aad_id`` their Entra object id."""

    id: str
    name: str
    aad_id: str
    email: str

    def account(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "aadObjectId": self.aad_id}


@dataclass(frozen=True)
class Conversation:
    """Where a message is typed: a team's channel, a 1:1 chat with the bot, or a group chat."""

    id: str
    type: ConversationType
    team_id: str | None = None
    name: str | None = None

    @classmethod
    def channel(cls, channel_id: str, team_id: str | None = None, name: str | None = None) -> Conversation:
        return cls(channel_id, "channel", team_id, name)

    @classmethod
    def group_chat(cls, chat_id: str) -> Conversation:
        return cls(chat_id, "groupChat")

    @classmethod
    def personal(cls, user: TeamsUser) -> Conversation:
        """The user's 1:1 chat with the bot (``a:1`` and their object id, as the Bot Connector names it)."""
        return cls(f"a:1{user.aad_id.replace('-', '')}", "personal")


@dataclass(frozen=True)
class Mention:
    user: TeamsUser | None = None
    #: A mention of the bot itself (``user`` None).
    bot: bool = False


@dataclass
class Sent:
    activity: dict[str, Any]
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.activity.get("id"))


class TeamsClientEmulator(Emulator):
    name = "teams-client"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        app_id: str,
        bot_name: str = "warroom",
        service_url: str = "",
        tenant_id: str | None = None,
        tenant: TeamsTenant | None = None,
    ) -> None:
        super().__init__(config)
        #: The Teams tenant the Graph and Bot Connector emulators serve: people's messages are recorded in its
        #: channels and chats (so that the bot can reply in their threads), its users are the people typing.
        self.tenant = tenant
        self.app_id = app_id
        self.bot_name = bot_name
        #: Where the bot's replies go (the Bot Connector emulator); every activity carries it.
        self.service_url = service_url
        self.tenant_id = tenant_id or (tenant.tenant_id if tenant is not None else TENANT_ID)
        #: The bot's messaging endpoint, e.g. http://127.0.0.1:8080/api/messages.
        self.bot_url = ""
        self.users: dict[str, TeamsUser] = {}
        self.sent: list[Sent] = []
        self._key = RSAKey.generate_key(2048, parameters={"kid": _kid()})
        self._retired: list[RSAKey] = []
        self._ids = itertools.count(int(time.time() * 1000))
        #: Message id → the id of its thread's root (for edits and deletes in a channel).
        self._roots: dict[str, str] = {}
        self._http: httpx.AsyncClient | None = None
        self.route("GET", "/v1/.well-known/openidconfiguration", "GET openidconfiguration", self._metadata)
        self.route("GET", "/v1/.well-known/keys", "GET keys", self._keys)

    # -- set-up -------------------------------------------------------------------------------------
    @property
    def openid_metadata_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    @property
    def bot_account(self) -> dict[str, Any]:
        return {"id": f"28:{self.app_id}", "name": self.bot_name}

    def add_user(
        self, email: str, name: str, *, aad_id: str | None = None, user_id: str | None = None
    ) -> TeamsUser:
        aad = aad_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"aad:{email.lower()}"))
        user = TeamsUser(user_id or f"29:1{aad.replace('-', '')}", name, aad, email.lower())
        self.users[user.id] = user
        return user

    def person(self, email: str) -> TeamsUser:
        """A user of the shared tenant, by email, as the Bot Framework names them."""
        if self.tenant is None:
            raise RuntimeError("person() needs the TeamsTenant: pass tenant= to the emulator")
        record = self.tenant.user_by_email(email)
        if record is None:
            raise KeyError(f"{email} is not a user of the tenant")
        return self.add_user(record["mail"], record["displayName"], aad_id=record["id"])

    def token_kid(self) -> str:
        """The id of the key the channel signs with now."""
        return str(self._key.kid)

    def rotate_key(self) -> None:
        """Publish a new signing key and sign with it; the old one stays published (as during a rollover)."""
        self._retired.append(self._key)
        self._key = RSAKey.generate_key(2048, parameters={"kid": _kid()})

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await super().stop()

    # -- signing ------------------------------------------------------------------------------------
    def token(
        self,
        *,
        service_url: str | None = None,
        audience: str | None = None,
        issuer: str = ISSUER,
        lifetime: int = TOKEN_LIFETIME,
        not_before: float | None = None,
        key: RSAKey | None = None,
        claims: dict[str, Any] | None = None,
    ) -> str:
        """A token as the Bot Framework signs it; the arguments make the bad ones tests need."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "serviceurl": self.service_url if service_url is None else service_url,
            "nbf": int(not_before) if not_before is not None else now - 5,
            "exp": now + lifetime,
            "iss": issuer,
            "aud": self.app_id if audience is None else audience,
        }
        payload.update(claims or {})
        signer = key or self._key
        kid = signer.kid
        return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": kid, "x5t": kid}, payload, signer)

    # -- people typing ------------------------------------------------------------------------------
    def mention(self, user: TeamsUser) -> Mention:
        return Mention(user)

    async def say(
        self,
        conversation: Conversation,
        user: TeamsUser,
        *parts: str | Mention,
        to_bot: bool = True,
        reply_to: str | None = None,
        auth: str | Literal[False] | None = None,
    ) -> Sent:
        """A message typed by ``user``: ``@warroom`` first when ``to_bot``, then the parts (text as typed, which
        Teams HTML-encodes, and mentions)."""
        pieces: list[str | Mention] = [Mention(bot=True), " "] if to_bot else []
        pieces.extend(parts)
        text, entities = self._compose(pieces)
        message_id = self.tenant.next_message_id() if self.tenant is not None else self.next_id()
        activity = self._activity("message", conversation, user, activity_id=message_id, reply_to=reply_to)
        activity.update({"text": text, "textFormat": "plain", "entities": entities})
        activity["attachments"] = [{"contentType": "text/html", "content": f"<p>{text}</p>"}]
        self._roots[message_id] = reply_to or message_id
        if self.tenant is not None:
            now = self.tenant.clock()
            self.tenant.messages.setdefault(conversation.id, []).append(
                Message(message_id, conversation.id, reply_to, None, activity, now, now, [activity])
            )
        return await self.deliver(activity, auth=auth)

    async def edit(
        self,
        conversation: Conversation,
        user: TeamsUser,
        message_id: str,
        *parts: str | Mention,
        to_bot: bool = False,
    ) -> Sent:
        pieces: list[str | Mention] = [Mention(bot=True), " "] if to_bot else []
        pieces.extend(parts)
        text, entities = self._compose(pieces)
        activity = self._activity(
            "messageUpdate", conversation, user, activity_id=message_id, event="editMessage"
        )
        activity.update({"text": text, "textFormat": "plain", "entities": entities})
        message = self.tenant.message(conversation.id, message_id) if self.tenant is not None else None
        if message is not None and self.tenant is not None:
            message.activity = activity
            message.versions.append(activity)
            message.modified = self.tenant.clock()
        return await self.deliver(activity)

    async def delete(self, conversation: Conversation, user: TeamsUser, message_id: str) -> Sent:
        activity = self._activity(
            "messageDelete", conversation, user, activity_id=message_id, event="softDeleteMessage"
        )
        message = self.tenant.message(conversation.id, message_id) if self.tenant is not None else None
        if message is not None and self.tenant is not None:
            self.tenant.messages[conversation.id].remove(message)
        return await self.deliver(activity)

    async def submit(
        self, conversation: Conversation, user: TeamsUser, data: Any, *, card_id: str | None = None
    ) -> Sent:
        """An ``Action.Submit`` on a card the bot posted (``card_id``): a message carrying the action's data."""
        activity = self._activity("message", conversation, user, reply_to=card_id)
        activity["value"] = data
        activity["channelData"]["postBack"] = True
        return await self.deliver(activity)

    async def execute(
        self, conversation: Conversation, user: TeamsUser, verb: str, data: Any, *, card_id: str | None = None
    ) -> Sent:
        """An ``Action.Execute`` (Universal Actions): the ``adaptiveCard/action`` invoke."""
        value = {
            "action": {"type": "Action.Execute", "id": verb, "verb": verb, "data": data},
            "trigger": "manual",
        }
        return await self.invoke(conversation, user, "adaptiveCard/action", value, reply_to=card_id)

    async def fetch_task(
        self, conversation: Conversation, user: TeamsUser, data: Any, *, card_id: str | None = None
    ) -> Sent:
        """The user pressed a button that opens a dialog (``msteams.type`` "task/fetch")."""
        value = {"data": data, "context": {"theme": "default"}}
        return await self.invoke(conversation, user, "task/fetch", value, reply_to=card_id)

    async def submit_task(
        self, conversation: Conversation, user: TeamsUser, data: Any, *, card_id: str | None = None
    ) -> Sent:
        """The user submitted a dialog's form."""
        value = {"data": data, "context": {"theme": "default"}}
        return await self.invoke(conversation, user, "task/submit", value, reply_to=card_id)

    async def invoke(
        self,
        conversation: Conversation,
        user: TeamsUser,
        name: str,
        value: Any,
        *,
        reply_to: str | None = None,
    ) -> Sent:
        activity = self._activity("invoke", conversation, user, reply_to=reply_to)
        activity.update({"name": name, "value": value})
        return await self.deliver(activity)

    async def deliver(self, activity: dict[str, Any], *, auth: str | Literal[False] | None = None) -> Sent:
        """POST one activity to the bot. ``auth``: None signs it properly, a string is sent as the whole
        Authorization header, False sends none."""
        if not self.bot_url:
            raise RuntimeError("set TeamsClientEmulator.bot_url to the bot's /api/messages first")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if auth is None:
            headers["Authorization"] = f"Bearer {self.token(service_url=activity.get('serviceUrl'))}"
        elif auth is not False:
            headers["Authorization"] = auth
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30)
        response = await self._http.post(self.bot_url, json=activity, headers=headers)
        try:
            body: Any = response.json() if response.content else None
        except ValueError:
            body = response.text
        sent = Sent(activity, response.status_code, body, dict(response.headers))
        self.sent.append(sent)
        return sent

    # -- building activities ------------------------------------------------------------------------
    def next_id(self) -> str:
        return str(next(self._ids))

    def _activity(
        self,
        kind: str,
        conversation: Conversation,
        user: TeamsUser,
        *,
        activity_id: str | None = None,
        reply_to: str | None = None,
        event: str | None = None,
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        message_id = activity_id or self.next_id()
        conv: dict[str, Any] = {"conversationType": conversation.type, "tenantId": self.tenant_id}
        channel_data: dict[str, Any] = {"tenant": {"id": self.tenant_id}}
        if conversation.type == "channel":
            root = reply_to or self._roots.get(message_id) or message_id
            conv.update({"isGroup": True, "id": f"{conversation.id};messageid={root}"})
            team = {"id": conversation.team_id or self._team_thread(conversation.id)}
            channel = {"id": conversation.id, **({"name": conversation.name} if conversation.name else {})}
            channel_data.update(
                {
                    "teamsChannelId": conversation.id,
                    "teamsTeamId": team["id"],
                    "channel": channel,
                    "team": team,
                }
            )
        elif conversation.type == "groupChat":
            conv.update({"isGroup": True, "id": conversation.id})
        else:
            conv["id"] = conversation.id
        if event:
            channel_data["eventType"] = event
        activity: dict[str, Any] = {
            "type": kind,
            "id": message_id,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "localTimestamp": now.isoformat(),
            "localTimezone": "Europe/London",
            "serviceUrl": self.service_url,
            "channelId": CHANNEL_ID,
            "from": user.account(),
            "conversation": conv,
            "recipient": self.bot_account,
            "locale": "en-US",
            "channelData": channel_data,
        }
        if reply_to:
            activity["replyToId"] = reply_to
        return activity

    def _team_thread(self, channel_id: str) -> str:
        """The id the Bot Framework gives a team: its General channel's thread id."""
        t = self.tenant
        channel = t.channels.get(channel_id) if t is not None else None
        if t is None or channel is None:
            return channel_id
        general = next((c for c in t.team_channels(channel["teamId"]) if c.get("general")), channel)
        return str(general["id"])

    def _compose(self, pieces: Iterable[str | Mention]) -> tuple[str, list[dict[str, Any]]]:
        text: list[str] = []
        entities: list[dict[str, Any]] = []
        for piece in pieces:
            if isinstance(piece, str):
                text.append(html.escape(piece, quote=False))
                continue
            account = self.bot_account if piece.bot or piece.user is None else piece.user.account()
            tag = f"<at>{html.escape(account['name'], quote=False)}</at>"
            text.append(tag)
            entities.append(
                {"type": "mention", "text": tag, "mentioned": {"id": account["id"], "name": account["name"]}}
            )
        entities.append(
            {
                "type": "clientInfo",
                "locale": "en-US",
                "country": "GB",
                "platform": "Web",
                "timezone": "Europe/London",
            }
        )
        return "".join(text), entities

    # -- serving the keys ---------------------------------------------------------------------------
    async def _metadata(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{self.base_url}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, _request: web.Request) -> web.Response:
        keys = []
        for key in [self._key, *self._retired]:
            public = key.as_dict(private=False)
            keys.append(
                {
                    "kty": "RSA",
                    "use": "sig",
                    "kid": key.kid,
                    "x5t": key.kid,
                    "n": public["n"],
                    "e": public["e"],
                    "endorsements": [CHANNEL_ID, "msteams-gov"],
                }
            )
        return web.json_response({"keys": keys})


def _kid() -> str:
    return uuid.uuid4().hex[:27]
