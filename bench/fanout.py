"""bench/fanout — declare-to-complete-war-room time under emulated latencies.

Emulator latencies: 80 ms per Slack call, 250 ms per Xurrent call, 300 ms per Zoom call. For each incident the
benchmark reads which outside calls were made and computes, from the same latencies:
- the critical path: the longest chain of calls that must follow one another (Xurrent: [token] → person lookup
  → create request; Zoom: [token] → create meeting; Slack: create channel → post card), then the one card edit
  that brings the last link in;
- the serial sum: every call of the fan-out made one after another.
"Complete" is the moment the fan-out's last job committed, read from the outbox. It prints that time and its ratio to both (goal: ≤ 1.15 × the critical path).

    python -m bench.fanout [--incidents 6] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.world import Latencies

SLACK, XURRENT, ZOOM = 0.08, 0.25, 0.30


async def one(h: Harness, i: int) -> tuple[float, float, float, dict[str, int]]:
    marks = {name: len(emu.calls) for name, emu in (("slack", h.world.slack), ("xurrent", h.world.xurrent), ("zoom", h.world.zoom))}
    payload = alertmanager_payload(
        [{"labels": {"alertname": f"Bench{i}", "service": "checkout-api", "severity": "critical"},
          "annotations": {"summary": f"benchmark incident {i}"}}]
    )
    started = datetime.now(UTC)
    response = await h.post_alerts(payload)
    incident = response.json()["incidents"][0]
    gaps = await h.wait_complete(incident, timeout=60)
    if gaps:
        raise SystemExit(f"incident {incident} incomplete: {gaps}")
    # complete = when the last job of the fan-out committed (read from the outbox, not from polling)
    async with h.runtime.store.read() as tx:
        finished = max(job["updated_at"] for job in await tx.outbox.jobs(incident))
    elapsed = (finished - started).total_seconds()
    calls = {
        "slack": len(h.world.slack.calls) - marks["slack"],
        "xurrent": len(h.world.xurrent.calls) - marks["xurrent"],
        "zoom": len(h.world.zoom.calls) - marks["zoom"],
    }
    critical = max(calls["xurrent"] * XURRENT, calls["zoom"] * ZOOM, 2 * SLACK) + SLACK
    serial = calls["slack"] * SLACK + calls["xurrent"] * XURRENT + calls["zoom"] * ZOOM
    # resolve the incident's alert group so that the next alert declares a new incident
    async with h.runtime.store.tx() as tx:
        await tx.incidents.update(incident, alert_group=None)
    return elapsed, critical, serial, calls


async def main(incidents: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        h = await Harness.start(url, latencies=Latencies(slack=SLACK, xurrent=XURRENT, zoom=ZOOM, webex=ZOOM))
        try:
            rows = [await one(h, i) for i in range(incidents)]
        finally:
            await h.stop()
    print(f"bench/fanout  ({'PostgreSQL' if database_url else 'SQLite'}; Slack {SLACK*1000:.0f} ms, Xurrent {XURRENT*1000:.0f} ms, Zoom {ZOOM*1000:.0f} ms per call)")
    print(f"{'#':>3} {'measured':>9} {'critical':>9} {'serial':>8} {'÷critical':>10} {'÷serial':>8}  calls")
    for n, (elapsed, critical, serial, calls) in enumerate(rows, 1):
        print(f"{n:>3} {elapsed:>8.3f}s {critical:>8.3f}s {serial:>7.3f}s {elapsed / critical:>10.3f} {elapsed / serial:>8.3f}  {calls}")
    ratios = [e / c for e, c, _, _ in rows]
    serial_ratios = [e / s for e, _, s, _ in rows]
    print(f"median ratio to critical path: {statistics.median(ratios):.3f} (worst {max(ratios):.3f}); "
          f"median ratio to serial sum: {statistics.median(serial_ratios):.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=6)
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite (postgresql+asyncpg://…)")
    args = parser.parse_args()
    asyncio.run(main(args.incidents, args.postgres))
