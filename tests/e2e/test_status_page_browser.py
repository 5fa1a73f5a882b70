"""Every kind of status page in a real browser (Debian's Chromium driven by Playwright), on SQLite and PostgreSQL:

- the public page: the component's status after an alert, the 90 history bars with their labels, a ``<script>`` in a
  published update shown as text and never run, a scheduled maintenance window, nothing loaded from anywhere else;
  an update published while the page is open appears on reload;
- a private page: refused (403, a page that shows nothing of it) without a link and with an expired or forged one,
  open with a signed one;
- a scoped page: each stakeholder group's link shows only that group's components and the incidents on them;
- the 404 page of an unknown one;
- keyboard: every link is reached by Tab, and shows a visible focus outline when it is;
- the page is sent gzipped to the browser and plain to a client without gzip, and many readers at once right after a
  change all get the changed page;
- accessibility: axe-core (the copy bundled by axe-playwright-python) finds no serious or critical violation on any of
  them.

One Chromium and one server per database serve the whole module (each test uses its own services and pages, so they
do not depend on one another's order). A screenshot of each page kind is kept in ``$WARROOM_ARTEFACTS/status-pages``
(CI sets it and keeps the directory) or pytest's tmp dir. Skipped locally without Chromium, Playwright or axe (with
the reason); under CI=true their absence fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from warroom.response import statuspages as sp
from warroom.sandbox.harness import Harness

from .browser import CHROMIUM, artefacts, png_size, serious_violations
from .browser import playwright as browser_playwright
from .helpers import critical_alert
from .test_status_pages import shop_pages

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: Services of the scoped page ``partners`` (the sandbox's payments service, without its ITSM request and bridge).
PARTNER_SERVICES = {"card-gateway": ["Card API"], "settlement": ["Settlement"]}


def pages(data: dict[str, Any]) -> None:
    """test_status_pages' pages (public ``shop``, private ``ops``, scoped ``partners``), and two services whose
    incidents show on ``partners``."""
    shop_pages()(data)
    template = next(s for s in data["services"] if s["name"] == "payments")
    for name, components in PARTNER_SERVICES.items():
        data["services"].append({**template, "name": name, "itsm": {"enabled": False}, "bridge": "none",
                                 "status": {"page": "partners", "components": components}})


@dataclass
class Server:
    h: Harness
    db: str
    shots: Path

    async def declare(self, service: str, name: str) -> int:
        incident = (await self.h.post_alerts(critical_alert(name=name, service=service))).json()["incidents"][0]
        assert await self.h.wait_complete(incident) == []
        return int(incident)

    async def publish(self, incident: int, page: str, status: str, text: str) -> None:
        async with self.h.runtime.store.tx() as tx:
            await sp.publish_update(tx, incident, page, status, text, "ana@example.com", settings=self.h.settings)

    def link(self, page: str, *, scope: str = "", hours: float = 1) -> str:
        query = sp.link_query(self.h.settings, page, scope=scope, hours=hours)
        assert query is not None
        return query

    async def with_maintenance(self) -> Server:
        async with self.h.runtime.store.tx() as tx:
            await tx.statuspages.add_maintenance("shop", "Database upgrade", "Checkout may be slow for a minute.",
                                                 ["Checkout"], tx.now + timedelta(days=1),
                                                 tx.now + timedelta(days=1, hours=2), "ana@example.com")
        return self

    async def shoot(self, page: Any, kind: str) -> None:
        """A full-page screenshot of ``page`` as ``<kind>-<db>.png``, checked to be a real PNG of a whole page."""
        path = self.shots / f"{kind}-{self.db}.png"
        await page.screenshot(path=str(path), full_page=True)
        width, height = png_size(path)
        assert width == 1280 and height >= 300 and path.stat().st_size > 5000, (path, width, height)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Any]:
    """One headless Chromium for the module."""
    async_playwright = browser_playwright()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 chromium: Any) -> AsyncIterator[Server]:
    """The real server with :func:`pages`, one per database for the module (started after Chromium, so a missing
    browser skips before any database is made), with a maintenance window scheduled on ``shop`` (so that its section
    is on the public page axe checks)."""
    shots = artefacts(tmp_path_factory, "status-pages")
    if request.param == "sqlite":
        h = await Harness.start(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'warroom.db'}", tweak=pages)
        try:
            yield await Server(h, "sqlite", shots).with_maintenance()
        finally:
            await h.stop()
        return
    from tests.conftest import pg_database

    async with pg_database() as url:
        h = await Harness.start(url, tweak=pages)
        try:
            yield await Server(h, "postgresql", shots).with_maintenance()
        finally:
            await h.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def tab(chromium: Any) -> AsyncIterator[Any]:
    """A fresh browser context and page for one test."""
    context = await chromium.new_context(viewport={"width": 1280, "height": 720})
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def assert_accessible(page: Any) -> None:
    found = await serious_violations(page)
    assert found == [], "axe-core: " + "\n".join(found)


async def test_public_status_page_in_chromium(server: Server, tab: Any) -> None:
    incident = await server.declare("checkout-api", "CheckoutErrorRate")
    await server.publish(incident, "shop", "investigating",
                         "<script>window.pwned=1</script><img src=x onerror=window.pwned=2> Checkout errors")
    url = f"{server.h.base_url}/status/shop"
    requests: list[str] = []
    tab.on("request", lambda r: requests.append(r.url))
    await tab.goto(url)
    heading = await tab.inner_text("h1")
    overall = await tab.inner_text("header .overall")
    checkout = await tab.inner_text("ul.components:first-of-type > li:first-child")
    bars = await tab.eval_on_selector_all(
        "ul.components:first-of-type > li:first-child ol.bars > li", "els => els.map(e => e.getAttribute('aria-label'))")
    today_bar = await tab.eval_on_selector(
        "ul.components:first-of-type > li:first-child ol.bars > li:last-child", "e => getComputedStyle(e).backgroundColor")
    updates = await tab.eval_on_selector_all("section[aria-labelledby=active-heading] .update", "els => els.map(e => e.innerText)")
    pwned = await tab.evaluate("() => window.pwned === undefined")
    scripts = await tab.evaluate("() => document.scripts.length")
    images = await tab.evaluate("() => document.images.length")
    await server.shoot(tab, "public")
    assert heading == "Shop" and overall == "Major outage"
    assert "Checkout" in checkout and "Major outage" in checkout
    assert len(bars) == 90 and bars[-1].endswith(": Major outage") and bars[0].endswith(": Operational")
    assert today_bar == "rgb(183, 28, 28)"
    shown = [u for u in updates if "Checkout errors" in u]
    assert len(shown) == 1 and "<script>window.pwned=1</script>" in shown[0]  # shown as text
    assert pwned and scripts == 0 and images == 0
    assert requests == [url]  # nothing else loaded
    assert "Database upgrade" in await tab.inner_text("main")  # the scheduled maintenance, checked by axe too
    await assert_accessible(tab)


async def test_update_published_while_open_appears_on_reload(server: Server, tab: Any) -> None:
    incident = await server.declare("payments", "PaymentsDown")
    await server.publish(incident, "shop", "investigating", "Card payments are failing for some customers.")
    await tab.goto(f"{server.h.base_url}/status/shop")
    before = await tab.inner_text("section[aria-labelledby=active-heading]")
    assert "Card payments are failing" in before and "A fix is rolling out" not in before
    payments = await tab.inner_text("ul.components:first-of-type > li:nth-child(2)")
    assert "Payments" in payments and "Major outage" in payments

    await server.publish(incident, "shop", "identified", "A fix is rolling out to the payment gateway.")
    await tab.reload()
    after = await tab.inner_text("section[aria-labelledby=active-heading]")
    assert "A fix is rolling out to the payment gateway." in after and "Identified" in after
    assert after.index("A fix is rolling out") < after.index("Card payments are failing")  # newest first
    await server.shoot(tab, "public-updated")
    await assert_accessible(tab)


async def test_private_page_refused_without_a_valid_link_and_open_with_one(server: Server, tab: Any) -> None:
    base = f"{server.h.base_url}/status/ops"
    signed = server.link("ops")
    forged = signed[:-4] + ("0000" if signed[-4:] != "0000" else "1111")
    refused: list[str] = []
    for url in (base, f"{base}?{server.link('ops', hours=-1)}", f"{base}?{forged}"):
        response = await tab.goto(url)
        assert response is not None and response.status == 403, url
        assert await tab.inner_text("h1") == "This status page is not public"
        text = await tab.inner_text("body")
        assert "Operations" not in text and "Checkout" not in text and "perational" not in text  # nothing of the page
        assert "ask for a new one" in text
        refused.append(await tab.content())
    assert refused[0] == refused[1] == refused[2]  # expired and forged links see the very same page
    await server.shoot(tab, "private-refused")
    await assert_accessible(tab)

    response = await tab.goto(f"{base}?{signed}")
    assert response is not None and response.status == 200
    assert await tab.inner_text("h1") == "Operations"
    assert "Checkout" in await tab.inner_text("ul.components") and "All systems operational" in await tab.inner_text(
        "header .overall")
    feeds = await tab.eval_on_selector_all("footer a", "els => els.map(e => e.getAttribute('href'))")
    assert feeds and all(f.endswith(signed) for f in feeds)  # the feeds open with the same link
    await server.shoot(tab, "private")
    await assert_accessible(tab)


async def test_scoped_page_shows_only_the_groups_components_and_incidents(server: Server, tab: Any) -> None:
    incident = await server.declare("settlement", "SettlementBatchLate")
    await server.publish(incident, "partners", "investigating", "Settlement files are delayed.")
    base = f"{server.h.base_url}/status/partners"

    await tab.goto(f"{base}?{server.link('partners', scope='acquirers')}")
    names = await tab.eval_on_selector_all("ul.components .name", "els => els.map(e => e.innerText)")
    body = await tab.inner_text("body")
    assert names == ["Card API"]
    assert "Settlement" not in body and "delayed" not in body
    assert await tab.inner_text("header .overall") == "All systems operational"
    await server.shoot(tab, "scoped-acquirers")
    await assert_accessible(tab)

    await tab.goto(f"{base}?{server.link('partners', scope='finance')}")
    names = await tab.eval_on_selector_all("ul.components .name", "els => els.map(e => e.innerText)")
    assert names == ["Card API", "Settlement"]
    assert await tab.inner_text("header .overall") == "Major outage"
    assert "Settlement files are delayed." in await tab.inner_text("section[aria-labelledby=active-heading]")
    await server.shoot(tab, "scoped-finance")
    await assert_accessible(tab)

    widened = server.link("partners", scope="acquirers").replace("scope=acquirers", "scope=finance")
    response = await tab.goto(f"{base}?{widened}")
    assert response is not None and response.status == 403
    assert "Settlement" not in await tab.inner_text("body")


async def test_unknown_page_is_a_404_page(server: Server, tab: Any) -> None:
    response = await tab.goto(f"{server.h.base_url}/status/no-such-page")
    assert response is not None and response.status == 404
    assert await tab.inner_text("h1") == "No such status page"
    assert "no-such-page" in await tab.inner_text("main")
    await server.shoot(tab, "not-found")
    await assert_accessible(tab)


async def test_every_link_is_reached_by_tab_with_a_visible_focus_outline(server: Server, tab: Any) -> None:
    await tab.goto(f"{server.h.base_url}/status/shop")
    links = await tab.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    focusable = await tab.evaluate(
        "() => document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]').length")
    assert len(links) >= 3  # the feeds
    reached: dict[str, tuple[str, str]] = {}
    for _ in range(focusable + 1):
        await tab.keyboard.press("Tab")
        focus = await tab.evaluate("""() => {
            const e = document.activeElement, s = getComputedStyle(e);
            return e && e.tagName === 'A' ? [e.getAttribute('href'), s.outlineStyle, s.outlineWidth] : null; }""")
        if focus is not None:
            reached[focus[0]] = (focus[1], focus[2])
    assert set(reached) == set(links), (reached, links)
    hidden = {href: style for href, style in reached.items() if style[0] == "none" or float(style[1][:-2]) < 2}
    assert hidden == {}, f"links without a visible focus outline: {hidden}"


async def test_gzipped_to_a_browser_plain_to_others_and_fresh_for_everyone_after_a_change(server: Server,
                                                                                          tab: Any) -> None:
    response = await tab.goto(f"{server.h.base_url}/status/shop")
    assert response is not None and response.status == 200
    assert response.headers["content-encoding"] == "gzip" and response.headers["vary"] == "Accept-Encoding"
    plain = await server.h.http.get("/status/shop", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    assert plain.text == await response.text()  # the same render, gzipped or not

    # a change: every one of many readers at once gets the new page (they share one render), gzipped or not
    async with server.h.runtime.store.tx() as tx:
        await tx.statuspages.set_status("shop", "Search", "degraded_performance", None)
    try:
        replies = await asyncio.gather(*(
            server.h.http.get(path, headers={"Accept-Encoding": encoding})
            for path in ("/status/shop", "/status/shop/index.json") for encoding in ("gzip", "identity") * 5))
        pages_seen = {r.text for r in replies if r.url.path == "/status/shop"}
        feeds_seen = [{c["name"]: c["status"] for c in r.json()["components"]} for r in replies
                      if r.url.path.endswith(".json")]
        assert len(pages_seen) == 1 and "Degraded performance" in pages_seen.pop()
        assert len(feeds_seen) == 10 and all(feed["Search"] == "degraded_performance" for feed in feeds_seen)
        await tab.reload()
        search = await tab.inner_text("ul.components:nth-of-type(2) > li:first-child")
        assert "Search" in search and "Degraded performance" in search
    finally:
        async with server.h.runtime.store.tx() as tx:
            await tx.statuspages.set_status("shop", "Search", "operational", None)


@pytest.mark.parametrize("server", ["postgresql"], indirect=True)  # SQLite: one writer, ids commit in order
async def test_a_change_committed_after_a_newer_one_still_shows(server: Server, tab: Any) -> None:
    """On PostgreSQL two transactions can commit in the opposite order of the ids they took (concurrent declarations
    do): the newest id then stays the same when the older change commits, and the page must show it all the same."""
    url = f"{server.h.base_url}/status/partners?{server.link('partners', scope='finance')}"
    store = server.h.runtime.store
    await tab.goto(url)  # a cached render
    try:
        async with AsyncExitStack() as stack:
            older = await stack.enter_async_context(store.tx())
            await older.statuspages.set_status("partners", "Card API", "partial_outage", None)  # the lower id
            async with store.tx() as newer:
                await newer.statuspages.set_status("partners", "Settlement", "degraded_performance", None)
            await tab.reload()
            shown = await tab.eval_on_selector_all("ul.components .status", "els => els.map(e => e.innerText)")
            assert shown == ["Operational", "Degraded performance"]
        await tab.reload()  # the older change has committed now
        shown = await tab.eval_on_selector_all("ul.components .status", "els => els.map(e => e.innerText)")
        assert shown == ["Partial outage", "Degraded performance"]
    finally:
        async with store.tx() as tx:
            await tx.statuspages.set_status("partners", "Card API", "operational", None)
            await tx.statuspages.set_status("partners", "Settlement", "operational", None)
