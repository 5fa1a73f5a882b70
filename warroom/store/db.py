"""Engine, unit of work and migrations.

``Store.tx()`` is the unit of work: one transaction in which a command changes the incident, appends to the
timeline and enqueues outbox jobs, all or nothing. On SQLite (one process by definition) write transactions are
serialised by an in-process lock and run ``BEGIN IMMEDIATE``; on PostgreSQL rows are locked where it matters
(``lock_incident``) and workers claim jobs with ``FOR UPDATE SKIP LOCKED``.

A delivery that may be repeated (Slack retries a slash command it got no answer to; Teams redelivers an activity)
is taken in once by recording its key in the inbox *in the transaction that applies it*: inside
``with store.delivery(source, key)``, the first write transaction records the key, and if the key is there already
it raises :class:`AlreadyApplied` instead. A command that fails or a process that dies rolls the record back with
the change, so the retry applies it then; a command that changes nothing records nothing (answering twice is
harmless).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from .oncall import EscalationRepo, NotificationRepo, OverrideRepo, TurnRepo
from .outbox import OutboxRepo
from .postmortems import PostmortemRepo
from .records import RecordRepo
from .repos import AlertRepo, InboxRepo, IncidentRepo, LinkRepo, PolicyRepo, TimelineRepo
from .responders import PageRepo, PeopleRepo, RoleRepo, StakeholderRepo
from .status_subscribers import StatusSubscriberRepo
from .statuspages import StatusPageRepo
from .tasks import TaskLinkRepo, TaskNoteRepo
from .timers import TimerRepo


async def _record(tx: Tx, delivery: _Delivery | None) -> None:
    if delivery is not None and not await tx.inbox.remember(delivery.source, delivery.key):
        raise AlreadyApplied(f"{delivery.source} delivery {delivery.key} was applied before")


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy own transactions, so that BEGIN IMMEDIATE below is what starts them.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


class Tx:
    """One open transaction with the repositories bound to it."""

    def __init__(self, conn: AsyncConnection, now: datetime, dialect: str) -> None:
        self.conn = conn
        self.now = now
        self.dialect = dialect
        self.incidents = IncidentRepo(conn, now)
        self.alerts = AlertRepo(conn, now, dialect)
        self.timeline = TimelineRepo(conn, now, dialect)
        self.roles = RoleRepo(conn, now, dialect)
        self.stakeholders = StakeholderRepo(conn, now, dialect)
        self.pages = PageRepo(conn, now, dialect)
        self.people = PeopleRepo(conn, now, dialect)
        self.records = RecordRepo(conn, now, dialect)
        self.postmortems = PostmortemRepo(conn, now, dialect)
        self.links = LinkRepo(conn, now, dialect)
        self.outbox = OutboxRepo(conn, now, dialect)
        self.timers = TimerRepo(conn, now, dialect)
        self.inbox = InboxRepo(conn, now, dialect)
        self.policies = PolicyRepo(conn, now)
        self.overrides = OverrideRepo(conn, now, dialect)
        self.escalations = EscalationRepo(conn, now, dialect)
        self.notifications = NotificationRepo(conn, now, dialect)
        self.turns = TurnRepo(conn, now, dialect)
        self.task_links = TaskLinkRepo(conn, now, dialect)
        self.task_notes = TaskNoteRepo(conn, now, dialect)
        self.statuspages = StatusPageRepo(conn, now, dialect)
        self.status_subscribers = StatusSubscriberRepo(conn, now, dialect)

    async def lock_key(self, name: str) -> None:
        """Serialise transactions about one thing (PostgreSQL advisory lock until commit; SQLite writes are
        serial already)."""
        if self.dialect == "postgresql":
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": name})


class WriteTurns:
    """SQLite's one writer at a time, as an asyncio lock with two queues: waiting foreground transactions (requests
    people wait on) get the next turn before waiting background ones (workers, timers); FIFO within each."""

    def __init__(self) -> None:
        self._busy = False
        self._waiting: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    @asynccontextmanager
    async def turn(self, *, background: bool) -> AsyncIterator[None]:
        if self._busy or any(self._waiting):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting[1 if background else 0].append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._release()  # granted, then cancelled before it could run: pass the turn on
                else:
                    self._waiting[1 if background else 0].remove(waiter)
                raise
        else:
            self._busy = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        for queue in self._waiting:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the turn passes straight to it: still busy
                    return
        self._busy = False


class AlreadyApplied(Exception):
    """This delivery was applied before (its key is in the inbox): a retry, nothing to do."""


@dataclass
class _Delivery:
    source: str
    key: str
    recorded: bool = False


_DELIVERY: ContextVar[_Delivery | None] = ContextVar("warroom_delivery", default=None)


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._write_lock = WriteTurns() if self.dialect == "sqlite" else None
        #: Set after a transaction that enqueued jobs or timers commits: wakes the in-process workers.
        self.wakeup = asyncio.Event()
        #: Bumped when a transaction that changed a status page commits (their renders' cache, in this process).
        self.status_generation = 0

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Store:
        return cls(make_engine(url, **kwargs))

    @asynccontextmanager
    async def tx(self, *, background: bool = False) -> AsyncIterator[Tx]:
        """A write transaction: commits when the block ends, rolls back on any exception.

        ``background``: the outbox workers' and timers' own bookkeeping. On SQLite, where writes take turns, a
        person waiting for an answer (a command, a click, an alert) goes before background work that is waiting.
        """
        delivery = None if background else _DELIVERY.get()
        if delivery is not None and delivery.recorded:
            delivery = None
        if self._write_lock is not None:
            async with self._write_lock.turn(background=background):
                async with self._begin(write=True) as tx:
                    await _record(tx, delivery)
                    yield tx
        else:
            async with self._begin(write=True) as tx:
                await _record(tx, delivery)
                yield tx
        if delivery is not None:
            delivery.recorded = True  # committed with the change

    @staticmethod
    @contextmanager
    def delivery(source: str, key: str | None) -> Iterator[None]:
        """Take in a repeatable delivery once: see the module's docstring. ``key`` None: nothing to record."""
        token = _DELIVERY.set(_Delivery(source, key) if key else None)
        try:
            yield
        finally:
            _DELIVERY.reset(token)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A read-only transaction (no lock on SQLite: WAL readers do not block writers)."""
        async with self._begin(write=False) as tx:
            yield tx

    @asynccontextmanager
    async def _begin(self, *, write: bool) -> AsyncIterator[Tx]:
        async with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.sync_connection.info["write"] = write  # type: ignore[union-attr]
            async with conn.begin():
                tx = Tx(conn, utcnow(), self.dialect)
                yield tx
            if write and (tx.outbox.enqueued or tx.timers.scheduled):
                self.wakeup.set()
            if write and tx.statuspages.changed:
                self.status_generation += 1

    async def migrate(self) -> None:
        """Bring the schema to the newest migration (Alembic)."""
        async with self.engine.connect() as conn:
            await conn.run_sync(_upgrade)
            await conn.commit()

    async def dispose(self) -> None:
        await self.engine.dispose()


def _alembic_config(conn: Connection | None = None) -> Any:
    from alembic.config import Config

    script_location = str(resources.files("warroom.store") / "migrations")
    cfg = Config()
    cfg.set_main_option("script_location", script_location)
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def _upgrade(conn: Connection) -> None:
    from alembic import command

    command.upgrade(_alembic_config(conn), "head")


def null_pool_engine(url: str) -> AsyncEngine:
    """An engine that keeps no connections open (for one-shot CLI commands)."""
    return make_engine(url, poolclass=NullPool) if url.startswith("sqlite") else create_async_engine(url, poolclass=NullPool)
