"""The public status page in a real browser (Debian's Chromium driven by Playwright): the component's status after
an alert, the 90 history bars with their labels, a ``<script>`` in a published update shown as text and never run,
nothing loaded from anywhere else; a screenshot kept in pytest's tmp dir. Skipped locally without Chromium or
Playwright (with the reason); under CI=true their absence fails."""

from __future__ import annotations

from pathlib import Path

from warroom.response import statuspages as sp

from .browser import CHROMIUM
from .browser import playwright as browser_playwright
from .helpers import critical_alert
from .test_status_pages import start


async def test_public_status_page_in_chromium(sqlite_url: str, tmp_path: Path) -> None:
    async_playwright = browser_playwright()
    h = await start(sqlite_url)
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        assert await h.wait_complete(incident) == []
        async with h.runtime.store.tx() as tx:
            await sp.publish_update(tx, incident, "shop", "investigating",
                                    "<script>window.pwned=1</script><img src=x onerror=window.pwned=2> Checkout errors",
                                    "ana@example.com", settings=h.settings)
        url = f"{h.base_url}/status/shop"
        requests: list[str] = []
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = await browser.new_page()
                page.on("request", lambda r: requests.append(r.url))
                await page.goto(url)
                heading = await page.inner_text("h1")
                overall = await page.inner_text("header .overall")
                checkout = await page.inner_text("ul.components:first-of-type > li:first-child")
                bars = await page.eval_on_selector_all(
                    "ul.components:first-of-type > li:first-child ol.bars > li", "els => els.map(e => e.getAttribute('aria-label'))")
                today_bar = await page.eval_on_selector(
                    "ul.components:first-of-type > li:first-child ol.bars > li:last-child", "e => getComputedStyle(e).backgroundColor")
                update = await page.inner_text("section[aria-labelledby=active-heading] .update")
                pwned = await page.evaluate("() => window.pwned === undefined")
                scripts = await page.evaluate("() => document.scripts.length")
                images = await page.evaluate("() => document.images.length")
                await page.screenshot(path=str(tmp_path / "status-page-public.png"), full_page=True)
            finally:
                await browser.close()
        assert heading == "Shop" and overall == "Major outage"
        assert "Checkout" in checkout and "Major outage" in checkout
        assert len(bars) == 90 and bars[-1].endswith(": Major outage") and bars[0].endswith(": Operational")
        assert today_bar == "rgb(183, 28, 28)"
        assert "<script>window.pwned=1</script>" in update and "Checkout errors" in update  # shown as text
        assert pwned and scripts == 0 and images == 0
        assert requests == [url]  # nothing else loaded
        assert (tmp_path / "status-page-public.png").stat().st_size > 1000
    finally:
        await h.stop()
