"""Each post-incident task's small card in the Teams war room (warroom.chat.teams.cards.task_card), posted when the
task is created and edited in place whenever it changes — from chat, its buttons, or the RFC sync
(``warroom.response.jobs.task_card_changed`` enqueues ``teams.task_card``, coalesced per task, one at a time per
incident).

The Bot Connector cannot be asked what the bot posted, so the cards' activity ids are kept in one link of the
incident (``LinkKind.TEAMS_TASK_CARDS``); a job cut short between posting and recording may post a card twice, and
the later one is the card edited from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warroom.adapters.microsoft.connector import BotConnector
from warroom.chat.teams import cards
from warroom.core.model import LinkKind
from warroom.response import jobs
from warroom.response.tasks import card_state
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job, NotReady

SYSTEM = "warroom"


@dataclass
class TeamsTaskCards:
    store: Store
    connector: BotConnector

    def handlers(self) -> dict[str, Handler]:
        return {jobs.TEAMS_TASK_CARD: self.show}

    async def show(self, job: Job) -> Commit | None:
        task_id = int(job.payload.get("task") or 0)
        async with self.store.read() as tx:
            state = await card_state(tx, task_id)
            if state is None:
                return None
            links = await tx.links.all(state.incident.id)
        task, incident_id = state.task, state.incident.id
        room = links.get(LinkKind.TEAMS_CHANNEL)
        if room is None:
            raise NotReady(SYSTEM, "the Teams war room does not exist yet")
        if room.data.get("archived"):
            return None  # an archived room keeps its cards as they were
        card = cards.task_card(task, state.number, state.incident.ref, due=state.due)
        activity = cards.card_message(card)
        service_url = str(room.data.get("service_url") or "") or None
        known = links.get(LinkKind.TEAMS_TASK_CARDS)
        posted: dict[str, Any] | None = (known.data.get("cards") or {}).get(str(task_id)) if known else None
        if posted is not None:
            await self.connector.update(str(posted["conversation"]), str(posted["activity"]), activity,
                                        service_url=str(posted.get("service_url") or "") or None)
            return None
        if room.data.get("kind") == "channel":
            sent = await self.connector.start_thread(room.remote_id, activity, service_url=service_url)
        else:
            sent = await self.connector.send(room.remote_id, activity, service_url=service_url)

        async def remember(tx: Tx) -> None:
            current = await tx.links.get(incident_id, LinkKind.TEAMS_TASK_CARDS)
            kept = dict((current.data.get("cards") or {}) if current else {})
            kept[str(task_id)] = {"activity": sent.activity_id, "conversation": sent.conversation_id,
                                  "service_url": sent.service_url}
            await tx.links.put(incident_id, LinkKind.TEAMS_TASK_CARDS, room.remote_id, None, {"cards": kept})

        return remember
