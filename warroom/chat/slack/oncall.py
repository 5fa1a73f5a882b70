"""``/oncall`` in Slack: the second slash command (``slack.oncall_command``) of the same slack-bolt app, parsed by
the on-call grammar (warroom.chat.grammar.oncall) and run by the response layer's on-call runner
(warroom.response.oncall.runner). Answered to the asker alone. A command Slack sends again is taken in once (its
``trigger_id`` in the inbox, recorded with the override it adds).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from warroom.chat.grammar import oncall as grammar
from warroom.core.model import Incident
from warroom.response import commands as cmd
from warroom.response.actions import Actions, Actor, ChatEdge
from warroom.response.oncall.runner import OnCallRunner
from warroom.store.db import AlreadyApplied

#: Commands whose answer depends on the channel they are typed in (its war room or declare service).
_BY_CHANNEL = (cmd.OnCallWho, cmd.OnCallOverride)


def register(app: AsyncApp, actions: Actions, edge: ChatEdge,
             war_room: Callable[[str], Awaitable[Incident | None]]) -> None:
    """Listen for ``/{slack.oncall_command}`` on ``app``."""
    settings = actions.settings
    store = actions.service.store
    ctx = grammar.OnCallGrammar.from_settings(settings)
    runner = OnCallRunner(settings, store, ctx)

    @app.command(ctx.command)
    async def oncall_command(ack: Any, command: dict[str, Any]) -> None:
        parsed = grammar.parse(command.get("text") or "", ctx)
        if isinstance(parsed, cmd.Rejection):
            await ack(parsed.message)
            return
        user_id = str(command.get("user_id") or "")
        channel_id = str(command.get("channel_id") or "")
        await actions.known_as(f"slack:{user_id}", str(command.get("user_name") or ""), stand_in=True)
        incident = None
        if isinstance(parsed, _BY_CHANNEL):
            incident = await war_room(channel_id)
        trigger = str(command.get("trigger_id") or "")
        try:
            with store.delivery("slack", f"command:{trigger}" if trigger else None):
                reply = await runner.run(parsed, actor=Actor("slack", user_id, f"<@{user_id}>"), edge=edge,
                                         incident=incident,
                                         channels=[channel_id, str(command.get("channel_name") or "")])
        except AlreadyApplied:
            await ack()  # Slack's retry of a command already applied
            return
        await ack(text=reply.text, response_type="ephemeral")
