"""What the shared command runner needs of Teams (:class:`warroom.response.actions.ChatEdge`), for one activity:
people's names as the activity gave them, and their email from the Bot Connector (the member lookup, else the
conversation's roster through the turn's connector client, kept under :data:`CONNECTOR_KEY`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.teams import TeamsInfo

from warroom.chat.teams.activity import Who, as_map

log = logging.getLogger("warroom.teams")

#: Where the turn's Bot Connector client is kept (for the roster lookup); put there by the endpoint's
#: connector factory.
CONNECTOR_KEY = "warroom.connector"


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
    team = as_map(as_map(context.activity.channel_data).get("team"))
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
