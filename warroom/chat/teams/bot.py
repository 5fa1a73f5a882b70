"""The Microsoft Teams bot: the activity handlers that turn what people do in Teams into warroom commands and
answers.

A thin translator at the edge, as the Slack app is: the Bot Framework's activities (read by
:mod:`warroom.chat.teams.activity`) become warroom's own commands (the one grammar, :mod:`warroom.chat.grammar`),
run by the runner both chats share (:mod:`warroom.response.actions`; what it needs of Teams is
:mod:`warroom.chat.teams.edge`); the answers go back as replies in the message's thread through the Bot Connector
at the activity's ``serviceUrl``. The bot is hosted at ``POST /api/messages`` by :mod:`warroom.chat.teams.endpoint`.

- ``@warroom <command>`` in a war-room channel, a war-room group chat or a 1:1 chat with the bot (the text
  decoded once, mentions made the grammar's person markup: :func:`~warroom.chat.teams.activity.read_text`);
  ``@warroom oncall …`` anywhere: who is on call, and overrides (:mod:`warroom.chat.teams.oncall`).
- Card buttons: ``Action.Submit`` (a message whose ``value`` is the data) and ``Action.Execute`` (the
  ``adaptiveCard/action`` invoke), data ``{"warroom": "ack"|"resolve"|"take_ic"|"reopen", "incident": id}``; an
  on-call page's Acknowledge (``{"warroom": "page_ack", "notification": id}``, :mod:`warroom.chat.teams.notify`)
  acknowledges as the person paged, and the page's card is edited in place to show the answer.
- A status page draft's card (:mod:`warroom.chat.teams.statuspage_cards`): Publish, Discard, and Edit's Publish
  with the text and state typed in the card (``{"warroom": "statuspage_publish" | "statuspage_edit" |
  "statuspage_discard", "draft": id, "version": n}``), decided once.
- ``declare`` with no title answers with a button that opens the declare dialog (``task/fetch`` → the form,
  ``task/submit`` → declared); see :mod:`warroom.chat.teams.forms`.
- Conversation capture: other messages in a war room (the app's resource-specific consent lets the bot read them)
  are recorded on its timeline as discussion, keyed by conversation and message id; an edit
  (``messageUpdate``/``editMessage``) replaces the text there, a deletion (``messageDelete``/``softDeleteMessage``)
  removes it.
- Every activity is taken in once (commands, buttons and dialogs through the inbox, messages by their timeline
  key): a repeated delivery does nothing again.
- Replies are sent as Microsoft asks of bots (:func:`send`): a throttled one waited out and sent again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from aiohttp import ClientResponseError
from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    Attachment,
    InvokeResponse,
)
from microsoft_agents.activity.teams import TaskModuleRequest, TaskModuleResponse
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.teams import TeamsActivityHandler

from warroom.adapters.http import backoff, retry_after_seconds
from warroom.chat import grammar as cmd
from warroom.chat.teams import cards, forms, statuspage_cards
from warroom.chat.teams.activity import (
    INBOX_SOURCE,
    Who,
    as_map,
    from_bot,
    in_channel_or_group,
    inbox_key,
    message_key,
    read_text,
    room_of,
)
from warroom.chat.teams.edge import TeamsEdge
from warroom.chat.teams.notify import TeamsPageAcks, page_ack_of
from warroom.chat.teams.oncall import TeamsOnCall
from warroom.core.model import Incident, LinkKind, Origin
from warroom.core.rules import RuleError
from warroom.response.actions import Actions, Escalate, needs_war_room
from warroom.response.incidents import IncidentService
from warroom.response.tasks import TaskService
from warroom.settings import Settings
from warroom.store.db import AlreadyApplied, Store

log = logging.getLogger("warroom.teams")

#: Card buttons: ``data.warroom`` → the command it runs.
CARD_ACTIONS: dict[str, cmd.Command] = {
    "ack": cmd.Ack(),
    "resolve": cmd.Resolve(),
    "reopen": cmd.Reopen(),
    "take_ic": cmd.Role("commander", cmd.ME),
}


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
        self.oncall = TeamsOnCall(self.actions)
        self.page_acks = TeamsPageAcks(settings, store)

    # -- plumbing -----------------------------------------------------------------------------------
    def _once(self, activity: Activity, kind: str) -> AbstractContextManager[None]:
        """Take the activity in once: its key is recorded in the transaction that applies it (so a delivery that
        failed or was cut short applies when it comes again); a repeat raises AlreadyApplied."""
        return self.store.delivery(INBOX_SOURCE, inbox_key(kind, activity))

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
        if in_channel_or_group(activity):
            await self._capture(turn_context, said.shown)

    async def _command(self, context: TurnContext, text: str, names: Mapping[str, str]) -> None:
        if (oncall_text := self.oncall.text_of(text)) is not None:  # `oncall …`: who is on call, overrides
            await self._reply(context, await self.oncall.answer(context, oncall_text, names))
            return
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
        if (page := page_ack_of(context.activity.value)) is not None:
            await self._page_ack(context, page)
            return
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
        action = as_map(as_map(context.activity.value).get("action"))
        data: dict[str, Any] = dict(as_map(action.get("data")))
        if isinstance(action.get("verb"), str) and "warroom" not in data:
            data["warroom"] = action["verb"]
        if isinstance(page := page_ack_of(data), int):
            return await self._page_ack_invoke(context, page)
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

    async def _page_ack(self, context: TurnContext, page: int | str) -> None:
        """An on-call page's Acknowledge (``Action.Submit``): the card edited in place to show the answer; the
        answer as a reply when the card cannot be edited."""
        if isinstance(page, str):
            await send(context, Activity(type=ActivityTypes.message, text=cards.escape(page)))
            return
        try:
            with self._once(context.activity, "card"):
                done, card = await self.page_acks.acknowledge(page)
        except AlreadyApplied:
            log.info("activity %s delivered again; ignored", context.activity.id)
            return
        card_id = context.activity.reply_to_id
        if card is not None and card_id:
            edited = Activity(
                type=ActivityTypes.message,
                id=card_id,
                attachments=[Attachment(content_type=cards.CONTENT_TYPE, content=card)],
            )
            try:
                await context.update_activity(edited)
                return
            except ClientResponseError as exc:
                log.info("could not edit the page card %s (%s); answering below it", card_id, exc.status)
        text = ("✅ " if done.ok else "") + done.text
        await send(context, Activity(type=ActivityTypes.message, text=cards.escape(text), text_format="markdown"))

    async def _page_ack_invoke(self, context: TurnContext, page: int) -> InvokeResponse:
        """An on-call page's Acknowledge as ``Action.Execute``: answered with the card that replaces it."""
        try:
            with self._once(context.activity, "invoke"):
                done, card = await self.page_acks.acknowledge(page)
        except AlreadyApplied:
            done, card = None, None
        if card is None:
            text = "That was done already." if done is None else done.text
            body: dict[str, Any] = {
                "statusCode": int(HTTPStatus.OK),
                "type": "application/vnd.microsoft.activity.message",
                "value": text,
            }
        else:
            body = {"statusCode": int(HTTPStatus.OK), "type": cards.CONTENT_TYPE, "value": card}
        return InvokeResponse(status=int(HTTPStatus.OK), body=body)

    async def _card_action(self, context: TurnContext, data: Any) -> str:
        """A card button's data → the command it stands for, applied to its incident; or what was wrong."""
        if isinstance(data, Mapping) and data.get("warroom") in (forms.OPEN_DECLARE, forms.DECLARE):
            return "Open the declare form from its button (or type `@warroom declare <service> <title>`)."
        if isinstance(data, Mapping) and data.get("warroom") in (cards.TASK_START, cards.TASK_DONE):
            return await self._task_button(context, data)
        if isinstance(data, Mapping) and data.get("warroom") in statuspage_cards.ACTIONS:
            return await statuspage_cards.click(context, data, self.settings, self.store)
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

    async def _task_button(self, context: TurnContext, data: Mapping[str, Any]) -> str:
        """A task card's Start or Done: applied once (a second click finds it done), said in the war room."""
        task = data.get("task")
        if isinstance(task, str) and task.strip().isdigit():
            task = int(task)
        if isinstance(task, bool) or not isinstance(task, int) or task <= 0:
            return "That button names no task; type `@warroom tasks` in the war room to see them."
        who = Who.of(context.activity)
        status = "in_progress" if data.get("warroom") == cards.TASK_START else "done"
        text, incident_id = await TaskService(self.settings, self.store).click(
            task, status, actor=who.actor.key, mention=cards.escape(who.name))
        return text or f"Task updated; INC-{incident_id}'s war room is told."

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
        if not text or from_bot(activity):
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
        await self.actions.known_as(who.actor.key, who.name)  # summaries and answers name who said it

    async def on_teams_message_edit(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        if from_bot(activity):
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
