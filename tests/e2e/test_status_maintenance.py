"""Scheduled maintenance on the built-in status pages, end to end: windows are scheduled, listed, extended and
cancelled with the real command line (`warroom statuspage maintenance …`, against the server's database), and the
real server — its durable timers, outbox worker and HTTP pages — starts and ends them.

A window's edges are timers at its start and end; a test makes one due by moving its fire time to now (as the status
pages' own tests do), never by sleeping. Changes the command line makes reach a render the server cached within its
re-check interval (another process's change: the store's version), so those reads wait for it, briefly."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import select, update

from warroom.cli import main
from warroom.core.jobs import STATUS_MAINTENANCE
from warroom.response import statuspages as sp
from warroom.response.statuspages.maintenance import timer_key
from warroom.sandbox.harness import Harness
from warroom.store.schema import status_maintenances, timers

from .helpers import critical_alert, settle, war_room

ATOM = "{http://www.w3.org/2005/Atom}"
PAGES: list[dict[str, Any]] = [
    {"name": "shop", "title": "Shop",
     "components": [{"name": "Checkout", "group": "Store"}, {"name": "Payments", "group": "Store"},
                    {"name": "Search"}]},
    {"name": "partners", "title": "Partners", "visibility": "scoped",
     "components": [{"name": "Card API"}, {"name": "Settlement"}],
     "scopes": {"acquirers": ["Card API"], "finance": ["Card API", "Settlement"]}},
]


def pages(data: dict[str, Any]) -> None:
    """The tweak: page ``shop`` (checkout-api is Checkout, at once operational again on resolve) and the scoped
    page ``partners``."""
    data["status_pages"] = PAGES
    services = {s["name"]: s for s in data["services"]}
    services["checkout-api"]["status"] = {"page": "shop", "components": ["Checkout"]}


class Cli:
    """`warroom --config … statuspage maintenance …`, run as a user runs it (its own process's database access)."""

    def __init__(self, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.config = tmp_path / "cli.yaml"
        self.config.write_text(json.dumps({  # JSON is YAML
            "database": {"url": db_url, "auto_migrate": False}, "slack": {"enabled": False},
            "services": [{"name": "checkout-api"}], "status_pages": PAGES,
        }))
        self.capsys = capsys

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, ["--config", str(self.config), "statuspage", "maintenance", *args])
        out, err = self.capsys.readouterr()
        return code, out, err


def at(delta: timedelta) -> str:
    """A time ``delta`` from now as the command line takes it (UTC)."""
    return f"{datetime.now(UTC) + delta:%Y-%m-%d %H:%M}"


async def statuses(h: Harness, page: str = "shop", query: str = "") -> dict[str, str]:
    reply = await h.http.get(f"/status/{page}/index.json" + (f"?{query}" if query else ""))
    assert reply.status_code == 200, reply.text
    return {c["name"]: c["status"] for c in reply.json()["components"]}


async def shown(h: Harness, path: str, ok: Callable[[str], bool]) -> str:
    """The body of ``path`` once ``ok`` holds: a change the command line made reaches a cached render within the
    server's re-check interval (a second); a few seconds without it is a failure."""
    deadline = time.monotonic() + 5.0
    while True:
        reply = await h.http.get(path)
        assert reply.status_code == 200, reply.text
        if ok(reply.text) or time.monotonic() > deadline:
            return reply.text
        await asyncio.sleep(0.05)


async def fire(h: Harness, maintenance: int, edge: str) -> None:
    """Make a window's start or end timer due now, fire it and run its job."""
    async with h.runtime.store.tx() as tx:
        moved = await tx.conn.execute(update(timers).where(timers.c.key == timer_key(maintenance, edge))
                                      .values(fire_at=tx.now))
    assert moved.rowcount == 1, f"no {edge} timer for maintenance {maintenance}"
    await h.runtime.timers.tick()
    await settle(h)


async def replay(h: Harness, payload: dict[str, Any]) -> None:
    """Run a timer's job as if it had fired just before a change committed (a stale edge)."""
    async with h.runtime.store.tx() as tx:
        await tx.outbox.enqueue(STATUS_MAINTENANCE, payload)
    await settle(h)


async def timer(h: Harness, maintenance: int, edge: str) -> dict[str, Any] | None:
    async with h.runtime.store.read() as tx:
        return next((t for t in await tx.timers.all() if t["key"] == timer_key(maintenance, edge)), None)


async def window(h: Harness, maintenance: int) -> dict[str, Any]:
    async with h.runtime.store.read() as tx:
        row = await tx.statuspages.maintenance(maintenance)
    assert row is not None
    return row


def feed_titles(atom: str, rss: str) -> tuple[list[str], list[str]]:
    return ([e.text or "" for e in ET.fromstring(atom).iter(f"{ATOM}title")][1:],
            [e.text or "" for e in ET.fromstring(rss).iter("title")][1:])


async def with_harness(db_url: str, test: Callable[[Harness], Awaitable[None]]) -> None:
    h = await Harness.start(db_url, tweak=pages)
    try:
        await test(h)
    finally:
        await h.stop()


async def test_window_scheduled_started_outranked_by_an_incident_and_completed(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(tmp_path, db_url, capsys)

    async def test(h: Harness) -> None:
        code, out, err = await cli("add", "shop", "--title", "Database <b>upgrade</b>", "--components",
                                   "checkout, payments", "--start", at(timedelta(hours=1)), "--end",
                                   at(timedelta(hours=3)), "--body", "Payments may be slow & retried.")
        assert (code, err) == (0, ""), err
        assert out.startswith("Scheduled maintenance 1  scheduled  ") and "(Checkout, Payments)" in out
        code, out, _ = await cli("list", "shop")
        assert code == 0 and out.startswith("1  scheduled  ") and "Database <b>upgrade</b>" in out

        # upcoming: on the page (escaped, times as <time datetime>), in the JSON and the feeds; nothing changed yet
        page = (await h.http.get("/status/shop")).text
        assert "Scheduled maintenance" in page and "Database &lt;b&gt;upgrade&lt;/b&gt;" in page
        assert "<b>upgrade" not in page and "Payments may be slow &amp; retried." in page
        row = await window(h, 1)
        starts = row["starts_at"].astimezone(UTC)
        assert f'<time datetime="{starts.isoformat()}">{starts:%Y-%m-%d %H:%M} UTC</time>' in page
        assert "Affects Checkout, Payments" in page and "All systems operational" in page
        doc = (await h.http.get("/status/shop/index.json")).json()
        assert [(m["id"], m["name"], m["status"], m["components"]) for m in doc["scheduled_maintenances"]] == [
            (1, "Database <b>upgrade</b>", "scheduled", ["Checkout", "Payments"])]
        assert doc["scheduled_maintenances"][0]["scheduled_for"] == starts.isoformat()
        assert await statuses(h) == {"Checkout": "operational", "Payments": "operational", "Search": "operational"}
        atom, rss = (await h.http.get("/status/shop/feed.atom")).text, (await h.http.get("/status/shop/feed.rss")).text
        assert feed_titles(atom, rss) == (["Maintenance: Database <b>upgrade</b>: Scheduled"],) * 2

        # the start: its components are under maintenance (the page says so in words, not colour alone)
        await fire(h, 1, "start")
        assert await statuses(h) == {"Checkout": "under_maintenance", "Payments": "under_maintenance",
                                     "Search": "operational"}
        page = (await h.http.get("/status/shop")).text
        assert "Service under maintenance" in page and "Under maintenance" in page and "In progress" in page
        doc = (await h.http.get("/status/shop/index.json")).json()
        assert doc["status"]["indicator"] == "under_maintenance"
        assert doc["scheduled_maintenances"][0]["status"] == "in_progress"
        atom = (await h.http.get("/status/shop/feed.atom")).text
        assert "Maintenance: Database <b>upgrade</b>: In progress" in feed_titles(atom, rss)[0]

        # an incident on Checkout wins over the maintenance; its resolve gives Checkout back to it
        incident = (await h.post_alerts(critical_alert(service="checkout-api"))).json()["incidents"][0]  # P1
        assert await h.wait_complete(incident) == []
        assert await statuses(h) == {"Checkout": "major_outage", "Payments": "under_maintenance",
                                     "Search": "operational"}
        assert "Major outage" in (await h.http.get("/status/shop")).text
        reply = await h.slack.command("resolve", channel=war_room(h, incident).channel["id"])
        assert reply.status_code == 200, reply.text
        await settle(h)
        assert await statuses(h) == {"Checkout": "under_maintenance", "Payments": "under_maintenance",
                                     "Search": "operational"}

        # the end: back to what incidents give (none: operational); the window leaves the page, the feeds say so
        await fire(h, 1, "end")
        assert await statuses(h) == {"Checkout": "operational", "Payments": "operational", "Search": "operational"}
        page = (await h.http.get("/status/shop")).text
        assert "Scheduled maintenance" not in page and "All systems operational" in page
        doc = (await h.http.get("/status/shop/index.json")).json()
        assert doc["scheduled_maintenances"] == []
        rows = {c["name"]: c for c in doc["components"]}
        assert rows["Payments"]["history"][-1]["status"] == "under_maintenance"  # the bar shows it apart …
        assert rows["Payments"]["uptime"] == "100%"  # … and it is not downtime
        assert rows["Checkout"]["history"][-1]["status"] == "major_outage" and rows["Checkout"]["uptime"] != "100%"
        atom, rss = (await h.http.get("/status/shop/feed.atom")).text, (await h.http.get("/status/shop/feed.rss")).text
        for titles in feed_titles(atom, rss):
            assert [t for t in titles if t.startswith("Maintenance:")] == [
                f"Maintenance: Database <b>upgrade</b>: {s}" for s in ("Completed", "In progress", "Scheduled")]
        assert (await window(h, 1))["state"] == "completed"
        assert await timer(h, 1, "start") is None and await timer(h, 1, "end") is None
        async with h.runtime.store.read() as tx:
            history = await tx.statuspages.history("shop", tx.now - timedelta(days=1))
        assert [r["status"] for r in history if r["component"] == "Checkout"] == [
            "under_maintenance", "major_outage", "under_maintenance", "operational"]
        code, out, _ = await cli("list", "shop")
        assert (code, out) == (0, "There is no maintenance scheduled or in progress on shop (--all lists past and "
                                  "cancelled ones too).\n")
        code, out, _ = await cli("list", "shop", "--all")
        assert code == 0 and out.startswith("1  completed  ")

    await with_harness(db_url, test)


async def test_cancel_before_start_extend_and_end_early(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(tmp_path, db_url, capsys)

    async def test(h: Harness) -> None:
        for title in ("Search reindex", "Card vault rotation"):
            code, _, err = await cli("add", "shop", "--title", title, "--components", "Search", "--start",
                                     at(timedelta(hours=2)), "--end", at(timedelta(hours=4)))
            assert code == 0, err
        assert "Search reindex" in (await h.http.get("/status/shop")).text  # cached from now on

        # cancel before the start: its timers go; a start that fired just before the cancel does nothing
        started = await timer(h, 1, "start")
        assert started is not None
        code, out, err = await cli("cancel", "1")
        assert code == 0 and out.startswith("Cancelled maintenance 1  cancelled  "), err
        assert await timer(h, 1, "start") is None and await timer(h, 1, "end") is None
        await replay(h, started["payload"])
        assert (await window(h, 1))["state"] == "cancelled"
        assert (await statuses(h))["Search"] == "operational"
        page = await shown(h, "/status/shop", lambda text: "Search reindex" not in text)
        assert "Search reindex" not in page and "Card vault rotation" in page
        atom = (await h.http.get("/status/shop/feed.atom")).text
        assert "Maintenance: Search reindex: Cancelled" in feed_titles(atom, "<rss/>")[0]
        code, _, err = await cli("cancel", "1")
        assert code == 1 and err == "Maintenance 1 is cancelled already: there is nothing to cancel.\n"

        # extend: the end timer moves to the new end; the old end firing late does nothing
        old_end = await timer(h, 2, "end")
        assert old_end is not None
        new_end = at(timedelta(hours=6))
        code, out, err = await cli("extend", "2", "--end", new_end, "--body", "Longer than planned.")
        assert code == 0 and out.startswith("Changed maintenance 2  scheduled  "), err
        moved = await timer(h, 2, "end")
        assert moved is not None
        assert abs(moved["fire_at"] - datetime.fromisoformat(new_end + "+00:00")) < timedelta(milliseconds=1)
        assert (await window(h, 2))["body"] == "Longer than planned."
        doc = json.loads(await shown(h, "/status/shop/index.json", lambda text: "Longer than planned" in text))
        assert doc["scheduled_maintenances"][0]["scheduled_until"] == moved["payload"]["at"]
        # a later start moves its timer too: the old start firing late does nothing
        old_start = await timer(h, 2, "start")
        assert old_start is not None
        code, out, err = await cli("extend", "2", "--start", at(timedelta(hours=3)))
        assert code == 0, err
        moved = await timer(h, 2, "start")
        assert moved is not None and moved["payload"]["at"] != old_start["payload"]["at"]
        await replay(h, old_start["payload"])
        assert (await window(h, 2))["state"] == "scheduled" and (await statuses(h))["Search"] == "operational"

        await fire(h, 2, "start")
        assert (await statuses(h))["Search"] == "under_maintenance"
        await replay(h, old_end["payload"])
        assert (await statuses(h))["Search"] == "under_maintenance" and (await window(h, 2))["state"] == "in_progress"

        # cancelling a window in progress ends it now: operational at once, no timers left
        code, out, err = await cli("cancel", "2")
        assert code == 0 and out.startswith("Ended maintenance 2  completed  "), err
        assert await timer(h, 2, "end") is None
        def ended(text: str) -> bool:
            return [c["status"] for c in json.loads(text)["components"]] == ["operational"] * 3

        assert ended(await shown(h, "/status/shop/index.json", ended))

        # --now: a start in the past starts at once (its timer is due)
        code, _, err = await cli("add", "shop", "--title", "Hotfix", "--components", "Checkout", "--start",
                                 at(timedelta(minutes=-5)), "--end", at(timedelta(hours=1)), "--now")
        assert code == 0, err
        await h.runtime.timers.tick()
        await settle(h)  # the start ran in the server: its page changes at once
        assert (await statuses(h))["Checkout"] == "under_maintenance"

    await with_harness(db_url, test)


async def test_cli_mistakes_are_sentences_and_change_nothing(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(tmp_path, sqlite_url, capsys)

    async def test(h: Harness) -> None:
        start, end, past = at(timedelta(hours=1)), at(timedelta(hours=2)), at(timedelta(hours=-1))
        cases = [
            (["add", "shop", "--title", "x", "--components", "Search", "--start", end, "--end", start],
             f"The end ({start} UTC) is not after the start ({end} UTC): give an --end later than --start."),
            (["add", "shop", "--title", "x", "--components", "Search,Chekout", "--start", start, "--end", end],
             "'shop' has no component 'Chekout': its components are Checkout, Payments, Search (--components a,b)."),
            (["add", "shoop", "--title", "x", "--components", "Search", "--start", start, "--end", end],
             "There is no status page 'shoop' in status_pages. Pages: shop, partners."),
            (["add", "shop", "--title", "x", "--components", "Search", "--start", past, "--end", end],
             f"The start ({past} UTC) is in the past: give a later --start, or add --now to start the maintenance at "
             "once."),
            (["add", "shop", "--title", "x", "--components", "Search", "--start", "tomorrow", "--end", end],
             "'tomorrow' is not a time for the start: write it as YYYY-MM-DD HH:MM, e.g. \"2026-12-10 02:00\"."),
            (["add", "shop", "--title", "x", "--components", "Search", "--start", start, "--end", end, "--tz",
              "Mars/Olympus"], "'Mars/Olympus' is not a time zone: name one as the tz database does, e.g. "
                               "Europe/Berlin or America/New_York (or leave out --tz for UTC)."),
            (["add", "shop", "--title", "  ", "--components", "Search", "--start", start, "--end", end],
             "The title is empty: say what the maintenance is, e.g. --title \"Database upgrade\"."),
            (["list", "shoop"], "There is no status page 'shoop' in status_pages. Pages: shop, partners."),
            (["cancel", "7"], "There is no maintenance 7: `warroom statuspage maintenance list <page>` shows them."),
            (["extend", "7", "--end", end], "There is no maintenance 7: `warroom statuspage maintenance list "
                                            "<page>` shows them."),
        ]
        for args, said in cases:
            assert await cli(*args) == (1, "", said + "\n"), args
        async with h.runtime.store.read() as tx:
            assert (await tx.conn.execute(select(status_maintenances))).first() is None
            assert [t for t in await tx.timers.all() if t["kind"] == STATUS_MAINTENANCE] == []

        # a window in Berlin time is stored in UTC; a new end before its start is refused and changes nothing
        code, out, err = await cli("add", "shop", "--title", "Upgrade", "--components", "Search", "--start",
                                   "2030-07-01 02:00", "--end", "2030-07-01 04:00", "--tz", "Europe/Berlin")
        assert code == 0 and "2030-07-01 00:00 – 02:00 UTC" in out, err
        assert await cli("extend", "1", "--end", "2030-06-30 00:00") == (
            1, "", "The end (2030-06-30 00:00 UTC) would not be after the start (2030-07-01 00:00 UTC): give a later "
                   "--end.\n")
        assert await cli("extend", "1", "--start", "2030-07-01 03:00") == (
            1, "", "The end (2030-07-01 02:00 UTC) would not be after the start (2030-07-01 03:00 UTC): give a later "
                   "--end.\n")
        assert await cli("extend", "1") == (1, "", "Say what changes: --end, --start, --title or --body.\n")
        row = await window(h, 1)
        assert row["ends_at"].astimezone(UTC) == datetime(2030, 7, 1, 2, 0, tzinfo=UTC)
        # more than 14 days ahead: in the JSON, not yet on the page
        doc = (await h.http.get("/status/shop/index.json")).json()
        assert [m["scheduled_for"] for m in doc["scheduled_maintenances"]] == ["2030-07-01T00:00:00+00:00"]
        assert "Upgrade" not in (await h.http.get("/status/shop")).text

    await with_harness(sqlite_url, test)


async def test_scoped_page_shows_only_windows_touching_its_components(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(tmp_path, sqlite_url, capsys)

    async def test(h: Harness) -> None:
        for title, components in (("Settlement batch move", "Settlement"), ("Card API and ledger", "Card API,Settlement")):
            code, _, err = await cli("add", "partners", "--title", title, "--components", components, "--start",
                                     at(timedelta(hours=1)), "--end", at(timedelta(hours=2)))
            assert code == 0, err
        acquirers = sp.link_query(h.settings, "partners", scope="acquirers", hours=1)
        finance = sp.link_query(h.settings, "partners", scope="finance", hours=1)
        assert acquirers is not None and finance is not None
        seen = (await h.http.get(f"/status/partners/index.json?{acquirers}")).json()["scheduled_maintenances"]
        assert [(m["name"], m["components"]) for m in seen] == [("Card API and ledger", ["Card API"])]
        page = (await h.http.get(f"/status/partners?{acquirers}")).text
        assert "Card API and ledger" in page and "Settlement" not in page
        atom = (await h.http.get(f"/status/partners/feed.atom?{acquirers}")).text
        assert "Settlement" not in atom and "Card API and ledger" in atom
        seen = (await h.http.get(f"/status/partners/index.json?{finance}")).json()["scheduled_maintenances"]
        assert [m["name"] for m in seen] == ["Settlement batch move", "Card API and ledger"]

        await fire(h, 1, "start")  # Settlement only: the acquirers do not see it
        assert await statuses(h, "partners", acquirers) == {"Card API": "operational"}
        assert await statuses(h, "partners", finance) == {"Card API": "operational",
                                                          "Settlement": "under_maintenance"}
        doc = (await h.http.get(f"/status/partners/index.json?{acquirers}")).json()
        assert doc["status"]["indicator"] == "operational"

    await with_harness(sqlite_url, test)
