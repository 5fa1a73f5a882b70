"""bench/intake — Alertmanager alerts accepted per second and intake latency, deduplication and grouping on.

Concurrent senders in a separate process post Alertmanager webhooks (version 4) over loopback to the real server. The alert stream
mixes new alerts across several services (each service's first critical alert declares an incident and starts
its war-room fan-out against the zero-latency emulators, in the same process) with repeats of alerts already seen,
as Alertmanager's repeat_interval produces them. Printed: alerts/s, p50/p99 latency of the HTTP answer.

    python -m bench.intake [--requests 2000] [--senders 16] [--batch 1] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.world import INTAKE_TOKEN

SERVICES = ["checkout-api", "payments"]


def alert_pool(seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [
        {"labels": {"alertname": f"A{n}", "service": SERVICES[n % len(SERVICES)], "instance": f"i-{n}",
                    "severity": rng.choice(["critical", "warning", "warning"])},
         "annotations": {"summary": f"synthetic alert {n}"}, "startsAt": "2026-11-22T06:00:00Z"}
        for n in range(400)
    ]


async def load(url: str, requests: int, senders: int, batch: int) -> None:
    """The sender side, run in its own process so that it does not share the server's core."""
    import aiohttp

    rng = random.Random(11)
    pool = alert_pool()
    bodies = [json.dumps(alertmanager_payload(rng.sample(pool, batch))).encode() for _ in range(requests)]
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {INTAKE_TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as session:
        queue = list(reversed(bodies))

        async def sender() -> None:
            while queue:
                body = queue.pop()
                t0 = time.perf_counter()
                async with session.post(f"{url}/alerts/alertmanager", data=body) as response:
                    await response.read()
                    if response.status != 202:
                        raise SystemExit(f"intake refused a valid delivery: {response.status}")
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        elapsed = time.perf_counter() - started
    print(json.dumps({"elapsed": elapsed, "latencies": latencies}))


async def main(requests: int, senders: int, batch: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        h = await Harness.start(url, rate_limits=False)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.intake", "--load", h.base_url, "--requests", str(requests),
                "--senders", str(senders), "--batch", str(batch), stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await proc.communicate()
            if proc.returncode != 0:
                raise SystemExit("the load generator failed")
            result = json.loads(out.decode().strip().splitlines()[-1])
            await h.runtime.worker.run_until_idle(timeout=120)
            async with h.runtime.store.read() as tx:
                stored, incidents = await tx.alerts.count(), await tx.incidents.count()
        finally:
            await h.stop()
    elapsed, latencies = result["elapsed"], sorted(result["latencies"])
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"bench/intake  ({'PostgreSQL' if database_url else 'SQLite'}; {requests} deliveries × {batch} alert(s), "
          f"{senders} concurrent senders in a separate process)")
    print(f"alerts accepted/s: {requests * batch / elapsed:.0f}   deliveries/s: {requests / elapsed:.0f}")
    print(f"latency p50 {statistics.median(latencies) * 1000:.1f} ms   p99 {p99 * 1000:.1f} ms")
    print(f"stored {stored} distinct alerts (deduplicated from {requests * batch}), {incidents} incident(s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        asyncio.run(load(args.load, args.requests, args.senders, args.batch))
    else:
        asyncio.run(main(args.requests, args.senders, args.batch, args.postgres))
