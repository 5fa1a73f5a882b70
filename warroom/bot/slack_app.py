"""The Slack front end: a slack-bolt AsyncApp (signature checking on) that translates ``/incident`` into the shared
command grammar (warroom.bot.commands) and hands the typed command to the incident service.

Slack escapes ``&``, ``<`` and ``>`` in command text; notes and titles are unescaped here, at the edge, so that
what reaches the incident and Xurrent is exactly what the responder typed.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from warroom.core.model import LinkKind
from warroom.settings import Settings

from . import commands as cmd
from .actions import Actions, Actor, Escalate, needs_war_room
from .incidents import IncidentService

log = logging.getLogger("warroom.slack")

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

    actions = Actions(settings, service, ctx, escalate)
    edge = SlackEdge(client)

    @app.command(f"/{settings.slack.command}")
    async def incident_command(ack: Any, command: dict[str, Any]) -> None:
        parsed = cmd.parse(command.get("text") or "", ctx)
        if isinstance(parsed, cmd.Rejection):
            await ack(parsed.message)
            return
        user_id = str(command.get("user_id") or "")
        incident = None
        if needs_war_room(parsed):
            incident = await service.incident_for_link(LinkKind.SLACK_CHANNEL, str(command.get("channel_id") or ""))
        reply = await actions.run(parsed, incident=incident, actor=Actor("slack", user_id, f"<@{user_id}>"), edge=edge)
        await ack(text=reply.text, response_type="in_channel" if reply.public else "ephemeral")

    return app
