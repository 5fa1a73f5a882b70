"""The AI responder's part of ``warroom demo``: a deployment event and war-room discussion go in; the automatic
status update, an answered question and the probable causes come out in the war room — and, once the incident
is resolved, the postmortem draft. All through the real server: the deploy event over ``POST /events/changes``,
the discussion as Slack events, the questions as signed slash commands, the periodic update by its durable timer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from warroom.core.model import LinkKind
from warroom.response.ai import schedule as ai_schedule
from warroom.sandbox.harness import Harness
from warroom.sandbox.world import INTAKE_TOKEN
from warroom.store.schema import timers

Say = Callable[[str], None]


def automatic(data: dict[str, Any]) -> None:
    """Sandbox settings with the AI responder's automatic status updates and postmortem drafts on (the sandbox's
    defaults keep it quiet unless asked)."""
    data["ai"].update(auto_summaries=True, auto_rca=True, postmortem_on_resolve=True)


def _room(h: Harness, incident_id: int) -> str:
    for channel in h.world.slack.channels.values():
        if channel["name"].startswith(f"inc-{incident_id}-"):
            return str(channel["id"])
    raise LookupError(f"INC-{incident_id} has no war room")


def _ai_lines(h: Harness, channel: str) -> list[str]:
    return [
        str(m["text"])
        for m in h.world.slack.messages(channel)
        if str(((m.get("metadata") or {}).get("event_payload") or {}).get("key", "")).startswith("ai-")
    ]


def _show(say: Say, text: str, indent: str = "   | ") -> None:
    for line in text.splitlines():
        say(f"{indent}{line}")


async def _settle(h: Harness) -> None:
    for _ in range(2):
        await h.world.xurrent.webhooks.settle()
        await h.runtime.worker.run_until_idle(timeout=15)


async def ai_story(h: Harness, incident_id: int, say: Say) -> bool:
    """While the incident is open: the automatic status update, an answered question, the probable causes."""
    channel = _room(h, incident_id)
    say(
        "The AI responder (the deterministic engine: no model is configured in the sandbox; set ai.enabled and"
    )
    say("ai.base_url for any OpenAI-compatible endpoint):")
    deployed = (datetime.now(UTC) - timedelta(minutes=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "id": "checkout-api-2026.11.22-3",
        "service": "checkout-api",
        "at": deployed,
        "title": "checkout-api 2026.11.22-3: payment client timeout 2 s → 200 ms",
        "url": "https://ci.example.com/checkout-api/runs/2026.11.22-3",
    }
    posted = await h.http.post(
        "/events/changes", json=event, headers={"Authorization": f"Bearer {INTAKE_TOKEN}"}
    )
    say(
        f"   CI → POST /events/changes (a deploy 9 minutes before the alert): HTTP {posted.status_code} "
        f"{posted.json()['changes'][0]['result']}"
    )
    ben = h.world.slack.add_user("ben@example.com", "Ben Backend")
    for n, text in enumerate(
        [
            "checkout pods log 'payment client timed out after 200ms' since the 2026.11.22-3 deploy",
            "payments-api itself looks healthy: p99 180 ms",
        ]
    ):
        await h.slack.event(
            {
                "type": "message",
                "channel": channel,
                "user": ben,
                "text": text,
                "ts": f"{datetime.now(UTC).timestamp():.6f}{n}",
            }
        )
    say("   Ben talks in the war room (recorded as discussion on the timeline).")
    seen = len(_ai_lines(h, channel))

    # the periodic update is a durable timer; make it due now rather than wait for the P1 cadence
    async with h.runtime.store.tx() as tx:
        await tx.conn.execute(
            update(timers).where(timers.c.key == ai_schedule.timer_key(incident_id)).values(fire_at=tx.now)
        )
    await h.runtime.timers.tick()
    await _settle(h)
    lines = _ai_lines(h, channel)
    if len(lines) <= seen:
        say("FAILED: no automatic status update was posted")
        return False
    say("   The periodic status update (its timer fired), as posted in the war room:")
    _show(say, lines[-1])
    for text, what in (
        ("ask what changed before the first alert?", "An answered question"),
        ("rca", "The probable causes"),
    ):
        seen = len(_ai_lines(h, channel))
        reply = await h.slack.command(text, channel=channel)
        say(f"   /incident {text} → {reply.json()['text']}")
        await _settle(h)
        lines = _ai_lines(h, channel)
        if len(lines) <= seen:
            say(f"FAILED: nothing was posted for /incident {text}")
            return False
        say(f"   {what}, as posted in the war room:")
        _show(say, lines[-1])
    return True


async def postmortem_story(h: Harness, incident_id: int, say: Say) -> bool:
    """Once the incident is resolved: the postmortem draft, its link on the card, its follow-up actions."""
    await _settle(h)
    async with h.runtime.store.read() as tx:
        link = await tx.links.get(incident_id, LinkKind.POSTMORTEM)
        tasks = await tx.records.tasks(incident_id)
    if link is None or not link.url:
        say("FAILED: the resolved incident has no postmortem draft")
        return False
    say(
        '7. Resolved, so the postmortem was drafted; the card\'s "Postmortem" button and a note on the Xurrent request'
    )
    say(f"   link it: {link.url}")
    async with httpx.AsyncClient(timeout=10) as http:
        got = await http.get(link.url)
    say(f"   GET it → HTTP {got.status_code} {got.headers.get('content-type')}:")
    _show(say, got.text.rstrip())
    say(
        f'   {len(tasks)} recommended follow-up actions are stored as proposed tasks; each has a "Create task" button'
    )
    say("   in the war room.")
    return got.status_code == 200
