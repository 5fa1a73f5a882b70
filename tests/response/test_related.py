"""Related incidents (warroom.response.related): the neighbours in ``depends_on`` both ways, the window and bounds of
the neighbours' alerts read as evidence, the war-room line, and what the AI context and the RCA make of them — on a
real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from warroom.ai import AlertFact, IncidentContext
from warroom.ai.context import RelatedIncidentFact
from warroom.ai.rca import rank_causes
from warroom.ai.records import build_records
from warroom.ai.safety import Redactor, allowed_from
from warroom.core.jobs import SAY
from warroom.core.model import AlertIn, AlertStatus, Incident, Origin, Status, Urgency
from warroom.response import related
from warroom.response.ai.context import build_context, snapshot
from warroom.response.incidents import IncidentService
from warroom.settings import Settings
from warroom.store.db import Store
from warroom.store.schema import outbox

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


def settings() -> Settings:
    """web → checkout-api → payments; search stands apart."""
    svc = {"responders": ["ana@example.com"], "bridge": "none"}
    return Settings(
        slack={"enabled": False}, teams={"enabled": False}, xurrent={"enabled": False},
        services=[
            {"name": "checkout-api", "depends_on": ["payments", "checkout-api"], **svc},
            {"name": "payments", **svc},
            {"name": "web", "depends_on": ["checkout-api"], **svc},
            {"name": "search", **svc},
        ],
    )


def incident(n: int = 1, service: str = "checkout-api", status: Status = Status.TRIGGERED,
             created: datetime = NOW, resolved: datetime | None = None) -> Incident:
    return Incident(id=n, title="t", status=status, priority="P1", urgency=Urgency.HIGH, service=service,
                    details="", assignee=None, origin=Origin.ALERT, created_at=created, updated_at=created,
                    resolved_at=resolved)


# -- pure ---------------------------------------------------------------------------------------------------
def test_neighbours_are_direct_and_both_ways() -> None:
    s = settings()
    checkout = related.neighbours(s, "checkout-api")
    assert checkout.dependencies == ("payments",)  # itself left out
    assert checkout.dependents == ("web",)
    assert checkout.relation("payments") == "dependency" and checkout.relation("web") == "dependent"
    assert related.neighbours(s, "payments").all == ["checkout-api"]  # web is two hops away: not a neighbour
    assert related.neighbours(s, "search").all == []
    assert related.neighbours(s, "unknown").all == []


def test_the_window_opens_two_hours_before_the_start_and_closes_now_or_at_the_resolution() -> None:
    started = at(-30)
    assert related.alert_window(started, incident(), NOW) == (at(-150), NOW)
    done = incident(status=Status.RESOLVED, resolved=at(-5))
    assert related.alert_window(started, done, NOW) == (at(-150), at(-5))


def row(n: int, severity: str, minutes: float, *, starts: bool = True) -> dict[str, Any]:
    return {"id": n, "severity": severity, "starts_at": at(minutes) if starts else None, "received_at": at(minutes)}


def test_most_relevant_first_critical_then_earliest_and_bounded() -> None:
    rows = [row(1, "info", -100), row(2, "warning", -90), row(3, "critical", -10), row(4, "critical", -50),
            row(5, "error", -20, starts=False), row(6, "", -110)]
    assert [r["id"] for r in related.most_relevant(rows)] == [4, 5, 3, 2, 6, 1]
    assert [r["id"] for r in related.most_relevant(rows, 2)] == [4, 5]
    many = [row(n, "critical", n) for n in range(40)]
    assert len(related.most_relevant(many)) == related.MAX_ALERTS


def test_the_line_escapes_the_title_and_says_when() -> None:
    other = incident(7, "payments-db", created=datetime(2026, 12, 6, 10, 2, tzinfo=UTC))
    other = replace(other, title="<!channel> db *down* & <https://evil.example|click>")
    text = related.line(other, NOW)
    assert text.startswith("🔗 INC-7 on payments-db is open since 10:02 UTC (P1: ")
    assert text.endswith(") — likely related.")
    assert "<" not in text and ">" not in text and "&lt;!channel&gt;" in text and "&amp;" in text
    assert related.since_text(datetime(2026, 12, 5, 23, 59, tzinfo=UTC), NOW) == "Dec 5 23:59 UTC"


def test_related_evidence_is_redacted_and_its_war_room_links_are_allowed() -> None:
    ctx = IncidentContext(
        ref="INC-2", title="checkout", status="triggered", priority="P1", service="checkout-api",
        dependencies=["payments"],
        related_alerts=[AlertFact(id="9", name="PaymentsDown", summary="token xoxb-123456789-abcdef leaked",
                                  service="payments", related_incident="INC-1",
                                  generator_url="https://grafana.example/9")],
        related_incidents=[RelatedIncidentFact(
            incident="INC-1", title="Bearer abcdefgh12345678 in the title", service="payments", priority="P1",
            status="triggered", since=NOW, relation="dependency", url="https://slack.example/archives/C1")],
    )
    red = Redactor.create().redact_context(ctx)
    assert "xoxb-" not in red.related_alerts[0].summary and "abcdefgh12345678" not in red.related_incidents[0].title
    assert red.related_alerts[0].related_incident == "INC-1"
    allowed = allowed_from(ctx, red)
    assert allowed.url_ok("https://slack.example/archives/C1") and allowed.url_ok("https://grafana.example/9")
    assert ctx.record_refs() == {"alert:9", "incident:INC-1"}
    assert ctx.record_urls() == {"alert:9": "https://grafana.example/9",
                                 "incident:INC-1": "https://slack.example/archives/C1"}
    assert ctx.started_at() is None  # a neighbour's alert is no start of this incident


def test_an_open_incident_upstream_is_a_cause_even_without_its_alerts_and_one_downstream_is_none() -> None:
    def fact(n: int, service: str, relation: Any) -> RelatedIncidentFact:
        return RelatedIncidentFact(incident=f"INC-{n}", title="down", service=service, priority="P1",
                                   status="triggered", since=at(-30), relation=relation)

    ctx = IncidentContext(ref="INC-3", title="checkout 5xx", status="triggered", priority="P1",
                          service="checkout-api", created_at=NOW, dependencies=["payments"],
                          related_incidents=[fact(1, "payments", "dependency"), fact(2, "web", "dependent")])
    causes = rank_causes(ctx)
    assert [c.key for c in causes] == ["dependency:payments"]
    assert [e.ref for e in causes[0].evidence] == ["incident:INC-1"]
    assert "INC-1 on payments is open since 11:30 UTC" in causes[0].explanation


# -- on a database ------------------------------------------------------------------------------------------
def alert(fp: str, service: str, starts: datetime, severity: str = "critical") -> AlertIn:
    return AlertIn(source="alertmanager", fingerprint=fp, status=AlertStatus.FIRING, name=f"Alert{fp}",
                   summary=f"{service} broken", service=service, severity=severity,
                   labels={"alertname": f"Alert{fp}", "service": service}, starts_at=starts)


async def record(store: Store, a: AlertIn, incident_id: int | None = None) -> int:
    async with store.tx() as tx:
        alert_id, _, _ = await tx.alerts.record(a, "P1")
        if incident_id is not None:
            await tx.alerts.attach([alert_id], incident_id)
    return alert_id


async def test_the_neighbours_alerts_in_the_window_in_other_incidents_or_none(store: Store) -> None:
    s = settings()
    service = IncidentService(s, store)
    pay = await service.declare(service="payments", title="payments down", priority="P1", origin=Origin.ALERT)
    checkout = await service.declare(service="checkout-api", title="checkout 5xx", priority="P1",
                                     origin=Origin.ALERT)
    real_now = datetime.now(UTC)
    own = await record(store, alert("own", "checkout-api", real_now - timedelta(minutes=5)), checkout.id)
    in_pay = await record(store, alert("pay", "payments", real_now - timedelta(minutes=20)), pay.id)
    loose = await record(store, alert("loose", "payments", real_now - timedelta(minutes=60), "warning"))
    dependent = await record(store, alert("web", "web", real_now - timedelta(minutes=1)))
    # before the window: one that ended before it opened is not evidence; one still firing is (broken for hours)
    gone = alert("old", "payments", real_now - timedelta(hours=3), "warning")
    await record(store, replace(gone, status=AlertStatus.RESOLVED, ends_at=real_now - timedelta(hours=2, minutes=30)))
    lasting = await record(store, alert("lasting", "payments", real_now - timedelta(hours=6), "warning"))
    await record(store, alert("far", "search", real_now - timedelta(minutes=2)))  # no neighbour
    snap = await snapshot(store, s, checkout.id)
    assert snap is not None
    assert [a["id"] for a in snap.alerts] == [own]
    # critical first, then the earliest; each marked with the incident it is in (or none)
    assert [(a["id"], a["related_incident"]) for a in snap.related_alerts] == [
        (in_pay, pay.ref), (dependent, None), (lasting, None), (loose, None)]
    assert [(i.ref, rel) for i, rel, _ in snap.related_incidents] == [(pay.ref, "dependency")]

    ctx = build_context(snap, s)
    assert [a.ref for a in ctx.alerts] == [f"alert:{own}"]  # the incident's own alerts stay its own
    assert {f"alert:{in_pay}", f"alert:{loose}", f"incident:{pay.ref}"} <= ctx.record_refs()
    labels = {r.ref: r.label for r in build_records(ctx)}
    assert labels[f"alert:{in_pay}"].endswith(f"on payments, a dependency (firing, in {pay.ref})")
    assert labels[f"alert:{dependent}"].endswith("on web, a dependent (firing, in no incident)")
    assert labels[f"incident:{pay.ref}"] == f"incident {pay.ref} on payments (open, a dependency)"
    assert ctx.started_at() == ctx.alerts[0].starts_at  # the neighbours' earlier alerts do not move the start

    causes = rank_causes(ctx)
    dep = next(c for c in causes if c.key == "dependency:payments")
    cited = [e.ref for e in dep.evidence]
    assert f"alert:{in_pay}" in cited and f"incident:{pay.ref}" in cited
    assert "payments alerted first" in dep.explanation and f"{pay.ref} on payments is open" in dep.explanation
    assert not any(c.key == "dependency:web" for c in causes)  # a dependent is no cause


async def test_the_bound_on_related_alerts(store: Store) -> None:
    s = settings()
    checkout = await IncidentService(s, store).declare(service="checkout-api", title="x", priority="P1")
    real_now = datetime.now(UTC)
    for n in range(related.MAX_ALERTS + 5):
        await record(store, alert(f"p{n}", "payments", real_now - timedelta(minutes=n), "warning"))
    crit = await record(store, alert("crit", "payments", real_now))
    snap = await snapshot(store, s, checkout.id)
    assert snap is not None and len(snap.related_alerts) == related.MAX_ALERTS
    assert snap.related_alerts[0]["id"] == crit  # the critical one first, though the latest
    # among the warnings, the earliest
    assert snap.related_alerts[1]["name"] == f"Alertp{related.MAX_ALERTS + 4}"


async def said(store: Store, incident_id: int) -> list[str]:
    async with store.read() as tx:
        rows = await tx.conn.execute(select(outbox.c.payload).where(outbox.c.incident_id == incident_id,
                                                                    outbox.c.kind == SAY))
        return [str(p["text"]) for (p,) in rows if str(p["text"]).startswith("🔗")]


async def test_declaring_tells_each_dependent_room_once_and_skips_closed_incidents(store: Store) -> None:
    s = settings()
    service = IncidentService(s, store)
    web = await service.declare(service="web", title="web slow", priority="P2")
    checkout = await service.declare(service="checkout-api", title="checkout <b>5xx</b>", priority="P1")
    # checkout depends on nothing open yet; web (which depends on checkout) is told of it
    assert await said(store, checkout.id) == []
    assert await said(store, web.id) == [
        f"🔗 {checkout.ref} on checkout-api is open since {related.since_text(checkout.created_at, checkout.created_at)}"
        " (P1: checkout &lt;b&gt;5xx&lt;/b&gt;) — likely related."]
    async with store.read() as tx:
        events = [e for e in await tx.timeline.for_incident(web.id) if e.kind == "related"]
    assert len(events) == 1 and events[0].data["ref"] == checkout.ref
    await service.change(checkout.id, actor="test", status=Status.RESOLVED)
    pay = await service.declare(service="payments", title="payments down", priority="P1")
    # the resolved checkout incident is not told; web is two hops from payments: not told either
    assert len(await said(store, checkout.id)) == 0 and len(await said(store, web.id)) == 1
    assert await said(store, pay.id) == []
    again = await service.declare(service="checkout-api", title="checkout again", priority="P2")
    # the new checkout incident: told of the open payments incident; web of the new one — once each
    assert [t.split(" is open")[0] for t in await said(store, again.id)] == [f"🔗 {pay.ref} on payments"]
    assert [t.split(" is open")[0] for t in await said(store, web.id)] == [
        f"🔗 {checkout.ref} on checkout-api", f"🔗 {again.ref} on checkout-api"]


async def run_checks(store: Store, s: Settings) -> None:
    """The related checks in the outbox, each handled and committed in its own transaction as the worker does."""
    from warroom.store.outbox import Job

    async with store.read() as tx:
        rows = [r for r in await tx.outbox.jobs() if r["kind"] == related.RELATED_CHECK]
    checks = related.RelatedJobs(s)
    for r in rows:
        commit = await checks.check(Job(id=r["id"], kind=r["kind"], incident_id=r["incident_id"], payload={},
                                        attempts=0, ordering_key=None))
        assert commit is not None
        async with store.tx() as tx:
            await commit(tx)


async def test_two_neighbours_declared_at_the_same_moment_are_told_once_after_both_commit(pg_url: str) -> None:
    """On PostgreSQL a declaration cannot see a neighbour declared in a transaction not yet committed: payments is
    declared in a transaction still open while checkout's declaration commits, so neither tells the other; the
    check each leaves behind tells checkout's room once both have committed — once, though both checks run."""
    store = Store.from_url(pg_url)
    await store.migrate()
    try:
        s = settings()
        service = IncidentService(s, store)
        async with store.tx() as tx:
            pay = await service._declare(tx, s.service("payments"), title="payments down", priority="P1",  # type: ignore[arg-type]
                                         details="", origin=Origin.ALERT, actor=None, urgency=None)
            checkout = await service.declare(service="checkout-api", title="checkout 5xx", priority="P1")
        assert await said(store, checkout.id) == [] and await said(store, pay.id) == []  # the race itself
        await run_checks(store, s)
        assert [t.split(" is open")[0] for t in await said(store, checkout.id)] == [f"🔗 {pay.ref} on payments"]
        assert await said(store, pay.id) == []  # the dependency's room is not told of its dependents
        async with store.read() as tx:
            events = [e for e in await tx.timeline.for_incident(checkout.id) if e.kind == "related"]
        assert [e.data["ref"] for e in events] == [pay.ref]
    finally:
        await store.dispose()


async def test_the_check_after_a_declaration_tells_nothing_twice(store: Store) -> None:
    s = settings()
    service = IncidentService(s, store)
    pay = await service.declare(service="payments", title="payments down", priority="P1")
    checkout = await service.declare(service="checkout-api", title="checkout 5xx", priority="P1")
    await run_checks(store, s)
    assert [t.split(" is open")[0] for t in await said(store, checkout.id)] == [f"🔗 {pay.ref} on payments"]
    await service.declare(service="search", title="search down", priority="P2")  # no neighbours: no check
    async with store.read() as tx:
        kinds = [k for (k,) in await tx.conn.execute(select(outbox.c.kind))]
    assert kinds.count(related.RELATED_CHECK) == 2
