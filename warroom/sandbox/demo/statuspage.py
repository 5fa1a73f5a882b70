"""The demo's status page part: the declared incident has moved its component (Checkout) to major outage on the
built-in page ``/status/shop`` and on the Statuspage emulator's mirrored page; the AI responder's drafted update is
in the war room, Ana approves it with a click (Publish), and it appears on both pages; once the incident is resolved,
Checkout is operational again. With Chromium and Playwright present, a screenshot of the page is taken."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from warroom.chat.slack import statuspage_cards
from warroom.response.statuspages import drafts
from warroom.sandbox.harness import Harness
from warroom.store.schema import status_drafts

Say = Callable[[str], None]
PAGE = "shop"
CHROMIUM = "/usr/bin/chromium"


def with_status_page(data: dict[str, Any], *, statuspage_page: str, components: dict[str, str]) -> None:
    """Sandbox settings with the demo's status page: ``shop`` (Checkout, Payments, Search), public, mirrored on the
    Statuspage emulator's page; checkout-api appears as Checkout, payments as Payments."""
    data["status_pages"] = [{
        "name": PAGE, "title": "Example Shop",
        "components": [{"name": "Checkout"}, {"name": "Payments"}, {"name": "Search"}],
        "statuspage": {"page_id": statuspage_page,
                       "components": {n: components[n] for n in ("Checkout", "Payments") if n in components}},
    }]
    for svc in data["services"]:
        if svc["name"] == "checkout-api":
            svc["status"] = {"page": PAGE, "components": ["Checkout"]}
        elif svc["name"] == "payments":
            svc["status"] = {"page": PAGE, "components": ["Payments"]}


async def _page(h: Harness) -> dict[str, Any]:
    response = await h.http.get(f"/status/{PAGE}/index.json")
    response.raise_for_status()
    page: dict[str, Any] = response.json()
    return page


def _component(page: dict[str, Any], name: str) -> str:
    for c in page.get("components", []):
        if c.get("name") == name:
            return str(c.get("status"))
    return "?"


def _remote(h: Harness, name: str) -> str:
    component = h.world.statuspage_components.get(name)
    return h.world.statuspage.component_status(h.world.statuspage_page, component) if component else "?"


async def status_story(h: Harness, incident_id: int, say: Say) -> bool:
    """While the incident is open: the component's status on both pages, the draft approved by a click."""
    await h.runtime.worker.run_until_idle(timeout=15)
    page = await _page(h)
    say(f"3b. Status page {h.base_url}/status/{PAGE} — the component moved by itself when the incident was declared:")
    say(f"   built-in page: Checkout {_component(page, 'Checkout')}; Statuspage (mirrored): Checkout "
        f"{_remote(h, 'Checkout')}")
    async with h.runtime.store.read() as tx:
        row = (await tx.conn.execute(
            status_drafts.select().where(status_drafts.c.incident_id == incident_id,
                                         status_drafts.c.state == drafts.PENDING)
            .order_by(status_drafts.c.id.desc()))).mappings().first()
    if row is None:
        say("FAILED: no status page update was drafted in the war room")
        return False
    say("   the AI responder's draft in the war room (nothing is public until a person clicks Publish):")
    for line in str(row["body"]).splitlines():
        say(f"   | {line}")
    channel = next(c for c in h.world.slack.channels.values() if c["name"].startswith(f"inc-{incident_id}-"))
    ana = h.world.slack.add_user("ana@example.com", "Ana Ops")
    await h.slack.click(statuspage_cards.PUBLISH, f"{row['id']}:{row['version']}", user=ana, channel=channel["id"])
    await h.runtime.worker.run_until_idle(timeout=15)
    page = await _page(h)
    updates = [u for i in page.get("incidents", []) for u in i.get("updates", [])]
    remote = h.world.statuspage.incidents_on(h.world.statuspage_page)
    say(f"   Ana clicks Publish → on the built-in page: {len(updates)} update(s), the latest “"
        f"{(updates[0].get('body') if updates else '')[:80]}…”")
    say(f"   → on Statuspage: incident “{remote[-1]['name'] if remote else '-'}” ({remote[-1]['status'] if remote else '-'})")
    shot = await _screenshot(f"{h.base_url}/status/{PAGE}")
    if shot:
        say(f"   screenshot of the page: {shot}")
    ok = bool(updates) and bool(remote) and _component(page, "Checkout") == "major_outage"
    if not ok:
        say("FAILED: the published update is not on both pages")
    return ok


async def recovered_story(h: Harness, incident_id: int, say: Say) -> bool:
    """After the incident is resolved: Checkout operational again on both pages."""
    await h.runtime.worker.run_until_idle(timeout=15)
    page = await _page(h)
    built_in, remote = _component(page, "Checkout"), _remote(h, "Checkout")
    say(f"   status page after the resolve: Checkout {built_in} (built-in), {remote} (Statuspage)")
    if built_in != "operational" or remote != "operational":
        say("FAILED: resolving the incident did not bring Checkout back to operational")
        return False
    return True


async def _screenshot(url: str) -> str | None:
    """A full-page screenshot in a temporary folder when Chromium and Playwright are here; None otherwise."""
    if not shutil.which(CHROMIUM):
        return None
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        return None
    path = Path(tempfile.mkdtemp(prefix="warroom-demo-")) / "status-page.png"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await page.goto(url)
            await page.screenshot(path=str(path), full_page=True)
        finally:
            await browser.close()
    return str(path)
