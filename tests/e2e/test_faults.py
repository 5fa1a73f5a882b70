"""Faults: the process killed at every step boundary of the fan-out, outside APIs failing, bad Slack signatures.

The crash test runs the fan-out, and at the N-th job boundary — after the outside call had its effect, before the
result is committed — kills the workers (cancelling everything in flight, as a dying process would) and throws the
server away (on PostgreSQL cancelling every other job in flight too). A new server on the same database and the same emulators must finish the war room with exactly one
channel, one card, one request and one bridge.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from warroom.cli import main as cli_main
from warroom.sandbox.harness import Harness
from warroom.sandbox.world import Latencies, World
from warroom.store.outbox import Job

from .helpers import critical_alert, war_room


def short_lease(data: dict[str, Any]) -> None:
    # PostgreSQL cannot know that the crashed process is gone: its claimed jobs come back when the lease ends.
    data["worker"]["lease_seconds"] = 0.5


async def crash_at(database_url: str, boundary: int) -> tuple[World, int, list[str]]:
    """Run the fan-out until the given job boundary, crash, restart; returns the world, incident and jobs seen."""
    # slower ITSM and bridge than Slack, so the card is posted first and edited in place as the links arrive
    world = await World.start(Latencies(xurrent=0.03, zoom=0.04))
    h = await Harness.start(database_url, world=world, tweak=short_lease)
    seen: list[str] = []
    crashed = asyncio.Event()

    async def before_commit(job: Job) -> None:
        seen.append(job.kind)
        if len(seen) == boundary:
            crashed.set()
            raise asyncio.CancelledError  # the process dies here: effect done, result not recorded

    h.runtime.worker.before_commit = before_commit
    incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
    done = asyncio.create_task(h.wait_complete(incident, timeout=20))
    await asyncio.wait([done, asyncio.create_task(crashed.wait())], return_when=asyncio.FIRST_COMPLETED)
    # On PostgreSQL every job in flight dies with the process (the server rolls their transactions back). SQLite
    # in one process cannot drop a connection cancelled mid-statement until it is garbage-collected (a dead
    # process would release its lock at once), so there the other jobs in flight finish first.
    await h.runtime.worker.stop(cancel_running=database_url.startswith("postgresql"))
    done.cancel()
    await h.stop(world=False)

    again = await Harness.start(database_url, world=world, tweak=short_lease)
    try:
        assert await again.wait_complete(incident, timeout=30) == []
        await again.runtime.worker.run_until_idle()
        room = war_room(again, incident)
    finally:
        await again.stop(world=False)
    assert len(room.channels) == 1, f"boundary {boundary}: {len(room.channels)} channels"
    assert len(room.cards) == 1, f"boundary {boundary}: {len(room.cards)} cards"
    assert len(room.requests) == 1, f"boundary {boundary}: {len(room.requests)} requests"
    assert len(room.meetings) == 1, f"boundary {boundary}: {len(room.meetings)} meetings"
    assert f"#{room.requests[0]['id']}" in room.card_text and room.meetings[0]["join_url"] in room.card_text
    assert room.card["ts"] in world.slack.pins[room.channel["id"]]
    links = [b["link"] for b in world.slack.bookmarks[room.channel["id"]]]
    assert len(links) == len(set(links)), f"boundary {boundary}: duplicate bookmarks {links}"
    return world, incident, seen


async def test_crash_at_every_step_boundary_sqlite(tmp_path: Any) -> None:
    from tests.conftest import migrated_sqlite

    # Learn how many job boundaries a clean fan-out has (from an empty database), then crash at each one (each on
    # a copy of a migrated one: the crash is in the fan-out, long after the start-up migration).
    world, _, seen = await crash_at(f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}", boundary=10**6)
    await world.stop()
    assert len(seen) >= 10 and "warroom.refresh_card" in seen
    for boundary in range(1, len(seen) + 1):
        world, _, _ = await crash_at(await migrated_sqlite(tmp_path / f"crash{boundary}.db"), boundary)
        await world.stop()


async def test_crash_at_every_step_boundary_postgresql() -> None:
    from tests.conftest import pg_database

    async with pg_database() as url:
        world, _, seen = await crash_at(url, boundary=10**6)
        await world.stop()
    for boundary in range(1, len(seen) + 1):
        async with pg_database(migrated=True) as url:
            world, _, _ = await crash_at(url, boundary)
            await world.stop()


async def test_outside_failures_delay_the_fan_out_but_never_lose_or_duplicate_it(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url)
    try:
        x, s, z = h.world.xurrent, h.world.slack, h.world.zoom
        x.inject("POST /requests", "status", status=503, times=2)
        x.inject("POST /requests", "after", status=502)  # created, but the answer is lost
        x.inject("GET /people", "ratelimit", retry_after=1)
        s.inject("conversations.create", "status", status=500, times=2)
        s.inject("chat.postMessage", "after", status=500)  # the card is posted, the answer lost
        z.inject("POST /users/{userId}/meetings", "after", status=504)
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        assert await h.wait_complete(incident, timeout=60) == []
        room = war_room(h, incident)
        assert len(room.channels) == len(room.cards) == len(room.requests) == len(room.meetings) == 1
    finally:
        await h.stop()


async def test_a_permanent_rejection_is_shown_in_the_war_room_and_can_be_retried(
    sqlite_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = await Harness.start(sqlite_url)
    try:
        h.world.xurrent.inject("POST /requests", "status", status=422,
                               body={"message": "Validation failed: Service instance is not active"}, times=1000)
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        deadline = time.monotonic() + 20
        lines: list[str] = []
        while time.monotonic() < deadline and not any("could not create the linked Xurrent request" in t for t in lines):
            await asyncio.sleep(0.05)
            lines = [m["text"] for m in war_room(h, incident).messages]
        failure = next(t for t in lines if "could not create the linked Xurrent request" in t)
        assert "Service instance is not active" in failure and f"warroom sync retry {incident}" in failure
        gaps = await h.wait_complete(incident, timeout=0)
        while gaps != ["ITSM request"] and time.monotonic() < deadline + 10:
            await asyncio.sleep(0.05)
            gaps = await h.wait_complete(incident, timeout=0)
        assert gaps == ["ITSM request"]  # everything else is complete; the rejected request is not retried on its own

        h.world.xurrent.faults.clear()
        config = tmp_path / "c.yaml"
        config.write_text(f"database: {{url: '{sqlite_url}'}}\nslack: {{enabled: false}}\n")
        monkeypatch.setenv("WARROOM_INTAKE__GENERIC_TOKEN", "t")
        # the operator's command, as another process would run it
        assert await asyncio.to_thread(cli_main, ["--config", str(config), "outbox", "retry", str(incident)]) == 0
        h.runtime.store.wakeup.set()
        assert await h.wait_complete(incident, timeout=20) == []
        assert len(war_room(h, incident).requests) == 1
    finally:
        await h.stop()


@pytest.mark.one_db("signature checks before anything is stored")
async def test_slack_requests_need_a_valid_fresh_signature(harness: Harness) -> None:
    h = harness
    bad = await h.slack_command("declare checkout-api P1 Checkout is down", secret="not-the-secret")
    stale = await h.slack_command("declare checkout-api P1 Checkout is down", timestamp=int(time.time()) - 600)
    assert bad.status_code == 401 and stale.status_code == 401
    async with h.runtime.store.read() as tx:
        assert await tx.incidents.count() == 0
    ok = await h.slack_command("declare checkout-api P1 Checkout is down")
    assert ok.status_code == 200 and "INC-1 declared" in ok.text
    assert await h.wait_complete(1) == []
    assert war_room(h, 1).requests[0]["subject"] == "Checkout is down"


async def test_slack_declare_explains_mistakes(sqlite_harness: Harness) -> None:
    reply = (await sqlite_harness.slack_command("declare nosuch P1 broken")).text
    assert "Unknown service 'nosuch'" in reply and "checkout-api" in reply
    # a service but no title: the declare form opens, prefilled (tests/e2e/test_slack_response.py submits it)
    assert (await sqlite_harness.slack_command("declare checkout-api")).status_code == 200
    (view,) = [v["view"] for v in sqlite_harness.world.slack.views.values()]
    assert view["blocks"][0]["element"]["initial_option"]["value"] == "checkout-api"
