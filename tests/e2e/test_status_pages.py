"""The built-in status pages end to end, over real HTTP on both databases: an alert for a linked service moves its
component on the page and in the JSON feed, a priority change moves it again, the worst of two incidents on one
component wins, and resolve brings it back — after the service's monitoring period, a durable timer made due here by
moving it to now. Hostile incident titles never reach a public page (it shows components and published update text
only); published text is escaped on the page and in the feeds. Private pages need a signed, unexpired link."""

from __future__ import annotations

import time
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import update

from warroom.response import statuspages as sp
from warroom.sandbox.harness import Harness
from warroom.store.schema import timers

from .helpers import critical_alert, settle, war_room

HOSTILE_TITLE = '<script>window.pwned=1</script> db-prod-7.internal INC secret & <img src=x onerror=alert(1)>'


def shop_pages(*, auto_publish: bool = False) -> Any:
    """A tweak: page ``shop`` (Checkout and Payments in group Store, Search on its own) and a private page ``ops``;
    checkout-api is Checkout (10 minutes' monitoring), payments is Checkout and Payments."""

    def tweak(data: dict[str, Any]) -> None:
        data["status_pages"] = [
            {"name": "shop", "title": "Shop", "auto_publish": auto_publish,
             "components": [{"name": "Checkout", "group": "Store"}, {"name": "Payments", "group": "Store"},
                            {"name": "Search"}]},
            {"name": "ops", "title": "Operations", "visibility": "private", "components": [{"name": "Checkout"}]},
            {"name": "partners", "title": "Partners", "visibility": "scoped",
             "components": [{"name": "Card API"}, {"name": "Settlement"}],
             "scopes": {"acquirers": ["Card API"], "finance": ["Card API", "Settlement"]}},
        ]
        services = {s["name"]: s for s in data["services"]}
        services["checkout-api"]["status"] = {"page": "shop", "components": ["Checkout"], "monitoring_minutes": 10}
        services["payments"]["status"] = {"page": "shop", "components": ["Checkout", "Payments"]}

    return tweak


async def start(db_url: str, *, auto_publish: bool = False) -> Harness:
    return await Harness.start(db_url, tweak=shop_pages(auto_publish=auto_publish))


async def statuses(h: Harness, page: str = "shop") -> dict[str, str]:
    reply = await h.http.get(f"/status/{page}/index.json")
    assert reply.status_code == 200, reply.text
    return {c["name"]: c["status"] for c in reply.json()["components"]}


async def declare(h: Harness, service: str, name: str) -> tuple[int, str]:
    incident = (await h.post_alerts(critical_alert(name=name, service=service))).json()["incidents"][0]
    assert await h.wait_complete(incident) == []
    return incident, war_room(h, incident).channel["id"]


async def command(h: Harness, text: str, channel: str) -> None:
    reply = await h.slack.command(text, channel=channel)
    assert reply.status_code == 200, reply.text
    await settle(h)


async def test_components_follow_declare_priority_and_resolve_worst_wins(db_url: str) -> None:
    h = await start(db_url)
    try:
        assert await statuses(h) == {"Checkout": "operational", "Payments": "operational", "Search": "operational"}
        page = (await h.http.get("/status/shop")).text
        assert "All systems operational" in page

        checkout, checkout_room = await declare(h, "checkout-api", "CheckoutErrorRate")  # P1
        assert await statuses(h) == {"Checkout": "major_outage", "Payments": "operational", "Search": "operational"}
        page = (await h.http.get("/status/shop")).text
        assert "Major outage" in page and "All systems operational" not in page

        await command(h, "priority P2", checkout_room)
        assert (await statuses(h))["Checkout"] == "partial_outage"

        payments, payments_room = await declare(h, "payments", "PaymentsDown")  # P1, on Checkout too: worst wins
        assert await statuses(h) == {"Checkout": "major_outage", "Payments": "major_outage", "Search": "operational"}
        await command(h, "priority P3", payments_room)
        assert await statuses(h) == {"Checkout": "partial_outage", "Payments": "degraded_performance",
                                     "Search": "operational"}

        # checkout-api resolves: Checkout stays as it was for the 10 minutes' monitoring, then takes payments' P3
        await command(h, "resolve", checkout_room)
        assert (await statuses(h))["Checkout"] == "partial_outage"
        async with h.runtime.store.read() as tx:
            pending = [t for t in await tx.timers.all() if t["key"] == sp.recover_key("shop", "Checkout")]
        assert len(pending) == 1
        assert (pending[0]["fire_at"] - pending[0]["created_at"]).total_seconds() >= 9 * 60
        async with h.runtime.store.tx() as tx:
            await tx.conn.execute(update(timers).where(timers.c.key == sp.recover_key("shop", "Checkout"))
                                  .values(fire_at=tx.now))
        await h.runtime.timers.tick()
        await settle(h)
        assert await statuses(h) == {"Checkout": "degraded_performance", "Payments": "degraded_performance",
                                     "Search": "operational"}

        await command(h, "resolve", payments_room)  # payments has no monitoring period: at once
        assert await statuses(h) == {"Checkout": "operational", "Payments": "operational", "Search": "operational"}

        feed = (await h.http.get("/status/shop/index.json")).json()
        checkout_row = next(c for c in feed["components"] if c["name"] == "Checkout")
        assert len(checkout_row["history"]) == 90
        assert checkout_row["history"][-1]["status"] == "major_outage"  # today's worst
        assert all(d["status"] == "operational" for d in checkout_row["history"][:-1])
        assert checkout_row["uptime"] != "100%"
        search_row = next(c for c in feed["components"] if c["name"] == "Search")
        assert search_row["uptime"] == "100%"
        assert feed["incidents"] == [] and feed["past_incidents"] == []  # nothing is published without auto_publish
        async with h.runtime.store.read() as tx:
            rows = await tx.statuspages.history("shop", tx.now.replace(year=2000))
        assert [r["status"] for r in rows if r["component"] == "Checkout"] == [
            "major_outage", "partial_outage", "major_outage", "partial_outage", "degraded_performance", "operational"]
        assert checkout and payments
    finally:
        await h.stop()


@pytest.mark.one_db("rendering and escaping; the status pages' writes keep PostgreSQL in the components test")
async def test_public_page_shows_no_incident_text_and_escapes_published_updates(db_url: str) -> None:
    h = await start(db_url, auto_publish=True)
    try:
        alert = critical_alert(name="DbProd7Down", service="checkout-api", summary=HOSTILE_TITLE)
        alert["alerts"][0]["annotations"] = {"summary": HOSTILE_TITLE, "description": "on db-prod-7.internal"}
        incident = (await h.post_alerts(alert)).json()["incidents"][0]
        assert await h.wait_complete(incident) == []
        channel = war_room(h, incident).channel["id"]
        escaped = HOSTILE_TITLE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        await command(h, f"title {escaped}", channel)
        async with h.runtime.store.read() as tx:
            found = await tx.incidents.get(incident)
        assert found is not None and found.title == HOSTILE_TITLE

        page = (await h.http.get("/status/shop")).text
        feed = (await h.http.get("/status/shop/index.json")).text
        atom = (await h.http.get("/status/shop/feed.atom")).text
        for shown in (page, feed, atom):
            for secret in ("db-prod-7", "DbProd7Down", "pwned", "onerror", "INC-", "secret"):
                assert secret not in shown, (secret, shown[:2000])
        assert "We are investigating an issue affecting Checkout." in page
        assert "Issue affecting Checkout" in page and "Investigating" in page

        text = '<script>window.pwned=1</script> Checkout is <b>slow</b> & "retrying"'
        async with h.runtime.store.tx() as tx:
            await sp.publish_update(tx, incident, "shop", "identified", text, "ana@example.com", settings=h.settings)
        page = (await h.http.get("/status/shop")).text  # the cache is invalidated by the update
        assert "<script" not in page and "<b>" not in page
        assert "&lt;script&gt;window.pwned=1&lt;/script&gt; Checkout is &lt;b&gt;slow&lt;/b&gt; &amp;" in page
        json_feed = (await h.http.get("/status/shop/index.json")).json()
        assert json_feed["incidents"][0]["updates"][0]["body"] == text
        assert json_feed["incidents"][0]["status"] == "identified"
        for path, ns in (("/status/shop/feed.atom", "{http://www.w3.org/2005/Atom}"), ("/status/shop/feed.rss", "")):
            reply = await h.http.get(path)
            assert reply.status_code == 200 and "<script" not in reply.text
            root = ET.fromstring(reply.text)
            bodies = [e.text for e in root.iter(f"{ns}content" if ns else "description")]
            assert text in bodies

        await command(h, "resolve", channel)  # monitoring 10 minutes: "monitoring", then resolved by the timer
        json_feed = (await h.http.get("/status/shop/index.json")).json()
        assert json_feed["incidents"][0]["status"] == "monitoring"
        async with h.runtime.store.tx() as tx:
            await tx.conn.execute(update(timers).values(fire_at=tx.now))
        await h.runtime.timers.tick()
        await settle(h)
        json_feed = (await h.http.get("/status/shop/index.json")).json()
        assert json_feed["incidents"] == [] and json_feed["past_incidents"][0]["status"] == "resolved"
        assert [c["status"] for c in json_feed["components"]] == ["operational"] * 3

        # 10,000 characters publish; more, an empty text or an unknown state are refused with a sentence
        async with h.runtime.store.tx() as tx:
            await sp.publish_update(tx, incident, "shop", "resolved", "x" * 10_000, "ana@example.com",
                                    settings=h.settings)
            for status, body in (("resolved", "x" * 10_001), ("resolved", "  "), ("fixed", "ok")):
                try:
                    await sp.publish_update(tx, incident, "shop", status, body, None, settings=h.settings)
                except sp.UpdateRefused as exc:
                    assert str(exc).endswith(".")
                else:
                    raise AssertionError(f"published {status} {len(body)}")
        async with h.runtime.store.tx() as tx:
            try:
                await sp.publish_update(tx, 999_999, "shop", "investigating", "ok", None, settings=h.settings)
            except sp.UpdateRefused as exc:
                assert "no incident INC-999999" in str(exc)
            else:
                raise AssertionError("published about no incident")
    finally:
        await h.stop()


async def test_unknown_private_and_signed_pages(sqlite_url: str) -> None:
    h = await start(sqlite_url)
    try:
        missing = await h.http.get("/status/nope")
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
        hostile = await h.http.get("/status/%3Cscript%3Ex")
        assert hostile.status_code == 404 and "<script" not in hostile.text
        for path in ("/status/ops", "/status/ops/index.json", "/status/ops/feed.atom", "/status/ops/feed.rss"):
            assert (await h.http.get(path)).status_code == 403
        query = sp.link_query(h.settings, "ops", hours=1)
        assert query is not None
        opened = await h.http.get(f"/status/ops?{query}")
        assert opened.status_code == 200 and "Operations" in opened.text
        assert opened.headers["Cache-Control"] == "no-store"
        assert (await h.http.get(f"/status/ops/index.json?{query}")).status_code == 200
        assert (await h.http.get(f"/status/shop?{query}")).status_code == 200  # public anyway
        expired = sp.link_query(h.settings, "ops", hours=-1)
        other = sp.link_query(h.settings, "shop", hours=1)
        assert expired is not None and other is not None
        forged = query.replace(query[-4:], "0000" if query[-4:] != "0000" else "1111")
        for bad in (expired, forged, other, f"expires={int(time.time()) + 3600}&token=", "expires=x&token=y"):
            assert (await h.http.get(f"/status/ops?{bad}")).status_code == 403, bad
        # scoped: one signed link per stakeholder group, showing only that group's components
        acquirers = sp.link_query(h.settings, "partners", scope="acquirers", hours=1)
        finance = sp.link_query(h.settings, "partners", scope="finance", hours=1)
        assert acquirers is not None and finance is not None
        seen = (await h.http.get(f"/status/partners/index.json?{acquirers}")).json()
        assert [c["name"] for c in seen["components"]] == ["Card API"]
        seen = (await h.http.get(f"/status/partners/index.json?{finance}")).json()
        assert [c["name"] for c in seen["components"]] == ["Card API", "Settlement"]
        page = await h.http.get(f"/status/partners?{acquirers}")
        assert page.status_code == 200 and "Card API" in page.text and "Settlement" not in page.text
        widened = acquirers.replace("scope=acquirers", "scope=finance")
        unscoped = sp.link_query(h.settings, "partners", hours=1)
        assert unscoped is not None
        for bad in (widened, unscoped, acquirers.replace("scope=acquirers&", "")):
            assert (await h.http.get(f"/status/partners?{bad}")).status_code == 403, bad
        assert (await h.http.get("/status/partners")).status_code == 403

        public = await h.http.get("/status/shop")
        assert "default-src 'none'" in public.headers["Content-Security-Policy"]
        assert "<script" not in public.text and "http://" not in public.text.split("<body>")[0].replace(
            'xmlns="http://www.w3.org/2005/Atom"', "")
    finally:
        await h.stop()


async def test_the_subscribe_form_only_where_email_can_be_sent(sqlite_url: str) -> None:
    def no_mail(data: dict[str, Any]) -> None:
        shop_pages()(data)
        data["smtp"] = {"host": ""}

    h = await Harness.start(sqlite_url, tweak=no_mail)
    try:
        page = await h.http.get("/status/shop")
        assert page.status_code == 200 and "Subscribe" not in page.text and "Get updates by email" not in page.text
    finally:
        await h.stop()
    h = await start(sqlite_url)  # the sandbox's relay: the form is there
    try:
        assert "Get updates by email" in (await h.http.get("/status/shop")).text
    finally:
        await h.stop()
