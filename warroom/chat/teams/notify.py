"""On-call pages by Teams chat: :class:`TeamsPager` (a :class:`warroom.response.oncall.notify.Sender`) sends the
paged person an Adaptive Card with an Acknowledge button in the bot's 1:1 chat with them, and
:class:`TeamsPageAcks` answers that button (the bot, :mod:`warroom.chat.teams.bot`, hands it the click).

As Microsoft documents proactive messages:

1. The person is found in the directory by email (Graph, ``mail`` or user principal name); nobody there is a
   ``Permanent`` failure, so the person's next method goes at once.
2. The 1:1 chat is created (Bot Connector ``POST /v3/conversations``, the person's Entra object id as the member,
   ``isGroup`` false, the tenant), which Teams allows only when the app is installed for the person. When it is
   not (403 ``BotNotInConversationRoster``), warroom installs it in their personal scope through Graph
   (``POST /users/{id}/teamwork/installedApps`` binding ``teams.catalog_app_id``; installed already is fine) and
   creates the chat again. Without ``teams.catalog_app_id`` that is a ``Permanent`` failure that says so.
3. The card is posted there: the page's headline, what acknowledging does, Acknowledge as ``Action.Submit`` with
   data ``{"warroom": "page_ack", "notification": <id>}``, and the war room's link when the incident has one.

Outside text (the incident's title, service) is escaped for Teams by :func:`warroom.chat.teams.cards.escape`: no
link and no tag can form in it. A page cut off mid-send may be sent twice: the Bot Connector cannot be asked what
the bot posted (as with Slack DMs).

Acknowledging (:class:`TeamsPageAcks`) goes through :meth:`warroom.response.oncall.ack.PageAcks.by_notification`
(``via="teams"``): the paged person acknowledges the incident and becomes its assignee, and the escalation stops.
The card is then shown again without its button, with the answer in its place.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warroom.adapters.errors import Permanent, Transient
from warroom.adapters.microsoft.connector import BotConnector, NotInRoster
from warroom.adapters.microsoft.graph import TeamsGraph, TeamsUser
from warroom.chat.teams import cards
from warroom.core.model import Incident, LinkKind
from warroom.response.oncall.ack import Acked, PageAcks
from warroom.response.oncall.messages import Page, headline
from warroom.settings import Settings
from warroom.store.db import Store

log = logging.getLogger("warroom.teams")

SYSTEM = "Teams"
#: ``data.warroom`` of the Acknowledge button on a page card.
PAGE_ACK = "page_ack"


def page_card(
    incident: Incident, notification_id: int, *, room_url: str | None = None, answer: Acked | None = None
) -> dict[str, Any]:
    """The page's Adaptive Card: with the Acknowledge button, or (``answer``) with the answer in its place."""
    head = f"📟 {headline(incident)}"
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "id": f"warroom-page-{notification_id}",
            "text": cards.escape(head),
            "wrap": True,
            "size": "Large",
            "weight": "Bolder",
            "style": "heading",
            "color": "Attention",
        },
    ]
    actions: list[dict[str, Any]] = []
    if answer is None:
        body.append(
            {
                "type": "TextBlock",
                "text": "You are paged. Acknowledge to stop the escalation: you become the incident's assignee.",
                "wrap": True,
            }
        )
        actions.append(
            {
                "type": "Action.Submit",
                "id": PAGE_ACK,
                "title": "Acknowledge",
                "style": "positive",
                "data": {"warroom": PAGE_ACK, "notification": notification_id},
            }
        )
    else:
        body.append(
            {
                "type": "TextBlock",
                "text": cards.escape(("✅ " if answer.ok else "") + answer.text),
                "wrap": True,
                "separator": True,
                "weight": "Bolder" if answer.ok else "Default",
                "color": "Good" if answer.ok else "Default",
            }
        )
    if room_url:
        actions.append(
            {"type": "Action.OpenUrl", "id": "open_war_room", "title": "Open war room", "url": room_url}
        )
    content: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": cards.SCHEMA,
        "version": cards.VERSION,
        "fallbackText": cards.escape(f"{head}. Acknowledge in the war room with @warroom ack."),
        "body": body,
    }
    if actions:
        content["actions"] = actions
    return content


def page_ack_of(data: Any) -> int | str | None:
    """The notification a page card's Acknowledge names (an int), a reason the data cannot be read (a str), or
    None when the data is not a page's."""
    if not isinstance(data, Mapping) or data.get("warroom") != PAGE_ACK:
        return None
    number = data.get("notification")
    if isinstance(number, str) and number.strip().isdigit():
        number = int(number)
    if isinstance(number, bool) or not isinstance(number, int) or number <= 0:
        return "That button names no page. Acknowledge in the war room with `@warroom ack`."
    return number


@dataclass
class TeamsPager:
    """On-call pages by Teams chat (:class:`warroom.response.oncall.notify.Sender`)."""

    settings: Settings
    store: Store
    graph: TeamsGraph
    connector: BotConnector

    async def send(self, page: Page) -> str | None:
        found = await self.graph.lookup_users([page.email])
        user = found.get(page.email.lower())
        if user is None:
            raise Permanent(SYSTEM, f"nobody in Teams has the address {page.email}")
        conversation = await self.open_chat(user)
        async with self.store.read() as tx:
            room = await tx.links.get(page.incident.id, LinkKind.TEAMS_CHANNEL)
        card = page_card(page.incident, page.id, room_url=room.url if room is not None else None)
        posted = await self.connector.send(conversation, cards.card_message(card))
        return posted.activity_id

    async def find(self, page: Page, since: datetime) -> str | None:
        return None  # the Bot Connector cannot be asked what the bot posted: a page cut off mid-send may go twice

    async def open_chat(self, user: TeamsUser) -> str:
        """The bot's 1:1 chat with the person, the app installed for them first when Teams asks for it."""
        try:
            return await self.connector.open_personal(user.id)
        except NotInRoster:
            pass
        app = self.settings.teams.catalog_app_id
        if not app:
            raise Permanent(
                SYSTEM,
                f"the warroom app is not installed for {user.email} in Teams, so the bot cannot chat with them: "
                "set teams.catalog_app_id (the app's id in the organisation's app catalog) to have warroom "
                "install it, or install it for them",
            )
        await self.graph.install_app_for_user(user.id, app)
        log.info("installed the warroom app for %s in Teams", user.email)
        try:
            return await self.connector.open_personal(user.id)
        except NotInRoster as exc:
            # Teams adds the bot to the person's scope shortly after the installation: the retry finds it there
            raise Transient(
                SYSTEM, f"the warroom app was installed for {user.email}; Teams has not added the bot yet"
            ) from exc


class TeamsPageAcks:
    """A page card's Acknowledge: the incident acknowledged as the paged person, and the card's new content."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.store = store
        self.acks = PageAcks(settings, store)

    async def acknowledge(self, notification_id: int) -> tuple[Acked, dict[str, Any] | None]:
        """The answer, and the card to show in place of the clicked one (None when the page is gone)."""
        done = await self.acks.by_notification(notification_id, via="teams")
        async with self.store.read() as tx:
            row = await tx.notifications.get(notification_id)
            incident = await tx.incidents.get(int(row["incident_id"])) if row is not None else None
            room = await tx.links.get(incident.id, LinkKind.TEAMS_CHANNEL) if incident is not None else None
        if incident is None:
            return done, None
        return done, page_card(
            incident, notification_id, room_url=room.url if room is not None else None, answer=done
        )
