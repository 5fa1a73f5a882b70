"""The outbox: every outside effect is a job written in the same transaction as the change that caused it.

Workers claim due jobs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), run them outside any transaction, then record
the result and mark the job done in one transaction. Jobs that share an ``ordering_key`` run one at a time in id
order; a claimed job whose worker died is claimed again once its lease runs out. A job that keeps failing, or
fails permanently, is marked dead with its reason — and the caller is told, so it can be shown to people.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal_column, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from warroom.adapters.errors import AdapterError, Permanent, RateLimited, Transient

from .schema import incidents, outbox

if TYPE_CHECKING:
    from .db import Store, Tx

log = logging.getLogger("warroom.outbox")

PENDING, RUNNING, DONE, DEAD = "pending", "running", "done", "dead"


class LostLease(Exception):
    """The job's lease ran out and another worker holds it now: this run's result is not recorded."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id} ({job.kind}) is no longer held by this worker")
        self.job = job


class NotReady(Transient):
    """The job depends on something another job has not made yet (e.g. a line for a war room being created)."""


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str
    incident_id: int | None
    payload: dict[str, Any]
    attempts: int
    ordering_key: str | None
    #: When the job was enqueued: a retry looking for its earlier attempt's effect need look no further back.
    enqueued_at: datetime | None = None

    @property
    def incident(self) -> int:
        """The incident the job is about; a job of an incident's kind without one is a bug, said so."""
        if self.incident_id is None:
            raise Permanent("warroom", f"job {self.id} ({self.kind}) names no incident")
        return self.incident_id

    @property
    def is_retry(self) -> bool:
        """True when an earlier attempt may have had its effect (look the remote record up before creating)."""
        return self.attempts > 1


class OutboxRepo:
    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect
        self.enqueued = 0

    async def enqueue(
        self,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        incident_id: int | None = None,
        ordering_key: str | None = None,
        dedup_key: str | None = None,
        delay: float = 0.0,
    ) -> int | None:
        """Add a job; with ``dedup_key``, nothing is added while a pending job has the same key (returns None)."""
        from .repos import upsert_insert

        stmt = upsert_insert(self.dialect, outbox).values(
            kind=kind,
            incident_id=incident_id,
            ordering_key=ordering_key,
            dedup_key=dedup_key,
            payload=payload or {},
            status=PENDING,
            attempts=0,
            run_at=self.now + timedelta(seconds=delay),
            created_at=self.now,
            updated_at=self.now,
        )
        if ordering_key is not None and incident_id is not None and self.dialect == "postgresql":
            # Ids must be taken in commit order within an ordering key, or a later job could run first. Every
            # ordering key belongs to one incident, so its row lock orders them (and is the lock the transactions
            # changing an incident take first anyway, so no new lock order — no deadlock).
            await self.conn.execute(select(incidents.c.id).where(incidents.c.id == incident_id).with_for_update())
        if dedup_key is None:
            job_id = (await self.conn.execute(stmt.returning(outbox.c.id))).scalar_one()
            self.enqueued += 1
            return int(job_id)
        if self.dialect == "postgresql":
            # Coalesce into the pending job and lock it until we commit: a worker cannot claim it and act on a
            # state that does not yet include this transaction's change.
            stmt = stmt.on_conflict_do_update(index_elements=["dedup_key"], set_={"updated_at": self.now})
            row = (await self.conn.execute(stmt.returning(outbox.c.id, literal_column("xmax = 0").label("inserted")))).one()
            new_id = int(row.id) if row.inserted else None
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"])
            found = (await self.conn.execute(stmt.returning(outbox.c.id))).scalar()
            new_id = int(found) if found is not None else None
        if new_id is not None:
            self.enqueued += 1
        return new_id

    async def claim(self, limit: int, lease: float, *, exclude: Collection[int] = (), first: Collection[str] = (),
                    only: Collection[str] = ()) -> list[Job]:
        """Up to ``limit`` due jobs — pending ones, and running ones whose lease ran out (their worker died) —
        except those in ``exclude``: the jobs the claiming worker has in hand itself, which are not dead however
        late their lease renewal is (an event loop starved of CPU renews late). Jobs of the kinds in ``first`` (pages
        that wake people) are taken before the others, oldest first within each; with ``only``, only those kinds."""
        prior = outbox.alias("prior")
        blocked = exists(
            select(prior.c.id).where(
                prior.c.ordering_key == outbox.c.ordering_key,
                prior.c.id < outbox.c.id,
                prior.c.status.in_((PENDING, RUNNING)),
            )
        )
        due = or_(
            and_(outbox.c.status == PENDING, outbox.c.run_at <= self.now),
            and_(outbox.c.status == RUNNING, outbox.c.locked_until < self.now),
        )
        mine = outbox.c.id.not_in(list(exclude)) if exclude else true()
        kinds = outbox.c.kind.in_(list(only)) if only else true()
        order: list[ColumnElement[Any]] = [outbox.c.run_at, outbox.c.id]
        if first:
            order.insert(0, case((outbox.c.kind.in_(list(first)), 0), else_=1))
        ids = (
            select(outbox.c.id)
            .where(due, mine, kinds, or_(outbox.c.ordering_key.is_(None), ~blocked))
            .order_by(*order)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            ids = ids.with_for_update(skip_locked=True)
        result = await self.conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(ids.scalar_subquery()))
            .values(
                status=RUNNING,
                attempts=outbox.c.attempts + 1,
                locked_until=self.now + timedelta(seconds=lease),
                dedup_key=None,
                updated_at=self.now,
            )
            .returning(outbox.c.id, outbox.c.kind, outbox.c.incident_id, outbox.c.payload, outbox.c.attempts,
                       outbox.c.ordering_key, outbox.c.created_at)
        )
        jobs = [Job(r.id, r.kind, r.incident_id, r.payload, r.attempts, r.ordering_key, r.created_at) for r in result]
        return sorted(jobs, key=lambda j: j.id)

    async def _owned(self, job: Job, **values: Any) -> None:
        """Update a job this worker still holds (running, same attempt); raise LostLease when another has it."""
        result = await self.conn.execute(
            update(outbox)
            .where(outbox.c.id == job.id, outbox.c.status == RUNNING, outbox.c.attempts == job.attempts)
            .values(**values, updated_at=self.now)
        )
        if not result.rowcount:
            raise LostLease(job)

    async def finish(self, job: Job) -> None:
        await self._owned(job, status=DONE, locked_until=None)

    async def renew(self, job: Job, lease: float) -> None:
        await self._owned(job, locked_until=self.now + timedelta(seconds=lease))

    async def retry_later(self, job: Job, delay: float, error: str) -> None:
        await self._owned(
            job,
            status=PENDING,
            run_at=self.now + timedelta(seconds=delay),
            locked_until=None,
            last_error=error[:2000],
        )

    async def bury(self, job: Job, error: str) -> None:
        await self._owned(job, status=DEAD, locked_until=None, last_error=error[:2000])

    async def release_running(self) -> int:
        """Give back every running job (single-process start-up after a crash: no other worker can hold one)."""
        result = await self.conn.execute(
            update(outbox).where(outbox.c.status == RUNNING).values(status=PENDING, locked_until=None, run_at=self.now)
        )
        return int(result.rowcount or 0)

    async def revive(self, incident_id: int) -> int:
        """The incident's failed jobs tried again now (``warroom outbox retry``, ``warroom sync retry``): the dead
        ones back to pending, and the ones backing off after failures (pending, run later) brought forward — each
        with a fresh budget of attempts and backoff. Returns how many: every one of them failed at least once.
        Jobs that never ran (waiting for their first run, e.g. a delayed digest) and running ones are left alone."""
        result = await self.conn.execute(
            update(outbox)
            .where(
                outbox.c.incident_id == incident_id,
                or_(
                    outbox.c.status == DEAD,
                    and_(outbox.c.status == PENDING, outbox.c.attempts > 0, outbox.c.run_at > self.now),
                ),
            )
            # attempts stays above zero: the revived job may have had its effect, so it looks before it creates
            .values(status=PENDING, attempts=1, run_at=self.now, locked_until=None, updated_at=self.now)
        )
        return int(result.rowcount or 0)

    async def counts(self) -> dict[str, int]:
        rows = await self.conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        return {r[0]: int(r[1]) for r in rows}

    async def jobs(self, incident_id: int | None = None) -> list[dict[str, Any]]:
        query = select(outbox).order_by(outbox.c.id)
        if incident_id is not None:
            query = query.where(outbox.c.incident_id == incident_id)
        return [dict(r) for r in (await self.conn.execute(query)).mappings()]

    async def next_run_at(self) -> datetime | None:
        value = (
            await self.conn.execute(select(func.min(outbox.c.run_at)).where(outbox.c.status == PENDING))
        ).scalar()
        return value if isinstance(value, datetime) else None


#: A handler does the outside I/O of a job and returns a function that records the result in the
#: transaction that marks the job done (or None when there is nothing to record).
Commit = Callable[["Tx"], Awaitable[None]]
Handler = Callable[[Job], Awaitable[Commit | None]]
#: Called in the transaction that buries a job, to tell people (e.g. a line in the war room).
DeadHook = Callable[["Tx", Job, str], Awaitable[None]]


class OutboxWorker:
    """Runs outbox jobs: up to ``concurrency`` at once, woken at once by local commits, polling otherwise."""

    def __init__(
        self,
        store: Store,
        handlers: dict[str, Handler],
        *,
        concurrency: int = 16,
        poll_interval: float = 0.5,
        lease: float = 120.0,
        max_attempts: int = 12,
        backoff_base: float = 0.5,
        backoff_max: float = 300.0,
        on_dead: DeadHook | None = None,
        observe: Callable[[str, str, float], None] | None = None,
        urgent: Collection[str] = (),
        urgent_slots: int = 8,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.on_dead = on_dead
        self.observe = observe
        #: Kinds of jobs that wake people (on-call pages): claimed before the others, and given ``urgent_slots``
        #: slots of their own beyond ``concurrency``, so that a burst of war-room work never keeps a page waiting.
        self.urgent = frozenset(urgent)
        self.urgent_slots = urgent_slots if urgent else 0
        self._urgent_running = 0
        self._running: set[asyncio.Task[None]] = set()
        #: ids of the jobs in hand: never claimed again by this worker while it runs them
        self._in_hand: set[int] = set()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        #: Test hook: awaited before a job's result is committed (lets a test stop the process at that boundary).
        self.before_commit: Callable[[Job], Awaitable[None]] | None = None

    def start(self) -> None:
        self._stopping = False
        self._loop_task = asyncio.create_task(self._loop(), name="outbox-worker")

    async def stop(self, *, cancel_running: bool = False) -> None:
        """Stop claiming; wait for the jobs in hand (or cancel them, as a crash would)."""
        self._stopping = True
        self.store.wakeup.set()
        if self._loop_task is not None:
            # The claiming loop ends at its next turn (it is woken, and claims nothing once stopping), never cut off
            # inside its claim: a transaction cancelled half-way can leave its connection holding SQLite's write
            # lock until that connection is collected, and the next writer waits out the busy timeout.
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if cancel_running:
            for task in list(self._running):
                task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def _loop(self) -> None:
        while not self._stopping:
            normal = len(self._running) - self._urgent_running
            free = self.concurrency - normal
            urgent_free = self.urgent_slots - self._urgent_running
            jobs: list[Job] = []
            wait = self.poll_interval
            if free > 0 or urgent_free > 0:
                self.store.wakeup.clear()
                try:
                    async with self.store.tx(background=True) as tx:
                        if free > 0:
                            jobs = await tx.outbox.claim(free, self.lease, exclude=self._in_hand, first=self.urgent)
                        else:  # every ordinary slot is busy: pages still go, in their own slots
                            jobs = await tx.outbox.claim(urgent_free, self.lease, exclude=self._in_hand,
                                                         only=self.urgent)
                        if not jobs:  # idle: sleep until the next delayed job is due, if that is sooner
                            next_at = await tx.outbox.next_run_at()
                            if next_at is not None and next_at > tx.now:  # (due ones wait on an ordering key)
                                wait = min(wait, (next_at - tx.now).total_seconds() + 0.005)
                except Exception:  # a database hiccup must not kill the worker
                    log.exception("claiming outbox jobs failed")
                    await asyncio.sleep(self.poll_interval)
                    continue
                for job in jobs:
                    urgent = free <= 0 and job.kind in self.urgent
                    task = asyncio.create_task(self._run(job), name=f"job-{job.id}-{job.kind}")
                    self._running.add(task)
                    self._in_hand.add(job.id)
                    if urgent:
                        self._urgent_running += 1
                    task.add_done_callback(functools.partial(self._done_urgent, urgent))
                    task.add_done_callback(functools.partial(self._let_go, job.id))
            if jobs and (len(self._running) - self._urgent_running < self.concurrency
                         or self._urgent_running < self.urgent_slots):
                continue  # there may be more due right now
            try:
                await asyncio.wait_for(self.store.wakeup.wait(), timeout=wait)
            except TimeoutError:
                pass

    def _let_go(self, job_id: int, _task: asyncio.Task[None]) -> None:
        self._in_hand.discard(job_id)

    def _done_urgent(self, urgent: bool, task: asyncio.Task[None]) -> None:
        if urgent:
            self._urgent_running -= 1
        self._done(task)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self.store.wakeup.set()  # a finished job may unblock the next one of its ordering key

    async def run_until_idle(self, timeout: float = 30.0) -> None:
        """Run jobs until none is running or due soon (tests, demo, one-shot CLI): jobs falling due later than a
        third of ``timeout`` (at most 5 s) before it runs out are left for later; TimeoutError names what is still
        running or overdue when it has."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # Jobs falling due in the last part of the time are not waited for: each job waited for has at least that
        # long to run before the deadline (a job due just before it would otherwise time the wait out).
        last = deadline - min(5.0, timeout / 3)
        while loop.time() < deadline:
            async with self.store.read() as tx:
                counts = await tx.outbox.counts()
                next_at = await tx.outbox.next_run_at()
            busy = counts.get(RUNNING, 0) or self._running
            horizon = timedelta(seconds=max(0.0, last - loop.time()))
            if not busy and (next_at is None or next_at > tx.now + horizon):
                return
            await asyncio.sleep(0.02)
        async with self.store.read() as tx:
            waiting = [
                f"{j['kind']} ({j['status']}, run at {j['run_at']:%H:%M:%S}, attempt {j['attempts']})"
                for j in await tx.outbox.jobs()
                if j["status"] == RUNNING or (j["status"] == PENDING and j["run_at"] <= tx.now)
            ]
        if not waiting and not self._running:
            return  # what was due ran as the time ran out; what is left falls due later
        raise TimeoutError(f"outbox did not drain in time; still waiting: {', '.join(waiting[:8])}"
                           f"{' …' if len(waiting) > 8 else ''} (worker running {len(self._running)})")

    async def _heartbeat(self, job: Job, done: asyncio.Event) -> None:
        """Keep the lease while the handler runs, so that a slow outside call is not taken for a dead worker.

        Ends once ``done`` is set, between renewals: a renewal is never cut off half-way, because its transaction
        holds the job's row until it ends, and another worker's claim skips a locked row. One cancelled mid-way
        would end after the run let go of the job — after ``stop()`` returned — keeping the job from the others."""
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), timeout=self.lease / 3)
                return
            except TimeoutError:
                pass
            try:
                async with self.store.tx(background=True) as tx:
                    await tx.outbox.renew(job, self.lease)
            except LostLease:
                return
            except Exception:
                log.warning("renewing the lease of %s failed", _named(job), exc_info=True, extra=_about(job))

    async def _run(self, job: Job) -> None:
        handler = self.handlers.get(job.kind)
        started = asyncio.get_running_loop().time()
        outcome = "done"
        over = asyncio.Event()  # set when the run is over: the heartbeat stops renewing the lease
        heartbeat = asyncio.create_task(self._heartbeat(job, over), name=f"lease-{job.id}")
        try:
            if handler is None:
                raise Permanent("warroom", f"no handler for job kind {job.kind!r}")
            commit = await handler(job)
            if self.before_commit is not None:
                await self.before_commit(job)
            over.set()
            await asyncio.wait([heartbeat])  # (not `await heartbeat`: cancelling this run must not cut it off)
            async with self.store.tx(background=True) as tx:
                if commit is not None:
                    await commit(tx)
                await tx.outbox.finish(job)
        except asyncio.CancelledError:
            raise
        except LostLease:
            outcome = "lost"
            log.warning("%s was taken over by another worker; this run's result is dropped", _named(job),
                        extra=_about(job, outcome))
        except Exception as exc:
            outcome = await self._failed(job, exc)
        finally:
            over.set()
            await asyncio.wait([heartbeat])  # a renewal in flight ends before the run lets go of the job
            if self.observe is not None:
                self.observe(job.kind, outcome, asyncio.get_running_loop().time() - started)
            log.debug("%s ran: %s", _named(job), outcome, extra=_about(job, outcome))

    async def _failed(self, job: Job, exc: Exception) -> str:
        # people see adapter reasons (sentences); anything else only by its type — details go to the log
        reason = f"{exc.system}: {exc.reason}" if isinstance(exc, AdapterError) else f"internal error ({type(exc).__name__})"
        permanent = isinstance(exc, Permanent) or (not isinstance(exc, AdapterError) and job.attempts >= 3)
        if not permanent and job.attempts < self.max_attempts:
            if isinstance(exc, RateLimited):
                delay = exc.retry_after
            else:
                cap = min(self.backoff_max, self.backoff_base * 2 ** (job.attempts - 1))
                delay = random.uniform(cap / 2, cap)
            level = logging.DEBUG if isinstance(exc, NotReady) else logging.WARNING
            log.log(level, "%s attempt %s failed, retrying in %.1fs: %s", _named(job), job.attempts, delay, reason,
                    extra=_about(job, "retry"))
            try:
                async with self.store.tx(background=True) as tx:
                    await tx.outbox.retry_later(job, delay, reason)
            except LostLease:
                return "lost"
            return "retry"
        if not isinstance(exc, AdapterError):
            log.error("%s failed", _named(job), exc_info=exc, extra=_about(job, "dead"))
        log.error("%s is dead after %s attempts: %s", _named(job), job.attempts, reason, extra=_about(job, "dead"))
        try:
            async with self.store.tx(background=True) as tx:
                await tx.outbox.bury(job, reason)
                if self.on_dead is not None:
                    await self.on_dead(tx, job, reason)
        except LostLease:
            return "lost"
        return "dead"


def _named(job: Job) -> str:
    """``job 7 (itsm.push) of INC-12``: a log line about a job names its incident, not only the job's id."""
    return f"job {job.id} ({job.kind})" + (f" of INC-{job.incident_id}" if job.incident_id is not None else "")


def _about(job: Job, outcome: str | None = None) -> dict[str, Any]:
    """A log line's ``extra`` about a job (JSON log lines show them: warroom.web.logs)."""
    return {"incident": job.incident_id, "job": job.id, "job_kind": job.kind, "outcome": outcome}
