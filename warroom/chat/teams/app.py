"""The Microsoft Teams front end: a bot on the Microsoft 365 Agents SDK, mounted at ``POST /api/messages``.

A thin translator at the edge, as the Slack app is: the Bot Framework's activities become warroom's own commands
(the one grammar, :mod:`warroom.chat.grammar`), run by the runner both chats share (:mod:`warroom.response.actions`);
the answers go back as replies in the message's thread through the Bot Connector at the activity's ``serviceUrl``.

- ``@warroom <command>`` in a war-room channel, a war-room group chat or a 1:1 chat with the bot. Teams sends
  the text HTML-encoded with each mention as ``<at>Name</at>``: the bot's own mention is dropped, other
  people's become ``<@{id}|{name}>`` (the grammar's markup for a person), and the rest is decoded here, once.
- Card buttons: ``Action.Submit`` (a message whose ``value`` is the data) and ``Action.Execute`` (the
  ``adaptiveCard/action`` invoke), data ``{"warroom": "ack"|"resolve"|"take_ic"|"reopen", "incident": id}``.
- ``declare`` with no title answers with a button that opens the declare dialog (``task/fetch`` → the form,
  ``task/submit`` → declared); see :mod:`warroom.chat.teams.forms`.
- Conversation capture: other messages in a war room (the app's resource-specific consent lets the bot read them)
  are recorded on its timeline as discussion, keyed by conversation and message id; an edit
  (``messageUpdate``/``editMessage``) replaces the text there, a deletion (``messageDelete``/``softDeleteMessage``)
  removes it.
- Every activity is taken in once (commands, buttons and dialogs through the inbox, messages by their timeline
  key): a repeated delivery does nothing again.

Tokens are checked by :mod:`warroom.chat.teams.auth` before the SDK sees the activity (off only with
``teams.auth_enabled: false``, for a local sandbox); the SDK builds its connector clients through
:class:`ConnectorFactory`, which takes its bearer token from warroom's Bot Connector credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import random
import re
import warnings
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

from aiohttp import ClientResponseError, web
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    Attachment,
    InvokeResponse,
)
from microsoft_agents.activity.teams import TaskModuleRequest, TaskModuleResponse
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.authorization import ClaimsIdentity
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.client import UserTokenClient
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient
from microsoft_agents.hosting.teams import TeamsActivityHandler, TeamsInfo
from pydantic import ValidationError

from warroom.adapters.http import backoff, retry_after_seconds
from warroom.adapters.microsoft.entra import BOT_SCOPE, EntraToken
from warroom.chat import grammar as cmd
from warroom.chat.teams import cards, forms
from warroom.chat.teams.auth import ActivityRejected, BotFrameworkAuth, BotFrameworkKeys, activity_route
from warroom.core.model import Incident, LinkKind, Origin
from warroom.core.rules import RuleError
from warroom.response.actions import Actions, Actor, Escalate, needs_war_room
from warroom.response.incidents import IncidentService
from warroom.settings import Settings
from warroom.store.db import AlreadyApplied, Store

log = logging.getLogger("warroom.teams")

#: The bearer token for calls to the Bot Connector ("" for none, in a local sandbox).
ConnectorToken = Callable[[], Awaitable[str]]

INBOX_SOURCE = "teams"
#: Where the turn's Bot Connector client is kept (for the roster lookup).
CONNECTOR_KEY = "warroom.connector"
#: Card buttons: ``data.warroom`` → the command it runs.
CARD_ACTIONS: dict[str, cmd.Command] = {
    "ack": cmd.Ack(),
    "resolve": cmd.Resolve(),
    "reopen": cmd.Reopen(),
    "take_ic": cmd.Role("commander", cmd.ME),
}
BOT_ID_PREFIX = "28:"


# ---------------------------------------------------------------------------------------------- text


_AT = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_MARKUP_UNSAFE = re.compile(r"[<>|]")


@dataclass(frozen=True, slots=True)
class Said:
    """A message's text as the grammar and the timeline want it."""

    #: Whether the bot was @mentioned.
    to_bot: bool
    #: For the grammar: the bot's mention dropped, people as ``<@id|name>``, entities decoded.
    command: str
    #: For people (the timeline): mentions as ``@Name``, entities decoded.
    shown: str
    #: The people mentioned: their Bot Framework id → display name.
    names: Mapping[str, str] = field(default_factory=dict)


def read_text(text: str | None, entities: Any, bot_id: str | None) -> Said:
    """Decode a Teams message's text (HTML-encoded, mentions as ``<at>Name</at>`` with mention entities)."""
    raw = text or ""
    mentions: list[tuple[str, str, str]] = []  # (tag text, id, name)
    for entity in entities if isinstance(entities, list) else []:
        data = entity if isinstance(entity, Mapping) else getattr(entity, "__dict__", {})
        extra = getattr(entity, "model_extra", None) or {}
        merged = {**data, **extra}
        if str(merged.get("type", "")).lower() != "mention":
            continue
        mentioned = merged.get("mentioned")
        if isinstance(mentioned, Mapping) and isinstance(mentioned.get("id"), str):
            tag = merged.get("text")
            mentions.append(
                (tag if isinstance(tag, str) else "", str(mentioned["id"]), str(mentioned.get("name") or ""))
            )
    to_bot = False
    names: dict[str, str] = {}
    command: list[str] = []
    shown: list[str] = []
    pos = 0
    for m in _AT.finditer(raw):
        plain = _decode(raw[pos : m.start()])
        command.append(plain)
        shown.append(plain)
        pos = m.end()
        tag = html.unescape(m.group(0)).lower()
        found = next((x for x in mentions if html.unescape(x[0]).lower() == tag), None)
        if found is not None:
            mentions.remove(found)
        name = _decode(found[2] if found and found[2] else m.group(1))
        if found is not None and bot_id and found[1] == bot_id:
            to_bot = True
            continue
        shown.append(f"@{name}")
        if found is None:
            command.append(name)
        else:
            command.append(f"<@{found[1]}|{_MARKUP_UNSAFE.sub('', name)}>")
            names[found[1]] = name
    tail = _decode(raw[pos:])
    command.append(tail)
    shown.append(tail)
    return Said(to_bot, "".join(command).strip(), "".join(shown).strip(), names)


def _decode(text: str) -> str:
    return html.unescape(text).replace("\xa0", " ") if "&" in text else text


def room_of(activity: Activity) -> str:
    """The war-room id a conversation belongs to: a channel's id (whatever thread the message is in), else the
    conversation's id (a group chat, a 1:1 chat)."""
    data = activity.channel_data if isinstance(activity.channel_data, Mapping) else {}
    channel = data.get("channel")
    if isinstance(channel, Mapping) and isinstance(channel.get("id"), str) and channel["id"]:
        return str(channel["id"])
    if isinstance(data.get("teamsChannelId"), str) and data["teamsChannelId"]:
        return str(data["teamsChannelId"])
    conversation = activity.conversation.id if activity.conversation else ""
    return conversation.split(";", 1)[0]


def _is_channel_or_group(activity: Activity) -> bool:
    kind = activity.conversation.conversation_type if activity.conversation else None
    return kind in ("channel", "groupChat")


# ---------------------------------------------------------------------------------------------- people


@dataclass(frozen=True, slots=True)
class Who:
    """The person behind an activity."""

    user_id: str
    name: str
    aad_id: str | None

    @property
    def actor(self) -> Actor:
        """As the incident's records name them: ``teams:<Bot Framework user id>`` — the id mentions carry too, so
        that a person is the same whether they act or are named in a command."""
        return Actor("teams", self.user_id or self.aad_id or "unknown", self.name)

    @classmethod
    def of(cls, activity: Activity) -> Who:
        sender = activity.from_property
        if sender is None:
            return cls("", "someone", None)
        return cls(sender.id or "", sender.name or "someone", sender.aad_object_id)


async def email_of(context: TurnContext, user_id: str) -> str | None:
    """A Teams user's email, from the Bot Connector: the member lookup (``GET …/members/{id}``), or, where that is
    not answered, the conversation's roster. The user must be in the team or chat."""
    member: Any = None
    try:
        member = await TeamsInfo.get_member(context, user_id)
    except Exception as exc:  # the SDK raises aiohttp's and its own errors; none of them is worth more here
        log.info("Teams member lookup of %s failed (%s); reading the roster", user_id, type(exc).__name__)
        member = await _from_roster(context, user_id)
    return _email(member)


async def _from_roster(context: TurnContext, user_id: str) -> Any:
    client = context.turn_state.get(CONNECTOR_KEY)
    team = _map(_map(context.activity.channel_data).get("team"))
    conversation = team.get("id") or (
        context.activity.conversation.id if context.activity.conversation else None
    )
    if client is None or not conversation:
        return None
    try:
        members = await client.conversations.get_conversation_members(conversation)
    except Exception as exc:
        log.info("could not read the roster of %s (%s)", conversation, type(exc).__name__)
        return None
    return next((m for m in members if m.id == user_id or m.aad_object_id == user_id), None)


def _email(member: Any) -> str | None:
    if member is None:
        return None
    extra = getattr(member, "model_extra", None) or {}
    for value in (
        getattr(member, "email", None),
        getattr(member, "user_principal_name", None),
        extra.get("email"),
        extra.get("userPrincipalName"),
    ):
        if isinstance(value, str) and "@" in value:
            return value.lower()
    return None


class TeamsEdge:
    """What the shared runner needs of Teams (:class:`warroom.response.actions.ChatEdge`) for one activity."""

    def __init__(self, context: TurnContext, who: Who, names: Mapping[str, str] | None = None) -> None:
        self.context = context
        self.who = who
        self.names = names or {}

    async def email_of(self, user_id: str) -> str | None:
        return await email_of(self.context, user_id)

    def mention(self, user_id: str) -> str:
        if user_id in (self.who.user_id, self.who.aad_id):
            return self.who.name
        return self.names.get(user_id, user_id)

    def text(self, raw: str) -> str:
        return raw  # decoded once already, where the activity came in (read_text)

    async def group_members(self, group_id: str) -> list[tuple[str, str]] | None:
        return None  # Teams has no user groups a mention can name (page a person, a service or a group)


# ---------------------------------------------------------------------------------------------- the bot


class TeamsBot(TeamsActivityHandler):  # type: ignore[misc]  # the SDK ships no type hints
    """Translates activities into warroom commands and answers."""

    def __init__(
        self,
        settings: Settings,
        service: IncidentService,
        store: Store,
        *,
        escalate: Escalate | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.store = store
        self.ctx = replace(cmd.GrammarContext.from_settings(settings), command="@warroom")
        self.actions = Actions(settings, service, self.ctx, escalate)

    # -- plumbing -----------------------------------------------------------------------------------
    def _once(self, activity: Activity, kind: str) -> AbstractContextManager[None]:
        """Take the activity in once: its key is recorded in the transaction that applies it (so a delivery that
        failed or was cut short applies when it comes again); a repeat raises AlreadyApplied."""
        return self.store.delivery(INBOX_SOURCE, _key(kind, activity))

    async def _war_room(self, activity: Activity) -> Incident | None:
        return await self.service.incident_for_link(LinkKind.TEAMS_CHANNEL, room_of(activity))

    async def _reply(self, context: TurnContext, text: str) -> None:
        """An answer in the war-room line format (the runner's, the grammar's), rendered as Teams Markdown."""
        # Teams' markdown joins single line breaks: paragraphs keep the runner's lines apart
        shown = cards.from_line(text).replace("\n", "\n\n")
        await send(context, Activity(type=ActivityTypes.message, text=shown, text_format="markdown"))

    # -- messages -----------------------------------------------------------------------------------
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if activity.value is not None and not (activity.text or "").strip():
            await self._card_submit(turn_context)
            return
        bot_id = activity.recipient.id if activity.recipient else None
        said = read_text(activity.text, activity.entities, bot_id)
        personal = (activity.conversation.conversation_type if activity.conversation else None) == "personal"
        if said.to_bot or personal:
            try:
                with self._once(activity, "message"):
                    await self._command(turn_context, said.command, said.names)
            except AlreadyApplied:
                log.info("activity %s delivered again; ignored", activity.id)
            return
        if _is_channel_or_group(activity):
            await self._capture(turn_context, said.shown)

    async def _command(self, context: TurnContext, text: str, names: Mapping[str, str]) -> None:
        parsed = cmd.parse(text, self.ctx)
        if isinstance(parsed, cmd.Rejection):
            await self._reply(context, parsed.message)
            return
        if isinstance(parsed, cmd.Declare) and parsed.title is not None and parsed.service is None:
            activity = context.activity
            data = activity.channel_data if isinstance(activity.channel_data, Mapping) else {}
            channel = data.get("channel")
            name = str(channel.get("name") or "") if isinstance(channel, Mapping) else ""
            room = room_of(activity)
            service = self.actions.default_service(
                await self.service.incident_for_link(LinkKind.TEAMS_CHANNEL, room), [room, name]
            )
            if service is not None:
                parsed = replace(parsed, service=service)
        if isinstance(parsed, cmd.Declare) and (parsed.title is None or parsed.service is None):
            await self._offer_declare_form(context, parsed)
            return
        incident = await self._war_room(context.activity) if needs_war_room(parsed) else None
        await self._reply(context, await self._apply(context, parsed, incident, names))

    async def _apply(
        self,
        context: TurnContext,
        command: cmd.Command,
        incident: Incident | None,
        names: Mapping[str, str] | None = None,
    ) -> str:
        """One command, run by the runner the chat front ends share; the answer in words."""
        who = Who.of(context.activity)
        edge = TeamsEdge(context, who, names)
        if who.name != "someone":
            await self.actions.known_as(who.actor.key, who.name)
        reply = await self.actions.run(command, incident=incident, actor=who.actor, edge=edge)
        return reply.text

    # -- card buttons -------------------------------------------------------------------------------
    async def _card_submit(self, context: TurnContext) -> None:
        """``Action.Submit``: a message whose value is the button's data."""
        try:
            with self._once(context.activity, "card"):
                text = await self._card_action(context, context.activity.value)
        except AlreadyApplied:
            log.info("activity %s delivered again; ignored", context.activity.id)
            return
        await self._reply(context, text)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        if turn_context.activity.name == "adaptiveCard/action":
            return await self._execute(turn_context)
        return await super().on_invoke_activity(turn_context)

    async def _execute(self, context: TurnContext) -> InvokeResponse:
        """``Action.Execute``: the ``adaptiveCard/action`` invoke, answered with a message (Universal Actions'
        ``application/vnd.microsoft.activity.message``); its data (or its verb) names the action."""
        action = _map(_map(context.activity.value).get("action"))
        data: dict[str, Any] = dict(_map(action.get("data")))
        if isinstance(action.get("verb"), str) and "warroom" not in data:
            data["warroom"] = action["verb"]
        try:
            with self._once(context.activity, "invoke"):
                text = await self._card_action(context, data)
        except AlreadyApplied:
            text = "That was done already."
        body = {
            "statusCode": int(HTTPStatus.OK),
            "type": "application/vnd.microsoft.activity.message",
            "value": text,
        }
        return InvokeResponse(status=int(HTTPStatus.OK), body=body)

    async def _card_action(self, context: TurnContext, data: Any) -> str:
        """A card button's data → the command it stands for, applied to its incident; or what was wrong."""
        if isinstance(data, Mapping) and data.get("warroom") in (forms.OPEN_DECLARE, forms.DECLARE):
            return "Open the declare form from its button (or type `@warroom declare <service> <title>`)."
        if not isinstance(data, Mapping) or data.get("warroom") not in CARD_ACTIONS:
            return (
                "That button did not say what to do. Use the buttons on the incident card, or type a command, "
                "e.g. `@warroom ack` in the war room (`@warroom help` lists them)."
            )
        number = data.get("incident")
        if isinstance(number, str) and number.strip().isdigit():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
            return "That button names no incident. Use the buttons on the incident card, or type the command in the war room."
        async with self.store.read() as tx:
            incident = await tx.incidents.get(number)
        if incident is None:
            return f"There is no incident INC-{number}; the card may be from an old installation."
        return await self._apply(context, CARD_ACTIONS[str(data["warroom"])], incident)

    # -- the declare dialog -------------------------------------------------------------------------
    async def _offer_declare_form(self, context: TurnContext, declare: cmd.Declare) -> None:
        prefill = {"service": declare.service, "priority": declare.priority, "title": declare.title or declare.draft}
        text = (
            "Say which service is affected in the form."
            if declare.title
            else "Check the service and the title in the form: the first word could be either."
            if declare.draft
            else "Fill in the form to declare a major incident; its war room opens at once."
        )
        card = forms.declare_button(prefill, text)
        reply = Activity(
            type=ActivityTypes.message,
            text=text,
            attachments=[Attachment(content_type=forms.ADAPTIVE_CARD, content=card)],
        )
        await send(context, reply)

    async def on_teams_task_module_fetch(
        self, turn_context: TurnContext, task_module_request: TaskModuleRequest
    ) -> TaskModuleResponse:
        data = task_module_request.data if isinstance(task_module_request.data, Mapping) else {}
        if data.get("warroom") != forms.OPEN_DECLARE:
            return TaskModuleResponse.model_validate(
                forms.dialog_message(
                    "warroom has no dialog for that button; type `@warroom help` for the commands."
                )
            )
        return TaskModuleResponse.model_validate(forms.dialog(forms.declare_form(self.settings, data)))

    async def on_teams_task_module_submit(
        self, turn_context: TurnContext, task_module_request: TaskModuleRequest
    ) -> TaskModuleResponse:
        data = task_module_request.data
        if not isinstance(data, Mapping) or data.get("warroom") != forms.DECLARE:
            return TaskModuleResponse.model_validate(
                forms.dialog_message(
                    "That form is not one warroom knows; type `@warroom help` for the commands."
                )
            )
        form = forms.read_declare_form(data, self.settings)
        if isinstance(form, str):
            return TaskModuleResponse.model_validate(
                forms.dialog(forms.declare_form(self.settings, data, form))
            )
        try:
            with self._once(turn_context.activity, "invoke"):
                declared = await self.service.declare(
                    service=form.service,
                    title=form.title,
                    priority=form.priority,
                    details=form.details,
                    origin=Origin.CHAT,
                    actor=Who.of(turn_context.activity).actor.key,
                )
        except AlreadyApplied:
            return TaskModuleResponse.model_validate(forms.dialog_message("That incident was declared already."))
        except (RuleError, ValueError) as exc:
            return TaskModuleResponse.model_validate(
                forms.dialog(forms.declare_form(self.settings, data, str(exc)))
            )
        text = f"{declared.ref} declared ({declared.priority}). The war room is being opened."
        return TaskModuleResponse.model_validate(forms.dialog_message(text))

    # -- conversation capture -----------------------------------------------------------------------
    async def _capture(self, context: TurnContext, text: str) -> None:
        activity = context.activity
        if not text or _from_bot(activity):
            return
        incident = await self._war_room(activity)
        if incident is None:
            return
        who = Who.of(activity)
        async with self.store.tx() as tx:
            await tx.timeline.record_message(
                incident.id,
                message_key(activity),
                text,
                actor=who.actor.key,
                data={"message_id": activity.id, "author": who.name, "chat": "teams"},
            )

    async def on_teams_message_edit(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if _from_bot(activity):
            return
        said = read_text(
            activity.text, activity.entities, activity.recipient.id if activity.recipient else None
        )
        if not said.shown:
            return
        async with self.store.tx() as tx:
            await tx.timeline.edit_message(message_key(activity), said.shown)

    async def on_teams_message_soft_delete(self, turn_context: TurnContext) -> None:
        async with self.store.tx() as tx:
            await tx.timeline.delete_message(message_key(turn_context.activity))


async def send(context: TurnContext, activity: Activity, *, attempts: int = 4, max_wait: float = 5.0) -> None:
    """Send a reply through the Bot Connector, as Microsoft asks of bots: a 429 or 412 (nothing was done) is waited
    out — ``Retry-After``, else exponential backoff with jitter — and sent again. A 5xx is not repeated: the reply
    may have been posted, and a sentence said twice is worse than one lost (the change itself is already applied)."""
    for attempt in range(1, attempts + 1):
        try:
            await context.send_activity(activity.model_copy(deep=True))
            return
        except ClientResponseError as exc:
            if exc.status not in (412, 429) or attempt == attempts:
                raise
            header = exc.headers.get("Retry-After") if exc.headers is not None else None
            wait = retry_after_seconds(header) if header else backoff(attempt)
            if wait > max_wait:
                raise
            await asyncio.sleep(wait + random.uniform(0, wait * 0.1))


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _from_bot(activity: Activity) -> bool:
    sender = activity.from_property
    return bool(sender and (sender.id or "").startswith(BOT_ID_PREFIX))


def message_key(activity: Activity) -> str:
    """The timeline's key for a Teams message: its conversation (the channel or chat) and its id."""
    key = f"teams:{room_of(activity)}:{activity.id or ''}"
    return key if len(key) <= 160 else f"teams:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _key(kind: str, activity: Activity, extra: str = "") -> str:
    key = f"{kind}:{room_of(activity)}:{activity.id or ''}{':' + extra if extra else ''}"
    return key if len(key) <= 255 else f"{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


# ---------------------------------------------------------------------------------------------- hosting


class ConnectorFactory:
    """How the SDK reaches the Bot Connector: its own ``TeamsConnectorClient`` at the activity's serviceUrl, with
    warroom's bearer token (the SDK's default factory would ask MSAL for one at login.microsoftonline.com)."""

    def __init__(self, token: ConnectorToken | None) -> None:
        self._token = token

    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        if not service_url:
            raise ValueError("the activity has no serviceUrl to reply to")
        token = await self._token() if self._token is not None else ""
        client = TeamsConnectorClient(endpoint=service_url, token=token)
        if context is not None:
            context.turn_state[CONNECTOR_KEY] = client
        return client

    async def create_user_token_client(
        self, context: TurnContext, claims_identity: ClaimsIdentity, use_anonymous: bool = False
    ) -> UserTokenClient:
        # warroom signs nobody in (no OAuth cards); the SDK wants a client all the same. Nothing is sent with it.
        return UserTokenClient(endpoint="https://token.botframework.com/", token="")


@dataclass
class TeamsEndpoint:
    """What ``POST /api/messages`` runs: the checks, the SDK's adapter and the bot."""

    settings: Settings
    bot: TeamsBot
    adapter: CloudAdapter
    auth: BotFrameworkAuth | None
    closers: list[Callable[[], Awaitable[None]]]

    async def handle(self, request: web.Request, body: Any) -> web.StreamResponse:
        """One activity; ``body`` is the request's JSON, read and decoded with bounds at the edge (warroom.web)."""
        if not isinstance(body, dict):
            return web.json_response({"error": "The body must be a JSON activity object."}, status=400)
        if self.auth is not None:
            channel_id, service_url = activity_route(body)
            authorization = request.headers.get("Authorization")
            try:
                claims = await self.auth.verify(authorization, channel_id=channel_id, service_url=service_url)
            except ActivityRejected as exc:
                log.warning("activity refused: %s", exc.reason)
                return web.json_response({"error": exc.reason}, status=exc.status)
            token = (authorization or "").partition(" ")[2].strip()
            identity = ClaimsIdentity(claims, True, authentication_type="Bearer", security_token=token)
        else:
            identity = ClaimsIdentity({}, False, authentication_type="Anonymous")
        with warnings.catch_warnings():  # the SDK's aiohttp adapter reads it under this plain string key
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            request["claims_identity"] = identity
        try:
            activity = Activity.model_validate(body)
        except ValidationError:
            return web.json_response({"error": "The body is not a Bot Framework activity."}, status=400)
        if not activity.type or not activity.conversation or not activity.conversation.id:
            return web.json_response(
                {"error": "The activity needs a type and a conversation id."}, status=400
            )
        if not activity.service_url:
            return web.json_response({"error": "The activity has no serviceUrl to answer to."}, status=400)
        response = await self.adapter.process(request, self.bot)
        return response if response is not None else web.Response(status=202)

    async def aclose(self) -> None:
        for close in self.closers:
            await close()


async def _on_turn_error(context: TurnContext, error: Exception) -> None:
    """A failure inside a turn: logged, and the person told in a sentence (never a traceback)."""
    log.exception(
        "Teams activity %s failed", context.activity.id if context.activity else "?", exc_info=error
    )
    if context.activity is not None and context.activity.type == ActivityTypes.invoke:
        await context.send_activity(
            Activity(
                type=ActivityTypes.invoke_response,
                value=InvokeResponse(status=500).model_dump(exclude_none=True),
            )
        )
        return
    try:
        await context.send_activity(
            "warroom could not finish that; try again, and tell your admin if it keeps failing."
        )
    except Exception:  # the connector itself may be what failed
        log.info("could not tell the person either")


def create_teams_endpoint(
    settings: Settings,
    service: IncidentService,
    store: Store,
    *,
    connector_token: ConnectorToken | None = None,
    escalate: Escalate | None = None,
    keys: BotFrameworkKeys | None = None,
) -> TeamsEndpoint:
    """The endpoint, built from settings: token checks on unless ``teams.auth_enabled`` is false; replies carry an
    Entra token for the Bot Connector (client credentials of ``teams.app_id``) unless ``connector_token`` is given
    or no ``teams.app_password`` is set (a local sandbox)."""
    teams = settings.teams
    auth: BotFrameworkAuth | None = None
    if teams.auth_enabled:
        keys = keys or BotFrameworkKeys(teams.openid_metadata_url, timeout=teams.timeout)
        auth = BotFrameworkAuth(teams.app_id, keys)
    closers: list[Callable[[], Awaitable[None]]] = [keys.aclose] if keys is not None else []
    if connector_token is None and teams.app_password is not None:
        entra = EntraToken(
            token_url=EntraToken.url_for(teams.login_url, teams.tenant_id),
            client_id=teams.app_id,
            client_secret=teams.app_password.get_secret_value(),
            scope=BOT_SCOPE,
            system="Bot Connector",
            timeout=teams.timeout,
        )
        connector_token = entra.cache.get
        closers.append(entra.aclose)
    adapter = CloudAdapter(channel_service_client_factory=ConnectorFactory(connector_token))
    adapter.on_turn_error = _on_turn_error
    bot = TeamsBot(settings, service, store, escalate=escalate)
    return TeamsEndpoint(settings, bot, adapter, auth, closers)


def mount(app: web.Application, endpoint: TeamsEndpoint, read: Callable[[web.Request], Awaitable[Any]]) -> None:
    """``POST /api/messages`` on warroom's aiohttp application; ``read`` gives the request's JSON document, or the
    answer that refuses the body (a ``web.Response``: too large, not decodable, too deeply nested)."""

    async def cleanup(_app: web.Application) -> None:
        await endpoint.aclose()

    async def messages(request: web.Request) -> web.StreamResponse:
        body = await read(request)
        if isinstance(body, web.StreamResponse):
            return body
        return await endpoint.handle(request, body)

    app.router.add_post("/api/messages", messages)
    app.on_cleanup.append(cleanup)
