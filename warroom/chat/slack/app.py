"""The Slack front end: a slack-bolt AsyncApp that translates Slack's requests into warroom's own types at the edge
and hands them to the shared runner (warroom.response.actions). Slack reaches it over HTTP (signed requests to
``/slack/events``, mounted by warroom.web.app) or over Socket Mode (warroom.chat.slack.socket) — the same app,
listeners and de-duplication either way:

- ``/incident …`` → the command grammar (warroom.chat.grammar); ``declare`` with nothing after it opens a form;
- ``/oncall …`` → who is on call, and overrides (warroom.chat.slack.oncall);
- the card's buttons (Acknowledge, Resolve, Reopen, Take Incident Commander; the link buttons are only acked);
- a status page draft's Publish, Edit (a modal) and Discard (warroom.chat.slack.statuspage_cards);
- the "Add to incident" message shortcut → a note (in a war room at once, elsewhere after picking the incident);
- war-room messages (and their edits and deletions) → discussion on the incident's timeline.

Slack escapes ``&``, ``<`` and ``>`` in command text; notes and titles are unescaped here, so that what reaches
the incident and Xurrent is exactly what the responder typed. A request Slack sends again (a retried command or
event, a double click) is taken in once: by its ``trigger_id`` / event id in the inbox, or by the state rules.
"""

from __future__ import annotations

import html
import logging
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from warroom.chat import grammar as cmd
from warroom.chat.slack import assistant, blocks, forms, oncall, statuspage_cards
from warroom.core.model import Incident, LinkKind, Status
from warroom.core.tasks import label as task_label
from warroom.response.actions import Actions, Actor, Escalate, Reply, needs_war_room
from warroom.response.incidents import IncidentService
from warroom.response.oncall.ack import PageAcks
from warroom.response.responders import ResponseService
from warroom.response.tasks import TaskService
from warroom.settings import Settings
from warroom.store.db import AlreadyApplied

log = logging.getLogger("warroom.slack")

#: Message subtypes that are people talking (others are joins, topic changes, bot posts…).
_SPOKEN = (None, "thread_broadcast", "file_share", "me_message")


def unescape(text: str) -> str:
    """Slack's command-text escaping undone: &amp; &lt; &gt; → & < >."""
    return html.unescape(text) if "&" in text else text


class SlackEdge:
    """What the shared command runner needs of Slack: people's emails, mentions, and Slack's text escaping."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def email_of(self, user_id: str) -> str | None:
        try:
            answer = await self.client.users_info(user=user_id)
        except SlackApiError:
            return None
        email = ((answer.get("user") or {}).get("profile") or {}).get("email")
        return str(email).lower() if email else None

    def mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    def text(self, raw: str) -> str:
        return unescape(raw)

    async def group_members(self, group_id: str) -> list[tuple[str, str]] | None:
        try:
            answer = await self.client.usergroups_users_list(usergroup=group_id)
        except SlackApiError:
            return None
        out: list[tuple[str, str]] = []
        for user_id in answer.get("users") or []:
            try:
                user = (await self.client.users_info(user=str(user_id))).get("user") or {}
            except SlackApiError:
                continue
            email = (user.get("profile") or {}).get("email")
            if email and not user.get("deleted"):
                out.append((str(email).lower(), str(user.get("real_name") or email)))
        return out


def _actor(user_id: str) -> Actor:
    return Actor("slack", user_id, f"<@{user_id}>")


def create_slack_app(
    settings: Settings,
    service: IncidentService,
    client: AsyncWebClient,
    escalate: Escalate | None = None,
    response: ResponseService | None = None,
) -> AsyncApp:
    secret = settings.slack.signing_secret
    http = settings.slack.mode == "http"
    assert secret is not None or not http
    ctx = cmd.GrammarContext.from_settings(settings)
    app = AsyncApp(
        signing_secret=secret.get_secret_value() if secret is not None else "",
        client=client,  # carries the bot token
        # HTTP requests are signed (checked here and, before bolt parses anything, in warroom.web.app); Socket Mode's
        # envelopes are not — the WebSocket warroom opened with the app-level token is what vouches for them
        request_verification_enabled=http,
        # listeners finish before Slack gets its answer (one transaction, milliseconds; outside effects go to the
        # outbox), so nothing is left running in the background to be lost on shutdown; in Socket Mode the answer
        # is the envelope's ack, sent when the listener is done
        process_before_response=True,
        logger=log,
    )
    actions = Actions(settings, service, ctx, escalate, response)
    edge = SlackEdge(client)
    store = service.store
    page_acks = PageAcks(settings, store)

    async def war_room(channel_id: str) -> Incident | None:
        return await service.incident_for_link(LinkKind.SLACK_CHANNEL, channel_id) if channel_id else None

    async def answer_in_room(reply: Reply, incident: Incident | None, channel_id: str, user_id: str) -> None:
        """A button's outcome: a change is told to the war room (through the outbox, which keeps Slack's posting
        limits), a refusal only to the person who clicked."""
        if reply.public and incident is not None:
            await actions.response.announce(incident.id, reply.text, keep=[f"<@{user_id}>"])
        elif channel_id:
            try:
                await client.chat_postEphemeral(channel=channel_id, user=user_id, text=reply.text)
            except SlackApiError as exc:
                log.info("could not answer %s privately: %s", user_id, exc.response.get("error"))

    # -- /incident ----------------------------------------------------------------------------------
    @app.command(f"/{settings.slack.command}")
    async def incident_command(ack: Any, command: dict[str, Any]) -> None:
        parsed = cmd.parse(command.get("text") or "", ctx)
        if isinstance(parsed, cmd.Rejection):
            await ack(parsed.message)
            return
        user_id = str(command.get("user_id") or "")
        channel_id = str(command.get("channel_id") or "")
        await actions.known_as(f"slack:{user_id}", str(command.get("user_name") or ""), stand_in=True)
        if isinstance(parsed, cmd.Declare) and parsed.title is not None and parsed.service is None:
            service = actions.default_service(await war_room(channel_id),
                                              [channel_id, str(command.get("channel_name") or "")])
            if service is not None:
                parsed = replace(parsed, service=service)
        if isinstance(parsed, cmd.Declare) and (parsed.title is None or parsed.service is None):
            # nothing after `declare`, no service to be had, or a first word that may be the service or the title
            try:
                await client.views_open(trigger_id=str(command.get("trigger_id") or ""),
                                        view=forms.declare_view(settings, parsed.service, parsed.priority,
                                                                title=parsed.title or parsed.draft))
            except SlackApiError as exc:
                await ack(f"The declare form could not open ({exc.response.get('error')}): use "
                          f"`{ctx.command} declare <service> [priority] <title>`.")
                return
            await ack()
            return
        incident = None
        if needs_war_room(parsed):
            incident = await war_room(channel_id)
        trigger = str(command.get("trigger_id") or "")
        try:
            # recorded in the command's own transaction: a retry of a command that failed or was cut short applies
            with store.delivery("slack", f"command:{trigger}" if trigger else None):
                reply = await actions.run(parsed, incident=incident, actor=_actor(user_id), edge=edge)
        except AlreadyApplied:
            await ack()  # Slack's retry of a command already applied
            return
        await ack(text=reply.text, response_type="in_channel" if reply.public else "ephemeral")
        await name_once(user_id)

    async def name_once(user_id: str) -> None:
        """The name Slack shows for the person (not the handle a slash command carries), asked once per process, so
        that summaries and postmortems name them as their colleagues know them."""
        if user_id and user_id not in looked_up:
            looked_up.add(user_id)
            if name := await _display_name(client, user_id):
                await actions.known_as(f"slack:{user_id}", name)

    looked_up: set[str] = set()

    # -- /oncall ------------------------------------------------------------------------------------
    oncall.register(app, actions, edge, war_room)
    # -- status page drafts' cards: Publish, Edit (a modal), Discard ------------------------------------
    statuspage_cards.register(app, settings, store, client, ctx.command)

    @app.view(forms.DECLARE_VIEW)
    async def declare_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        form = forms.read_declare(view, settings)
        if isinstance(form, dict):
            await ack(response_action="errors", errors=form)
            return
        user_id = str((body.get("user") or {}).get("id") or "")
        reply = await actions.run(form, incident=None, actor=_actor(user_id), edge=edge)
        await ack()
        try:
            await client.chat_postMessage(channel=user_id, text=reply.text)
        except SlackApiError as exc:
            log.info("could not confirm the declaration to %s: %s", user_id, exc.response.get("error"))

    # -- the card's buttons -------------------------------------------------------------------------
    async def on_button(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user_id = str((body.get("user") or {}).get("id") or "")
        channel_id = str((body.get("channel") or {}).get("id") or "")
        try:
            incident_id = int(str(action.get("value") or ""))
        except ValueError:
            await answer_in_room(Reply("That button belongs to no incident; use the command instead."), None,
                                 channel_id, user_id)
            return
        async with store.read() as tx:
            incident = await tx.incidents.get(incident_id)
        if incident is None:
            await answer_in_room(Reply(f"There is no incident {incident_id}."), None, channel_id, user_id)
            return
        verb = str(action.get("action_id"))
        actor = _actor(user_id)
        person = body.get("user") or {}
        await actions.known_as(actor.key, str(person.get("name") or person.get("username") or ""))
        if verb == blocks.TAKE_COMMANDER:
            reply = await actions.take_commander(incident, actor, edge)
        else:
            command: cmd.Command = (cmd.Ack() if verb == blocks.ACK else cmd.Resolve() if verb == blocks.RESOLVE
                                    else cmd.Reopen())
            if (verb == blocks.ACK and incident.status is not Status.TRIGGERED) or (
                verb == blocks.RESOLVE and incident.status is Status.RESOLVED
            ):
                # a second click (or a click on a card not yet refreshed): the first one applied it
                reply = Reply(f"{incident.ref} is {incident.status.value} already.")
            else:
                reply = await actions.run(command, incident=incident, actor=actor, edge=edge)
        await answer_in_room(reply, incident, channel_id, user_id)

    for action_id in (blocks.ACK, blocks.RESOLVE, blocks.REOPEN, blocks.TAKE_COMMANDER):
        app.action(action_id)(on_button)

    async def on_link(ack: Any) -> None:
        await ack()  # a URL button: Slack opens the link; the click is only acknowledged

    for action_id in blocks.LINK_BUTTONS:
        app.action(action_id)(on_link)

    # -- Acknowledge on an on-call page (a DM) ---------------------------------------------------------
    @app.action(blocks.PAGE_ACK)
    async def page_ack(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user_id = str((body.get("user") or {}).get("id") or "")
        try:
            notification_id = int(str(action.get("value") or ""))
        except ValueError:
            return
        done = await page_acks.by_notification(notification_id, via="slack")
        message = body.get("message") or {}
        channel_id = str((body.get("channel") or {}).get("id") or "")
        answer = ("✅ " if done.ok else "") + blocks.escape(done.text)
        if channel_id and message.get("ts"):
            kept = [b for b in (message.get("blocks") or []) if b.get("type") != "actions"]
            kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": answer}]})
            try:
                await client.chat_update(channel=channel_id, ts=str(message["ts"]), text=answer, blocks=kept)
                return
            except SlackApiError as exc:
                log.info("could not update the page message: %s", exc.response.get("error"))
        if user_id:
            await client.chat_postMessage(channel=user_id, text=answer)

    # -- a task card's Start and Done ----------------------------------------------------------------
    @app.action(blocks.TASK_START)
    async def task_start(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await task_button(ack, body, action, "in_progress")

    @app.action(blocks.TASK_DONE)
    async def task_done(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await task_button(ack, body, action, "done")

    async def task_button(ack: Any, body: dict[str, Any], action: dict[str, Any], status: str) -> None:
        await ack()
        user_id = str((body.get("user") or {}).get("id") or "")
        channel_id = str((body.get("channel") or {}).get("id") or "")
        try:
            task_id = int(str(action.get("value") or ""))
        except ValueError:
            await answer_in_room(Reply("That button belongs to no task; see `tasks` in the war room."), None,
                                 channel_id, user_id)
            return
        text, _ = await TaskService(settings, actions.service.store).click(
            task_id, status, actor=f"slack:{user_id}", mention=f"<@{user_id}>")
        if text:
            await answer_in_room(Reply(text), None, channel_id, user_id)

    # -- "Create task" on the postmortem's follow-up actions ----------------------------------------
    @app.action(assistant.TASK_ACCEPT)
    async def task_accept(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user_id = str((body.get("user") or {}).get("id") or "")
        channel_id = str((body.get("channel") or {}).get("id") or "")
        try:
            task_id = int(str(action.get("value") or ""))
        except ValueError:
            await answer_in_room(Reply("That button belongs to no follow-up action."), None, channel_id, user_id)
            return
        done = await actions.response.accept_task(task_id, actor=f"slack:{user_id}", mention=f"<@{user_id}>")
        if done.task is None:
            await answer_in_room(Reply("That follow-up action no longer exists; run the postmortem again."), None,
                                 channel_id, user_id)
            return
        if not done.created:
            await answer_in_room(Reply(f"“{done.task['title']}” is a post-incident task already "
                                       f"({task_label(str(done.task['status']))})."), None, channel_id, user_id)
        message = body.get("message") or {}
        updated = assistant.task_created(message.get("blocks") or [], task_id, f"<@{user_id}>") if done.created else None
        if updated is not None and channel_id and message.get("ts"):
            try:
                await client.chat_update(channel=channel_id, ts=str(message["ts"]), text=str(message.get("text") or ""),
                                         blocks=updated)
            except SlackApiError as exc:
                log.info("could not mark task %s created on its message: %s", task_id, exc.response.get("error"))

    # -- "Add to incident" --------------------------------------------------------------------------
    @app.shortcut(forms.ADD_TO_INCIDENT)
    async def add_to_incident(ack: Any, shortcut: dict[str, Any]) -> None:
        user_id = str((shortcut.get("user") or {}).get("id") or "")
        channel_id = str((shortcut.get("channel") or {}).get("id") or "")
        message = shortcut.get("message") or {}
        note = forms.quoted_note(message, channel_id)
        incident = await war_room(channel_id)
        if incident is not None:
            await ack()
            reply = await actions.run(cmd.Note(note), incident=incident, actor=_actor(user_id), edge=edge)
            await answer_in_room(reply, incident, channel_id, user_id)
            return
        async with store.read() as tx:
            open_incidents = [i for i in await tx.incidents.list(limit=100) if i.status is not Status.RESOLVED]
        await ack()
        if not open_incidents:
            await answer_in_room(Reply("There is no open incident to add this message to."), None, channel_id, user_id)
            return
        try:
            await client.views_open(trigger_id=str(shortcut.get("trigger_id") or ""),
                                    view=forms.pick_incident_view(open_incidents, note))
        except SlackApiError as exc:
            await answer_in_room(Reply(f"The form could not open ({exc.response.get('error')}): run "
                                       f"`{ctx.command} note …` in the war room instead."), None, channel_id, user_id)

    @app.view(forms.PICK_INCIDENT_VIEW)
    async def picked_incident(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        picked = forms.read_pick(view)
        if picked is None:
            await ack(response_action="errors", errors={forms.PICK_BLOCK: "Pick the incident to add the message to."})
            return
        incident_id, note = picked
        async with store.read() as tx:
            incident = await tx.incidents.get(incident_id)
        user_id = str((body.get("user") or {}).get("id") or "")
        if incident is None:
            await ack(response_action="errors", errors={forms.PICK_BLOCK: f"There is no incident {incident_id}."})
            return
        reply = await actions.run(cmd.Note(note), incident=incident, actor=_actor(user_id), edge=edge)
        await ack()
        await answer_in_room(reply, incident, "", user_id)

    # -- the war-room conversation ------------------------------------------------------------------
    @app.event("message")
    async def war_room_message(ack: Any, event: dict[str, Any], body: dict[str, Any], client: Any) -> None:
        await ack()
        subtype = event.get("subtype")
        channel_id = str(event.get("channel") or "")
        if subtype == "message_changed":
            changed = event.get("message") or {}
            if not changed.get("bot_id"):
                await actions.response.edit_message(f"slack:{channel_id}:{changed.get('ts')}",
                                                    unescape(str(changed.get("text") or "")))
            return
        if subtype == "message_deleted":
            await actions.response.delete_message(f"slack:{channel_id}:{event.get('deleted_ts')}")
            return
        if subtype not in _SPOKEN or event.get("bot_id") or not event.get("user"):
            return
        incident = await war_room(channel_id)
        if incident is None:
            return
        actor = f"slack:{event.get('user')}"
        await actions.response.record_message(
            incident.id, f"slack:{channel_id}:{event.get('ts')}", unescape(str(event.get("text") or "")),
            actor=actor,
        )
        await name_once(str(event.get("user")))

    return app


async def _display_name(client: Any, user_id: str) -> str | None:
    """The name Slack shows for a person (``users.info``: display name, else real name), so that summaries and
    answers name who said what; None when Slack will not say (the message is recorded either way)."""
    try:
        found = await client.users_info(user=user_id)
    except Exception as exc:  # a name is a nicety: the chat's handle (or "someone in Slack") stands in
        log.info("users.info for a war-room speaker failed: %s", type(exc).__name__)
        return None
    user = found.get("user") or {}
    profile = user.get("profile") or {}
    return str(profile.get("display_name") or profile.get("real_name") or user.get("real_name") or "") or None
