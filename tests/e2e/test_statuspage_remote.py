"""A built-in page mirrored to Atlassian Statuspage, end to end over real HTTP on both databases: an alert moves the
mapped component on the Statuspage emulator, published updates create, update and resolve the remote incident with
its components; a throttled, failing, then unreachable Statuspage still gets every update once and in order, and
the war room hears once of an update that is late (its durable timer made due here by moving it to now) — and not
of one that arrives in time; a create Statuspage took but answered 500 to is found again, not made twice; an update
Statuspage refuses (422) is failed and said, and the next one still goes; a long Retry-After is waited out by the
outbox, and the late line says that Statuspage answers 429."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import update

from warroom.response import statuspages as sp
from warroom.response.statuspages import remote
from warroom.sandbox.harness import Harness
from warroom.sandbox.statuspage import StatuspageEmulator
from warroom.sandbox.world import World
from warroom.store.schema import outbox, timers

from .helpers import critical_alert, settle, war_room

CREATE = "POST /pages/{page_id}/incidents"
PATCH = "PATCH /pages/{page_id}/incidents/{incident_id}"
UNRESOLVED = "GET /pages/{page_id}/incidents/unresolved"


def mirrored_shop(world: World, *, auto_publish: bool = False, max_attempts: int | None = None,
                  ) -> Callable[[dict[str, Any]], None]:
    """A tweak: page ``shop`` (Checkout, Payments, Search), mirrored on the sandbox's Statuspage page with Checkout
    and Payments mapped (Search stays ours); checkout-api is Checkout."""

    def tweak(data: dict[str, Any]) -> None:
        ids = world.statuspage_components
        data["status_pages"] = [
            {"name": "shop", "title": "Shop", "auto_publish": auto_publish,
             "components": [{"name": "Checkout"}, {"name": "Payments"}, {"name": "Search"}],
             "statuspage": {"page_id": world.statuspage_page,
                            "components": {"Checkout": ids["Checkout"], "Payments": ids["Payments"]}}},
        ]
        services = {s["name"]: s for s in data["services"]}
        services["checkout-api"]["status"] = {"page": "shop", "components": ["Checkout"]}
        if max_attempts is not None:
            data["worker"]["max_attempts"] = max_attempts

    return tweak


@pytest.fixture
async def mirrored(db_url: str) -> AsyncIterator[Callable[..., Any]]:
    started: list[Harness] = []

    async def go(*, auto_publish: bool = False, max_attempts: int | None = None) -> Harness:
        world = await World.start()
        tweak = mirrored_shop(world, auto_publish=auto_publish, max_attempts=max_attempts)
        h = await Harness.start(db_url, world=world, tweak=tweak)
        h.world.slack.config.rate_limits = False  # the war room's lines are counted, not paced
        started.append(h)
        return h

    yield go
    for h in started:
        await h.stop()


def emulator(h: Harness) -> StatuspageEmulator:
    return h.world.statuspage


def remote_incidents(h: Harness) -> list[dict[str, Any]]:
    return emulator(h).incidents_on(h.world.statuspage_page)


def remote_updates(h: Harness, incident: dict[str, Any]) -> list[tuple[str, str]]:
    return [(u["status"], u["body"]) for u in emulator(h).updates_of(h.world.statuspage_page, incident["id"])]


def checkout_status(h: Harness) -> str:
    return emulator(h).component_status(h.world.statuspage_page, h.world.statuspage_components["Checkout"])


async def declare(h: Harness) -> int:
    incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]  # P1: Checkout major_outage
    assert await h.wait_complete(incident) == []
    await settle(h)
    return int(incident)


async def publish(h: Harness, incident: int, status: str, body: str) -> int:
    async with h.runtime.store.tx() as tx:
        return await sp.publish_update(tx, incident, "shop", status, body, "ana@example.com", settings=h.settings)


async def pushes(h: Harness) -> list[dict[str, Any]]:
    async with h.runtime.store.read() as tx:
        return await remote.pushes_of(tx, "shop")


def lines(h: Harness, incident: int, words: str) -> list[str]:
    return [str(m.get("text") or "") for m in war_room(h, incident).messages if words in str(m.get("text") or "")]


async def late_timers(h: Harness) -> list[dict[str, Any]]:
    async with h.runtime.store.read() as tx:
        return [t for t in await tx.timers.all() if str(t["key"]).startswith("statuspage-late:")]


async def fire_late(h: Harness, push_id: int) -> None:
    """The push's lateness timer made due now and fired (instead of waiting its five minutes)."""
    async with h.runtime.store.tx() as tx:
        await tx.conn.execute(update(timers).where(timers.c.key == remote.late_key(push_id)).values(fire_at=tx.now))
    await h.runtime.timers.tick()


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_alert_to_updates_published_on_the_built_in_page_and_statuspage(mirrored: Callable[..., Any]) -> None:
    h: Harness = await mirrored(auto_publish=True)
    payments_id = h.world.statuspage_components["Payments"]
    incident = await declare(h)

    # the component follows the incident; auto_publish's first update created the remote incident with it
    assert checkout_status(h) == "major_outage"
    assert emulator(h).component_status(h.world.statuspage_page, payments_id) == "operational"
    [created] = remote_incidents(h)
    assert created["name"] == "Issue affecting Checkout"
    assert created["metadata"] == {"warroom": {"key": f"shop/INC-{incident}"}}
    assert [c["id"] for c in created["components"]] == [h.world.statuspage_components["Checkout"]]
    assert created["impact"] == "critical"
    assert remote_updates(h, created) == [("investigating", "We are investigating an issue affecting Checkout.")]

    # a person's update updates it; the built-in page shows the same text
    await publish(h, incident, "identified", "A faulty deploy of the checkout API; rolling back <now> & soon.")
    await settle(h)
    [same] = remote_incidents(h)
    assert same["id"] == created["id"] and same["status"] == "identified"
    assert remote_updates(h, same)[-1] == ("identified", "A faulty deploy of the checkout API; rolling back <now> & soon.")
    feed = (await h.http.get("/status/shop/index.json")).json()
    assert feed["incidents"][0]["updates"][0]["body"] == "A faulty deploy of the checkout API; rolling back <now> & soon."

    # resolve: the auto-published resolution resolves it, and Checkout is operational again on both pages
    room = war_room(h, incident).channel["id"]
    assert (await h.slack.command("resolve", channel=room)).status_code == 200
    await settle(h)
    [done] = remote_incidents(h)
    assert done["id"] == created["id"] and done["status"] == "resolved" and done["resolved_at"]
    assert [s for s, _ in remote_updates(h, done)] == ["investigating", "identified", "resolved"]
    assert checkout_status(h) == "operational"
    assert {c["name"]: c["status"] for c in feed["components"]}["Checkout"] == "major_outage"
    assert {c["name"]: c["status"] for c in (await h.http.get("/status/shop/index.json")).json()["components"]} == {
        "Checkout": "operational", "Payments": "operational", "Search": "operational"}
    assert [p["state"] for p in await pushes(h)] == ["sent", "sent", "sent"]
    assert await late_timers(h) == []  # each cancelled when its push was sent
    assert lines(h, incident, "Statuspage") == []
    # component statuses are written only where they differ: declare (major_outage) and resolve (operational)
    assert len(emulator(h).calls_to("PATCH /pages/{page_id}/components/{component_id}")) <= 2


async def test_a_throttled_failing_then_unreachable_statuspage_gets_every_update_once_in_order(
    mirrored: Callable[..., Any],
) -> None:
    h: Harness = await mirrored(max_attempts=3)  # a push job gives up soon: a fresh one carries on
    incident = await declare(h)
    emu = emulator(h)
    assert checkout_status(h) == "major_outage" and remote_incidents(h) == []

    # a 429 with Retry-After, then 500 twice: the first update still arrives, once, and in time (no line)
    emu.inject(CREATE, "ratelimit", retry_after=1, times=1)
    emu.inject(CREATE, "status", status=500, times=2)
    await publish(h, incident, "investigating", "Checkout is failing for some customers.")
    [timer] = await late_timers(h)
    assert (timer["fire_at"] - timer["created_at"]).total_seconds() == pytest.approx(remote.LATE_MINUTES * 60)
    await settle(h)
    [created] = remote_incidents(h)
    assert remote_updates(h, created) == [("investigating", "Checkout is failing for some customers.")]
    assert emu.throttled == 1 and not emu.faults
    assert await late_timers(h) == []

    # Statuspage down: two updates wait, in order; the late one is said once, with why
    port = emu.port
    await emu.stop()
    second = await publish(h, incident, "identified", "A bad deploy; rolling back.")
    await publish(h, incident, "monitoring", "Rolled back; watching the error rate.")

    async def handed_over() -> bool:  # a job tried its three times and left the page to a fresh one
        async with h.runtime.store.read() as tx:
            jobs = [j for j in await tx.outbox.jobs() if j["kind"] == "statuspage.push"]
        rows = await pushes(h)
        return (any(j["status"] == "done" and j["attempts"] == 3 for j in jobs)
                and "cannot be reached" in str(rows[1]["last_error"]))

    await wait_for(handed_over, "a push job to hand over while Statuspage is down")
    async with h.runtime.store.read() as tx:
        assert not [j for j in await tx.outbox.jobs() if j["status"] == "dead"]
    rows = await pushes(h)
    assert [r["state"] for r in rows] == ["sent", "pending", "pending"]
    await fire_late(h, int(rows[1]["id"]))

    async def told() -> bool:
        return bool(lines(h, incident, "has not reached Statuspage"))

    await wait_for(told, "the war room to hear of the late update")
    await fire_late(h, int(rows[1]["id"]))  # (nothing: the timer fired once and is gone)
    said = lines(h, incident, "has not reached Statuspage")
    assert len(said) == 1, said
    assert said[0].startswith("⏳ The status page update (identified, ")
    assert "for 5 minutes: Statuspage cannot be reached" in said[0] and said[0].endswith("— warroom keeps trying.")

    # back: both arrive, in order, once; the third's timer is cancelled unfired, so nothing more is said
    await emu.start(port=port)
    await settle(h)
    [same] = remote_incidents(h)
    assert remote_updates(h, same) == [
        ("investigating", "Checkout is failing for some customers."),
        ("identified", "A bad deploy; rolling back."),
        ("monitoring", "Rolled back; watching the error rate."),
    ]
    assert [p["state"] for p in await pushes(h)] == ["sent", "sent", "sent"]
    assert await late_timers(h) == []
    assert len(lines(h, incident, "has not reached Statuspage")) == 1
    assert lines(h, incident, "could not be published") == []
    assert second


async def test_a_create_taken_but_answered_500_is_found_again_and_a_refused_update_is_failed_and_said(
    mirrored: Callable[..., Any],
) -> None:
    h: Harness = await mirrored()
    incident = await declare(h)
    emu = emulator(h)
    # Statuspage takes the incident and answers 500; the look-up right after fails too (both tries): the job fails
    # with the push marked sending, and its retry finds the incident by its key instead of creating it again
    emu.inject(CREATE, "after", times=1)
    emu.inject(UNRESOLVED, "status", status=500, times=2)
    await publish(h, incident, "investigating", "Checkout is failing for some customers.")
    await settle(h)
    [created] = remote_incidents(h)
    assert remote_updates(h, created) == [("investigating", "Checkout is failing for some customers.")]
    assert len(emu.calls_to(CREATE)) == 1
    [push] = await pushes(h)
    assert push["state"] == "sent" and push["attempts"] == 1

    # an update taken but answered 500 is read back, not posted twice; the next one, refused (422), is failed and
    # said — and the one after it still goes, to the incident found (its id was kept)
    emu.inject(PATCH, "after", times=1)
    await publish(h, incident, "identified", "A bad deploy; rolling back.")
    await settle(h)
    emu.inject(PATCH, "status", status=422, body={"error": ["Component <b>gone</b> is invalid"]}, times=1)
    await publish(h, incident, "identified", "Still rolling back.")
    await publish(h, incident, "monitoring", "Rolled back; watching the error rate.")
    await settle(h)

    [same] = remote_incidents(h)
    assert same["id"] == created["id"]
    assert remote_updates(h, same) == [
        ("investigating", "Checkout is failing for some customers."),
        ("identified", "A bad deploy; rolling back."),
        ("monitoring", "Rolled back; watching the error rate."),
    ]
    rows = await pushes(h)
    assert [r["state"] for r in rows] == ["sent", "sent", "failed", "sent"]
    assert "Component <b>gone</b> is invalid" in str(rows[2]["last_error"])
    [said] = lines(h, incident, "could not be published on Statuspage")
    assert said.startswith("⚠️ The status page update (identified, ")
    assert "&lt;b&gt;gone&lt;/b&gt;" in said and "<b>" not in said  # Statuspage's text, escaped for Slack
    assert await late_timers(h) == []

    # a long Retry-After goes back to the outbox, which waits it out; the late line says what Statuspage answers
    emu.inject(PATCH, "ratelimit", retry_after=30, times=1)
    await publish(h, incident, "resolved", "Checkout works again.")

    async def throttled() -> bool:
        async with h.runtime.store.read() as tx:
            waiting = [j for j in await tx.outbox.jobs() if j["kind"] == "statuspage.push" and j["status"] == "pending"
                       and j["attempts"] == 1 and (j["run_at"] - tx.now).total_seconds() > 20]
        return bool(waiting)

    await wait_for(throttled, "the push to wait out Statuspage's Retry-After")
    late = (await pushes(h))[-1]
    await fire_late(h, int(late["id"]))

    async def told() -> bool:
        return bool(lines(h, incident, "has not reached Statuspage"))

    await wait_for(told, "the war room to hear of the late update")
    [said] = lines(h, incident, "has not reached Statuspage")
    assert said.startswith("⏳ The status page update (resolved, ")
    assert "for 5 minutes: Statuspage answers 429 (too many requests" in said and "it asks to wait 30 s" in said
    async with h.runtime.store.tx() as tx:  # (the 30 s passed)
        await tx.conn.execute(update(outbox).where(outbox.c.kind == "statuspage.push", outbox.c.status == "pending")
                              .values(run_at=tx.now))
    await settle(h)
    assert remote_updates(h, remote_incidents(h)[0])[-1] == ("resolved", "Checkout works again.")
    assert [p["state"] for p in await pushes(h)] == ["sent", "sent", "failed", "sent", "sent"]


@pytest.mark.one_db(
    "which maintenances are ours: the mirror's once-in-order and retry paths keep PostgreSQL in the tests above",
)
async def test_our_maintenance_ends_on_statuspage_but_statuspages_own_is_left_alone(
    mirrored: Callable[..., Any],
) -> None:
    from datetime import timedelta

    from warroom.response.statuspages import maintenance

    h = await mirrored()
    ids = h.world.statuspage_components
    page = h.world.statuspage_page
    async with h.runtime.store.tx() as tx:  # a window of ours, started at once
        await maintenance.add(tx, h.settings, "shop", title="Database upgrade", components=["Checkout"],
                              starts_at=tx.now, ends_at=tx.now + timedelta(hours=1), allow_past=True)
    await h.runtime.timers.tick()  # its start is due now
    await settle(h)
    assert emulator(h).component_status(page, ids["Checkout"]) == "under_maintenance"
    # someone puts Payments under maintenance on Statuspage itself: not ours to end
    emulator(h).components[page][ids["Payments"]]["status"] = "under_maintenance"  # as in Statuspage's own UI
    async with h.runtime.store.tx() as tx:
        row = (await maintenance.listed(tx, h.settings, "shop"))[0]
        await maintenance.cancel(tx, h.settings, int(row["id"]))  # a running window: ended now
    await settle(h)
    assert emulator(h).component_status(page, ids["Checkout"]) == "operational"  # ours: ended there too
    assert emulator(h).component_status(page, ids["Payments"]) == "under_maintenance"  # theirs: left alone
