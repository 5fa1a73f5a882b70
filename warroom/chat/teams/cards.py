"""Adaptive Card renderings for Teams: the incident card (posted once, then edited in place) and war-room lines.

The card carries what the Slack card carries (:mod:`warroom.chat.slack.blocks`) — title, status, priority, service,
urgency, assignee, roles when there are any, the ITSM request with its status and SLA, the bridge, details — and
the buttons that still apply: Acknowledge (not once acknowledged or resolved), Resolve (not once resolved),
Reopen (only when resolved), Take Incident Commander (not once resolved) — none on a duplicate merged into another
incident — as ``Action.Submit`` with data
``{"warroom": "ack" | "resolve" | "reopen" | "take_ic", "incident": <id>}``; Join bridge and Open ITSM request as
``Action.OpenUrl``. Schema version 1.5, the highest most Teams clients render.

Everything from outside (titles from alerts, details, names, statuses from the ITSM) is untrusted: it is escaped
for the card's Markdown (CommonMark backslash escapes), so that it can neither format, nor fake a link, nor spell a
mention (``<at>…</at>``).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

from warroom.core.model import Incident, Link, LinkKind, RoleHolder, Status

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
STATUS_EMOJI = {Status.TRIGGERED: "🔴", Status.ACKNOWLEDGED: "🟠", Status.RESOLVED: "🟢"}
STATUS_COLOR = {Status.TRIGGERED: "Attention", Status.ACKNOWLEDGED: "Warning", Status.RESOLVED: "Good"}
DETAILS_MAX = 2000
#: Characters with a meaning in Markdown (and ``<``, which opens mentions and HTML).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")


def escape(text: str) -> str:
    """Untrusted text made literal in Adaptive Card (and Teams message) Markdown: every character that could
    start formatting, a link, a list or a mention is backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", text.replace("\r\n", "\n").replace("\x00", ""))


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
        merged = f"🔀 Merged into {escape(f'INC-{incident.merged_into}')} as a duplicate{escape('.')}"
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
        "fallbackText": escape(headline),
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
        "summary": unescape(str(content.get("fallbackText", "")))[:200],
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


def line_message(text: str) -> dict[str, Any]:
    """A war-room line (untrusted parts escaped) as a message activity."""
    return {"type": "message", "text": escape(text), "textFormat": "markdown"}


def card_facts(content: Mapping[str, Any]) -> str:
    """All text of a card, flattened and unescaped (for the demo printout and tests)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("text", "title", "value", "url"):
                if isinstance(node.get(key), str):
                    out.append(unescape(node[key]))
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
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|<>~])", r"\1", text)
