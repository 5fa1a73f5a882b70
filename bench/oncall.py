"""bench/oncall — how soon a page reaches a person, and how punctually escalation steps fire under load.

The real server (warroom.sandbox.harness.Harness) with the sandbox emulators in the benchmark's process, plus a
Twilio emulator (warroom.sandbox.twilio) started here for SMS; emulators answer at once, rate limits off (with
``--rate-limits``, on: Slack's tiers as the emulator models them; part 1 only).
``--services`` services, each with its own escalation policy: its first step pages the service's own person, its
second (30 minutes later) the next service's person. Every person's high-urgency rules are a Slack DM and an SMS,
both at 0 minutes (phones +4477009NNNNN).

1. **Declare → first notification.** One critical alert per service, all POSTed to /alerts/alertmanager at once
   (concurrently, over loopback): each declares an incident, which opens its war room (Slack channel, Xurrent
   request, Zoom bridge …) and starts its escalation. Per incident: the time from its alert's POST to the first
   Slack DM to its person and to the first SMS to their phone, each the instant the request reached the emulator
   (its log of received calls). p50 / p99 / max (goal: ≤ 1 s at p99). Baseline, in the same run: one alert at a
   time with nothing else running (the median of three).
2. **Lateness of timed steps.** ``--escalations`` more incidents are declared through the response layer
   (IncidentService.declare, in the benchmark's process) on services that open a Slack war room only (no request,
   no bridge, no bookmarks: a shorter set-up) with the same policies; with the outbox worker stopped while they are
   declared, their escalations' first steps are put off by a day and their war rooms opened (set-up, not
   measured). Then those step jobs (the outbox's ``oncall.step``, as tests/e2e/oncall_helpers.make_due moves them)
   are made due evenly over ``--spread`` seconds, starting ``--lead`` seconds from now, in a shuffled order. The
   outbox worker runs them, with everything they cause: the pages by DM and SMS, Twilio's status callbacks,
   war-room lines and invitations. Per step: when it ran — its notifications' ``created_at``, set by the step's
   transaction — minus when it was due. p50 / p99 / max (goal: every step within 1 s). Baseline, in the same run:
   the second steps of 20 of part 1's escalations due one every 0.25 s with nothing else running.

The outbox worker runs with warroom's shipped defaults (``worker.concurrency`` 16, ``worker.poll_interval`` 0.5 s)
unless ``--concurrency`` / ``--poll-interval`` say otherwise; the sandbox's other worker settings are kept.
``--postgres`` needs an empty database.

    python -m bench.oncall [--services 100] [--escalations 1000] [--spread 10] [--lead 10] [--part both]
                           [--concurrency N] [--poll-interval S] [--rate-limits] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import ColumnElement, select, update

from warroom.core.jobs import ONCALL_STEP
from warroom.core.model import Origin
from warroom.response.incidents import IncidentService
from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.twilio import TwilioEmulator
from warroom.sandbox.world import World
from warroom.settings.model import WorkerSettings
from warroom.store.db import Store
from warroom.store.schema import escalations, notifications, outbox

#: Minutes between an escalation's steps: no second step runs by itself while the benchmark runs.
WAIT_MINUTES = 30
GOAL = 1.0


class Person:
    def __init__(self, n: int, user_id: str) -> None:
        self.n = n
        self.email = f"pager{n:04d}@example.com"
        self.phone = f"+4477009{n:05d}"
        self.user_id = user_id


def service_name(n: int) -> str:
    return f"svc-{n:04d}"


def light_name(n: int) -> str:
    return f"esc-{n:04d}"


def tweak_for(people: Sequence[Person], twilio: TwilioEmulator, worker: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """The sandbox settings plus, per person, a service (as checkout-api: Slack room, Xurrent request, Zoom bridge),
    a light one (a Slack room without bookmarks only) and their policy; the people, Twilio and the worker's settings."""

    def apply(data: dict[str, Any]) -> None:
        template = data["services"][0]
        services, light, policies = [], [], []
        for p in people:
            nxt = people[(p.n + 1) % len(people)]
            svc = {**template, "name": service_name(p.n), "description": f"benchmark service {p.n}",
                   "responders": [p.email], "smes": [], "leadership": [], "escalation_policy": service_name(p.n)}
            services.append(svc)
            light.append({**svc, "name": light_name(p.n), "itsm": {"enabled": False}, "bridge": "none", "slack": {}})
            policies.append({"name": service_name(p.n), "steps": [
                {"notify": {"users": [p.email]}, "wait_minutes": WAIT_MINUTES},
                {"notify": {"users": [nxt.email]}, "wait_minutes": WAIT_MINUTES},
            ]})
        data["services"] = [*data["services"], *services, *light]
        data["oncall"] = {
            "escalation_policies": policies,
            "people": [{"email": p.email, "name": f"Pager {p.n}", "phone": p.phone,
                        "rules": {"high": [{"method": "chat"}, {"method": "sms"}]}} for p in people],
        }
        data["twilio"] = twilio.settings()
        data["worker"] = {**data["worker"], **worker}

    return apply


# ---------------------------------------------------------------------------------------------- reading back


def _params(body: Any, path: str) -> dict[str, str]:
    """A request's arguments, however it was sent: JSON body, form body or query string."""
    found: dict[str, str] = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
    if isinstance(body, str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            found.update({k: v[0] for k, v in parse_qs(body).items()})
        else:
            if isinstance(parsed, dict):
                found.update({k: str(v) for k, v in parsed.items()})
    return found


class Arrivals:
    """When pages reached the emulators, read from their logs of received calls (``time.monotonic`` at arrival),
    incrementally: only calls not seen before are parsed."""

    def __init__(self, h: Harness, twilio: TwilioEmulator) -> None:
        self.slack, self.twilio = h.world.slack, twilio
        self._seen = [0, 0]
        #: Slack user id → arrival times of the DMs to them; phone → of the SMS to it.
        self.dms: dict[str, list[float]] = {}
        self.sms: dict[str, list[float]] = {}

    def scan(self) -> None:
        calls = self.slack.calls
        for call in calls[self._seen[0]:]:
            if call.op == "chat.postMessage" and call.status == 200:
                channel = _params(call.body, call.path).get("channel", "")
                if channel[:1] in ("U", "W", "D"):
                    self.dms.setdefault("U" + channel[1:] if channel[:1] == "D" else channel, []).append(call.at)
        self._seen[0] = len(calls)
        calls = self.twilio.calls
        for call in calls[self._seen[1]:]:
            if call.op == "POST Messages" and call.status == 201:
                self.sms.setdefault(_params(call.body, call.path).get("To", ""), []).append(call.at)
        self._seen[1] = len(calls)

    @staticmethod
    def first(times: dict[str, list[float]], key: str, since: float) -> float | None:
        return next((t for t in times.get(key, []) if t >= since), None)


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def spread_line(values: Sequence[float]) -> str:
    return f"p50 {ms(statistics.median(values))}   p99 {ms(pct(values, 0.99))}   max {ms(max(values))}"


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} (1 / 5 min) on {os.cpu_count()} cores at the start"


async def quiet(h: Harness, twilio: TwilioEmulator, timeout: float) -> bool:
    """Wait until the outbox and Twilio's callbacks are done; False when they were not within ``timeout``."""
    try:
        await h.runtime.worker.run_until_idle(timeout=timeout)
        await twilio.settled(timeout=timeout)
        await h.runtime.worker.run_until_idle(timeout=timeout)
    except TimeoutError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- part 1


async def page_once(h: Harness, twilio: TwilioEmulator, arrivals: Arrivals, people: Sequence[Person], tag: str,
                    timeout: float) -> tuple[list[float], list[float], float]:
    """One alert per person's service, POSTed at once; the time from each POST to the first DM and SMS."""
    started: dict[int, float] = {}
    incidents: list[int] = []

    async def post(p: Person) -> None:
        payload = alertmanager_payload([{
            "labels": {"alertname": f"OncallBench{tag}-{p.n}", "service": service_name(p.n), "severity": "critical"},
            "annotations": {"summary": f"benchmark page {tag} {p.n}"}}])
        started[p.n] = time.monotonic()
        response = await h.post_alerts(payload)
        if response.status_code != 202 or not response.json().get("incidents"):
            raise SystemExit(f"the alert for {service_name(p.n)} declared nothing: {response.status_code} {response.text}")
        incidents.extend(response.json()["incidents"])

    t0 = time.monotonic()
    await asyncio.gather(*(post(p) for p in people))
    answered = time.monotonic() - t0
    deadline = time.monotonic() + timeout
    dm: dict[int, float] = {}
    sms: dict[int, float] = {}
    while time.monotonic() < deadline:
        arrivals.scan()
        for p in people:
            if p.n not in dm and (at := arrivals.first(arrivals.dms, p.user_id, started[p.n])) is not None:
                dm[p.n] = at - started[p.n]
            if p.n not in sms and (at := arrivals.first(arrivals.sms, p.phone, started[p.n])) is not None:
                sms[p.n] = at - started[p.n]
        if len(dm) == len(sms) == len(people):
            break
        await asyncio.sleep(0.1)
    # let the war rooms finish, and let the next alert of these services declare a new incident
    if not await quiet(h, twilio, timeout):
        print(f"  (the outbox was still busy {timeout:g} s after the pages: war rooms not complete)")
    async with h.runtime.store.tx() as tx:
        for incident in incidents:
            await tx.incidents.update(incident, alert_group=None)
    return list(dm.values()), list(sms.values()), answered


async def part_paging(h: Harness, twilio: TwilioEmulator, people: Sequence[Person], timeout: float) -> None:
    arrivals = Arrivals(h, twilio)
    alone_dm: list[float] = []
    alone_sms: list[float] = []
    for p in people[:3]:  # the baseline: one incident at a time, nothing else running
        dm, sms, _ = await page_once(h, twilio, arrivals, [p], f"alone{p.n}", timeout)
        alone_dm += dm
        alone_sms += sms
    dm, sms, answered = await page_once(h, twilio, arrivals, people, "burst", timeout)
    print(f"1. declare → first notification: {len(people)} alerts POSTed at once, one per service (all answered "
          f"202 within {answered:.2f} s)")
    for label, values, alone in (("Slack DM", dm, alone_dm), ("SMS", sms, alone_sms)):
        if not values:
            print(f"  alert POST → first {label}: none arrived")
            continue
        base = statistics.median(alone) if alone else float("nan")
        p99 = pct(values, 0.99)
        missing = f"; {len(people) - len(values)} not within {timeout:g} s" if len(values) < len(people) else ""
        print(f"  alert POST → first {label:<8}: {spread_line(values)}   (goal p99 ≤ {GOAL:g} s: "
              f"{'met' if p99 <= GOAL and not missing else 'NOT met'}{missing}); one alone: {ms(base)} → "
              f"p99 {p99 / base:.1f} × alone")


# ---------------------------------------------------------------------------------------------- part 2


async def make_due_over(store: Store, where: ColumnElement[bool], lead: float, spread: float,
                        seed: int = 13) -> dict[int, datetime]:
    """Make the pending step jobs ``where`` selects due evenly over ``spread`` seconds from ``lead`` seconds ahead,
    in a shuffled order; escalation id → when its step is due."""
    async with store.tx() as tx:
        jobs = list((await tx.conn.execute(select(outbox.c.id, outbox.c.payload).where(where))).all())
        random.Random(seed).shuffle(jobs)
        base = tx.now + timedelta(seconds=lead)
        due: dict[int, datetime] = {}
        for k, row in enumerate(jobs):
            at = base + timedelta(seconds=spread * k / max(1, len(jobs)))
            await tx.conn.execute(update(outbox).where(outbox.c.id == row.id).values(run_at=at))
            due[int(row.payload["escalation"])] = at
    return due


async def step_lateness(h: Harness, due: dict[int, datetime], step: int, wait: float) -> dict[int, float]:
    """Wait (at most ``wait`` seconds) until each escalation's step has run; escalation id → its lateness (the
    step's notifications' ``created_at`` minus when it was due)."""
    deadline = time.monotonic() + wait
    fired: dict[int, datetime] = {}
    while time.monotonic() < deadline and len(fired) < len(due):
        await asyncio.sleep(0.5)
        async with h.runtime.store.read() as tx:
            rows = (await tx.conn.execute(
                select(notifications.c.escalation_id, notifications.c.created_at)
                .where(notifications.c.escalation_id.in_(list(due)), notifications.c.step == step))).all()
        fired = {}
        for esc_id, created in rows:
            fired[int(esc_id)] = min(_utc(created), fired.get(int(esc_id), _utc(created)))
    return {e: (at - due[e]).total_seconds() for e, at in fired.items()}


async def part_timers(h: Harness, twilio: TwilioEmulator, people: Sequence[Person], count: int, lead: float,
                      spread: float, timeout: float, baseline: bool) -> None:
    store, worker = h.runtime.store, h.runtime.worker
    alone: dict[int, float] = {}
    if baseline:  # 20 of part 1's escalations: their second steps, one due every 0.25 s, nothing else running
        async with store.read() as tx:
            part1 = [int(r[0]) for r in (await tx.conn.execute(
                select(outbox.c.id).where(outbox.c.kind == ONCALL_STEP, outbox.c.status == "pending")
                .order_by(outbox.c.id).limit(20))).all()]
        due = await make_due_over(store, outbox.c.id.in_(part1), 1.0, 0.25 * len(part1))
        alone = await step_lateness(h, due, 1, 10 + timeout)
        await quiet(h, twilio, timeout)

    # Set-up: incidents declared with the worker stopped, their first steps put off by a day, their war rooms
    # opened by the worker (with more concurrency for the while: the set-up is not measured).
    t0 = time.monotonic()
    service = IncidentService(h.settings, store)
    await worker.stop()
    incident_ids: list[int] = []
    for start in range(0, count, 50):
        made = await asyncio.gather(*(
            service.declare(service=light_name(people[i % len(people)].n), title=f"Escalation bench {i}",
                            priority="P1", origin=Origin.ALERT)
            for i in range(start, min(count, start + 50))))
        incident_ids.extend(i.id for i in made)
    steps = (outbox.c.kind == ONCALL_STEP) & (outbox.c.status == "pending") & outbox.c.incident_id.in_(incident_ids)
    async with store.tx() as tx:
        await tx.conn.execute(update(outbox).where(steps).values(run_at=tx.now + timedelta(days=1)))
    measured = worker.concurrency
    worker.concurrency = max(measured, 64)
    worker.start()
    await worker.run_until_idle(timeout=timeout * 4)
    worker.concurrency = measured
    await quiet(h, twilio, timeout)
    setup = time.monotonic() - t0

    due = await make_due_over(store, steps, lead, spread)
    if len(due) != count:
        raise SystemExit(f"expected {count} escalations waiting on a step, found {len(due)}")
    late = await step_lateness(h, due, 0, lead + spread + timeout * 2)
    await quiet(h, twilio, timeout)
    async with store.read() as tx:
        moved = len((await tx.conn.execute(
            select(escalations.c.id).where(escalations.c.id.in_(list(due)), escalations.c.step == 1))).all())
        sent = (await tx.conn.execute(
            select(notifications.c.escalation_id, notifications.c.method, notifications.c.sent_at)
            .where(notifications.c.escalation_id.in_(list(due))))).all()
    print(f"2. timed steps: {count} active escalations, a step of each due within {spread:g} s from {lead:g} s ahead "
          f"({count / spread:.0f} steps/s; set-up, not measured: {count} incidents declared, war rooms opened, "
          f"in {setup:.0f} s)")
    if alone:
        print(f"  baseline, {len(alone)} steps one every 0.25 s, nothing else running: step due → ran "
              f"{spread_line(list(alone.values()))}")
    if not late:
        print("  no step ran")
        return
    values = list(late.values())
    within = sum(1 for v in values if v <= GOAL)
    print(f"  step due → step ran: {spread_line(values)}   ({within}/{count} within {GOAL:g} s; goal all: "
          f"{'met' if within == count else 'NOT met'}; {moved} escalations moved on to their next step)")
    to_sent: dict[str, list[float]] = {"chat": [], "sms": []}
    for esc_id, method, sent_at in sent:
        if sent_at is not None and str(method) in to_sent:
            to_sent[str(method)].append((_utc(sent_at) - due[int(esc_id)]).total_seconds())
    for method, label in (("chat", "Slack DM"), ("sms", "SMS")):
        if to_sent[method]:
            print(f"  step due → {label} recorded sent: {spread_line(to_sent[method])}   ({len(to_sent[method])} sent)")
    first_due = min(due.values())
    took = max(late[e] + (due[e] - first_due).total_seconds() for e in late)
    print(f"  the {len(late)} steps ran within {took:.1f} s of the first falling due: {len(late) / took:.0f} steps/s, "
          "with the pages, Twilio's status callbacks and war-room lines they cause")


# ---------------------------------------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> None:
    defaults = WorkerSettings()
    worker = {"concurrency": args.concurrency or defaults.concurrency,
              "poll_interval": args.poll_interval or defaults.poll_interval}
    note = load_note()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        world = await World.start(rate_limits=args.rate_limits)
        twilio = TwilioEmulator(EmulatorConfig(rate_limits=args.rate_limits))
        await twilio.start()
        people = [Person(n, world.slack.add_user(f"pager{n:04d}@example.com", f"Pager{n:04d} Bench"))
                  for n in range(args.services)]
        h = await Harness.start(url, world=world, tweak=tweak_for(people, twilio, worker))
        twilio.sms_webhook_url = f"{h.base_url}/oncall/twilio/sms"
        print(f"bench/oncall  ({'PostgreSQL' if args.postgres else 'SQLite'}; {args.services} services, each with its "
              f"own policy; pages by Slack DM and SMS at 0 min; emulators instant, rate limits "
              f"{'on' if args.rate_limits else 'off'}; worker "
              f"concurrency {worker['concurrency']}, poll interval {worker['poll_interval']:g} s; {note})")
        try:
            if args.part in ("both", "paging"):
                await part_paging(h, twilio, people, args.timeout)
            if args.part in ("both", "timers") and not args.rate_limits:
                await part_timers(h, twilio, people, args.escalations, args.lead, args.spread, args.timeout,
                                  baseline=args.part == "both")
        finally:
            await h.stop()
            await twilio.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=100, help="services, people, and incidents paging at once")
    parser.add_argument("--escalations", type=int, default=1000, help="concurrent escalations of part 2")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which their steps fall due")
    parser.add_argument("--lead", type=float, default=10.0, help="seconds from now to the first step due")
    parser.add_argument("--part", choices=("both", "paging", "timers"), default="both")
    parser.add_argument("--concurrency", type=int, help="worker.concurrency (default: warroom's, 16)")
    parser.add_argument("--poll-interval", type=float, help="worker.poll_interval in seconds (default: warroom's, 0.5)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for what is measured")
    parser.add_argument("--rate-limits", action="store_true", help="the emulators' rate limits on (part 1 only)")
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite (postgresql+asyncpg://…); an empty database")
    asyncio.run(main(parser.parse_args()))
