"""bench/ai_eval's cases end to end: through ``warroom serve`` as a real incident would reach it.

Each case runs on a fresh database against the sandbox's emulators, on the case's own clock: the process's wall clock
(``time_machine``) is set to each record's moment before the record is sent, so what the server stamps on arrival
(discussion, notes, the declaration) is when the case says it happened, and times of day and cron schedules in its
text stay true. (Shifting every time so that ``asked_at`` was now, as before, sent the whole discussion at one moment
and made "at 02:00" and "0 2 * * *" point at the wrong hour.) In the order things happened:

1. the services it names are configured (its incident's service, depending on its ``dependencies``; every service
   an alert or change names) — each opens Slack war rooms, no bridge, no ITSM request (neither is evidence);
2. its changes made by ``asked_at`` are POSTed to ``/events/changes`` (with their ``kind``) and its alerts that fired
   by then to ``/alerts/alertmanager`` as Alertmanager sends them (labels, the severity label as written,
   annotations, ``startsAt``, ``generatorURL``), each at its own moment, in the order they happened — each alert
   routes to its own service, so a dependency's critical alert declares an incident of its own there, as it would
   in production;
3. at the case's ``created_at``, the incident on its service is the one its alert declared, or is declared by
   ``/incident declare`` when its alerts stay below the service's threshold;
4. the incident gets its war room; the discussion up to ``asked_at`` is said there, each line at its moment, as signed Slack
   message events by the people who said it, notes as ``/incident note``, acknowledging as ``/incident ack`` (at
   the case's ``acknowledged_at``), and the case's priority, when the alerts' severities gave another, as
   ``/incident priority`` (responders triage what the intake mapped);
5. ``/incident rca`` and ``/incident summary`` are asked in the war room, and the answers read back: the RCA's ranked
   cause keys from the timeline entry written with the war-room post, the summary's text from the war room.

The scoring is bench/ai_eval's (:func:`score`). Used by ``python -m bench.ai_eval --e2e``.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import time_machine

from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.world import INTAKE_TOKEN, World

if TYPE_CHECKING:
    from bench.ai_eval import Case

AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


@dataclass
class E2EAnswer:
    case: str
    causes: list[str] = field(default_factory=list)  # ranked cause keys, each with its aliases ("a|b")
    summary: str = ""
    incident: int | None = None
    problem: str | None = None  # why the case could not be run end to end
    #: When the server recorded the incident's declaration and each line of discussion (its clock on arrival).
    declared_at: datetime | None = None
    said_at: list[datetime] = field(default_factory=list)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _services(case: Case) -> list[dict[str, Any]]:
    ctx = case.ctx
    named = [ctx.service, *ctx.dependencies]
    named += [a.service for a in ctx.alerts if a.service]
    named += [c.service for c in ctx.changes if c.service]
    out = []
    for name in dict.fromkeys(n.lower() for n in named if n):
        main = name == ctx.service.lower()
        out.append({
            "name": name,
            "chat": "slack",
            "bridge": "none",
            "itsm": {"enabled": False},
            # the case's own service declares on any of its alerts; the others as configured by default
            **({"declare_threshold": "P5", "depends_on": [d.lower() for d in ctx.dependencies]} if main else {}),
        })
    return out


def _tweak(case: Case) -> Any:
    def tweak(data: dict[str, Any]) -> None:
        data["services"] = _services(case)
        data["ai"].update(auto_summaries=False, auto_rca=False)

    return tweak


def _user(h: Harness, email: str | None) -> str:
    email = email or "responder@example.com"
    local = email.split("@", 1)[0]
    name = " ".join(part.capitalize() for part in re.split(r"[._-]+", local) if part) or "Responder"
    return h.world.slack.add_user(email, name)


async def _settle(h: Harness) -> None:
    for _ in range(3):
        await h.runtime.worker.run_until_idle(timeout=30)


async def run_case(case: Case, world: World, db_url: str) -> E2EAnswer:
    """One case through the server (see the module's docstring), on the case's own clock."""
    # The process's clock is the case's: every record is sent at its own moment, so what the server stamps on
    # arrival (discussion, notes, the declaration) is when the case says it happened, and times of day and cron
    # schedules in the text stay true. The clock ticks on from each moment; the event loop's monotonic clock
    # (timeouts) is left alone.
    ctx = case.ctx
    declared = ctx.created_at or case.asked_at
    with time_machine.travel(_first_moment(case, declared), tick=True) as clock:
        h = await Harness.start(db_url, world=world, tweak=_tweak(case), rate_limits=False, webhooks=False)
        try:
            return await _run(case, h, clock, declared)
        finally:
            await h.stop(world=False)


def _first_moment(case: Case, declared: datetime) -> datetime:
    moments = [declared, *(c.at for c in case.ctx.changes if c.at <= case.asked_at),
               *(a.starts_at for a in case.ctx.alerts if a.starts_at and a.starts_at <= case.asked_at)]
    return min(moments) - timedelta(seconds=1)


def _at(clock: time_machine.Traveller, moment: datetime) -> None:
    """Move the clock forward to ``moment`` (never back: records sent late keep the order they were sent in)."""
    if moment > datetime.now(UTC):
        clock.move_to(moment)


async def _send_change(h: Harness, c: Any) -> str | None:
    body = {"id": c.id, "service": c.service, "title": c.title, "details": c.details or None, "at": _stamp(c.at),
            "url": c.url, "kind": getattr(c, "kind", "deploy")}
    response = await h.http.post("/events/changes", json=[{k: v for k, v in body.items() if v}], headers=AUTH)
    return None if response.status_code == 202 else f"change {c.id} refused: {response.text[:200]}"


async def _send_alert(h: Harness, case: Case, a: Any) -> str | None:
    # the severity label as the alerting rule wrote it: warroom's intake maps it to a priority
    # (intake.severity_priorities), as it does for a real Alertmanager
    labels = {**a.labels, "alertname": a.name}
    if a.severity:
        labels["severity"] = a.severity
    if a.service:
        labels["service"] = a.service.lower()
    annotations = {**a.annotations}
    if a.summary:
        annotations.setdefault("summary", a.summary)
    alert: dict[str, Any] = {"labels": labels, "annotations": annotations,
                             "startsAt": _stamp(a.starts_at or case.asked_at)}
    if a.generator_url:
        alert["generatorURL"] = a.generator_url
    response = await h.post_alerts(alertmanager_payload([alert]))
    return None if response.status_code == 202 else f"alert {a.name} refused: {response.text[:200]}"


async def _run(case: Case, h: Harness, clock: time_machine.Traveller, declared: datetime) -> E2EAnswer:
    answer = E2EAnswer(case.id)
    ctx = case.ctx
    h.world.slack.config.rate_limits = False
    # what reached the server by ``asked_at``, in the order it happened: changes as the change system posts them,
    # alerts as Alertmanager sends them
    feed: list[tuple[datetime, int, Any]] = [(c.at, 0, c) for c in ctx.changes if c.at <= case.asked_at]
    feed += [(a.starts_at or case.asked_at, 1, a) for a in ctx.alerts
             if a.starts_at is None or a.starts_at <= case.asked_at]
    feed.sort(key=lambda item: (item[0], item[1]))

    async def send(item: tuple[datetime, int, Any]) -> str | None:
        _at(clock, item[0])
        problem = await (_send_change(h, item[2]) if item[1] == 0 else _send_alert(h, case, item[2]))
        await _settle(h)
        return problem

    before = [item for item in feed if item[0] <= declared]
    after = [item for item in feed if item[0] > declared]
    for item in before:
        if problem := await send(item):
            answer.problem = problem
            return answer
    _at(clock, declared)
    incident = await _incident_of(h, case)
    if incident is None:
        reply = await h.slack.command(f"declare {ctx.service} {ctx.title[:120]}", channel="C0GENERAL",
                                      user=_user(h, ctx.assignee))
        await _settle(h)
        incident = await _incident_of(h, case)
        if incident is None:
            answer.problem = f"no incident on {ctx.service}: {reply.text[:200]}"
            return answer
    answer.incident = incident
    gaps = await h.wait_complete(incident, timeout=30)
    if gaps:
        answer.problem = f"war room incomplete: {', '.join(gaps)}"
        return answer
    async with h.runtime.store.read() as tx:
        link = await tx.links.get(incident, LinkKind.SLACK_CHANNEL)
    if link is None:
        answer.problem = "the war room has no Slack channel"
        return answer
    room = link.remote_id  # (the emulators are shared by the cases: names repeat, ids do not)
    # the priority the responders gave it: the alerts' severity sets the first one, people triage it (the case
    # records the result, not when it was set: at the start of the war room)
    priority = (ctx.priority or "").upper()
    async with h.runtime.store.read() as tx:
        current = await tx.incidents.get(incident)
    if priority and current is not None and current.priority != priority:
        await h.slack.command(f"priority {priority}", channel=room, user=_user(h, ctx.assignee))
    # acknowledged when the case says it was (``acknowledged_at``), else by a status event that says so
    ack_at = ctx.acknowledged_at if ctx.acknowledged_at and ctx.acknowledged_at <= case.asked_at else None
    said: list[tuple[datetime, int, Any]] = [(e.at, 3, e) for e in ctx.events if e.at <= case.asked_at]
    if ack_at is not None:
        said.append((ack_at, 2, None))
    acked = False
    for n, (moment, order, item) in enumerate(sorted([*after, *said], key=lambda i: (i[0], i[1]))):
        if order < 2:
            if problem := await send((moment, order, item)):
                answer.problem = problem
                return answer
            continue
        _at(clock, moment)
        if item is None:
            if not acked:
                await h.slack.command("ack", channel=room, user=_user(h, ctx.assignee))
                acked = True
            continue
        who = _user(h, item.actor)
        if item.kind == "discussion":
            await h.slack.event({"type": "message", "channel": room, "user": who, "text": item.text,
                                 "ts": f"{int(moment.timestamp())}.{n:06d}"})
        elif item.kind == "note":
            await h.slack.command(f"note {item.text}", channel=room, user=who)
        elif item.kind == "status" and "acknowledged" in item.text.split("→")[-1] and not acked:
            await h.slack.command("ack", channel=room, user=who)
            acked = True
    _at(clock, case.asked_at)
    await _settle(h)
    await h.slack.command("rca", channel=room)
    await h.slack.command("summary", channel=room)
    await _settle(h)
    async with h.runtime.store.read() as tx:
        events = await tx.timeline.for_incident(incident)
    answer.said_at = [e.at for e in events if e.kind == "discussion"]
    async with h.runtime.store.read() as tx:
        declared = await tx.incidents.get(incident)
    answer.declared_at = declared.created_at if declared is not None else None
    rca = [e for e in events if e.kind == "ai_rca"]
    if not rca:
        answer.problem = "no RCA was posted"
        return answer
    data = rca[-1].data or {}
    also = data.get("also") or [[] for _ in data.get("causes", [])]
    answer.causes = ["|".join([k, *extra]) for k, extra in zip(data.get("causes", []), also, strict=False)]
    posted = [str(m.get("text", "")) for m in h.world.slack.messages(room)]
    answer.summary = next((t for t in reversed(posted) if t.startswith("🤖 Status")), "")
    return answer


async def _incident_of(h: Harness, case: Case) -> int | None:
    async with h.runtime.store.read() as tx:
        found = await tx.incidents.list(limit=50, service=case.ctx.service.lower())
    return int(found[-1].id) if found else None


async def run_cases(cases: list[Case]) -> list[E2EAnswer]:
    """Every case end to end on one set of emulators, each on its own SQLite database."""
    world = await World.start(None, rate_limits=False)
    answers = []
    try:
        with tempfile.TemporaryDirectory(prefix="warroom-ai-e2e-") as folder:
            for n, case in enumerate(cases):
                db = f"sqlite+aiosqlite:///{Path(folder) / f'case-{n}.db'}"
                try:
                    answers.append(await asyncio.wait_for(run_case(case, world, db), timeout=120))
                except Exception as exc:  # a case that breaks the run is reported, not hidden
                    answers.append(E2EAnswer(case.id, problem=f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        await world.stop()
    return answers



# -- alert → the first hypothesis in the war room -------------------------------------------------------------
async def first_hypothesis(count: int, *, world: World | None = None) -> list[float]:
    """Seconds from each alert's POST to the first ranked causes posted in its war room by themselves
    (``ai.auto_rca``; deterministic engine): ``count`` services with a deploy each, one critical alert per service
    sent at once (each declares an incident that opens a war room, and whose causes are ranked at declaration).
    Read from the Slack emulator: the posted message's ``ts`` (the emulator's wall clock on arrival)."""
    import time

    own = world is None
    world = world or await World.start(None, rate_limits=False)
    services = [f"svc-{n:03d}" for n in range(count)]

    def tweak(data: dict[str, Any]) -> None:
        data["services"] = [{"name": s, "chat": "slack", "bridge": "zoom", "itsm": {"enabled": False}}
                            for s in services]
        data["ai"].update(auto_rca=True, auto_summaries=False)

    with tempfile.TemporaryDirectory(prefix="warroom-ai-first-") as folder:
        h = await Harness.start(f"sqlite+aiosqlite:///{Path(folder) / 'w.db'}", world=world, tweak=tweak,
                                rate_limits=False, webhooks=False)
        try:
            h.world.slack.config.rate_limits = False
            now = datetime.now(UTC)
            changes = [{"id": f"deploy-{s}", "service": s, "title": f"{s} 2.4.1 — connection pool 50 → 5",
                        "at": _stamp(now - timedelta(minutes=5)), "kind": "deploy"} for s in services]
            await h.http.post("/events/changes", json=changes, headers=AUTH)

            async def fire(service: str) -> tuple[str, float, int | None]:
                sent = time.time()
                response = await h.post_alerts(alertmanager_payload([{
                    "labels": {"alertname": "HighErrorRate", "service": service, "severity": "critical"},
                    "annotations": {"summary": f"5xx above 10% on {service}"}, "startsAt": _stamp(now)}]))
                incidents = response.json().get("incidents") or [None]
                return service, sent, incidents[0]

            fired = await asyncio.gather(*(fire(s) for s in services))
            latencies: dict[int, float] = {}
            deadline = time.monotonic() + 120
            while len(latencies) < len(fired) and time.monotonic() < deadline:
                async with h.runtime.store.read() as tx:
                    rooms = {i: await tx.links.get(i, LinkKind.SLACK_CHANNEL) for _, _, i in fired if i is not None}
                for _, sent, incident in fired:
                    room = rooms.get(incident) if incident is not None else None
                    if incident is None or incident in latencies or room is None:
                        continue
                    posted = [float(m["ts"]) for m in h.world.slack.messages(room.remote_id)
                              if str(m.get("text", "")).startswith("🤖 Probable causes")]
                    if posted:
                        latencies[incident] = posted[0] - sent
                await asyncio.sleep(0.02)
            return sorted(latencies.values())
        finally:
            await h.stop(world=own)
