r"""Adaptive Card renderings for Teams: the incident card (posted once, then edited in place) and war-room lines.

The card carries what the Slack card carries (:mod:`warroom.chat.slack.blocks`) — title, status, priority, service,
urgency, assignee, roles when there are any, the ITSM request with its status and SLA, the bridge, details — and
the buttons that still apply: Acknowledge (not once acknowledged or resolved), Resolve (not once resolved),
Reopen (only when resolved), Take Incident Commander (not once resolved) — none on a duplicate merged into another
incident — as ``Action.Submit`` with data
``{"warroom": "ack" | "resolve" | "reopen" | "take_ic", "incident": <id>}``; Join bridge and Open ITSM request as
``Action.OpenUrl``. Schema version 1.5, the highest most Teams clients render.

Everything from outside (titles from alerts, details, names, statuses from the ITSM) is untrusted. What Teams
renders as Markdown in a card's TextBlocks and Fact values is a small subset — ``**bold**``, ``_italic_``, ``- ``
and ``1. `` lists, ``[label](url)`` links (Microsoft's "Format cards in Teams"); headings, code, quotes and HTML are
shown as typed, and backslash escapes are not part of the subset (``INC\-1`` would show its backslash). So outside
text is sent as it is, except what could act: a ``](`` gets an invisible word joiner (U+2060) between its two
characters, so that no label can hide its target, and one after a ``<`` that could open a tag (``<at>``, the
mention tag), and NUL characters are dropped. Mentions also need an entity, which warroom never makes from outside
text. Message text (``textFormat: markdown``), which Teams renders as HTML, is escaped the same way: with the
joiner after its ``<``, no HTML tag can form (entities would not do: Markdown leaves them undecoded in code spans).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from warroom.core.model import Incident, Link, LinkKind, RoleHolder, Status
from warroom.core.tasks import label as task_label

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
STATUS_EMOJI = {Status.TRIGGERED: "🔴", Status.ACKNOWLEDGED: "🟠", Status.RESOLVED: "🟢"}
STATUS_COLOR = {Status.TRIGGERED: "Attention", Status.ACKNOWLEDGED: "Warning", Status.RESOLVED: "Good"}
DETAILS_MAX = 2000
#: U+2060 WORD JOINER: invisible, not whitespace — between ``]`` and ``(`` it keeps ``[label](url)`` from linking.
JOINER = "\u2060"
_LINK = re.compile(r"\]\s*\(")
#: warroom's own markup in a war-room line (warroom.core.markup): links, mentions, channels.
_MARKUP = re.compile(r"<(https?://[^|<>\s]+)(?:\|([^<>]*))?>|<@([A-Za-z0-9_.-]+)(?:\|([^<>]*))?>|<#([A-Za-z0-9]+)(?:\|([^<>]*))?>")


_TAG = re.compile(r"<(?=[A-Za-z/!?])")


def escape(text: str) -> str:
    """Untrusted text for a card's TextBlock or Fact value: shown as typed, but no link and no tag (``<at>``) can
    form in it."""
    text = text.replace("\r\n", "\n").replace("\x00", "")
    return _TAG.sub("<" + JOINER, _LINK.sub(lambda m: m.group(0)[0] + JOINER + m.group(0)[1:], text))


def from_line(line: str) -> str:
    """A war-room line (warroom.core.markup: escaped text with warroom's own links and mentions) as Teams message
    Markdown: its links as ``[label](url)``, mentions and channels by name, the rest escaped for Teams."""
    out: list[str] = []
    pos = 0
    for m in _MARKUP.finditer(line):
        out.append(escape(html.unescape(line[pos : m.start()])))
        url, label, user, user_name, _channel, channel_name = m.groups()
        if url:
            shown = escape(html.unescape(label)) if label else escape(url)
            out.append(f"[{shown.replace('[', '(').replace(']', ')')}]({url})")
        elif user:
            out.append(escape("@" + html.unescape(user_name or "someone")))
        else:
            out.append(escape("#" + html.unescape(channel_name or "channel")))
        pos = m.end()
    out.append(escape(html.unescape(line[pos:])))
    return "".join(out)


def card_key(incident: Incident) -> str:
    """The id the card's first element carries: how a posted card is recognised when it is read back."""
    return f"warroom-card-{incident.ref}"


def card(
    incident: Incident,
    links: Mapping[LinkKind, Link],
    *,
    request_status: str | None = None,
    roles: Sequence[tuple[str, RoleHolder]] = (),
    stakeholders: int = 0,
    open_tasks: int = 0,
) -> dict[str, Any]:
    """The incident card: an Adaptive Card (its ``fallbackText`` is the headline). ``roles`` are (label, holder)
    in the configured order, as for the Slack card."""
    prio = incident.priority or "no priority"
    headline = f"{STATUS_EMOJI[incident.status]} {incident.ref} · {prio} · {incident.title}"
    facts = [
        ("Status", incident.status.value.capitalize()),
        ("Priority", escape(prio)),
        ("Service", escape(incident.service)),
        ("Urgency", incident.urgency.value.capitalize()),
        ("Assignee", escape(incident.assignee or "unassigned")),
        ("Declared", f"{incident.created_at:%Y-%m-%d %H:%M} UTC"),
    ]
    for label, holder in roles:
        facts.append((escape(label), escape(holder.display)))
    if stakeholders:
        facts.append(("Stakeholders", f"{stakeholders} kept informed"))
    if open_tasks:
        facts.append(("Follow-up tasks", f"{open_tasks} open"))
    request = links.get(LinkKind.XURRENT_REQUEST)
    bridge = links.get(LinkKind.BRIDGE)
    comms: list[tuple[str, str]] = []
    if request is not None:
        status = request_status or str(request.data.get("status", ""))
        comms.append(
            ("ITSM request", f"#{escape(request.remote_id)}" + (f" ({escape(status)})" if status else ""))
        )
        sla = request.data.get("sla") or {}
        missed = [
            k.replace("_target_missed", "")
            for k in ("response_target_missed", "resolution_target_missed")
            if sla.get(k)
        ]
        if missed or sla.get("sla_breached"):
            comms.append(("SLA", f"⚠️ Xurrent SLA breached ({', '.join(missed) or 'target'})"))
        elif sla.get("resolution_target_at"):
            comms.append(("SLA", f"Resolve by {escape(str(sla['resolution_target_at']))}"))
    else:
        comms.append(("ITSM request", "being created…"))
    if bridge is not None:
        comms.append(
            ("Bridge", f"{escape(str(bridge.data.get('provider', 'bridge')).capitalize())} — join below")
        )
    else:
        comms.append(("Bridge", "starting…"))
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "id": card_key(incident),
            "text": escape(headline),
            "wrap": True,
            "size": "Large",
            "weight": "Bolder",
            "style": "heading",
            "color": STATUS_COLOR[incident.status],
        },
        {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]},
        {"type": "FactSet", "separator": True, "facts": [{"title": t, "value": v} for t, v in comms]},
    ]
    if incident.merged_into is not None:
        merged = f"🔀 Merged into INC-{incident.merged_into} as a duplicate."
        body.append({"type": "TextBlock", "text": merged, "wrap": True, "separator": True})
    if incident.details:
        details = (
            incident.details
            if len(incident.details) <= DETAILS_MAX
            else incident.details[: DETAILS_MAX - 1] + "…"
        )
        body.append({"type": "TextBlock", "text": escape(details), "wrap": True, "separator": True})
    body.append(
        {
            "type": "TextBlock",
            "text": f"warroom · {incident.ref} · updated {incident.updated_at:%H:%M:%S} UTC",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    return {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "fallbackText": escape(headline),  # plain text where cards are not shown; no link can form in it either
        "body": body,
        "actions": _actions(incident, request, bridge, links.get(LinkKind.POSTMORTEM)),
    }


def _actions(
    incident: Incident, request: Link | None, bridge: Link | None, postmortem: Link | None = None
) -> list[dict[str, Any]]:
    def submit(verb: str, title: str, style: str | None = None) -> dict[str, Any]:
        action: dict[str, Any] = {
            "type": "Action.Submit",
            "id": verb,
            "title": title,
            "data": {"warroom": verb, "incident": incident.id},
        }
        if style:
            action["style"] = style
        return action

    actions: list[dict[str, Any]] = []
    if incident.merged_into is not None:
        pass  # a duplicate is acted on through the incident it was merged into
    elif incident.status is Status.RESOLVED:
        actions.append(submit("reopen", "Reopen"))
    else:
        if incident.status is Status.TRIGGERED:
            actions.append(submit("ack", "Acknowledge", "positive"))
        actions.append(submit("resolve", "Resolve"))
        # shown while someone holds the role too: taking it is how command is handed over
        actions.append(submit("take_ic", "Take Incident Commander"))
    if bridge is not None and bridge.url:
        actions.append(
            {
                "type": "Action.OpenUrl",
                "id": "join_bridge",
                "title": "Join bridge",
                "url": bridge.url,
                "style": "positive",
            }
        )
    if request is not None and request.url:
        actions.append(
            {"type": "Action.OpenUrl", "id": "open_request", "title": "Open ITSM request", "url": request.url}
        )
    if postmortem is not None and postmortem.url:
        actions.append({"type": "Action.OpenUrl", "id": "open_postmortem", "title": "Postmortem", "url": postmortem.url})
    return actions


def attachment(content: Mapping[str, Any]) -> dict[str, Any]:
    """A card as a message attachment."""
    return {"contentType": CONTENT_TYPE, "content": dict(content)}


def card_message(
    content: Mapping[str, Any], *, mentions: Sequence[tuple[str, str]] = (), intro: str = ""
) -> dict[str, Any]:
    """The message activity that carries the card; with ``mentions`` ((object id, display name) pairs) a line
    above it @mentions those people (Teams notifies them), e.g. the responders of a standard channel."""
    activity: dict[str, Any] = {
        "type": "message",
        "attachments": [attachment(content)],
        "summary": str(content.get("fallbackText", ""))[:200],  # the notification's preview: plain text
    }
    if mentions:
        text, entities = mention_text(mentions)
        activity.update(
            {"text": f"{text} {escape(intro)}".strip(), "textFormat": "markdown", "entities": entities}
        )
    return activity


def mention_text(people: Sequence[tuple[str, str]]) -> tuple[str, list[dict[str, Any]]]:
    """``<at>Name</at>, <at>Name</at>`` and the mention entities that make Teams notify those people."""
    tags: list[str] = []
    entities: list[dict[str, Any]] = []
    for user_id, name in people:
        tag = f"<at>{html.escape(name, quote=False)}</at>"
        tags.append(tag)
        entities.append({"type": "mention", "text": tag, "mentioned": {"id": user_id, "name": name}})
    return ", ".join(tags), entities


def line_message(text: str, *, line: bool = False) -> dict[str, Any]:
    """A message activity: plain ``text`` escaped for Teams, or (``line``) a war-room line in warroom's markup."""
    return {"type": "message", "text": from_line(text) if line else escape(text), "textFormat": "markdown"}


def card_facts(content: Mapping[str, Any]) -> str:
    """All text of a card, flattened and unescaped (for the demo printout and tests)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "value", "url"):
                if isinstance(node.get(key), str):
                    out.append(node[key].replace(JOINER, ""))
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(content.get("body", []))
    walk(content.get("actions", []))
    return "\n".join(out)


def unescape(text: str) -> str:
    """Text as a person reads it in Teams (for the demo printout, tests and comparisons): links shown as their
    labels, joiners dropped."""
    text = re.sub(r"\[([^\]]*)\]\((https?://[^)\s]+)\)", r"\1", text)  # a broken link has a joiner: shown as is
    return text.replace(JOINER, "")


# -- a post-incident task's card ----------------------------------------------------------------------------
TASK_START, TASK_DONE = "task_start", "task_done"


def task_card(task: Mapping[str, Any], number: int, incident_ref: str, *, due: str = "") -> dict[str, Any]:
    """A post-incident task's small card in the Teams war room: its number, title (outside text, escaped as on the
    incident card), status, owner and due date, with Start and Done while it is open — as the Slack one."""
    status = str(task["status"])
    headline = f"📝 Task {number} of {incident_ref}: {task['title']}"
    facts = [("Status", task_label(status)),
             ("Owner", escape(str(task["owner"])) if task.get("owner") else "nobody yet"),
             ("Due", due or "no date")]
    if status == "wont_do" and task.get("closed_reason"):
        facts.append(("Why not", escape(str(task["closed_reason"])[:500])))
    actions: list[dict[str, Any]] = []
    data = {"task": int(task["id"])}
    if status in ("todo", "proposed"):
        actions.append({"type": "Action.Submit", "id": TASK_START, "title": "Start",
                        "data": {"warroom": TASK_START, **data}})
    if status in ("todo", "in_progress", "proposed"):
        actions.append({"type": "Action.Submit", "id": TASK_DONE, "title": "Done", "style": "positive",
                        "data": {"warroom": TASK_DONE, **data}})
    return {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "fallbackText": escape(headline[:300]),
        "body": [
            {"type": "TextBlock", "text": escape(headline), "wrap": True, "weight": "Bolder"},
            {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]},
        ],
        "actions": actions,
    }
