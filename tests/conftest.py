"""Shared fixtures: a fresh database per test on SQLite and, where it runs, PostgreSQL (127.0.0.1:5432).

In CI (``CI=true``) PostgreSQL must be there: its tests fail instead of skipping.

``db_url``, ``pg_url`` and ``sqlite_url`` are empty databases: whatever opens them runs every migration. The
end-to-end tests (tests/e2e/conftest.py) start from a copy of a database migrated once per run instead
(:func:`migrated_sqlite`, ``pg_database(migrated=True)``): the server's start-up still runs ``migrate()``, which finds
the schema at head. The migrations themselves stay tested from empty on both databases here (tests/store, the CLI
tests and every test that takes ``db_url``) and by building the two templates.

``@pytest.mark.one_db("why")`` runs a test that takes ``db_url`` on SQLite alone (see
:func:`pytest_collection_modifyitems`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from warroom.store.db import Store

PG_HOST = os.environ.get("WARROOM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("WARROOM_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("WARROOM_TEST_PG_USER", "postgres")
_pg_state: dict[str, str | None] = {}


async def _pg_admin():  # type: ignore[no-untyped-def]
    import asyncpg

    return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=3)


async def _pg_reason() -> str | None:
    """None when PostgreSQL answers, else why not."""
    if "reason" not in _pg_state:
        try:
            conn = await _pg_admin()
            await conn.close()
            _pg_state["reason"] = None
        except Exception as exc:
            _pg_state["reason"] = f"PostgreSQL at {PG_HOST}:{PG_PORT} is not reachable ({type(exc).__name__}: {exc})"
    return _pg_state["reason"]


async def require_postgres() -> None:
    reason = await _pg_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; in CI the PostgreSQL tests must run — .ci/run starts the server")
    pytest.skip(f"{reason}; start it to run the PostgreSQL half of the suite")


def _pg_url(name: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


async def _migrate(url: str) -> None:
    """Every migration, as the server's start-up runs them (Store.migrate), then no connection left open."""
    from warroom.store.db import Store

    store = Store.from_url(url)
    try:
        await store.migrate()
    finally:
        await store.dispose()


async def _pg_template() -> str:
    """A PostgreSQL database migrated to head, built once per test process (dropped at the end of the session by
    pytest_sessionfinish); ``CREATE DATABASE … TEMPLATE`` copies it for each test that asks for a migrated one."""
    name = _pg_state.get("template")
    if name is None:
        name = f"warroom_test_template_{uuid.uuid4().hex[:12]}"
        admin = await _pg_admin()
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        _pg_state["template"] = name  # dropped at the end even if the migration below fails
        await _migrate(_pg_url(name))
    return name


@asynccontextmanager
async def pg_database(*, migrated: bool = False) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards: empty, or ``migrated`` (a copy of a database
    migrated to head once per run: the schema the server's start-up would make, without running every migration
    again for each test)."""
    await require_postgres()
    template = await _pg_template() if migrated else None
    name = f"warroom_test_{uuid.uuid4().hex[:12]}"
    admin = await _pg_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await admin.close()
    try:
        yield _pg_url(name)
    finally:
        admin = await _pg_admin()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(autouse=True, scope="session")
def _one_default_tls_context() -> Iterator[None]:
    """Every ``httpx.AsyncClient`` builds its default TLS context, parsing the whole CA bundle (~20-40 ms of CPU);
    the server under test makes eight of them at each start (one per adapter), about a fifth of a harness start.
    In this test process the default context (verify=True, no client certificate) is built once per CA setting and
    shared: the same CA bundle and the same checks, so no behaviour changes (tests talk plain HTTP to the
    emulators on loopback anyway). Anything else (verify=False, a context of its own, a client certificate) goes
    to httpx as before. A no-op if httpx's transport no longer looks this up."""
    from httpx._transports import default as transport

    original = getattr(transport, "create_ssl_context", None)
    if original is None:
        yield
        return
    built: dict[tuple[bool, str | None, str | None], ssl.SSLContext] = {}

    def shared(verify: object = True, cert: object = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is not True or cert is not None:
            return original(verify=verify, cert=cert, trust_env=trust_env)  # type: ignore[no-any-return]
        key = (trust_env, os.environ.get("SSL_CERT_FILE") if trust_env else None,
               os.environ.get("SSL_CERT_DIR") if trust_env else None)
        if key not in built:
            built[key] = original(verify=verify, cert=cert, trust_env=trust_env)
        return built[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transport, "create_ssl_context", shared)
        yield


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with pg_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'warroom.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Each test that takes this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'warroom.db'}"
        return
    async with pg_database() as url:
        yield url


_sqlite_template: dict[str, Path] = {}


async def migrated_sqlite(path: Path) -> str:
    """An SQLite database at ``path`` that is a copy of one migrated to head once per test process (the SQLite
    counterpart of ``pg_database(migrated=True)``)."""
    template = _sqlite_template.get("file")
    if template is None:
        template = Path(tempfile.mkdtemp(prefix="warroom-template-")) / "migrated.db"
        await _migrate(f"sqlite+aiosqlite:///{template}")
        leftovers = [p.name for p in template.parent.iterdir() if p != template]
        assert not leftovers, f"the template database was not closed cleanly: {leftovers}"
        _sqlite_template["file"] = template
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    template = _pg_state.get("template")
    if template is not None:

        async def drop() -> None:
            admin = await _pg_admin()
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            finally:
                await admin.close()

        asyncio.run(drop())
    if "file" in _sqlite_template:
        shutil.rmtree(_sqlite_template["file"].parent, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.one_db("why")`` on a test that takes ``db_url`` deselects its PostgreSQL run (reported as
    deselected), for tests where PostgreSQL exercises nothing SQLite does not: no concurrency, no locking, no
    dialect-specific SQL — formatting, validation, permissions, a second transport of a path that keeps its
    PostgreSQL run. ``only="socket"`` narrows it to the PostgreSQL runs where another parameter has that value
    (e.g. the Socket Mode copy of a test whose HTTP run keeps PostgreSQL). Keep both databases for concurrency, locks, migrations,
    replicas, exactly-once and at least one end-to-end path per feature; the reason is required."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        mark = item.get_closest_marker("one_db")
        if mark is not None:
            if not (mark.args and isinstance(mark.args[0], str) and mark.args[0].strip()):
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.one_db needs a reason")
            if "db_url" not in getattr(item, "fixturenames", ()):
                raise pytest.UsageError(f"{item.nodeid}: @pytest.mark.one_db on a test that does not take db_url")
            callspec = getattr(item, "callspec", None)
            only = mark.kwargs.get("only")
            others = [v for k, v in callspec.params.items() if k != "db_url"] if callspec is not None else []
            if (callspec is not None and callspec.params.get("db_url") == "postgresql"
                    and (only is None or only in others)):
                dropped.append(item)
                continue
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    """A migrated store on ``db_url`` (each database in turn), disposed of afterwards."""
    from warroom.store.db import Store

    s = Store.from_url(db_url)
    await s.migrate()
    yield s
    await s.dispose()
