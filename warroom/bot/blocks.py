"""Block Kit renderings: the incident card (posted once, pinned, then edited in place) and war-room lines.

Everything from outside (titles from alerts, details) is untrusted: it is escaped for Slack's mrkdwn so that it
cannot mention @channel, a user or a group, nor fake a link.
"""

from __future__ import annotations

from typing import Any

from warroom.core.model import Incident, Link, LinkKind, Status

STATUS_EMOJI = {Status.TRIGGERED: "🔴", Status.ACKNOWLEDGED: "🟠", Status.RESOLVED: "🟢"}
CARD_EVENT = "warroom_incident_card"


def escape(text: str) -> str:
    """Slack mrkdwn escaping: &, <, > — which also defuses <!channel>, <@U…> and <url|label>."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": (text[: limit - 1] + "…") if len(text) > limit else text, "emoji": True}


def card(incident: Incident, links: dict[LinkKind, Link], *, request_status: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The incident card: (fallback text, blocks)."""
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
    if incident.details:
        details = escape(incident.details)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": details[:2900]}})
    buttons: list[dict[str, Any]] = []
    if bridge is not None and bridge.url:
        buttons.append({"type": "button", "action_id": "join_bridge", "text": plain("Join bridge"), "url": bridge.url, "style": "primary"})
    if request is not None and request.url:
        buttons.append({"type": "button", "action_id": "open_request", "text": plain("Open ITSM request"), "url": request.url})
    if buttons:
        blocks.append({"type": "actions", "block_id": "incident_links", "elements": buttons})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"warroom · {incident.ref} · updated {incident.updated_at:%H:%M:%S} UTC"}]})
    return headline, blocks


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
