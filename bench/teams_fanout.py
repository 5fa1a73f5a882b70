"""bench/teams_fanout — declare-to-complete-war-room time in Teams form under Graph's emulated latencies and limits.

The checkout-api service opens its war rooms in Teams (a standard channel, the responders @mentioned) with a Teams
meeting as its bridge. Emulator latencies: 120 ms per Microsoft Graph call (Entra's token endpoint included), 80 ms
per Bot Connector call, 250 ms per Xurrent call; Graph's throttling (4 requests/s per team) and the Connector's
(7 operations/s per thread) are on. For each incident the benchmark reads which outside calls were made and
computes, from the same latencies:
- the critical path: the longest chain of calls that must follow one another — the room (Graph: [token] → people
  by mail [→ by sign-in name] → create channel; then [bot token] → Bot Connector: start the thread with the card),
  the bridge (Graph: [token] → [organizer] → createOrGet), the request (Xurrent: [token] → person lookup → create
  request) — then the one card edit that brings the last link in;
- the serial sum: every call of the fan-out made one after another.
"Complete" is the moment the fan-out's last job committed, read from the outbox: the Teams jobs, the bridge and the
request's creation — not the sync's pushes and pulls that follow the request (``itsm.push``/``itsm.pull``, which run
when Xurrent's webhook arrives and are not part of the war room). It prints that time and its ratio to both (goal:
≤ 1.15 × the critical path).

    python -m bench.teams_fanout [--incidents 6] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warroom.sandbox.base import Call
from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.teams.world import ORGANIZER
from warroom.sandbox.world import Latencies

GRAPH, CONNECTOR, XURRENT = 0.12, 0.08, 0.25
TOKEN = "POST /{tenant}/oauth2/v2.0/token"
FANOUT = {"bridge.create", "itsm.create_request"}


def teams(data: dict[str, Any]) -> None:
    data["teams"]["enabled"] = True
    data["services"][0].update({"chat": "teams", "bridge": "teams"})


def critical_path(graph: list[Call], connector: list[Call], xurrent: list[Call]) -> float:
    tokens = [c for c in graph if c.op == TOKEN]
    graph_token = GRAPH if tokens else 0.0
    bot_token = GRAPH if len(tokens) > 1 else 0.0
    organizer = ORGANIZER[1].replace("@", "%40")
    people = [
        c
        for c in graph
        if c.op == "GET /users"
        or (c.op == "GET /users/{user-id}" and organizer not in c.path and ORGANIZER[1] not in c.path)
    ]
    channel = [
        c
        for c in graph
        if c.op.startswith(("POST /teams/{team-id}/channels", "GET /teams/{team-id}/channels"))
    ]
    starts = [c for c in connector if c.op == "POST /v3/conversations"]
    room = graph_token + GRAPH * (len(people) + len(channel)) + bot_token + CONNECTOR * len(starts)
    meeting_calls = [
        c
        for c in graph
        if c.op.startswith("POST /users/{user-id}/onlineMeetings")
        or (c.op == "GET /users/{user-id}" and (organizer in c.path or ORGANIZER[1] in c.path))
    ]
    bridge = graph_token + GRAPH * len(meeting_calls)
    # the request: every Xurrent call up to its creation (token, person lookup, POST /requests)
    creates = [n for n, c in enumerate(xurrent) if c.op == "POST /requests"]
    request = XURRENT * (creates[0] + 1) if creates else 0.0
    return max(room, bridge, request) + CONNECTOR


async def one(h: Harness, i: int) -> tuple[float, float, float, dict[str, int]]:
    tw = h.world.teams
    marks = {
        "graph": len(tw.graph.calls),
        "connector": len(tw.connector.calls),
        "xurrent": len(h.world.xurrent.calls),
    }
    payload = alertmanager_payload(
        [
            {
                "labels": {"alertname": f"Bench{i}", "service": "checkout-api", "severity": "critical"},
                "annotations": {"summary": f"benchmark incident {i}"},
            }
        ]
    )
    started = datetime.now(UTC)
    response = await h.post_alerts(payload)
    incident = response.json()["incidents"][0]
    gaps = await h.wait_complete(incident, timeout=60)
    if gaps:
        raise SystemExit(f"incident {incident} incomplete: {gaps}")
    async with h.runtime.store.read() as tx:
        finished = max(
            job["updated_at"]
            for job in await tx.outbox.jobs(incident)
            if job["kind"] in FANOUT or job["kind"].startswith("teams.")
        )
    elapsed = (finished - started).total_seconds()
    graph = tw.graph.calls[marks["graph"] :]
    connector = tw.connector.calls[marks["connector"] :]
    xurrent = h.world.xurrent.calls[marks["xurrent"] :]
    calls = {"graph": len(graph), "connector": len(connector), "xurrent": len(xurrent)}
    critical = critical_path(graph, connector, xurrent)
    serial = len(graph) * GRAPH + len(connector) * CONNECTOR + len(xurrent) * XURRENT
    async with h.runtime.store.tx() as tx:
        await tx.incidents.update(incident, alert_group=None)  # the next alert declares a new incident
    return elapsed, critical, serial, calls


async def main(incidents: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        h = await Harness.start(
            url,
            latencies=Latencies(slack=0.08, xurrent=XURRENT, zoom=0.3, webex=0.3, teams=GRAPH),
            tweak=teams,
        )
        h.world.teams.connector.config.latency = {"*": CONNECTOR}
        try:
            rows = [await one(h, i) for i in range(incidents)]
            throttled = sum(h.world.teams.graph.throttled.values())
        finally:
            await h.stop()
    print(
        f"bench/teams_fanout  ({'PostgreSQL' if database_url else 'SQLite'}; Graph {GRAPH * 1000:.0f} ms, Bot Connector "
        f"{CONNECTOR * 1000:.0f} ms, Xurrent {XURRENT * 1000:.0f} ms per call; Graph and Connector limits on)"
    )
    print(f"{'#':>3} {'measured':>9} {'critical':>9} {'serial':>8} {'÷critical':>10} {'÷serial':>8}  calls")
    for n, (elapsed, critical, serial, calls) in enumerate(rows, 1):
        print(
            f"{n:>3} {elapsed:>8.3f}s {critical:>8.3f}s {serial:>7.3f}s {elapsed / critical:>10.3f} "
            f"{elapsed / serial:>8.3f}  {calls}"
        )
    ratios = [e / c for e, c, _, _ in rows]
    serial_ratios = [e / s for e, _, s, _ in rows]
    print(
        f"median ratio to critical path: {statistics.median(ratios):.3f} (worst {max(ratios):.3f}); "
        f"median ratio to serial sum: {statistics.median(serial_ratios):.3f}; Graph 429s: {throttled}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=6)
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite (postgresql+asyncpg://…)")
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.postgres))
