"""Each post-incident task's small card in the Slack war room (warroom.chat.slack.blocks.task_card), posted when the
task is created and edited in place whenever it changes — from chat, its buttons, or the RFC sync
(``warroom.response.jobs.task_card_changed`` enqueues the ``warroom.task_card`` job, coalesced per task).

The card carries message metadata (``warroom_task_card``, key = the task id), so the job finds the card it posted
before (an earlier run, or an attempt cut short after posting) instead of posting a second one.
"""

from __future__ import annotations

from dataclasses import dataclass

from warroom.adapters.ports import ChatPort
from warroom.chat.slack import blocks
from warroom.core.model import LinkKind
from warroom.response import jobs
from warroom.response.tasks import card_state
from warroom.store.db import Store
from warroom.store.outbox import Commit, Handler, Job, NotReady


@dataclass
class TaskCards:
    store: Store
    chat: ChatPort

    def handlers(self) -> dict[str, Handler]:
        return {jobs.TASK_CARD: self.show}

    async def show(self, job: Job) -> Commit | None:
        task_id = int(job.payload.get("task") or 0)
        async with self.store.read() as tx:
            state = await card_state(tx, task_id)
            if state is None:
                return None
            channel = await tx.links.get(state.incident.id, LinkKind.SLACK_CHANNEL)
        task = state.task
        if channel is None:
            raise NotReady("warroom", "the war-room channel does not exist yet")
        if channel.data.get("archived"):
            return None  # an archived room keeps its cards as they were
        text, card = blocks.task_card(task, state.number, state.incident.ref, due=state.due)
        created = task["created_at"]
        oldest = created.timestamp() - 60 if created.tzinfo is not None else None
        posted = await self.chat.find_message(channel.remote_id, blocks.TASK_CARD_EVENT, str(task_id), oldest=oldest)
        if posted is None:
            await self.chat.post_message(channel.remote_id, text, blocks=card, metadata={
                "event_type": blocks.TASK_CARD_EVENT, "event_payload": {"key": str(task_id)},
            })
        else:
            await self.chat.update_message(channel.remote_id, posted.ts, text, blocks=card)
        return None
