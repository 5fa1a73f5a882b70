"""``warroom demo``: a whole major incident on the embedded default — SQLite, the sandbox emulators, no accounts.

It starts the emulators and the real server, fires an Alertmanager alert at the server over HTTP, and prints the
incident as it unfolds. Exit status 0 when the war room is complete, 1 with the reason when it is not.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from warroom.chat.slack import blocks as blocks_mod
from warroom.chat.slack.blocks import card_facts
from warroom.core.model import LinkKind
from warroom.sandbox.demo import ai as ai_demo
from warroom.sandbox.demo import oncall as oncall_demo
from warroom.sandbox.demo import statuspage as status_demo
from warroom.sandbox.demo import tasks as tasks_demo
from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.world import Latencies, World

#: Latencies that make the fan-out's parallelism visible without making the demo slow.
DEMO_LATENCIES = Latencies(slack=0.04, xurrent=0.12, zoom=0.15, webex=0.15)


def _say(text: str = "") -> None:
    print(text, flush=True)


async def run_demo(*, verbose: bool = False, timeout: float = 30.0, chat: str = "slack") -> int:
    if chat == "teams":
        from warroom.sandbox.demo.teams import run_teams_demo

        return await run_teams_demo(timeout=timeout)
    with tempfile.TemporaryDirectory(prefix="warroom-demo-") as tmp:
        db = Path(tmp) / "warroom.db"
        world = await World.start(DEMO_LATENCIES)

        def tweak(data: dict[str, Any]) -> None:
            ai_demo.automatic(data)
            oncall_demo.configure(data)
            status_demo.with_status_page(data, statuspage_page=world.statuspage_page,
                                         components=world.statuspage_components)

        harness = await Harness.start(f"sqlite+aiosqlite:///{db}", world=world, tweak=tweak)
        try:
            return await _story(harness, timeout)
        finally:
            await harness.stop()


async def _story(h: Harness, timeout: float) -> int:
    _say("warroom demo — embedded default: SQLite, sandbox emulators for Slack, Xurrent, Zoom and Webex")
    _say(f"  server   {h.base_url}")
    _say(f"  slack    {h.world.slack.base_url}   xurrent {h.world.xurrent.base_url}   zoom {h.world.zoom.base_url}")
    _say()
    payload = alertmanager_payload(
        [
            {
                "labels": {"alertname": "CheckoutErrorRate", "service": "checkout-api", "severity": "critical", "env": "prod"},
                "annotations": {"summary": "5xx rate on /checkout above 12% for 5 minutes",
                                "description": "Error ratio 0.12 (threshold 0.05) on checkout-api in eu-west-1."},
            },
            {
                "labels": {"alertname": "CheckoutLatencyHigh", "service": "checkout-api", "severity": "warning", "env": "prod"},
                "annotations": {"summary": "p99 latency 4.2 s"},
            },
        ],
        common={"service": "checkout-api", "env": "prod"},
    )
    started = time.monotonic()
    _say("1. Alertmanager → POST /alerts/alertmanager (2 alerts, one critical)")
    response = await h.post_alerts(payload)
    body = response.json()
    _say(f"   HTTP {response.status_code}: " + ", ".join(f"{a['result']}" for a in body.get("alerts", [])))
    if response.status_code != 202 or not body.get("incidents"):
        _say(f"FAILED: the alert did not declare an incident: {body}")
        return 1
    incident_id = body["incidents"][0]
    repeat = await h.post_alerts(payload)
    _say(f"   the same delivery again (Alertmanager repeats): {[a['result'] for a in repeat.json()['alerts']]}")
    _say()
    _say(f"2. INC-{incident_id} declared; the fan-out runs as outbox jobs, in parallel where it can:")
    seen = 0
    deadline = time.monotonic() + timeout
    gaps: list[str] = ["start"]
    while time.monotonic() < deadline:
        async with h.runtime.store.read() as tx:
            events = await tx.timeline.for_incident(incident_id)
        for event in events[seen:]:
            _say(f"   +{time.monotonic() - started:5.2f}s  {event.text}")
        seen = len(events)
        gaps = await h.wait_complete(incident_id, timeout=0)
        if not gaps:
            break
        await asyncio.sleep(0.02)
    elapsed = time.monotonic() - started
    if gaps:
        _say(f"FAILED: the war room is not complete after {timeout:.0f}s; missing: {', '.join(gaps)}")
        return 1
    _say(f"   war room complete {elapsed:.2f}s after the alert")
    _say()
    ok = _print_war_room(h, incident_id)
    _say()
    _say("4. The critical alert resolves (Alertmanager send_resolved):")
    resolved = alertmanager_payload([payload["alerts"][0] | {"status": "resolved", "endsAt": payload["alerts"][0]["startsAt"]}],
                                    status="resolved")
    resolved["alerts"][0]["fingerprint"] = payload["alerts"][0]["fingerprint"]
    await h.post_alerts(resolved)
    await h.runtime.worker.run_until_idle(timeout=10)
    channel = h.world.slack.channel_by_name(_channel_name(h, incident_id))
    last = h.world.slack.messages(channel["id"])[-1]
    _say(f"   war room: {last['text']}")
    async with h.runtime.store.read() as tx:
        incident = await tx.incidents.get(incident_id)
    assert incident is not None
    _say(f"   the incident stays {incident.status.value}: no silent auto-resolve of a major incident")
    _say()
    if not ok:
        return 1
    if not await status_demo.status_story(h, incident_id, _say):
        return 1
    _say()
    if not await ai_demo.ai_story(h, incident_id, _say):
        return 1
    _say()
    if not await _sync_story(h, incident_id):
        return 1
    if not await status_demo.recovered_story(h, incident_id, _say):
        return 1
    _say()
    if not await ai_demo.postmortem_story(h, incident_id, _say):
        return 1
    _say()
    if not await oncall_demo.oncall_story(h, _say):
        return 1
    _say()
    if not await tasks_demo.task_story(h, incident_id, _say):
        return 1
    _say()
    _say("demo complete: one alert became a major incident with a war room, a linked Xurrent request and a bridge,")
    _say("and the two records stayed in sync both ways; a follow-up of its postmortem became a task and an RFC that the")
    _say("desk completed in Xurrent, the task following.")
    return 0


async def _settle(h: Harness) -> None:
    for _ in range(3):
        await h.world.xurrent.webhooks.settle()
        await h.runtime.worker.run_until_idle(timeout=15)


async def _sync_story(h: Harness, incident_id: int) -> bool:
    xurrent = h.world.xurrent
    store = h.runtime.store
    request = next(r for r in xurrent.requests.values() if r.get("sourceID") == f"incident-{incident_id}")
    rid = request["id"]
    channel = h.world.slack.channel_by_name(_channel_name(h, incident_id))
    seen = len(h.world.slack.messages(channel["id"]))

    async def incident_line() -> str:
        async with store.read() as tx:
            inc = await tx.incidents.get(incident_id)
        assert inc is not None
        return f"incident {inc.ref} {inc.status.value}, {inc.priority}, assignee {inc.assignee}"

    def request_line() -> str:
        r = xurrent.requests[rid]
        notes = xurrent.notes(rid)
        return (f"request #{rid} {r['status']}{'/' + r['completion_reason'] if r.get('completion_reason') else ''}, "
                f"impact {r['impact']}, {len(notes)} notes (last: {notes[-1]['text'][:50]!r})")

    def new_lines() -> list[str]:
        nonlocal seen
        messages = h.world.slack.messages(channel["id"])
        out = [m["text"] for m in messages[seen:]]
        seen = len(messages)
        return out

    _say("5. The service desk works the request in Xurrent (Dana sets it in progress and adds a note); Xurrent")
    _say("   delivers signed webhooks (RS256 JWT), warroom reads the request and applies the difference:")
    dana = h.world.xurrent_people["dana@example.com"]
    xurrent.update_request(rid, {"status": "in_progress"}, person_id=dana)
    xurrent.add_note(rid, "Service desk: 40 customer calls about failed payments so far", person_id=dana)
    await _settle(h)
    for line in new_lines():
        _say(f"   war room: {line}")
    _say(f"   → {await incident_line()}")
    _say()
    _say("6. Responders act from Slack — each a signed Slack request into the real slack-bolt app — and every action")
    _say("   lands on both records (the incident, and the Xurrent request through the sync):")
    calls = len(xurrent.calls)
    slack = h.world.slack
    ana, ben = slack.add_user("ana@example.com", "Ana Ops"), slack.add_user("ben@example.com", "Ben Backend")
    room = channel["id"]
    steps: list[tuple[str, Any]] = [
        ("ben clicks Acknowledge on the card", lambda: h.slack.click(blocks_mod.ACK, str(incident_id), user=ben, channel=room)),
        ("/incident role commander me  (ana)", lambda: h.slack.command("role commander me", user=ana, channel=room)),
        ("/incident note Rolled back deploy 2026.11.22-3  (ben)",
         lambda: h.slack.command("note Rolled back checkout deploy 2026.11.22-3; error rate normal", user=ben, channel=room)),
        ("/incident priority P2  (ana, the commander)", lambda: h.slack.command("priority P2", user=ana, channel=room)),
        ("/incident resolve  (ana)", lambda: h.slack.command("resolve", user=ana, channel=room)),
    ]
    for label, send in steps:
        answer = await send()
        await _settle(h)
        reply = (answer.json().get("text") if answer.content and answer.headers.get("content-type", "").startswith(
            "application/json") else "") or "(answered in the war room)"
        _say(f"   {label}")
        _say(f"      Slack answer: {reply}")
        _say(f"      → {await incident_line()}")
        _say(f"      → {request_line()}")
    writes = [c.op for c in xurrent.calls[calls:] if c.method in ("PATCH", "POST")]
    _say(f"   Xurrent writes for these five actions: {len(writes)} ({', '.join(writes)}); the webhooks echoing them")
    _say("   back were recognised as warroom's own and read nothing (echo suppression).")
    final = xurrent.requests[rid]
    async with store.read() as tx:
        inc = await tx.incidents.get(incident_id)
    ok = bool(inc and inc.status.value == "resolved" and final["status"] == "completed" and final["impact"] == "high")
    if not ok:
        _say("FAILED: the records did not converge")
    return ok


def _card_lines(blocks: list[dict[str, Any]]) -> list[str]:
    """The card as a person reads it: one line per field, links as their targets."""
    lines = [line for line in card_facts(blocks).splitlines() if line.strip()]
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("*") and line.endswith("*") and i + 1 < len(lines):
            out.append(f"{line.strip('*')}: {lines[i + 1]}")
            i += 2
            continue
        out.append(line)
        i += 1
    return out


def _channel_name(h: Harness, incident_id: int) -> str:
    for channel in h.world.slack.channels.values():
        if channel["name"].startswith(f"inc-{incident_id}-"):
            return str(channel["name"])
    raise LookupError("no channel")


def _print_war_room(h: Harness, incident_id: int) -> bool:
    slack, xurrent = h.world.slack, h.world.xurrent
    channel = slack.channel_by_name(_channel_name(h, incident_id))
    users = {u["id"]: u for u in slack.users.values()}
    _say(f"3. The war room #{channel['name']}")
    _say(f"   topic      {channel['topic']}")
    members = [users[m]["profile"]["email"] if m in users else "warroom (bot)" for m in channel["members"]]
    _say(f"   members    {', '.join(members)}")
    bookmarks = slack.bookmarks.get(channel["id"], [])
    _say("   bookmarks  " + "; ".join(f"{b['title']} → {b['link']}" for b in bookmarks))
    messages = slack.messages(channel["id"])
    card = next(m for m in messages if (m.get("metadata") or {}).get("event_type") == "warroom_incident_card")
    pinned = card["ts"] in [p for p in slack.pins.get(channel["id"], [])]
    _say(f"   card       pinned={pinned}, edited {len(card.get('edits', []))} time(s) in place as links arrived:")
    for line in _card_lines(card["blocks"]):
        _say(f"      | {line}")
    request = next(r for r in xurrent.requests.values() if r.get("sourceID") == f"incident-{incident_id}")
    _say(f"   Xurrent request #{request['id']}:")
    for key in ("subject", "category", "impact", "urgent", "status", "source", "sourceID"):
        _say(f"      {key:<17} {request.get(key)}")
    _say(f"      {'service_instance':<17} {(request.get('service_instance') or {}).get('name')}")
    _say(f"      {'member':<17} {(request.get('member') or {}).get('name')}")
    notes = xurrent.notes(request["id"])
    first = notes[0]["text"].splitlines()[0] if notes else "(none)"
    _say(f"      {'first note':<17} {first}")
    meeting: dict[str, Any] = next(iter(h.world.zoom.meetings.values()))
    _say(f"   Zoom bridge: join {meeting['join_url']}")
    leaked = any(meeting["start_url"] in str(m) for m in messages) or any(
        meeting["start_url"] in str(b) for b in bookmarks
    )
    _say(f"   host link posted anywhere in Slack: {'YES — a leak!' if leaked else 'no'}")
    has_links = request["id"] and str(request["id"]) in card_facts(card["blocks"]) and meeting["join_url"] in card_facts(card["blocks"])
    if not has_links:
        _say("FAILED: the card does not carry both the ITSM link and the bridge link")
    return bool(has_links and pinned and not leaked and LinkKind.BRIDGE)
