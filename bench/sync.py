"""bench/sync — Xurrent changes applied to incidents end to end, per second and in added latency, and the Xurrent API
calls each synced change costs in each direction.

The real server runs against the sandbox emulators (same process and event loop, as in bench/fanout; rate limits
off). ``--requests`` linked incidents are opened first; then a service-desk person changes the subject of their
requests in the Xurrent emulator, one change in flight per request. Each change is one signed webhook (RS256,
``request.update``) which the server verifies, takes in once and answers with 202; a worker then fetches the request
and its notes, diffs them with the shadow, stores the change on the incident and posts "🔄 … changed title in
Xurrent: … → …" in its war room. An event counts as applied when that line is in the Slack emulator; its latency
runs from the emulator sending the webhook (the first delivery attempt) to the line's timestamp.

- Sustained: ``--events`` changes over all ``--requests`` requests, every emulator answering at once: events/s from
  the first change to the last line (the server is saturated, so the latency here is mostly queueing).
- Added latency: ``--latency-events`` changes over ``--latency-requests`` requests with the emulators answering
  after ``--xurrent-ms`` / ``--slack-ms`` per call; the emulators' own part of an event's path (the worker's reads of
  the request and its notes, one after the other, then the Slack post) is taken off each measured time.
- API calls: sequences of single changes on one incident with warm caches (token, the API user, people), counting
  the operations in the Xurrent emulator's call log. For a change made on the incident, both what the push itself
  costs (the webhooks of warroom's own write dropped) and what it costs with the echo of that write, which Xurrent
  sends back as webhooks and which warroom reads back to find equal to its shadow.

    python -m bench.sync [--requests 16] [--events 480] [--latency-requests 4] [--xurrent-ms 100] [--slack-ms 50]
                         [--postgres URL (an empty database)]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness

DESK = "dana@example.com"
POLL = 0.01  # the line's own timestamp is the measurement; polling only paces the next change


@dataclass
class Pair:
    incident: int
    request: int
    channel: str


@dataclass
class Event:
    pair: Pair
    subject: str
    audit_line: int
    sent_at: float = 0.0
    arrived_at: float = 0.0

    @property
    def latency(self) -> float:
        return self.arrived_at - self.sent_at


def tweak(data: dict[str, Any]) -> None:
    data["xurrent"]["reconcile_seconds"] = 0  # no reconciliation pass in the middle of a measurement


async def rest(h: Harness) -> None:
    """Deliver every webhook and run every job until nothing moves."""
    hub = h.world.xurrent.webhooks
    for _ in range(20):
        before = (len(hub.deliveries), len(h.world.xurrent.calls))
        await hub.settle()
        await h.runtime.worker.run_until_idle(timeout=120)
        await hub.settle()
        if (len(hub.deliveries), len(h.world.xurrent.calls)) == before:
            return
    raise SystemExit("the sync did not come to rest")


async def open_pairs(h: Harness, n: int) -> list[Pair]:
    async with h.runtime.store.read() as tx:
        if await tx.incidents.count():
            raise SystemExit("The database is not empty: give bench/sync a new, empty database (webhooks are set up "
                             "for each run's emulators).")
    pairs = []
    for i in range(n):
        incident = await h.runtime.incidents.declare(
            service="checkout-api", title=f"Bench incident {i}", priority="P1", details="benchmark", actor="ana"
        )
        gaps = await h.wait_complete(incident.id, timeout=60)
        if gaps:
            raise SystemExit(f"incident {incident.id} incomplete: {gaps}")
        async with h.runtime.store.read() as tx:
            request = await tx.links.get(incident.id, LinkKind.XURRENT_REQUEST)
            channel = await tx.links.get(incident.id, LinkKind.SLACK_CHANNEL)
        assert request is not None and channel is not None
        pairs.append(Pair(incident.id, int(request.remote_id), channel.remote_id))
    await rest(h)
    return pairs


# -- inbound: desk changes until their war-room lines arrive ----------------------------------------------------------
async def inbound(h: Harness, pairs: list[Pair], events: int, tag: str) -> tuple[list[Event], float]:
    """``events`` subject changes spread over the pairs, one in flight per pair; returns them and the wall time
    from the first change to the last line."""
    xurrent, slack = h.world.xurrent, h.world.slack
    desk = h.world.xurrent_people[DESK]
    per_pair = max(1, events // len(pairs))
    done: list[Event] = []

    async def agent(pair: Pair) -> None:
        seen = len(slack.messages(pair.channel))
        for k in range(per_pair):
            subject = f"{tag} {pair.incident}.{k}"
            xurrent.update_request(pair.request, {"subject": subject}, person_id=desk)
            event = Event(pair, subject, xurrent.audit[-1].id)
            needle = f"→ {subject}"
            deadline = time.monotonic() + 60
            while True:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no war-room line for the change to {subject!r} after 60 s")
                messages = slack.messages(pair.channel)
                line = next((m for m in messages[seen:] if str(m.get("text") or "").endswith(needle)), None)
                if line is not None:
                    event.arrived_at = float(line["ts"])
                    seen = len(messages)
                    break
                await asyncio.sleep(POLL)
            done.append(event)

    started = time.time()
    await asyncio.gather(*(agent(pair) for pair in pairs))
    elapsed = max(e.arrived_at for e in done) - started
    sent = {
        int(d.message["payload"]["audit_line_id"]): d.attempts[0].sent_at
        for d in h.world.xurrent.webhooks.deliveries
        if d.attempts and d.event == "request.update" and "audit_line_id" in d.message.get("payload", {})
    }
    for event in done:
        event.sent_at = sent[event.audit_line]
    await rest(h)
    return done, elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# -- API calls per synced change ------------------------------------------------------------------------------------
@dataclass
class CallCount:
    direction: str
    change: str
    reads: float
    writes: float
    echo_reads: float | None = None
    echo_writes: float | None = None


def split(ops: Counter[str]) -> tuple[int, int]:
    reads = sum(n for op, n in ops.items() if op.startswith("GET "))
    writes = sum(n for op, n in ops.items() if op.startswith(("POST /requests", "PATCH ")))
    return reads, writes


async def measure(h: Harness, change: Callable[[int], Awaitable[None]], times: int, *, own_echo: bool) -> tuple[float, float]:
    """Average Xurrent reads and writes per change, webhooks of warroom's own writes delivered or not."""
    hub = h.world.xurrent.webhooks
    reads = writes = 0
    for k in range(times):
        mark = len(h.world.xurrent.calls)
        hub.config.drop_rate = 0.0 if own_echo else 1.0
        await change(k)
        await h.runtime.worker.run_until_idle(timeout=60)
        hub.config.drop_rate = 0.0
        await rest(h)
        r, w = split(Counter(c.op for c in h.world.xurrent.calls[mark:]))
        reads, writes = reads + r, writes + w
    return reads / times, writes / times


async def api_calls(h: Harness, pair: Pair, times: int) -> list[CallCount]:
    xurrent, incidents = h.world.xurrent, h.runtime.incidents
    desk = h.world.xurrent_people[DESK]

    async def desk_subject(k: int) -> None:
        xurrent.update_request(pair.request, {"subject": f"Desk subject {k}"}, person_id=desk)

    async def desk_status(k: int) -> None:
        xurrent.update_request(pair.request, {"status": "in_progress" if k % 2 == 0 else "assigned"}, person_id=desk)

    async def desk_note(k: int) -> None:
        xurrent.add_note(pair.request, f"Desk note {k}", person_id=desk)

    async def imr_title(k: int) -> None:
        await incidents.change(pair.incident, actor="ana", title=f"Incident title {k}")

    async def imr_status(k: int) -> None:
        await incidents.change(pair.incident, actor="ana", status="acknowledged" if k % 2 == 0 else "triggered")

    async def imr_note(k: int) -> None:
        await incidents.add_note(pair.incident, f"Incident note {k}", actor="ana")

    # warm the caches (token, API user, the people involved) and settle the statuses
    for warm in (desk_subject, desk_note, imr_title, imr_note):
        await warm(999)
        await rest(h)
    out = []
    for name, change in (("field (subject)", desk_subject), ("status (in_progress ↔ assigned)", desk_status),
                         ("note", desk_note)):
        reads, writes = await measure(h, change, times, own_echo=True)
        out.append(CallCount("Xurrent → incident", name, reads, writes))
    for name, change in (("field (title)", imr_title), ("status (acknowledged ↔ triggered)", imr_status),
                         ("note", imr_note)):
        reads, writes = await measure(h, change, times, own_echo=False)
        echo_reads, echo_writes = await measure(h, change, times, own_echo=True)
        out.append(CallCount("incident → Xurrent", name, reads, writes, echo_reads, echo_writes))
    return out


async def main(requests: int, events: int, latency_requests: int, latency_events: int, xurrent_ms: float,
               slack_ms: float, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        h = await Harness.start(url, rate_limits=False, tweak=tweak)
        try:
            pairs = await open_pairs(h, requests)
            calls = await api_calls(h, pairs[0], 10)
            await inbound(h, pairs, min(events, 2 * requests), "warm-up")
            fast, fast_elapsed = await inbound(h, pairs, events, "fast")
            h.world.xurrent.config.latency = {"*": xurrent_ms / 1000}
            h.world.slack.config.latency = {"*": slack_ms / 1000}
            slow, slow_elapsed = await inbound(h, pairs[:latency_requests], latency_events, "slow")
        finally:
            await h.stop()
    desk_reads = next(c.reads for c in calls if c.change == "field (subject)")
    own = desk_reads * xurrent_ms + slack_ms
    fast_ms = [e.latency * 1000 for e in fast]
    added = [e.latency * 1000 - own for e in slow]
    db = "PostgreSQL" if database_url else "SQLite"
    print(f"bench/sync  ({db}; emulators in the server's process and event loop; rate limits off)")
    print("inbound: a desk person changes a subject → signed webhook → verify, take in, fetch, diff, store → war-room line")
    print(f"  sustained, {requests} changes in flight, emulators answering at once: {len(fast)} events in "
          f"{fast_elapsed:.2f} s = {len(fast) / fast_elapsed:.0f} events/s applied end to end; "
          f"delivery → line p50 {statistics.median(fast_ms):.0f} ms, p99 {percentile(fast_ms, 0.99):.0f} ms")
    changes = "change" if latency_requests == 1 else "changes"
    print(f"  {latency_requests} {changes} in flight, Xurrent {xurrent_ms:.0f} ms and Slack {slack_ms:.0f} ms per call: "
          f"{len(slow)} events, {len(slow) / slow_elapsed:.0f} events/s; the emulators' own part of each event's path "
          f"is {own:.0f} ms ({desk_reads:g} Xurrent reads, 1 Slack post); added beyond it: "
          f"p50 {statistics.median(added):.0f} ms, p99 {percentile(added, 0.99):.0f} ms")
    print("Xurrent API calls per synced change (10 changes each, caches warm; goal: at most 1 read and 1 write):")
    print(f"  {'direction':<20} {'change':<34} {'reads':>5} {'writes':>6}   {'with the echo of our own write':>30}")
    for c in calls:
        echo = f"{c.echo_reads:g} reads, {c.echo_writes:g} writes" if c.echo_reads is not None else ""
        print(f"  {c.direction:<20} {c.change:<34} {c.reads:>5g} {c.writes:>6g}   {echo:>30}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=16, help="linked incidents, changed concurrently")
    parser.add_argument("--events", type=int, default=480, help="changes in the sustained run")
    parser.add_argument("--latency-requests", type=int, default=4, help="changes in flight in the latency run")
    parser.add_argument("--latency-events", type=int, default=120, help="changes in the latency run")
    parser.add_argument("--xurrent-ms", type=float, default=100.0)
    parser.add_argument("--slack-ms", type=float, default=50.0)
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite (postgresql+asyncpg://…)")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.events, args.latency_requests, args.latency_events, args.xurrent_ms,
                     args.slack_ms, args.postgres))
