"""``warroom demo --chat teams``: the whole major incident in Teams form — SQLite, the sandbox emulators, no accounts.

An Alertmanager alert opens the war room in Microsoft Teams (a channel in the service's team, the responders
mentioned, the incident card, a Teams meeting as the bridge, the linked Xurrent request); then people work it from
Teams through the real bot endpoint, with activities signed as the Bot Framework signs them: ``@warroom ack``, the
card's "Take Incident Commander" button, a chat message captured on the timeline, ``@warroom note``, and
``@warroom resolve``, while the Xurrent request follows. Exit status 0 when everything happened, 1 with the reason.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.teams.client import Conversation, Sent, TeamsClientEmulator
from warroom.sandbox.world import Latencies, World

#: Latencies that make the fan-out's parallelism visible without making the demo slow.
DEMO_LATENCIES = Latencies(xurrent=0.12, zoom=0.15, webex=0.15, teams=0.05)


def _say(text: str = "") -> None:
    print(text, flush=True)


def _teams_form(client: TeamsClientEmulator) -> Any:
    def tweak(data: dict[str, Any]) -> None:
        data["slack"]["enabled"] = False
        data["teams"].update(enabled=True, auth_enabled=True, openid_metadata_url=client.openid_metadata_url)
        for service in data["services"]:
            service["chat"] = "teams"
            service["bridge"] = "teams"

    return tweak


async def run_teams_demo(*, timeout: float = 30.0, latencies: Latencies = DEMO_LATENCIES) -> int:
    with tempfile.TemporaryDirectory(prefix="warroom-demo-") as tmp:
        world = await World.start(latencies)
        teams = world.teams
        client = TeamsClientEmulator(
            app_id=teams.tenant.app_id, service_url=teams.connector.service_url, tenant=teams.tenant
        )
        await client.start()
        try:
            h = await Harness.start(
                f"sqlite+aiosqlite:///{Path(tmp) / 'warroom.db'}", world=world, tweak=_teams_form(client)
            )
        except BaseException:
            await client.stop()
            await world.stop()
            raise
        client.bot_url = f"{h.base_url}/api/messages"
        try:
            return await _story(h, client, timeout)
        finally:
            await client.stop()
            await h.stop()


async def _story(h: Harness, client: TeamsClientEmulator, timeout: float) -> int:
    teams = h.world.teams
    _say(
        "warroom demo, Teams form — SQLite, sandbox emulators for Teams (Graph, Bot Connector, the Teams client),"
    )
    _say(
        "Xurrent and the bridges; every Teams activity is signed (RS256) and checked by the bot at /api/messages"
    )
    _say(
        f"  server   {h.base_url}   graph {teams.graph.base_url}   bot connector {teams.connector.service_url}"
    )
    _say()
    payload = alertmanager_payload(
        [
            {
                "labels": {
                    "alertname": "CheckoutErrorRate",
                    "service": "checkout-api",
                    "severity": "critical",
                    "env": "prod",
                },
                "annotations": {
                    "summary": "5xx rate on /checkout above 12% for 5 minutes",
                    "description": "Error ratio 0.12 (threshold 0.05) on checkout-api in eu-west-1.",
                },
            }
        ]
    )
    started = time.monotonic()
    _say("1. Alertmanager → POST /alerts/alertmanager (one critical alert)")
    body = (await h.post_alerts(payload)).json()
    if not body.get("incidents"):
        _say(f"FAILED: the alert did not declare an incident: {body}")
        return 1
    incident_id = int(body["incidents"][0])
    gaps = await h.wait_complete(incident_id, timeout=timeout)
    if gaps:
        _say(f"FAILED: the Teams war room is not complete after {timeout:.0f}s; missing: {', '.join(gaps)}")
        return 1
    _say(
        f"   INC-{incident_id} declared; Teams war room complete {time.monotonic() - started:.2f}s after the alert"
    )
    async with h.runtime.store.read() as tx:
        links = await tx.links.all(incident_id)
    channel = teams.tenant.channels[links[LinkKind.TEAMS_CHANNEL].remote_id]
    room = Conversation.channel(channel["id"])
    card_id = links[LinkKind.TEAMS_CARD].remote_id
    _say()
    _say(
        f'2. The war room: channel "{channel["displayName"]}" ({channel["membershipType"]}) in team '
        f'"{teams.tenant.teams[channel["teamId"]]["displayName"]}"'
    )
    card = _card(h, room, card_id)
    _say(
        f"   incident card (Adaptive Card {card.get('version')}), buttons: "
        + ", ".join(a["title"] for a in card.get("actions", []))
    )
    for line in _facts(card):
        _say(f"      | {line}")
    request = _request(h, incident_id)
    _say(
        f"   Xurrent request #{request['id']}: {request['status']}, impact {request['impact']}, "
        f"member {(request.get('member') or {}).get('name')}"
    )
    _say()

    ana, ben = client.person("ana@example.com"), client.person("ben@example.com")
    _say("3. People work the incident from Teams:")
    if not await _step(h, incident_id, room, "Ana: @warroom ack", await client.say(room, ana, "ack")):
        return 1
    take_ic = next(
        a["data"] for a in _card(h, room, card_id)["actions"] if a.get("data", {}).get("warroom") == "take_ic"
    )
    if not await _step(
        h,
        incident_id,
        room,
        "Ben presses “Take Incident Commander” on the card",
        await client.submit(room, ben, take_ic, card_id=card_id),
    ):
        return 1
    chat = await client.say(room, ben, "rolling back checkout deploy 2026.11.22-3 now", to_bot=False)
    _say(f"   Ben (a plain message, HTTP {chat.status}): captured on the timeline as discussion")
    if not await _step(
        h,
        incident_id,
        room,
        "Ana: @warroom note error rate back under 1% after the rollback",
        await client.say(room, ana, "note error rate back under 1% after the rollback"),
    ):
        return 1
    if not await _step(
        h,
        incident_id,
        room,
        "Ana: @warroom resolve rolled back the deploy",
        await client.say(room, ana, "resolve rolled back the deploy"),
    ):
        return 1
    forged = await client.say(room, ana, "reopen", auth=f"Bearer {client.token(audience='another-bot')}")
    _say(f"   a forged activity (token for another bot): HTTP {forged.status}, nothing applied")
    await _settle(h)
    _say()

    request = _request(h, incident_id)
    async with h.runtime.store.read() as tx:
        incident = await tx.incidents.get(incident_id)
        events = await tx.timeline.for_incident(incident_id)
    discussion = [e.text for e in events if e.kind == "discussion"]
    _say("4. Both records after the work in Teams:")
    _say(
        f"   INC-{incident_id}: {incident.status.value if incident else '?'}, assignee "
        f"{incident.assignee if incident else '?'}; timeline discussion: {discussion}"
    )
    notes = [str(n["text"]) for n in h.world.xurrent.notes(request["id"])]
    closing = "rolled back the deploy" in notes
    _say(
        f"   Xurrent request #{request['id']}: {request['status']}/{request.get('completion_reason')}, "
        f"{len(notes)} notes, the closing note among them: {'yes' if closing else 'NO'}"
    )
    card = _card(h, room, card_id)
    _say(
        "   card now: "
        + next((line for line in _facts(card) if "Resolved" in line), "?")
        + "; buttons: "
        + ", ".join(a["title"] for a in card.get("actions", []))
    )
    ok = (
        incident is not None
        and incident.status.value == "resolved"
        and request["status"] == "completed"
        and request.get("completion_reason") == "solved"
        and forged.status == 401
        and bool(discussion)
        and closing
    )
    if not ok:
        _say("FAILED: the incident, its request and the war room did not end as they should")
        return 1
    _say()
    _say(
        "demo complete: the major incident ran in Teams — war room, card, bridge and commands — and the Xurrent"
    )
    _say("request followed every change.")
    return 0


async def _settle(h: Harness) -> None:
    for _ in range(3):
        await h.world.xurrent.webhooks.settle()
        await h.runtime.worker.run_until_idle(timeout=15)


async def _step(h: Harness, incident_id: int, room: Conversation, what: str, sent: Sent) -> bool:
    """Print what a person did, the bot's reply in the thread and where the Xurrent request is after the sync."""
    threads = (sent.id, sent.activity.get("replyToId"))
    replies = [
        m
        for m in h.world.teams.connector.posted(room.id)
        if m.app_id == h.world.teams.tenant.app_id and m.reply_to in threads
    ]
    text = str(replies[-1].activity.get("text")) if replies else "(no reply)"
    _say(f"   {what}  →  HTTP {sent.status}; bot: {text}")
    await _settle(h)
    _say(
        f"      Xurrent request #{_request(h, incident_id)['id']} is now {_request(h, incident_id)['status']}"
    )
    return sent.status in (200, 202) and bool(replies)


def _request(h: Harness, incident_id: int) -> dict[str, Any]:
    return next(
        r for r in h.world.xurrent.requests.values() if r.get("sourceID") == f"incident-{incident_id}"
    )


def _card(h: Harness, room: Conversation, card_id: str) -> dict[str, Any]:
    message = next(m for m in h.world.teams.connector.posted(room.id) if m.id == card_id)
    return dict(message.activity["attachments"][0]["content"])


def _facts(card: dict[str, Any]) -> list[str]:
    """The card's text as a person reads it: text blocks and facts, one per line."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock" and node.get("text"):
                out.append(str(node["text"]))
            if node.get("type") == "FactSet":
                out.extend(f"{f.get('title')}: {f.get('value')}" for f in node.get("facts", []))
            for key, value in node.items():
                if key != "actions" and isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card.get("body", []))
    return out
