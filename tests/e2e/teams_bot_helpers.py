"""The inbound Teams side end to end: warroom's real server with its bot at /api/messages, the emulated Teams client
signing activities as the Bot Framework does, and the Bot Connector / Graph emulators of one shared tenant
receiving the bot's replies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from warroom.chat.teams.cards import JOINER
from warroom.core.model import Incident, LinkKind, TimelineEvent
from warroom.sandbox.harness import Harness
from warroom.sandbox.teams.client import Conversation, Sent, TeamsClientEmulator, TeamsUser
from warroom.sandbox.teams.connector import ConnectorEmulator
from warroom.sandbox.teams.tenant import Message, TeamsTenant
from warroom.sandbox.teams.world import TeamsWorld
from warroom.sandbox.world import World

from .helpers import critical_alert


def shown(text: Any) -> str:
    """A bot message's Markdown as a person reads it: the invisible word joiners (warroom.chat.teams.cards) dropped."""
    return str(text or "").replace(JOINER, "")


@dataclass
class TeamsSide:
    """The sandbox world's Teams tenant (Graph, Bot Connector) and the emulated Teams client people type in."""

    world: TeamsWorld
    client: TeamsClientEmulator

    @classmethod
    async def start(cls, world: World) -> TeamsSide:
        teams = world.teams
        client = TeamsClientEmulator(
            app_id=teams.tenant.app_id, service_url=teams.connector.service_url, tenant=teams.tenant
        )
        await client.start()
        return cls(teams, client)

    async def stop(self) -> None:
        await self.client.stop()

    @property
    def tenant(self) -> TeamsTenant:
        return self.world.tenant

    @property
    def connector(self) -> ConnectorEmulator:
        return self.world.connector

    @property
    def team_id(self) -> str:
        return self.world.team_ids["checkout-api"]

    def tweak(self, *, auth: bool = True) -> Callable[[dict[str, Any]], None]:
        """Teams on (Slack off), war rooms in Teams, the bot's token checks pointed at the emulated channel's
        keys."""

        def apply(data: dict[str, Any]) -> None:
            data["teams"].update(
                enabled=True, auth_enabled=auth, openid_metadata_url=self.client.openid_metadata_url
            )
            data["slack"]["enabled"] = False  # an organisation that lives in Teams
            for service in data["services"]:
                service["chat"] = "teams"

        return apply

    def person(self, email: str) -> TeamsUser:
        return self.client.person(email)

    def channel(self, name: str) -> Conversation:
        """A new standard channel in the team (as if Graph had created it)."""
        channel = self.tenant.new_channel(self.team_id, name, "standard", description="", members=set())
        return Conversation.channel(channel["id"])

    def personal(self, user: TeamsUser) -> Conversation:
        """The user's 1:1 chat with the bot (the Bot Connector knows it once the user has talked to the bot, which
        the app installed for them lets them do)."""
        conversation = Conversation.personal(user)
        self.tenant.install_for_user(user.aad_id)
        self.connector.personal[conversation.id] = user.aad_id
        self.tenant.messages.setdefault(conversation.id, [])
        return conversation

    def bot_messages(self, conversation: Conversation) -> list[Message]:
        return [m for m in self.connector.posted(conversation.id) if m.app_id == self.tenant.app_id]

    def replies_to(self, conversation: Conversation, sent: Sent) -> list[str]:
        """The text of the bot's replies to what was sent: in a channel, in its thread; in a chat, the bot's
        messages after it (until someone else speaks)."""
        if conversation.type == "channel":
            root = sent.activity.get("replyToId") or sent.id
            return [
                shown(m.activity.get("text"))
                for m in self.bot_messages(conversation)
                if m.reply_to == root or m.reply_to == sent.id
            ]
        messages = self.connector.posted(conversation.id)
        start = next(i for i, m in enumerate(messages) if m.id == sent.id) + 1
        out: list[str] = []
        for m in messages[start:]:
            if m.app_id != self.tenant.app_id:
                break
            out.append(shown(m.activity.get("text")))
        return out

    def last_reply(self, conversation: Conversation) -> str:
        messages = self.bot_messages(conversation)
        assert messages, "the bot said nothing"
        return shown(messages[-1].activity.get("text"))


async def open_war_room(h: Harness) -> tuple[int, Conversation]:
    """An alert declares a major incident; its Teams war room is opened by the fan-out, complete."""
    incident = int((await h.post_alerts(critical_alert())).json()["incidents"][0])
    assert await h.wait_complete(incident) == []
    async with h.runtime.store.read() as tx:
        links = await tx.links.all(incident)
    return incident, Conversation.channel(links[LinkKind.TEAMS_CHANNEL].remote_id)


async def card_of(h: Harness, incident_id: int) -> tuple[str, dict[str, Any]]:
    """The incident card the bot posted in the war room: its activity id and its current content."""
    async with h.runtime.store.read() as tx:
        links = await tx.links.all(incident_id)
    room = links[LinkKind.TEAMS_CHANNEL].remote_id
    card_id = links[LinkKind.TEAMS_CARD].remote_id
    message = next(m for m in h.world.teams.connector.posted(room) if m.id == card_id)
    (attachment,) = message.activity["attachments"]
    return card_id, attachment["content"]


async def settle(h: Harness) -> None:
    for _ in range(2):
        await h.runtime.worker.run_until_idle()
        await h.world.xurrent.webhooks.settle()
    await h.runtime.worker.run_until_idle()


async def incident(h: Harness, incident_id: int) -> Incident:
    async with h.runtime.store.read() as tx:
        found = await tx.incidents.get(incident_id)
    assert found is not None
    return found


async def timeline(h: Harness, incident_id: int, *kinds: str) -> list[TimelineEvent]:
    async with h.runtime.store.read() as tx:
        events = await tx.timeline.for_incident(incident_id)
    return [e for e in events if not kinds or e.kind in kinds]


def request_of(h: Harness, incident_id: int) -> dict[str, Any]:
    (request,) = [
        r for r in h.world.xurrent.requests.values() if r.get("sourceID") == f"incident-{incident_id}"
    ]
    return request
