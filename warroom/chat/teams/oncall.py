"""``@warroom oncall …`` in Teams (in a channel, a group chat or the 1:1 chat with the bot): who is on call, and
overrides — the on-call grammar (warroom.chat.grammar.oncall) run by the response layer's on-call runner
(warroom.response.oncall.runner), as Slack's ``/oncall`` is. The bot takes the activity in once, as it does every
command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from microsoft_agents.hosting.core import TurnContext

from warroom.chat.grammar import oncall as grammar
from warroom.chat.teams.activity import Who, as_map, room_of
from warroom.chat.teams.edge import TeamsEdge
from warroom.core.model import LinkKind
from warroom.response import commands as cmd
from warroom.response.actions import Actions
from warroom.response.oncall.runner import OnCallRunner

#: How Teams people invoke it.
COMMAND = f"@warroom {grammar.VERB}"


@dataclass
class TeamsOnCall:
    actions: Actions

    def __post_init__(self) -> None:
        self.ctx = grammar.OnCallGrammar.from_settings(self.actions.settings, command=COMMAND)
        self.runner = OnCallRunner(self.actions.settings, self.actions.service.store, self.ctx)

    @staticmethod
    def text_of(command: str) -> str | None:
        """The text after ``oncall`` when the command is an on-call one, else None."""
        return grammar.after_verb(command)

    async def answer(self, context: TurnContext, text: str, names: Mapping[str, str]) -> str:
        """The answer to ``oncall <text>``, in the war-room line format."""
        parsed = grammar.parse(text, self.ctx)
        if isinstance(parsed, cmd.Rejection):
            return parsed.message
        activity = context.activity
        who = Who.of(activity)
        if who.name != "someone":
            await self.actions.known_as(who.actor.key, who.name)
        room = room_of(activity)
        channel = as_map(as_map(activity.channel_data).get("channel"))
        incident = None
        if isinstance(parsed, (cmd.OnCallWho, cmd.OnCallOverride)):
            incident = await self.actions.service.incident_for_link(LinkKind.TEAMS_CHANNEL, room)
        reply = await self.runner.run(parsed, actor=who.actor, edge=TeamsEdge(context, who, names), incident=incident,
                                      channels=[room, str(channel.get("name") or "")])
        return reply.text
