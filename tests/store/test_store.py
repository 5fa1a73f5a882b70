"""The store on both databases: migrations, deduplication, the open-alert-group rule, the outbox and timers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, text

from warroom.core.model import AlertIn, AlertStatus, Origin, Urgency
from warroom.response.incidents import IncidentService
from warroom.settings import Settings
from warroom.store.db import Store
from warroom.store.outbox import Job
from warroom.store.timers import TimerRunner


def alert(fp: str = "fp1", status: AlertStatus = AlertStatus.FIRING, severity: str = "critical",
          service: str = "checkout-api", starts: datetime | None = None) -> AlertIn:
    return AlertIn(
        source="alertmanager", fingerprint=fp, status=status, name=f"Alert{fp}", summary="broken", service=service,
        severity=severity, labels={"alertname": f"Alert{fp}"}, starts_at=starts or datetime(2026, 11, 1, tzinfo=UTC),
    )


def settings(**svc: object) -> Settings:
    return Settings(
        slack={"enabled": False}, xurrent={"enabled": False},
        services=[{"name": "checkout-api", "responders": ["ana@example.com"], "bridge": "none", **svc}],
    )


async def test_migrate_creates_every_table_and_is_idempotent(store: Store) -> None:
    await store.migrate()
    async with store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    assert {"incidents", "alerts", "timeline", "links", "outbox", "timers", "incident_roles", "stakeholders",
            "pages", "changes", "postmortems", "tasks", "oncall_overrides", "escalations", "notifications",
            "oncall_turns"} <= names
    assert version == "0010"


async def test_the_migrations_build_exactly_the_schema_the_code_declares(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from warroom.store.schema import metadata

    await store.migrate()
    async with store.engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), metadata))
    assert diff == []


async def test_alert_occurrences_are_deduplicated(store: Store) -> None:
    async with store.tx() as tx:
        first = await tx.alerts.record(alert(), "P1")
        again = await tx.alerts.record(alert(), "P1")
        resolved = await tx.alerts.record(alert(status=AlertStatus.RESOLVED), "P1")
        late = await tx.alerts.record(alert(status=AlertStatus.RESOLVED), "P1")
        later = await tx.alerts.record(alert(starts=datetime(2026, 11, 2, tzinfo=UTC)), "P1")
        assert [first[1], again[1], resolved[1], late[1], later[1]] == ["new", "repeat", "resolved", "stale", "new"]
        assert first[0] == again[0] == resolved[0] != later[0]
        assert await tx.alerts.count() == 2
        assert (await tx.alerts.get(first[0]))["repeats"] == 3


async def test_concurrent_alerts_open_exactly_one_incident(store: Store) -> None:
    service = IncidentService(settings(), store)
    results = await asyncio.gather(*(service.ingest_alerts([alert(fp=f"fp{i}")]) for i in range(12)))
    declared = [o for r in results for o in r.outcomes if o.result == "declared"]
    grouped = [o for r in results for o in r.outcomes if o.result == "grouped"]
    assert len(declared) == 1 and len(grouped) == 11
    async with store.read() as tx:
        assert await tx.incidents.count() == 1
        assert len(await tx.alerts.for_incident(declared[0].incident)) == 12  # type: ignore[arg-type]


async def test_concurrent_batches_in_opposite_orders_neither_deadlock_nor_split_groups(store: Store) -> None:
    cfg = Settings(
        slack={"enabled": False}, xurrent={"enabled": False},
        services=[{"name": n, "bridge": "none"} for n in ("checkout-api", "payments")],
    )
    service = IncidentService(cfg, store)
    batch = [alert(fp=f"{svc}-{i}", service=svc) for i in range(6) for svc in ("checkout-api", "payments")]
    results = await asyncio.gather(*(service.ingest_alerts(batch if n % 2 else batch[::-1]) for n in range(8)))
    assert all(len(r.outcomes) == len(batch) for r in results)
    async with store.read() as tx:
        assert await tx.incidents.count() == 2
        for incident in await tx.incidents.list():
            assert len(await tx.alerts.for_incident(incident.id)) == 6


async def test_below_threshold_alerts_wait_and_join_the_next_declared_incident(store: Store) -> None:
    service = IncidentService(settings(declare_threshold="P2"), store)
    low = await service.ingest_alerts([alert(fp="w", severity="warning")])
    assert low.outcomes[0].result == "recorded" and low.incidents == []
    high = await service.ingest_alerts([alert(fp="c", severity="critical")])
    assert high.outcomes[0].result == "declared"
    async with store.read() as tx:
        assert {a["fingerprint"] for a in await tx.alerts.for_incident(high.incidents[0])} == {"w", "c"}


async def test_a_higher_alert_raises_the_open_incidents_priority(store: Store) -> None:
    service = IncidentService(settings(declare_threshold="P3"), store)
    first = await service.ingest_alerts([alert(fp="a", severity="warning")])
    await service.ingest_alerts([alert(fp="b", severity="critical")])
    async with store.read() as tx:
        incident = await tx.incidents.get(first.incidents[0])
        events = [e.kind for e in await tx.timeline.for_incident(first.incidents[0])]
    assert incident is not None and incident.priority == "P1" and incident.urgency is Urgency.HIGH
    assert "priority_changed" in events


async def test_resolved_alerts_go_on_the_timeline_but_never_resolve_the_incident(store: Store) -> None:
    service = IncidentService(settings(), store)
    declared = await service.ingest_alerts([alert()])
    await service.ingest_alerts([alert(status=AlertStatus.RESOLVED)])
    async with store.read() as tx:
        incident = await tx.incidents.get(declared.incidents[0])
        events = await tx.timeline.for_incident(declared.incidents[0])
        digests = [j for j in await tx.outbox.jobs(declared.incidents[0]) if j["kind"] == "warroom.alert_digest"]
        untold = await tx.alerts.unannounced(declared.incidents[0])
    assert incident is not None and incident.status.value == "triggered"
    assert [e.kind for e in events][-1] == "alert_resolved"
    assert len(digests) == 1 and [(a["name"], a["status"]) for a in untold] == [("Alertfp1", "resolved")]


async def test_a_burst_of_alert_changes_is_one_pending_digest(store: Store) -> None:
    service = IncidentService(settings(), store)
    declared = await service.ingest_alerts([alert()])
    for i in range(5):
        await service.ingest_alerts([alert(fp=f"more{i}", severity="warning")])
    async with store.tx() as tx:
        jobs = [j for j in await tx.outbox.jobs(declared.incidents[0]) if j["kind"] == "warroom.alert_digest"]
        untold = await tx.alerts.unannounced(declared.incidents[0])
        assert len(jobs) == 1 and len(untold) == 5  # the declaring alert is on the card already
        await tx.alerts.mark_announced([(a["id"], a["status"]) for a in untold[:3]])
        assert len(await tx.alerts.unannounced(declared.incidents[0])) == 2


async def test_unknown_service_is_kept_but_not_declared(store: Store) -> None:
    result = await IncidentService(settings(), store).ingest_alerts([alert(service="nobody-knows")])
    assert result.outcomes[0].result == "unrouted"
    assert "not in the catalog" in (result.outcomes[0].note or "")
    async with store.read() as tx:
        assert await tx.alerts.count() == 1 and await tx.incidents.count() == 0


async def _incident(store: Store) -> int:
    async with store.tx() as tx:
        inc = await tx.incidents.create(title="t", service="s", priority="P1", urgency=Urgency.HIGH, details="",
                                        assignee=None, origin=Origin.CHAT)
        return inc.id


async def test_outbox_runs_one_ordering_key_in_order_and_coalesces(store: Store) -> None:
    inc = await _incident(store)
    async with store.tx() as tx:
        a = await tx.outbox.enqueue("k", {"n": 1}, incident_id=inc, ordering_key="o")
        b = await tx.outbox.enqueue("k", {"n": 2}, incident_id=inc, ordering_key="o")
        c = await tx.outbox.enqueue("free", incident_id=inc, dedup_key="d")
        assert await tx.outbox.enqueue("free", incident_id=inc, dedup_key="d") is None
    async with store.tx() as tx:
        claimed = await tx.outbox.claim(10, lease=60)
    assert [j.id for j in claimed] == [a, c]  # b waits for a
    async with store.tx() as tx:
        assert await tx.outbox.enqueue("free", incident_id=inc, dedup_key="d") is not None  # c is running now
        assert b not in [j.id for j in await tx.outbox.claim(10, lease=60)]
        await tx.outbox.finish(next(j for j in claimed if j.id == a))
    async with store.tx() as tx:
        assert b in [j.id for j in await tx.outbox.claim(10, lease=60)]


async def test_an_expired_lease_is_claimed_again(store: Store) -> None:
    inc = await _incident(store)
    async with store.tx() as tx:
        job = await tx.outbox.enqueue("k", incident_id=inc)
    async with store.tx() as tx:
        assert [j.id for j in await tx.outbox.claim(5, lease=0.0)] == [job]
    async with store.tx() as tx:
        tx.outbox.now = tx.now + timedelta(seconds=1)
        again = await tx.outbox.claim(5, lease=60)
    assert [j.id for j in again] == [job] and again[0].attempts == 2 and again[0].is_retry


async def test_a_worker_never_claims_a_job_it_still_runs_however_late_its_lease(store: Store) -> None:
    """A starved event loop renews leases late; the worker running the job must not take it for dead and run it a
    second time beside itself (two runs of a create make two requests). Another worker still may, after the lease."""
    import time

    from warroom.store.outbox import OutboxWorker

    inc = await _incident(store)
    runs: list[int] = []
    release = asyncio.Event()

    async def slow(job: Job) -> None:
        runs.append(job.attempts)
        time.sleep(0.3)  # noqa: ASYNC251 — the loop blocked past the 0.1 s lease, as on a starved CPU
        await release.wait()

    worker = OutboxWorker(store, {"slow": slow}, poll_interval=0.01, lease=0.1)
    async with store.tx() as tx:
        job_id = await tx.outbox.enqueue("slow", incident_id=inc)
    worker.start()
    try:
        for _ in range(3000):  # the worker's first run (however busy the machine)
            if runs:
                break
            await asyncio.sleep(0.01)
        for _ in range(100):  # then well past the lease, with the worker polling every 10 ms
            await asyncio.sleep(0.01)
        assert runs == [1]
        # Another worker (another process) may take it over once the lease is out — once this worker is dead: while it
        # lives, its heartbeat renews the lease, and a claim that meets a renewal under way skips the job
        # (test_a_job_whose_lease_is_being_renewed_is_not_taken_over); a stopped worker has none under way
        # (test_a_stopped_worker_has_no_lease_renewal_under_way).
        await worker.stop(cancel_running=True)
        async with store.tx() as tx:
            tx.outbox.now = tx.now + timedelta(seconds=1)
            assert [j.id for j in await tx.outbox.claim(5, lease=60)] == [job_id]
    finally:
        release.set()
        await worker.stop()


async def test_a_job_whose_lease_is_being_renewed_is_not_taken_over(pg_url: str) -> None:
    """A renewal holds the job's row until it commits, and claims skip locked rows: however out of date the lease
    looks, another worker does not take the job over from under a renewal, which may be about to make it current."""
    store = Store.from_url(pg_url)
    await store.migrate()
    try:
        inc = await _incident(store)
        async with store.tx() as tx:
            job_id = await tx.outbox.enqueue("k", incident_id=inc)
        async with store.tx() as tx:
            (job,) = await tx.outbox.claim(5, lease=0.0)
        renewal = store.tx(background=True)
        held = await renewal.__aenter__()
        try:
            await held.outbox.renew(job, 0.0)
            async with store.tx() as tx:
                tx.outbox.now = tx.now + timedelta(seconds=1)
                assert await tx.outbox.claim(5, lease=60) == []
        finally:
            await renewal.__aexit__(None, None, None)
        async with store.tx() as tx:
            tx.outbox.now = tx.now + timedelta(seconds=1)
            assert [j.id for j in await tx.outbox.claim(5, lease=60)] == [job_id]
    finally:
        await store.dispose()


async def test_a_stopped_worker_has_no_lease_renewal_under_way(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker stopping (or dying) lets go of its jobs; a renewal of one's lease that is under way then is finished,
    not cut off half-way: by the time stop() returns, no transaction of the worker holds the job, and another
    worker can take it over once the lease is out."""
    from warroom.store.outbox import OutboxRepo, OutboxWorker

    renewing, go_on, cancelled = asyncio.Event(), asyncio.Event(), asyncio.Event()
    renewed_until: list[datetime] = []
    renew = OutboxRepo.renew

    async def renew_slowly(self: OutboxRepo, job: Job, lease: float) -> None:
        await renew(self, job, lease)  # the job's row is this transaction's until it ends
        renewed_until.append(self.now + timedelta(seconds=lease))
        renewing.set()
        await go_on.wait()

    async def forever(job: Job) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    monkeypatch.setattr(OutboxRepo, "renew", renew_slowly)
    inc = await _incident(store)
    async with store.tx() as tx:
        job_id = await tx.outbox.enqueue("forever", incident_id=inc)
    worker = OutboxWorker(store, {"forever": forever}, lease=0.3)
    worker.start()
    stopping: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(renewing.wait(), timeout=30)
        stopping = asyncio.create_task(worker.stop(cancel_running=True))
        await asyncio.wait_for(cancelled.wait(), timeout=30)  # the run is cancelled while its renewal is under way
        go_on.set()
        await stopping
        async with store.read() as tx:
            (row,) = await tx.outbox.jobs(inc)
        assert row["status"] == "running" and row["attempts"] == 1
        assert row["locked_until"] == renewed_until[0]  # the renewal under way was committed, not cut off
        async with store.tx() as tx:
            tx.outbox.now = tx.now + timedelta(seconds=1)
            assert [j.id for j in await tx.outbox.claim(5, lease=60)] == [job_id]
    finally:
        go_on.set()
        if stopping is None:
            await worker.stop(cancel_running=True)
        else:
            await asyncio.gather(stopping, return_exceptions=True)


async def test_a_stale_run_cannot_record_over_the_worker_that_took_the_job_over(store: Store) -> None:
    from warroom.store.outbox import LostLease

    inc = await _incident(store)
    async with store.tx() as tx:
        await tx.outbox.enqueue("k", incident_id=inc)
    async with store.tx() as tx:
        (first,) = await tx.outbox.claim(5, lease=0.0)
    async with store.tx() as tx:
        tx.outbox.now = tx.now + timedelta(seconds=1)
        (second,) = await tx.outbox.claim(5, lease=60)
    with pytest.raises(LostLease):
        async with store.tx() as tx:
            await tx.outbox.finish(first)
    async with store.tx() as tx:
        await tx.outbox.renew(second, 60)
        await tx.outbox.finish(second)
        assert (await tx.outbox.counts()) == {"done": 1}


async def test_revived_jobs_count_as_retries(store: Store) -> None:
    inc = await _incident(store)
    async with store.tx() as tx:
        await tx.outbox.enqueue("k", incident_id=inc)
    async with store.tx() as tx:
        (job,) = await tx.outbox.claim(5, lease=60)
        await tx.outbox.bury(job, "nope")
        assert await tx.outbox.revive(inc) == 1
    async with store.tx() as tx:
        (again,) = await tx.outbox.claim(5, lease=60)
    assert again.is_retry  # it may have had its effect before it died: look before creating


async def test_revive_brings_backing_off_jobs_forward_and_leaves_the_rest(store: Store) -> None:
    """`warroom outbox retry`: dead jobs and jobs backing off after failures run now, with a fresh budget of
    attempts; a job that never ran (a delayed digest), a running one and another incident's are left alone."""
    inc, other = await _incident(store), await _incident(store)
    async with store.tx() as tx:
        dead = await tx.outbox.enqueue("dead", incident_id=inc)
        backing_off = await tx.outbox.enqueue("backing-off", incident_id=inc)
        running = await tx.outbox.enqueue("running", incident_id=inc)
        delayed = await tx.outbox.enqueue("delayed", incident_id=inc, delay=600)
        elsewhere = await tx.outbox.enqueue("backing-off", incident_id=other)
    async with store.tx() as tx:
        claimed = {j.kind + str(j.incident_id): j for j in await tx.outbox.claim(10, lease=600)}
        await tx.outbox.bury(claimed[f"dead{inc}"], "Slack: refused")
        await tx.outbox.retry_later(claimed[f"backing-off{inc}"], 900, "Slack: 503")
        await tx.outbox.retry_later(claimed[f"backing-off{other}"], 900, "Slack: 503")
    async with store.tx() as tx:
        assert await tx.outbox.claim(10, lease=600) == []  # nothing due: one runs, the rest wait
        assert await tx.outbox.revive(inc) == 2
    async with store.tx() as tx:
        due = {j.id: j for j in await tx.outbox.claim(10, lease=600)}
    assert set(due) == {dead, backing_off}
    assert all(j.attempts == 2 and j.is_retry for j in due.values())  # a fresh budget; still looks before creating
    async with store.read() as tx:
        rows = {r["id"]: r for r in await tx.outbox.jobs()}
    assert rows[running]["status"] == "running" and rows[delayed]["attempts"] == 0
    assert rows[delayed]["run_at"] > tx.now and rows[elsewhere]["run_at"] > tx.now


async def test_concurrent_claimers_never_share_a_job(store: Store) -> None:
    inc = await _incident(store)
    async with store.tx() as tx:
        ids = {await tx.outbox.enqueue("k", {"i": i}, incident_id=inc) for i in range(60)}

    async def claimer() -> list[int]:
        got: list[int] = []
        while True:
            async with store.tx() as tx:
                jobs = await tx.outbox.claim(3, lease=60)
            if not jobs:
                return got
            got += [j.id for j in jobs]

    results = await asyncio.gather(*(claimer() for _ in range(6)))
    flat = [i for r in results for i in r]
    assert sorted(flat) == sorted(ids) and len(flat) == len(set(flat))


async def test_timers_fire_once_into_the_outbox_and_periodic_ones_move_on(store: Store) -> None:
    inc = await _incident(store)
    async with store.tx() as tx:
        await tx.timers.schedule("once", "ping", delay=0, incident_id=inc, payload={"x": 1})
        await tx.timers.schedule("every", "tick", delay=0, interval=60)
        await tx.timers.schedule("later", "ping", delay=3600)
        await tx.timers.schedule("later", "ping", delay=7200)  # moved, not doubled
    async with store.tx() as tx:
        assert await tx.timers.fire_due() == 2
    async with store.tx() as tx:
        assert await tx.timers.fire_due() == 0
        left = {t["key"]: t for t in await tx.timers.all()}
        jobs = await tx.outbox.jobs()
    assert set(left) == {"every", "later"}
    assert left["every"]["fire_at"] > datetime.now(UTC) + timedelta(seconds=50)
    assert sorted(j["kind"] for j in jobs) == ["ping", "tick"]
    assert next(j for j in jobs if j["kind"] == "ping")["payload"] == {"x": 1, "timer": "once"}


async def test_pages_are_claimed_first_and_run_in_their_own_slots_when_every_other_slot_is_busy(store: Store) -> None:
    await store.migrate()
    async with store.tx() as tx:
        older = await tx.outbox.enqueue("war-room")
        page = await tx.outbox.enqueue("page")
    async with store.tx() as tx:
        assert [j.id for j in await tx.outbox.claim(1, lease=60, first={"page"})] == [page]
        assert [j.id for j in await tx.outbox.claim(1, lease=60, only={"page"})] == []
        assert [j.id for j in await tx.outbox.claim(1, lease=60)] == [older]

    from warroom.store.outbox import OutboxWorker

    release, paged, started = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow(job: Job) -> None:
        started.set()
        await release.wait()

    async def wake(job: Job) -> None:
        paged.set()

    worker = OutboxWorker(store, {"slow": slow, "page": wake}, concurrency=1, poll_interval=0.05,
                          urgent={"page"}, urgent_slots=1)
    async with store.tx() as tx:
        await tx.outbox.enqueue("slow")
    worker.start()
    try:
        await asyncio.wait_for(started.wait(), timeout=10)
        async with store.tx() as tx:  # the one ordinary slot is held by the slow job
            await tx.outbox.enqueue("page")
        await asyncio.wait_for(paged.wait(), timeout=10)
        assert not release.is_set()
    finally:
        release.set()
        await worker.stop()


async def test_a_tick_never_deadlocks_with_a_change_that_cancels_its_incidents_timer(pg_url: str) -> None:
    """An incident change holds the incident's row lock and then cancels one of its timers while a tick is firing due
    timers (whose jobs reference the incident). The tick takes the incidents' locks before the timers', so it waits
    for the change and then fires what is still due — it does not hold the timer while waiting for the incident
    (PostgreSQL would detect a deadlock and abort one of them)."""
    store = Store.from_url(pg_url)
    await store.migrate()
    try:
        inc = await _incident(store)
        async with store.tx() as tx:
            await tx.timers.schedule("t:cancelled", "k", delay=-1, incident_id=inc)
            await tx.timers.schedule("t:kept", "k", delay=-1, incident_id=inc)
        change = store.tx()
        tx = await change.__aenter__()
        try:
            await tx.incidents.get(inc, lock=True)  # the change holds the incident
            tick = asyncio.create_task(TimerRunner(store).tick())
            await asyncio.sleep(0.5)  # the tick is waiting now (on the incident, after the fix)
            await tx.timers.cancel("t:cancelled")  # before the fix: waits for the tick's timer lock — a cycle
        finally:
            await change.__aexit__(None, None, None)
        assert await asyncio.wait_for(tick, 30) == 1
        async with store.read() as tx:
            jobs = [j.payload.get("timer") for j in await tx.outbox.claim(10, lease=60)]
        assert jobs == ["t:kept"]
    finally:
        await store.dispose()


async def test_run_until_idle_runs_what_falls_due_soon_leaves_the_rest_and_names_what_hangs(store: Store) -> None:
    """A job falling due early in the wait is run; one falling due in its last part (too late to be run before the
    deadline) is left pending without an error; a job still running at the deadline is named in the error."""
    from warroom.store.outbox import OutboxWorker

    ran: list[str] = []
    release = asyncio.Event()

    async def note(job: Job) -> None:
        ran.append(str(job.payload["n"]))

    async def hang(job: Job) -> None:
        await release.wait()

    worker = OutboxWorker(store, {"note": note, "hang": hang}, poll_interval=0.05)
    async with store.tx() as tx:
        await tx.outbox.enqueue("note", {"n": "soon"}, delay=0.5)
        await tx.outbox.enqueue("note", {"n": "late"}, delay=2.7)  # within 3 s, but in its last third
    worker.start()
    try:
        await worker.run_until_idle(timeout=3)
        assert ran == ["soon"]
        async with store.read() as tx:
            pending = [j["payload"]["n"] for j in await tx.outbox.jobs() if j["status"] == "pending"]
        assert pending == ["late"]
        async with store.tx() as tx:
            await tx.outbox.enqueue("hang")
        with pytest.raises(TimeoutError, match=r"still waiting: hang \((running|pending)"):
            await worker.run_until_idle(timeout=1)
    finally:
        release.set()
        await worker.stop()
