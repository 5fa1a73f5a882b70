"""Maintenance notices to a status page's subscribers, on both databases: which subscribers a window's notices fan
out to (confirmed, active, in scope), in the transaction of the change; the reminder's durable timer, which does
nothing once the window was cancelled or moved; exactly once per (subscriber, window, notice, reschedule) — the
unique constraint included; and the migration that made room for them, from the previous head with data."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from warroom.core.jobs import STATUS_DELIVER, STATUS_MAINTENANCE
from warroom.core.model import Origin, Urgency
from warroom.response import statuspages as sp
from warroom.response.statuspages import maintenance as mnt
from warroom.response.statuspages.maintenance import timer_key
from warroom.settings import Settings
from warroom.store.db import Store, Tx, _alembic_config
from warroom.store.schema import outbox, status_deliveries


def settings(reminder: int = 60) -> Settings:
    return Settings(
        slack={"enabled": False}, xurrent={"enabled": False},
        services=[{"name": "checkout-api", "bridge": "none", "status": {"page": "shop", "components": ["Checkout"]}}],
        status_pages=[
            {"name": "shop", "title": "Shop", "components": [{"name": "Checkout"}, {"name": "Search"}]},
            {"name": "partners", "title": "Partners", "visibility": "scoped",
             "components": [{"name": "Card API"}, {"name": "Settlement"}],
             "scopes": {"acquirers": ["Card API"], "finance": ["Card API", "Settlement"]}},
        ],
        status_subscribers={"maintenance_reminder_minutes": reminder},
    )


async def subscribers(store: Store) -> dict[str, int]:
    """Confirmed and active subscribers (and two that get nothing: unconfirmed, disabled); name → id."""
    async with store.tx() as tx:
        repo = tx.status_subscribers
        ids = {
            "reader": await repo.add("shop", "", "email", "reader@example.com", "t1", confirmed=True),
            "hook": await repo.add("shop", "", "webhook", "https://hooks.example.com/x", "t2", secret="whsec_x",
                                   owner="o@example.com", confirmed=True),
            "waiting": await repo.add("shop", "", "email", "waiting@example.com", "t3"),
            "gone": await repo.add("shop", "", "email", "gone@example.com", "t4", confirmed=True),
            "acquirer": await repo.add("partners", "acquirers", "email", "acq@example.com", "t5", confirmed=True),
            "finance": await repo.add("partners", "finance", "email", "fin@example.com", "t6", confirmed=True),
        }
        await repo.disable(ids["gone"], "test")
    return ids


async def notices(store: Store) -> list[tuple[int, int, str, int]]:
    """(subscriber, window, notice, revision) of every maintenance delivery, each with its outbox job."""
    async with store.read() as tx:
        rows = [d for d in await tx.status_subscribers.deliveries() if d["maintenance_id"] is not None]
        jobs = (await tx.conn.execute(select(outbox.c.payload).where(outbox.c.kind == STATUS_DELIVER))).scalars()
    delivered = sorted(int(p["delivery"]) for p in jobs if "delivery" in p)
    assert sorted(int(d["id"]) for d in rows) == [d for d in delivered if d in {int(r["id"]) for r in rows}]
    assert len(delivered) == len(set(delivered)), "a delivery with two jobs"
    return sorted((int(d["subscriber_id"]), int(d["maintenance_id"]), str(d["notice"]), int(d["revision"]))
                  for d in rows)


async def timer(store: Store, maintenance: int, edge: str) -> dict[str, Any] | None:
    async with store.read() as tx:
        return next((t for t in await tx.timers.all() if t["key"] == timer_key(maintenance, edge)), None)


async def fire(store: Store, s: Settings, maintenance: int, edge: str, at: str, revision: int = 0) -> bool:
    async with store.tx() as tx:
        return await mnt.edge(tx, s, maintenance, edge, at, revision)


async def test_notices_fan_out_to_confirmed_subscribers_in_scope_once_each(store: Store) -> None:
    s = settings()
    ids = await subscribers(store)
    reader, hook, acquirer, finance = ids["reader"], ids["hook"], ids["acquirer"], ids["finance"]
    async with store.tx() as tx:
        start, end = tx.now + timedelta(hours=3), tx.now + timedelta(hours=5)
        shop = (await mnt.add(tx, s, "shop", title="Database upgrade", components=["Checkout"], starts_at=start,
                              ends_at=end))["id"]
        settlement = (await mnt.add(tx, s, "partners", title="Batch move", components=["Settlement"],
                                    starts_at=start, ends_at=end))["id"]
        both = (await mnt.add(tx, s, "partners", title="Card API and ledger", components=["Card API"],
                              starts_at=start, ends_at=end))["id"]
    # the unconfirmed and the disabled get nothing; a scoped subscriber only windows touching its group
    assert await notices(store) == sorted([(reader, shop, "scheduled", 0), (hook, shop, "scheduled", 0),
                                           (finance, settlement, "scheduled", 0), (acquirer, both, "scheduled", 0),
                                           (finance, both, "scheduled", 0)])
    reminder = await timer(store, shop, "reminder")
    assert reminder is not None and reminder["kind"] == STATUS_MAINTENANCE
    assert reminder["payload"] == {"maintenance": shop, "edge": "reminder", "at": start.isoformat(), "revision": 0}
    assert abs(reminder["fire_at"] - (start - timedelta(minutes=60))) < timedelta(milliseconds=1)

    # a new title is no news; a new end is (rescheduled, revision 1); a new start moves the reminder with it
    async with store.tx() as tx:
        await mnt.extend(tx, s, shop, title="Database upgrade (v16)")
        await mnt.extend(tx, s, shop, ends_at=end + timedelta(hours=1))
    assert [n for n in await notices(store) if n[1] == shop and n[2] != "scheduled"] == [
        (reader, shop, "rescheduled", 1), (hook, shop, "rescheduled", 1)]
    assert await timer(store, shop, "reminder") == reminder  # the start did not move
    async with store.tx() as tx:
        later = start + timedelta(hours=1)
        await mnt.extend(tx, s, shop, starts_at=later)
    moved = await timer(store, shop, "reminder")
    assert moved is not None and moved["payload"]["at"] == later.isoformat() and moved["payload"]["revision"] == 2

    # the old reminder firing late does nothing; the new one reminds once, however often its job runs
    assert not await fire(store, s, shop, "reminder", start.isoformat(), 0)
    assert await fire(store, s, shop, "reminder", later.isoformat(), 2)
    assert await fire(store, s, shop, "reminder", later.isoformat(), 2)
    assert [n for n in await notices(store) if n[2] == "reminder"] == [(reader, shop, "reminder", 2),
                                                                      (hook, shop, "reminder", 2)]

    # cancelled: told once, its timers gone, and a reminder that fires after it does nothing
    async with store.tx() as tx:
        await mnt.cancel(tx, s, settlement)
    assert await timer(store, settlement, "reminder") is None and await timer(store, settlement, "start") is None
    assert not await fire(store, s, settlement, "reminder", start.isoformat(), 0)
    assert [n for n in await notices(store) if n[1] == settlement] == [(finance, settlement, "cancelled", 0),
                                                                      (finance, settlement, "scheduled", 0)]

    # its edges: started, completed
    assert await fire(store, s, both, "start", start.isoformat())
    assert await fire(store, s, both, "end", end.isoformat())
    assert [n[2] for n in await notices(store) if n[1] == both and n[0] == acquirer] == [
        "completed", "scheduled", "started"]
    assert await timer(store, both, "reminder") is None


async def test_a_window_starting_at_once_is_told_only_when_it_starts_and_soon_ones_get_no_reminder(
    store: Store,
) -> None:
    s = settings()
    ids = await subscribers(store)
    async with store.tx() as tx:
        now = tx.now
        hotfix = (await mnt.add(tx, s, "shop", title="Hotfix", components=["Search"], starts_at=now - timedelta(
            minutes=5), ends_at=now + timedelta(hours=1), allow_past=True))["id"]
        soon = (await mnt.add(tx, s, "shop", title="Soon", components=["Search"], starts_at=now + timedelta(
            minutes=30), ends_at=now + timedelta(hours=1)))["id"]
    assert await notices(store) == sorted([(ids["reader"], soon, "scheduled", 0), (ids["hook"], soon, "scheduled", 0)])
    assert await timer(store, hotfix, "reminder") is None and await timer(store, soon, "reminder") is None
    async with store.read() as tx:
        row = await tx.statuspages.maintenance(hotfix)
    assert row is not None
    assert await fire(store, s, hotfix, "start", row["starts_at"].isoformat())
    assert [n[2] for n in await notices(store) if n[1] == hotfix] == ["started", "started"]

    # cancelling a running window ends it: its subscribers hear it completed
    async with store.tx() as tx:
        await mnt.cancel(tx, s, hotfix)
    assert sorted(n[2] for n in await notices(store) if n[1] == hotfix) == ["completed"] * 2 + ["started"] * 2

    # no reminders when they are off
    off = settings(reminder=0)
    async with store.tx() as tx:
        quiet = (await mnt.add(tx, off, "shop", title="Quiet", components=["Search"], starts_at=tx.now + timedelta(
            hours=5), ends_at=tx.now + timedelta(hours=6)))["id"]
    assert await timer(store, quiet, "reminder") is None


async def _update_delivery(tx: Tx, s: Settings, subscriber: int) -> int:
    incident = await tx.incidents.create(title="t", service="checkout-api", priority="P1", urgency=Urgency.HIGH,
                                         details="", assignee=None, origin=Origin.CHAT)
    await sp.publish_update(tx, incident.id, "shop", "investigating", "Looking.", "ana@example.com", settings=s)
    [made] = [d for d in await tx.status_subscribers.deliveries(subscriber) if d["update_id"] is not None]
    return int(made["id"])


async def test_one_notice_per_subscriber_window_and_revision_is_a_constraint(store: Store) -> None:
    s = settings()
    ids = await subscribers(store)
    async with store.tx() as tx:
        window = (await mnt.add(tx, s, "shop", title="Upgrade", components=["Checkout"], starts_at=tx.now + timedelta(
            hours=3), ends_at=tx.now + timedelta(hours=4)))["id"]
        update_delivery = await _update_delivery(tx, s, ids["reader"])
    row = {"subscriber_id": ids["reader"], "maintenance_id": window, "notice": "scheduled", "revision": 0,
           "state": "pending", "attempts": 0}
    with pytest.raises(IntegrityError):
        async with store.tx() as tx:
            await tx.conn.execute(insert(status_deliveries).values(created_at=tx.now, **row))
    async with store.tx() as tx:  # another revision is another notice
        await tx.conn.execute(insert(status_deliveries).values(created_at=tx.now, **{**row, "revision": 1}))
    async with store.read() as tx:
        found = await tx.status_subscribers.delivery(update_delivery)
    assert found is not None and found["update_status"] == "investigating" and found["maintenance_id"] is None

    # the window goes: its notices go with it (cascade); the update's delivery stays
    async with store.tx() as tx:
        from warroom.store.schema import status_maintenances

        await tx.conn.execute(status_maintenances.delete().where(status_maintenances.c.id == window))
    async with store.read() as tx:
        left = await tx.status_subscribers.deliveries()
    assert update_delivery in [d["id"] for d in left]
    assert [(d["subscriber_id"], d["maintenance_id"]) for d in left] == [(ids["reader"], None), (ids["hook"], None)]


async def test_the_migration_keeps_update_deliveries_from_the_previous_head_and_back(store: Store) -> None:
    s = settings()
    ids = await subscribers(store)
    async with store.tx() as tx:
        update_delivery = await _update_delivery(tx, s, ids["reader"])
        await mnt.add(tx, s, "shop", title="Upgrade", components=["Checkout"], starts_at=tx.now + timedelta(hours=3),
                      ends_at=tx.now + timedelta(hours=4))

    async def to(revision: str, down: bool) -> None:
        async with store.engine.connect() as conn:
            await conn.run_sync(lambda c: (command.downgrade if down else command.upgrade)(_alembic_config(c),
                                                                                            revision))
            await conn.commit()

    await to("0009", down=True)  # the notices have no place there: they go; the update's delivery stays
    async with store.engine.connect() as conn:
        rows = (await conn.exec_driver_sql(
            "SELECT subscriber_id, state FROM status_deliveries ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(ids["reader"], "pending"), (ids["hook"], "pending")]
    await to("head", down=False)  # from the previous head with deliveries in the table
    async with store.read() as tx:
        kept = await tx.status_subscribers.deliveries()
        found = await tx.status_subscribers.delivery(update_delivery)
    assert [(d["subscriber_id"], d["maintenance_id"], d["notice"], d["revision"]) for d in kept] == [
        (ids["reader"], None, None, 0), (ids["hook"], None, None, 0)]
    assert found is not None and found["body"] == "Looking."
