"""bench/intake — Alertmanager alerts accepted per second and intake latency, deduplication and grouping on.

Concurrent senders post Alertmanager webhooks (version 4) over loopback to the real server. The alert stream
mixes new alerts across several services (each service's first critical alert declares an incident and starts
its war-room fan-out against the zero-latency emulators, in the same process) with repeats of alerts already seen,
as Alertmanager's repeat_interval produces them. Printed: alerts/s, p50/p99 latency of the HTTP answer.

    python -m bench.intake [--requests 2000] [--senders 16] [--batch 1] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from warroom.sandbox.harness import Harness, alertmanager_payload

SERVICES = ["checkout-api", "payments"]


async def main(requests: int, senders: int, batch: int, database_url: str | None) -> None:
    rng = random.Random(7)
    pool = [
        {"labels": {"alertname": f"A{n}", "service": SERVICES[n % len(SERVICES)], "instance": f"i-{n}",
                    "severity": rng.choice(["critical", "warning", "warning"])},
         "annotations": {"summary": f"synthetic alert {n}"}, "startsAt": "2026-11-22T06:00:00Z"}
        for n in range(400)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        h = await Harness.start(url, rate_limits=False)
        latencies: list[float] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(requests):
            queue.put_nowait(i)

        async def sender() -> None:
            while not queue.empty():
                queue.get_nowait()
                payload = alertmanager_payload(rng.sample(pool, batch))
                t0 = time.perf_counter()
                response = await h.post_alerts(payload)
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 202:
                    raise SystemExit(f"intake refused a valid delivery: {response.status_code} {response.text}")

        try:
            started = time.perf_counter()
            await asyncio.gather(*(sender() for _ in range(senders)))
            elapsed = time.perf_counter() - started
            async with h.runtime.store.read() as tx:
                stored, incidents = await tx.alerts.count(), await tx.incidents.count()
        finally:
            await h.stop()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"bench/intake  ({'PostgreSQL' if database_url else 'SQLite'}; {requests} deliveries × {batch} alert(s), {senders} concurrent senders)")
    print(f"alerts accepted/s: {requests * batch / elapsed:.0f}   deliveries/s: {requests / elapsed:.0f}")
    print(f"latency p50 {statistics.median(latencies) * 1000:.1f} ms   p99 {p99 * 1000:.1f} ms")
    print(f"stored {stored} distinct alerts (deduplicated from {requests * batch}), {incidents} incident(s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.senders, args.batch, args.postgres))
