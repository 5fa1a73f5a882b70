"""The AI responder's posts in Slack: rendering and delivery. The response layer (warroom.response.ai.jobs)
decides what to say; this is where it is said in Slack.

Rendering: the assistant's text is plain text with every mention and link that did not come from the incident's
own data made inert (warroom.ai.safety). Slack's mrkdwn would still read ``<…>`` sequences in it, so ``&``, ``<``
and ``>`` are escaped; the links that survived (the incident's own: war room, bridge, request, alert and change
links) are then written as Slack links, so that they stay readable and clickable (:data:`mrkdwn`). The postmortem
announcement has a "Create task" button per recommended follow-up (:data:`TASK_ACCEPT`, handled by the Slack app);
:func:`task_created` marks the clicked one done.

Delivery (:class:`AiPosts`, the outbox's handlers): ``ai.post`` (a line in the war room, in order with its other
lines; the postmortem announcement rendered as above) and ``ai.notify`` (a status update to one stakeholder, a DM
or a channel post). A retried post looks for its line first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from warroom.adapters.errors import Permanent
from warroom.adapters.ports import ChatPort
from warroom.chat.slack.blocks import escape, plain
from warroom.core import markup
from warroom.core.jobs import AI_NOTIFY, AI_POST
from warroom.core.model import LinkKind
from warroom.response import jobs
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job, NotReady

# ---------------------------------------------------------------------------------------------- rendering


#: action_id of the "Create task" button (its value is the task id).
TASK_ACCEPT = "task_accept"
#: A section's text may hold 3,000 characters.
SECTION_MAX = 2900

#: Neutralised plain text → mrkdwn: escaped, its surviving http(s) links written as Slack links.
mrkdwn = markup.with_links


def _cut(text: str, limit: int = SECTION_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def postmortem_message(
    ref: str, url: str | None, tasks: Sequence[Mapping[str, Any]], footer: str
) -> tuple[str, list[dict[str, Any]]]:
    """The war-room message that announces a postmortem draft: (fallback text, blocks). ``tasks`` are the stored
    follow-ups (id, title, details, status); a proposed one has a "Create task" button."""
    where = f"<{url}|Open the postmortem draft>" if url else "The draft is stored with the incident"
    proposed = sum(1 for t in tasks if t["status"] == "proposed")
    head = (
        f"📝 *Postmortem draft for {escape(ref)}*\n{where} — it is also linked on the incident card and in the "
        f"ITSM request."
    )
    if tasks:
        head += "\nRecommended follow-up actions" + (
            " — turn each into a post-incident task with its button:" if proposed else ":"
        )
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": _cut(head)}}]
    for n, task in enumerate(tasks[:20], 1):
        text = f"*{n}. {mrkdwn(str(task['title']))}*"
        if task.get("details"):
            text += f"\n{mrkdwn(str(task['details']))}"
        block: dict[str, Any] = {
            "type": "section",
            "block_id": f"task_{task['id']}",
            "text": {"type": "mrkdwn"},
        }
        if task["status"] == "proposed":
            block["accessory"] = {
                "type": "button",
                "action_id": TASK_ACCEPT,
                "text": plain("Create task"),
                "value": str(task["id"]),
            }
        else:
            text += f"\n✅ Post-incident task ({escape(str(task['status']))})"
        block["text"]["text"] = _cut(text)
        blocks.append(block)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(mrkdwn(footer), 1900)}]})
    fallback = (
        f"📝 Postmortem draft for {ref}"
        + (f": {url}" if url else "")
        + (f" — {len(tasks)} recommended follow-up actions" if tasks else "")
    )
    return fallback, blocks


def task_created(blocks: Sequence[Mapping[str, Any]], task_id: int, who: str) -> list[dict[str, Any]] | None:
    """The message's blocks with the clicked task's button replaced by who created it; None when the message
    has no such button (an old or foreign message)."""
    out: list[dict[str, Any]] = []
    found = False
    for block in blocks:
        accessory = block.get("accessory")
        if (
            isinstance(accessory, Mapping)
            and accessory.get("action_id") == TASK_ACCEPT
            and str(accessory.get("value")) == str(task_id)
        ):
            found = True
            text = dict(block.get("text") or {"type": "mrkdwn", "text": ""})
            text["text"] = _cut(f"{text.get('text', '')}\n✅ Task created by {who}")
            out.append({k: v for k, v in block.items() if k != "accessory"} | {"text": text})
        else:
            out.append(dict(block))
    return out if found else None


# ---------------------------------------------------------------------------------------------- delivery


@dataclass
class AiPosts:
    """The outbox's handlers for the AI responder's Slack jobs: ``ai.post`` and ``ai.notify``."""

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
            fallback, rendered = postmortem_message(
                str(postmortem.get("ref") or ""), postmortem.get("link"), postmortem.get("tasks") or [],
                str(postmortem.get("footer") or ""),
            )
            text = escape(fallback)
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
            f"📣 Status update on {incident.ref} ({escape(incident.priority or 'no priority')}, "
            f"{escape(incident.service)}): {escape(incident.title)}"
        )
        text = f"{head}\n{mrkdwn(str(job.payload.get('text') or ''))}{where}"
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
