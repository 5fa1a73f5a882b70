"""bench/statuspage — how fast the built-in status page is served, and how soon a declaration shows on it.

The real server (warroom.sandbox.harness.Harness) with the sandbox emulators in the benchmark's process; where a
load is needed, concurrent clients run in a separate process (aiohttp, keep-alive: one connection per client, over
loopback) so that they do not share the server's core.

1. **Render.** Page ``big``: ``--components`` components (groups of 10) and ``--incidents`` past incidents over the
   last 89 days, seeded through the store (one transaction, bulk inserts): each incident resolved, with its page
   incident, three published updates (investigating, identified, resolved) and a history row (a partial or major
   outage of one component, 20 to 140 minutes). ``--clients`` clients each GET the same URL back to back for
   ``--seconds``; printed: requests/s, p50/p99 latency, against the goal (≥ 500 requests/s from one process):
   - ``/status/big`` (HTML) and ``/status/big/index.json``, cached (the steady state);
   - ``/status/big`` while the page changes every ``--churn`` seconds (a component's status flips, in the server's
     process): each change throws the render away, the next request renders anew;
   - baselines, in the same run: a bare aiohttp handler returning the very same bytes on the same server (the
     ceiling: aiohttp and the client, no warroom), and the uncached render (snapshot + HTML, ms per render, in
     the server's process, so renders/s without the cache).
   Invalidation is checked on the way: after each of 5 changes the very next response of the page and of its JSON
   show it (a stale answer fails the benchmark).
2. **Declaration → component.** ``--alerts`` services, each linked to its own component of page ``fleet`` (and the
   page mirrored on the Statuspage emulator, each component mapped to one there). One critical alert per service,
   POSTed to /alerts/alertmanager at once (concurrently, over loopback): per alert, the time from its POST until
   ``/status/fleet/index.json`` shows its component as a major outage (polled every 10 ms), and until the Statuspage
   emulator has it as a major outage (its state read in the process every 10 ms). p50 / p99 / max (goal: ≤ 5 s
   at p99). Baseline, in the same run: one alert at a time with nothing else running.
3. **Declaration → draft.** In the same runs: until the drafted status page update (the deterministic engine's)
   is posted in the incident's Slack war room as a draft card (the emulator's log of received messages, its
   ``metadata.event_type``). p50 / p99 / max (goal: ≤ 10 s at p99).

Emulators answer at once, rate limits off except Statuspage's (its sandbox pace, a request every 20 ms per key).
``--postgres`` needs an empty database.

    python -m bench.statuspage [--components 50] [--incidents 1000] [--clients 32] [--seconds 5] [--churn 0.5]
                               [--alerts 20] [--part all|render|declare] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import insert

from warroom.chat.slack.statuspage_cards import DRAFT_EVENT
from warroom.sandbox.base import bound_port
from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.world import World
from warroom.store.schema import (
    incidents,
    status_component_history,
    status_page_incidents,
    status_page_updates,
)
from warroom.web import statuspages as pages

RENDER_GOAL = 500.0
COMPONENT_GOAL = 5.0
DRAFT_GOAL = 10.0
POLL = 0.01


def component_name(n: int) -> str:
    return f"Component {n:02d}"


def render_tweak(components: int) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        data["status_pages"] = [{
            "name": "big", "title": "Big", "components": [
                {"name": component_name(n), "group": f"Group {n // 10 + 1}"} for n in range(components)]}]

    return apply


async def seed(h: Harness, components: int, count: int) -> None:
    """``count`` resolved past incidents on page ``big`` over the last 89 days, each with its page incident, three
    updates and one history row, through the store in one transaction."""
    async with h.runtime.store.tx() as tx:
        now = tx.now
        step = timedelta(days=89) / max(count, 1)
        spans = [(now - timedelta(days=89) + step * i, timedelta(minutes=20 + i % 120)) for i in range(count)]
        ids = (await tx.conn.execute(insert(incidents).returning(incidents.c.id, sort_by_parameter_order=True), [
            {"title": f"Past incident {i}", "status": "resolved", "priority": "P2", "urgency": "high",
             "service": "checkout-api", "details": "", "origin": "alert", "created_at": start, "updated_at": start + span,
             "resolved_at": start + span, "version": 0} for i, (start, span) in enumerate(spans)])).scalars().all()
        page_ids = (await tx.conn.execute(
            insert(status_page_incidents).returning(status_page_incidents.c.id, sort_by_parameter_order=True), [
                {"page": "big", "incident_id": incident, "name": f"Issue affecting {component_name(i % components)}",
                 "status": "resolved", "created_at": start, "updated_at": start + span, "resolved_at": start + span}
                for i, (incident, (start, span)) in enumerate(zip(ids, spans, strict=True))])).scalars().all()
        await tx.conn.execute(insert(status_page_updates), [
            {"page_incident_id": page_id, "status": state, "published_by": "ana@example.com",
             "body": f"{state.capitalize()}: checkout requests are failing for some customers ({n}).",
             "published_at": start + span * k / 2}
            for n, (page_id, (start, span)) in enumerate(zip(page_ids, spans, strict=True))
            for k, state in enumerate(("investigating", "identified", "resolved"))])
        await tx.conn.execute(insert(status_component_history), [
            {"page": "big", "component": component_name(i % components), "incident_id": incident,
             "status": "major_outage" if i % 3 == 0 else "partial_outage", "started_at": start, "ended_at": start + span}
            for i, (incident, (start, span)) in enumerate(zip(ids, spans, strict=True))])
        tx.statuspages.changed = True


async def flip(h: Harness, status: str) -> None:
    """Component 00's status, as an incident's priority change would set it (the page's cache is invalidated)."""
    async with h.runtime.store.tx() as tx:
        await tx.statuspages.set_status("big", component_name(0), status, None)


# ---------------------------------------------------------------------------------------------- the load


async def load(url: str, clients: int, seconds: float, encoding: str) -> None:
    """The client side, in its own process: ``clients`` keep-alive connections GET ``url`` back to back for
    ``seconds`` (bounded: at most 200,000 requests), with ``Accept-Encoding: <encoding>`` (gzip, as browsers send it,
    or identity) and the bytes taken as they come (not decompressed: the client's work is not the server's); prints
    the count, elapsed time, latencies and bytes received as JSON."""
    import aiohttp

    latencies: list[float] = []
    failures: dict[int, int] = {}
    received = [0]
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                     headers={"Accept-Encoding": encoding}) as session:
        deadline = time.perf_counter() + seconds

        async def client() -> None:
            while time.perf_counter() < deadline and len(latencies) < 200_000:
                t0 = time.perf_counter()
                async with session.get(url) as response:
                    body = await response.read()  # read before adding: ``+=`` would load the total first
                    received[0] += len(body)
                    if response.status != 200:
                        failures[response.status] = failures.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    print(json.dumps({"elapsed": elapsed, "latencies": latencies, "failures": failures, "bytes": received[0]}))


async def hammer(url: str, clients: int, seconds: float, encoding: str = "gzip") -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.statuspage", "--load", url, "--clients", str(clients), "--seconds", str(seconds),
        "--encoding", encoding, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit("the load generator failed")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    if result["failures"]:
        raise SystemExit(f"{url} answered errors under load: {result['failures']}")
    return result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def rate_line(label: str, result: dict[str, Any], goal: float | None = RENDER_GOAL) -> None:
    lat = result["latencies"]
    rate = len(lat) / result["elapsed"]
    verdict = "" if goal is None else f"   goal ≥ {goal:.0f}/s: {'met' if rate >= goal else 'NOT met'}"
    print(f"  {label:<52} {rate:>6.0f} req/s   p50 {statistics.median(lat) * 1000:6.1f} ms   "
          f"p99 {pct(lat, 0.99) * 1000:6.1f} ms   {result['bytes'] / len(lat) / 1024:5.0f} KiB each{verdict}")


async def bare_server(body: str) -> tuple[web.AppRunner, str]:
    """A bare aiohttp handler answering ``body`` (gzipped, as the status page keeps it, when the client takes gzip)
    with the status page's headers: the ceiling of this machine, aiohttp and the client."""
    data = body.encode()
    gzipped = gzip.compress(data, compresslevel=6, mtime=0)
    headers = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "public, max-age=15"}

    async def handler(request: web.Request) -> web.Response:
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            return web.Response(body=gzipped, content_type="text/html", charset="utf-8",
                                headers={**headers, "Content-Encoding": "gzip"})
        return web.Response(body=data, content_type="text/html", charset="utf-8", headers=headers)

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{bound_port(site)}/"


async def check_invalidation(h: Harness, rounds: int = 5) -> None:
    """After each change the very next HTML and JSON answers show it."""
    for n in range(rounds):
        status = "major_outage" if n % 2 == 0 else "operational"
        await flip(h, status)
        html = (await h.http.get("/status/big")).text
        feed = (await h.http.get("/status/big/index.json")).json()
        shown = {c["name"]: c["status"] for c in feed["components"]}[component_name(0)]
        overall = "Major outage" if status == "major_outage" else "All systems operational"
        if shown != status or f'role="status">{overall}<' not in html:
            raise SystemExit(f"stale page after a change: JSON says {shown}, the HTML lacks '{overall}'")


async def render_part(url: str, components: int, count: int, clients: int, seconds: float, churn: float) -> None:
    h = await Harness.start(url, rate_limits=False, workers=False, tweak=render_tweak(components))
    try:
        t0 = time.perf_counter()
        await seed(h, components, count)
        seeded = time.perf_counter() - t0
        page = h.settings.status_page("big")
        assert page is not None
        body = (await h.http.get("/status/big")).text
        renders = []
        for _ in range(10):
            t0 = time.perf_counter()
            async with h.runtime.store.read() as tx:
                pages.render_html(await pages.snapshot(tx, page, h.settings))
            renders.append(time.perf_counter() - t0)
        await check_invalidation(h)
        runner, bare = await bare_server(body)
        try:
            results = {
                "html": await hammer(f"{h.base_url}/status/big", clients, seconds),
                "json": await hammer(f"{h.base_url}/status/big/index.json", clients, seconds),
                "bare": await hammer(bare, clients, seconds),
                "identity": await hammer(f"{h.base_url}/status/big", clients, seconds, "identity"),
                "bare identity": await hammer(bare, clients, seconds, "identity"),
            }
            flips = 0

            async def churning() -> None:
                nonlocal flips
                while True:
                    await asyncio.sleep(churn)
                    flips += 1
                    await flip(h, "major_outage" if flips % 2 else "operational")

            task = asyncio.create_task(churning())
            try:
                results["churn"] = await hammer(f"{h.base_url}/status/big", clients, seconds)
            finally:
                task.cancel()
        finally:
            await runner.cleanup()
    finally:
        await h.stop()
    median = statistics.median(renders)
    print(f"1. render — page 'big': {components} components, {count} past incidents (seeded in {seeded:.1f} s); "
          f"{len(body) / 1024:.0f} KiB of HTML; {clients} keep-alive clients in a separate process, {seconds:.0f} s each")
    rate_line("/status/big (cached; gzip, as browsers take it)", results["html"])
    rate_line("/status/big/index.json (cached; gzip)", results["json"])
    rate_line(f"/status/big, a change every {churn:g} s ({flips} changes; gzip)", results["churn"])
    rate_line("baseline: bare aiohttp handler, same bytes (gzip)", results["bare"], goal=None)
    rate_line("/status/big (cached; a client without gzip)", results["identity"])
    rate_line("baseline: bare aiohttp handler, same bytes (no gzip)", results["bare identity"], goal=None)
    print(f"  baseline: uncached render (snapshot + HTML)      {median * 1000:7.1f} ms per render "
          f"(≈ {1 / median:.0f} renders/s)")
    print("  invalidation: after each of 5 changes the next HTML and JSON answers showed it")


# ---------------------------------------------------------------------------------------------- declaration


def fleet_service(n: int) -> str:
    return f"fleet-{n:02d}"


def declare_tweak(world: World, alerts: int, mirror: dict[str, str]) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        template = next(s for s in data["services"] if s["name"] == "payments")
        data["services"] = [*data["services"], *[
            {**template, "name": fleet_service(n), "itsm": {"enabled": False}, "bridge": "none",
             "status": {"page": "fleet", "components": [component_name(n)]}} for n in range(alerts)]]
        data["status_pages"] = [{
            "name": "fleet", "title": "Fleet", "components": [{"name": component_name(n)} for n in range(alerts)],
            "statuspage": {"page_id": world.statuspage_page, "components": mirror}}]

    return apply


def drafts_posted(h: Harness) -> set[int]:
    """Incidents whose war room (Slack channel ``inc-<id>-…``) has a status page draft card."""
    slack, found = h.world.slack, set()
    for channel in slack.channels.values():
        name = str(channel["name"])
        if name.startswith("inc-") and any((m.get("metadata") or {}).get("event_type") == DRAFT_EVENT
                                           for m in slack.messages(channel["id"])):
            found.add(int(name.split("-")[1]))
    return found


class Watcher:
    """One loop, every :data:`POLL` seconds, noting when each declared alert's figures first held: its component a
    major outage in ``/status/fleet/index.json`` (over HTTP) and on the Statuspage emulator, its draft card posted."""

    FIGURES = ("page", "statuspage", "draft")

    def __init__(self, h: Harness, mirror: dict[str, str]) -> None:
        self.h, self.mirror = h, mirror
        #: component → (POST time, incident id or None until the intake answered)
        self.pending: dict[str, list[Any]] = {}
        self.seen: dict[str, dict[str, float]] = {}

    def start(self, component: str) -> None:
        self.pending[component] = [time.perf_counter(), None]
        self.seen[component] = {}

    async def poll(self) -> None:
        feed = (await self.h.http.get("/status/fleet/index.json")).json()
        at = time.perf_counter()
        page = {c["name"]: c["status"] for c in feed["components"]}
        statuspage, world = self.h.world.statuspage, self.h.world
        drafted = drafts_posted(self.h)
        for component, (t0, incident) in self.pending.items():
            seen = self.seen[component]
            if "page" not in seen and page.get(component) == "major_outage":
                seen["page"] = at - t0
            if "statuspage" not in seen and statuspage.component_status(
                    world.statuspage_page, self.mirror[component]) == "major_outage":
                seen["statuspage"] = at - t0
            if "draft" not in seen and incident in drafted:
                seen["draft"] = at - t0

    async def until(self, components: list[str], timeout: float, missing: set[str]) -> None:
        """Polls until every figure of ``components`` held (figures in ``missing`` are not waited for), or
        ``timeout`` seconds."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            await self.poll()
            if all(set(self.seen[c]) | missing >= set(self.FIGURES) for c in components):
                return
            await asyncio.sleep(POLL)


async def declare(h: Harness, watcher: Watcher, n: int) -> None:
    component = component_name(n)
    payload = alertmanager_payload([{"labels": {"alertname": f"Fleet{n}", "service": fleet_service(n),
                                                "severity": "critical"}, "annotations": {"summary": f"fleet {n}"}}])
    watcher.pending[component] = [time.perf_counter(), None]
    response = await h.post_alerts(payload)
    watcher.pending[component][1] = int(response.json()["incidents"][0])
    watcher.seen[component]["declared"] = time.perf_counter() - watcher.pending[component][0]


def summary(label: str, values: list[float | None], goal: float | None, missing: str) -> None:
    got = [v for v in values if v is not None]
    if not got:
        print(f"  {label:<36} not measured: {missing}")
        return
    late = len(values) - len(got)
    p99 = pct(got, 0.99)
    verdict = "" if goal is None else f"   goal p99 ≤ {goal:g} s: {'met' if p99 <= goal and not late else 'NOT met'}"
    print(f"  {label:<36} p50 {statistics.median(got):6.3f} s   p99 {p99:6.3f} s   max {max(got):6.3f} s"
          f"{f'   ({late} never within the timeout)' if late else ''}{verdict}")


async def declare_part(url: str, alerts: int, timeout: float, baseline: int = 5) -> None:
    """One server: ``baseline`` alerts one at a time (services 0…), then ``alerts`` at once (the next services)."""
    world = await World.start(rate_limits=False)
    total = baseline + alerts
    mirror = {component_name(n): world.statuspage.add_component(world.statuspage_page, component_name(n))
              for n in range(total)}
    h = await Harness.start(url, world=world, tweak=declare_tweak(world, total, mirror))
    watcher = Watcher(h, mirror)
    missing: set[str] = set()
    try:
        for n in range(baseline):
            watcher.start(component_name(n))
            poller = asyncio.create_task(watcher.until([component_name(n)], timeout, missing))
            await declare(h, watcher, n)
            await poller
            missing |= set(Watcher.FIGURES) - set(watcher.seen[component_name(n)])  # not built: do not wait again
        batch = [component_name(n) for n in range(baseline, total)]
        for component in batch:
            watcher.start(component)
        poller = asyncio.create_task(watcher.until(batch, timeout, missing))
        await asyncio.gather(*(declare(h, watcher, n) for n in range(baseline, total)))
        await poller
    finally:
        await h.stop()
    rows = {"one at a time": [watcher.seen[component_name(n)] for n in range(baseline)],
            "at once": [watcher.seen[c] for c in batch]}
    print(f"2. declaration → component ({total} services, each on its own component of page 'fleet', mirrored on "
          "the Statuspage emulator; polled every 10 ms)")
    for mode, found in rows.items():
        print(f" {mode} ({len(found)} alerts):")
        summary("alert answered (incident declared)", [r.get("declared") for r in found], None, "-")
        summary("built-in page (index.json)", [r.get("page") for r in found], COMPONENT_GOAL, "never shown")
        summary("Statuspage emulator", [r.get("statuspage") for r in found], COMPONENT_GOAL,
                "Statuspage mirroring not built (no component status reached the emulator)")
    print(f"   (load average {os.getloadavg()[0]:.1f})")
    print("3. declaration → draft card in the Slack war room (deterministic engine)")
    for mode, found in rows.items():
        print(f" {mode} ({len(found)} alerts):")
        summary("draft card posted", [r.get("draft") for r in found], DRAFT_GOAL,
                "drafts in the war room not built (no draft card was posted)")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        print(f"bench/statuspage  ({'PostgreSQL' if args.postgres else 'SQLite'}; the server in this process, "
              f"the load in another; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        if args.part in ("all", "render"):
            await render_part(url, args.components, args.incidents, args.clients, args.seconds, args.churn)
        if args.part in ("all", "declare"):
            await declare_part(url, args.alerts, args.timeout)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--components", type=int, default=50)
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--churn", type=float, default=0.5)
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for each figure of parts 2-3")
    parser.add_argument("--part", choices=("all", "render", "declare"), default="all")
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite (postgresql+asyncpg://…); one part")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--encoding", default="gzip", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        asyncio.run(load(args.load, args.clients, args.seconds, args.encoding))
    else:
        asyncio.run(main(args))
