"""The AI responder's posts in Slack: ``ai.post`` (a line in the war room, in order with its other lines; the
postmortem announcement rendered with a "Create task" button per follow-up) and ``ai.notify`` (a status update to
one stakeholder, a DM or a channel post). The response layer (warroom.response.ai.jobs) decides what to say; this
is where it is said in Slack. A retried post looks for its line first.
"""

from __future__ import annotations

from dataclasses import dataclass

from warroom.adapters.errors import Permanent
from warroom.adapters.ports import ChatPort
from warroom.chat.slack import ai_blocks, blocks
from warroom.core.jobs import AI_NOTIFY, AI_POST
from warroom.core.model import LinkKind
from warroom.response import jobs
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job, NotReady


@dataclass
class AiPosts:
    store: Store
    chat: ChatPort

    def handlers(self) -> dict[str, Handler]:
        return {AI_POST: self.post, AI_NOTIFY: self.notify}

    async def post(self, job: Job) -> Commit | None:
        incident_id = job.incident
        async with self.store.read() as tx:
            links = await tx.links.all(incident_id)
        channel = links.get(LinkKind.SLACK_CHANNEL)
        if channel is None:
            raise NotReady("warroom", "the war-room channel does not exist yet")
        chat = self.chat
        key = f"ai-{job.id}"
        if job.is_retry and await chat.find_message(channel.remote_id, "warroom_line", key) is not None:
            return None
        text, rendered = str(job.payload.get("text") or ""), job.payload.get("blocks")  # "blocks": jobs of 0.1
        postmortem = job.payload.get("postmortem")
        if isinstance(postmortem, dict):
            fallback, rendered = ai_blocks.postmortem_message(
                str(postmortem.get("ref") or ""), postmortem.get("link"), postmortem.get("tasks") or [],
                str(postmortem.get("footer") or ""),
            )
            text = blocks.escape(fallback)
        await chat.post_message(
            channel.remote_id,
            text,
            blocks=rendered if isinstance(rendered, list) else None,
            metadata={"event_type": "warroom_line", "event_payload": {"key": key}},
        )
        return None

    async def notify(self, job: Job) -> Commit | None:
        """A status update to one stakeholder: a DM (a person, found by email too) or a channel post."""
        incident_id = job.incident
        kind, ref = str(job.payload.get("kind")), str(job.payload.get("ref"))
        async with self.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
            channel = await tx.links.get(incident_id, LinkKind.SLACK_CHANNEL)
        if incident is None:
            return None
        chat = self.chat
        target = ref.removeprefix("slack:")
        if kind == "email":
            found = await chat.lookup_users([ref])
            if ref not in found:
                return None
            target = found[ref]
        elif not ref.startswith("slack:"):
            return None
        where = f"\nWar room: <#{channel.remote_id}>" if channel is not None else ""
        head = (
            f"📣 Status update on {incident.ref} ({blocks.escape(incident.priority or 'no priority')}, "
            f"{blocks.escape(incident.service)}): {blocks.escape(incident.title)}"
        )
        text = f"{head}\n{ai_blocks.mrkdwn(str(job.payload.get('text') or ''))}{where}"
        try:
            await chat.post_message(target, text)
        except Permanent as exc:
            reason = exc.reason

            async def tell(tx: Tx) -> None:
                hint = " Invite the warroom app to that channel." if "not_in_channel" in reason else ""
                await jobs.say(
                    tx, incident_id, f"⚠️ The status update could not reach stakeholder {ref}: {reason}.{hint}"
                )

            return tell
        return None
