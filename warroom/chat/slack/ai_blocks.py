"""The AI responder's posts in Slack: its (already neutralised) plain text made into mrkdwn that Slack cannot
re-interpret, and the postmortem message with a "Create task" button per recommended follow-up.

The assistant's text is plain text with every mention and link that did not come from the incident's own data
made inert (warroom.ai.safety). Slack's mrkdwn would still read ``<…>`` sequences in it, so ``&``, ``<`` and ``>``
are escaped; the links that survived (the incident's own: war room, bridge, request, alert and change links) are
then written as Slack links, so that they stay readable and clickable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from warroom.chat.slack.blocks import escape, plain
from warroom.core import markup

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
