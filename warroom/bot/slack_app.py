"""The Slack front end: a slack-bolt AsyncApp (signature checking on) that translates ``/incident`` into the shared
command grammar (warroom.bot.commands) and hands the typed command to the incident service.

Slack escapes ``&``, ``<`` and ``>`` in command text; notes and titles are unescaped here, at the edge, so that
what reaches the incident and Xurrent is exactly what the responder typed.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from warroom.core.model import Incident, LinkKind, Origin
from warroom.core.rules import RuleError
from warroom.settings import Settings

from . import commands as cmd
from .incidents import IncidentService

log = logging.getLogger("warroom.slack")

#: Escalates a Xurrent request by id for a person; returns the sentence to answer with.
Escalate = Callable[[int, str], Awaitable[str]]

#: Verbs that act on the incident of the war room the command is typed in.
NEEDS_WAR_ROOM = (cmd.Ack, cmd.Resolve, cmd.Reopen, cmd.Status, cmd.Priority, cmd.Title, cmd.Assign, cmd.Note)
#: Verbs of the grammar whose behaviour is not built yet (roles, paging, stakeholders, merging: issue 4).
NOT_YET = (cmd.Role, cmd.Roles, cmd.Page, cmd.StakeholderAdd, cmd.Merge)


def unescape(text: str) -> str:
    """Slack's command-text escaping undone: &amp; &lt; &gt; → & < >."""
    return html.unescape(text) if "&" in text else text


def create_slack_app(
    settings: Settings, service: IncidentService, client: AsyncWebClient, escalate: Escalate | None = None
) -> AsyncApp:
    assert settings.slack.signing_secret is not None
    ctx = cmd.GrammarContext.from_settings(settings)
    app = AsyncApp(
        signing_secret=settings.slack.signing_secret.get_secret_value(),
        client=client,  # carries the bot token
        request_verification_enabled=True,
        logger=log,
    )

    async def email_of(user_id: str) -> str | None:
        try:
            answer = await client.users_info(user=user_id)
        except SlackApiError:
            return None
        return ((answer.get("user") or {}).get("profile") or {}).get("email")

    async def person(target: cmd.Target, actor_id: str) -> str | None:
        if target.kind is cmd.TargetKind.EMAIL:
            return target.id.lower()
        return await email_of(actor_id if target.kind is cmd.TargetKind.ME else target.id)

    async def run(command: cmd.Command, incident: Incident | None, user_id: str, actor: str) -> str:
        if isinstance(command, cmd.Help):
            return cmd.help_text(ctx, command.topic)
        if isinstance(command, cmd.Declare):
            if command.service is None or command.title is None:
                return (f"Say which service and what is wrong: `{ctx.command} declare <service> [priority] <title>`. "
                        "(The declare dialog comes with the full command set.)")
            declared = await service.declare(
                service=command.service, title=unescape(command.title),
                priority=command.priority or settings.intake.default_priority, origin=Origin.CHAT, actor=actor,
            )
            return f"{declared.ref} declared ({declared.priority}). The war room is being opened."
        if isinstance(command, cmd.Escalate):
            if escalate is None:
                return "Escalation needs the Xurrent link, which is not configured."
            return await escalate(command.request_id, actor)
        if isinstance(command, NOT_YET):
            return f"`{command.verb}` is not available in this version of warroom yet."
        if incident is None:
            return f"`{command.verb}` works in an incident's war room channel: run it there."
        if isinstance(command, cmd.Status):
            return (f"{incident.ref} is {incident.status.value}, {incident.priority or 'no priority'}, "
                    f"assigned to {incident.assignee or 'nobody'}: {incident.title}")
        if isinstance(command, cmd.Ack):
            await service.acknowledge(incident.id, actor=actor)
            return f"{incident.ref} acknowledged by <@{user_id}>."
        if isinstance(command, cmd.Resolve):
            if command.note:
                await service.add_note(incident.id, unescape(command.note), actor=actor)
            await service.resolve(incident.id, actor=actor)
            return f"{incident.ref} resolved by <@{user_id}>."
        if isinstance(command, cmd.Reopen):
            await service.reopen(incident.id, actor=actor)
            return f"{incident.ref} reopened by <@{user_id}>."
        if isinstance(command, cmd.Priority):
            await service.change(incident.id, actor=actor, priority=command.priority)
            return f"{incident.ref} priority set to {command.priority} by <@{user_id}>."
        if isinstance(command, cmd.Title):
            await service.change(incident.id, actor=actor, title=unescape(command.text))
            return f"{incident.ref} renamed by <@{user_id}>."
        if isinstance(command, cmd.Assign):
            email = await person(command.target, user_id)
            if email is None:
                return "That person has no email address in Slack, so warroom cannot assign them; try `assign me`."
            await service.change(incident.id, actor=actor, assignee=email)
            return f"{incident.ref} assigned to {email} by <@{user_id}>."
        if isinstance(command, cmd.Note):
            await service.add_note(incident.id, unescape(command.text), actor=actor)
            return f"Note added to {incident.ref} by <@{user_id}>."
        raise AssertionError(f"unhandled command {command!r}")

    @app.command(f"/{settings.slack.command}")
    async def incident_command(ack: Any, command: dict[str, Any]) -> None:
        parsed = cmd.parse(command.get("text") or "", ctx)
        if isinstance(parsed, cmd.Rejection):
            await ack(parsed.message)
            return
        user_id = str(command.get("user_id") or "")
        incident = None
        if isinstance(parsed, NEEDS_WAR_ROOM):
            incident = await service.incident_for_link(LinkKind.SLACK_CHANNEL, str(command.get("channel_id") or ""))
        try:
            reply = await run(parsed, incident, user_id, f"slack:{user_id}")
        except (RuleError, ValueError) as exc:
            await ack(str(exc))
            return
        public = isinstance(parsed, NEEDS_WAR_ROOM) and not isinstance(parsed, cmd.Status) and incident is not None
        await ack(text=reply, response_type="in_channel" if public else "ephemeral")

    return app
