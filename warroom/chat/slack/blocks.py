"""Block Kit renderings: the incident card (posted once, pinned, then edited in place) and war-room lines.

Everything from outside (titles from alerts, details) is untrusted: it is escaped for Slack's mrkdwn so that it
cannot mention @channel, a user or a group, nor fake a link.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from warroom.core import markup
from warroom.core.model import Incident, Link, LinkKind, RoleHolder, Status
from warroom.core.tasks import label as task_label

STATUS_EMOJI = {Status.TRIGGERED: "🔴", Status.ACKNOWLEDGED: "🟠", Status.RESOLVED: "🟢"}
CARD_EVENT = "warroom_incident_card"


#: Slack mrkdwn escaping: &, <, > — which also defuses <!channel>, <@U…> and <url|label> (the war-room line
#: format is this subset of mrkdwn, so Slack posts lines as they are).
escape = markup.escape


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": (text[: limit - 1] + "…") if len(text) > limit else text, "emoji": True}


#: action_id of the card's buttons that act on the incident (their value is the incident id).
ACK, RESOLVE, REOPEN, TAKE_COMMANDER = "incident_ack", "incident_resolve", "incident_reopen", "incident_take_commander"
#: action_id of the Acknowledge button of an on-call page (a DM; its value is the notification id).
PAGE_ACK = "oncall_page_ack"
#: action_id of the card's link buttons (Slack still sends an interaction when they are clicked).
LINK_BUTTONS = ("join_bridge", "open_request", "open_postmortem")


def holder_text(holder: RoleHolder) -> str:
    """A role holder on the card: a Slack mention when they are a Slack user, else their name, escaped."""
    if holder.chat_user and holder.chat_user.startswith("slack:"):
        return f"<@{holder.chat_user.removeprefix('slack:')}>"
    return escape(holder.display)


def card(
    incident: Incident,
    links: dict[LinkKind, Link],
    *,
    request_status: str | None = None,
    roles: Sequence[tuple[str, RoleHolder]] = (),
    stakeholders: int = 0,
    open_tasks: int = 0,
) -> tuple[str, list[dict[str, Any]]]:
    """The incident card: (fallback text, blocks). ``roles`` are (label, holder) in the configured order;
    ``open_tasks``: how many of its post-incident tasks are still to be done (shown when some are)."""
    prio = incident.priority or "no priority"
    headline = f"{STATUS_EMOJI[incident.status]} {incident.ref} · {prio} · {incident.title}"
    fields = [
        f"*Status*\n{incident.status.value.capitalize()}",
        f"*Priority*\n{escape(prio)}",
        f"*Service*\n{escape(incident.service)}",
        f"*Urgency*\n{incident.urgency.value.capitalize()}",
        f"*Assignee*\n{escape(incident.assignee or 'unassigned')}",
        f"*Declared*\n<!date^{int(incident.created_at.timestamp())}^{{date_short_pretty}} {{time}}|{incident.created_at:%Y-%m-%d %H:%M} UTC>",
    ]
    request = links.get(LinkKind.XURRENT_REQUEST)
    bridge = links.get(LinkKind.BRIDGE)
    if request is not None:
        status = request_status or str(request.data.get("status", ""))
        itsm_line = f"*ITSM request*\n<{request.url}|#{request.remote_id}>" + (f" ({escape(status)})" if status else "")
        sla = request.data.get("sla") or {}
        missed = [k.replace("_target_missed", "") for k in ("response_target_missed", "resolution_target_missed") if sla.get(k)]
        if missed or sla.get("sla_breached"):
            itsm_line += f"\n⚠️ Xurrent SLA breached ({', '.join(missed) or 'target'})"
        elif sla.get("resolution_target_at"):
            itsm_line += f"\nXurrent SLA: resolve by {escape(str(sla['resolution_target_at']))}"
    else:
        itsm_line = "*ITSM request*\n_being created…_"
    if bridge is not None:
        bridge_line = f"*Bridge*\n<{bridge.url}|Join {escape(str(bridge.data.get('provider', 'bridge')).capitalize())}>"
    else:
        bridge_line = "*Bridge*\n_starting…_"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(headline)},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": itsm_line}, {"type": "mrkdwn", "text": bridge_line}]},
    ]
    if roles or stakeholders or open_tasks:
        lines = [f"*{escape(label)}*: {holder_text(holder)}" for label, holder in roles]
        if stakeholders:
            lines.append(f"*Stakeholders*: {stakeholders} kept informed")
        if open_tasks:
            lines.append(f"*Follow-up tasks*: {open_tasks} open (`/incident tasks`)")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:2900]}})
    if incident.merged_into is not None:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": f"🔀 Merged into INC-{incident.merged_into} as a duplicate."}})
    if incident.details:
        details = escape(incident.details)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": details[:2900]}})
    actions: list[dict[str, Any]] = []
    value = str(incident.id)
    if incident.merged_into is None:
        if incident.status is Status.TRIGGERED:
            actions.append({"type": "button", "action_id": ACK, "text": plain("Acknowledge"), "value": value,
                            "style": "primary"})
        if incident.status is not Status.RESOLVED:
            actions.append({"type": "button", "action_id": RESOLVE, "text": plain("Resolve"), "value": value,
                            "confirm": {"title": plain("Resolve the incident?"),
                                        "text": {"type": "mrkdwn", "text": f"{incident.ref} and its ITSM request are closed."},
                                        "confirm": plain("Resolve"), "deny": plain("Not yet")}})
            # shown while someone holds the role too: taking it is how command is handed over
            actions.append({"type": "button", "action_id": TAKE_COMMANDER, "text": plain("Take Incident Commander"),
                            "value": value})
        else:
            actions.append({"type": "button", "action_id": REOPEN, "text": plain("Reopen"), "value": value})
    if actions:
        blocks.append({"type": "actions", "block_id": "incident_actions", "elements": actions})
    buttons: list[dict[str, Any]] = []
    if bridge is not None and bridge.url:
        buttons.append({"type": "button", "action_id": "join_bridge", "text": plain("Join bridge"), "url": bridge.url, "style": "primary"})
    if request is not None and request.url:
        buttons.append({"type": "button", "action_id": "open_request", "text": plain("Open ITSM request"), "url": request.url})
    postmortem = links.get(LinkKind.POSTMORTEM)
    if postmortem is not None and postmortem.url:
        buttons.append({"type": "button", "action_id": "open_postmortem", "text": plain("Postmortem"), "url": postmortem.url})
    if buttons:
        blocks.append({"type": "actions", "block_id": "incident_links", "elements": buttons})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"warroom · {incident.ref} · updated {incident.updated_at:%H:%M:%S} UTC"}]})
    return escape(headline), blocks  # the notification text: mrkdwn, so escaped like every line


def card_facts(blocks: list[dict[str, Any]]) -> str:
    """All text of a card, flattened (for the demo printout and tests)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
                out.append(str(node["text"]))
            if "url" in node:
                out.append(str(node["url"]))
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(out)


# -- a post-incident task's card ----------------------------------------------------------------------------
TASK_CARD_EVENT = "warroom_task_card"
TASK_START, TASK_DONE = "task_start", "task_done"


def task_card(task: Mapping[str, Any], number: int, incident_ref: str, *, due: str = "") -> tuple[str, list[dict[str, Any]]]:
    """A post-incident task's small card in the war room: (fallback text, blocks) — its number, title (escaped),
    status, owner and due date (``due``: as warroom.response.tasks.due_text says it), with Start and Done while it
    is open."""
    status = str(task["status"])
    title = escape(str(task["title"]))
    head = f"📝 Task {number} of {incident_ref}: {title}"
    facts = [f"*Status*: {task_label(status)}", f"*Owner*: {escape(str(task['owner'])) if task.get('owner') else 'nobody yet'}",
             f"*Due*: {due or 'no date'}"]
    if status == "wont_do" and task.get("closed_reason"):
        facts.append(f"*Why not*: {escape(str(task['closed_reason']))[:500]}")
    out: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head[:2900]}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(facts)[:2900]}]},
    ]
    value = str(task["id"])
    buttons: list[dict[str, Any]] = []
    if status in ("todo", "proposed"):
        buttons.append({"type": "button", "action_id": TASK_START, "text": plain("Start"), "value": value})
    if status in ("todo", "in_progress", "proposed"):
        buttons.append({"type": "button", "action_id": TASK_DONE, "text": plain("Done"), "value": value,
                        "style": "primary"})
    if buttons:
        out.append({"type": "actions", "block_id": f"task_actions_{value}", "elements": buttons})
    return head[:3000], out
