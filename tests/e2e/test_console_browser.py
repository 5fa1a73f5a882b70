"""The web console's pages in a real browser (Debian's Chromium driven by Playwright), on SQLite and PostgreSQL:

- incidents declared through the real intake (Alertmanager alerts) and worked in Slack (a role taken with
  ``/incident role``) are in the list, the open ones first, counted by priority, filtered by status, service,
  priority and title words (a bad value answered with a sentence), each linking to its record;
- an incident's record: its facts, roles (by name), links out (Slack war room, Xurrent request, Zoom bridge), and
  the timeline oldest first; a hostile title (``<script>``, an ``<img onerror>``, markdown, ``@here``) is shown as
  text and never run;
- a private incident (its service's only war room is a Teams group chat) is "a private incident" in the list and a
  404 to someone who took no part in it, and shown in full to its assignee;
- who is on call now in each schedule, the next handover, and each escalation policy's steps;
- not signed in: redirected to sign in; an unknown incident: a 404 page; on a phone's width nothing overflows;
- accessibility: axe-core finds no serious or critical violation on any page.

The browser is signed in by the session cookie (:func:`warroom.web.console.auth.session_cookie`), not through the
identity provider (its own tests do that). One Chromium and one server per database serve the whole module; the
incidents are declared once per server. Screenshots go to ``$WARROOM_ARTEFACTS/console`` or pytest's tmp dir."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio

from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness
from warroom.web.console.auth import COOKIE, ConsoleUser, session_cookie

from . import test_status_page_browser as status_browser
from .browser import artefacts, png_size
from .helpers import critical_alert, settle, war_room
from .test_status_pages import shop_pages

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: One headless Chromium for the module, and axe-core's check, as the status pages' browser tests have them.
chromium = status_browser.chromium
assert_accessible = status_browser.assert_accessible

HOSTILE = "<script>window.pwned=1</script><img src=x onerror=window.pwned=2> **Checkout** down @here <!channel>"
ANA = ConsoleUser("ana@example.com", "Ana Lopez")
ZED = ConsoleUser("zed@example.com", "Zed Outsider")
LONG_NOTE = "The gateway's pool is exhausted. " * 40


def tweak(data: dict[str, Any]) -> None:
    """The status page ``shop`` (test_status_pages), a private service (``hr``: its only war room a Teams group
    chat, so Teams is on), and on-call schedules and a policy."""
    shop_pages()(data)
    data["teams"]["enabled"] = True
    data["services"].append({
        "name": "hr", "responders": ["ben@example.com", "chen@example.com"], "chat": "teams", "teams": {"war_room": "chat"},
        "itsm": {"enabled": False}, "bridge": "none",
    })
    data["oncall"] = {
        "schedules": [
            {"name": "checkout-primary", "team": "checkout", "time_zone": "Europe/London",
             "layers": [{"name": "weekly", "users": ["ana@example.com", "ben@example.com"],
                         "rotation_start": "2026-01-05T09:00", "handoff": "weekly"}]},
            {"name": "payments-primary", "time_zone": "UTC",
             "layers": [{"name": "always eli", "users": ["eli@example.com"], "rotation_start": "2026-01-05T09:00",
                         "handoff": "weekly"}]},
        ],
        "escalation_policies": [{"name": "checkout", "repeat": 1, "steps": [
            {"notify": {"schedules": ["checkout-primary"]}, "wait_minutes": 5},
            {"notify": {"users": ["dana@example.com"]}, "wait_minutes": 10},
        ]}],
        "people": [{"email": "dana@example.com", "name": "Dana Boss"}],
    }


@dataclass
class Server:
    h: Harness
    db: str
    shots: Path
    hostile: int = 0
    payments: int = 0
    private: int = 0

    async def declare(self, name: str, service: str, **extra: Any) -> int:
        incident = (await self.h.post_alerts(critical_alert(name=name, service=service, **extra))).json()["incidents"][0]
        return int(incident)

    async def incidents(self) -> Server:
        """The module's incidents: a hostile title on checkout-api (its war room complete, its commander taken in
        Slack), a payments one, and a private one on hr."""
        self.hostile = await self.declare("CheckoutErrorRate", "checkout-api",
                                          annotations={"summary": HOSTILE, "description": "checkout is failing"})
        assert await self.h.wait_complete(self.hostile) == []
        channel = war_room(self.h, self.hostile).channel["id"]
        for command in ("role commander me", "ack", f"note {LONG_NOTE}", "statuspage investigating Checkout is "
                        "failing for some customers.", "task add Alert on the gateway's error ratio", "summary",
                        "postmortem"):
            said = await self.h.slack_command(command, user="U0ANA", channel=channel)
            assert said.status_code == 200, (command, said.text)
            await settle(self.h)
        self.payments = await self.declare("PaymentsDown", "payments")
        assert await self.h.wait_complete(self.payments) == []
        self.private = await self.declare("PayrollExportLeaked", "hr")
        assert await self.h.wait_complete(self.private) == []
        return self

    def cookie(self, user: ConsoleUser) -> dict[str, Any]:
        name, value = session_cookie(self.h.settings, user, datetime.now(UTC))
        return {"name": name, "value": value, "url": self.h.base_url}

    async def shoot(self, page: Any, kind: str) -> None:
        path = self.shots / f"{kind}-{self.db}.png"
        await page.screenshot(path=str(path), full_page=True)
        width, height = png_size(path)
        assert width == page.viewport_size["width"] and height >= 300, (path, width, height)


@asynccontextmanager
async def _database(kind: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A fresh database's URL: an SQLite file, or a PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'warroom.db'}"
        return
    from tests.conftest import pg_database

    async with pg_database() as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 chromium: Any) -> AsyncIterator[Server]:
    """The real server with :func:`tweak` and the module's incidents, one per database (started after Chromium, so
    a missing browser skips before any database is made)."""
    async with _database(request.param, tmp_path_factory) as url:
        h = await Harness.start(url, tweak=tweak)
        try:
            yield await Server(h, request.param, artefacts(tmp_path_factory, "console")).incidents()
        finally:
            await h.stop()


@asynccontextmanager
async def signed_in(chromium: Any, server: Server, user: ConsoleUser | None, width: int = 1280) -> AsyncIterator[Any]:
    """A page in a fresh browser context with ``user``'s session cookie (None: nobody signed in)."""
    context = await chromium.new_context(viewport={"width": width, "height": 800})
    try:
        if user is not None:
            await context.add_cookies([server.cookie(user)])
        yield await context.new_page()
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def ana(chromium: Any, server: Server) -> AsyncIterator[Any]:
    """A tab signed in as Ana (a responder)."""
    async with signed_in(chromium, server, ANA) as page:
        yield page


@pytest_asyncio.fixture(loop_scope="module")
async def zed(chromium: Any, server: Server) -> AsyncIterator[Any]:
    """A tab signed in as Zed, who took part in nothing."""
    async with signed_in(chromium, server, ZED) as page:
        yield page


async def rows(page: Any) -> list[list[str]]:
    return await page.eval_on_selector_all(
        "table.list tbody tr", "trs => trs.map(tr => [...tr.cells].map(td => td.innerText.trim()))")


async def test_the_list_open_first_counted_and_filtered(server: Server, ana: Any) -> None:
    base = server.h.base_url
    requests: list[str] = []
    ana.on("request", lambda r: requests.append(r.url))
    response = await ana.goto(f"{base}/console")
    assert response is not None and response.status == 200
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "Ana Lopez" in await ana.inner_text("header")
    assert await ana.eval_on_selector("header form", "f => [f.method, new URL(f.action).pathname]") == [
        "post", "/console/signout"]
    counts = await ana.inner_text("ul.counts")
    assert "P1: 3 open" in counts
    listed = await rows(ana)
    refs = [r[0] for r in listed]
    assert f"INC-{server.hostile}" in refs and f"INC-{server.payments}" in refs
    hostile = next(r for r in listed if r[0] == f"INC-{server.hostile}")
    assert hostile[1:3] == ["Acknowledged", "P1"] and hostile[4] == "checkout-api"
    assert HOSTILE in hostile[3]  # shown as text
    assert hostile[5] == f"{await _name(server, 'slack:U0ANA')} (ana@example.com)"  # the commander, by name
    assert hostile[6].endswith(" ago") and hostile[7][0].isdigit()  # acknowledged: how long it took
    payments = next(r for r in listed if r[0] == f"INC-{server.payments}")
    assert payments[5] == "nobody" and payments[7] == "not yet"
    assert await ana.evaluate("() => window.pwned === undefined && document.scripts.length === 0")
    assert requests == [f"{base}/console"]  # nothing else loaded
    await server.shoot(ana, "list")
    await assert_accessible(ana)

    # the filters: a plain GET form
    await ana.select_option("#f-service", "payments")
    await ana.click("form.filters button[type=submit]")
    assert urlsplit(ana.url).query == "status=all&service=payments&priority=&q="
    assert [r[0] for r in await rows(ana)] == [f"INC-{server.payments}"]
    assert await ana.input_value("#f-service") == "payments"
    await ana.goto(f"{base}/console?q=checkout+DOWN&status=open")
    assert [r[0] for r in await rows(ana)] == [f"INC-{server.hostile}"]
    await ana.goto(f"{base}/console?status=resolved")
    assert await rows(ana) == [] and "No incident matches these filters." in await ana.inner_text("main")
    await ana.goto(f"{base}/console?priority=P2")
    assert await rows(ana) == []

    # each row links to its incident
    await ana.goto(f"{base}/console")
    await ana.click(f"a[href='/console/incidents/{server.payments}']")
    assert urlsplit(ana.url).path == f"/console/incidents/{server.payments}"
    assert (await ana.inner_text("h1")).startswith(f"INC-{server.payments}: PaymentsDown")


@pytest.mark.parametrize(("query", "said"), [
    ("status=closed", "Unknown status 'closed'. Choose open, resolved or all."),
    ("service=billing", "No service is called 'billing'. Choose one of the services (checkout-api, payments, hr), "
                        "or any."),
    ("page=abc", "Page 'abc' is not a page number: give a whole number from 1 to 10000."),
])
async def test_a_bad_filter_is_answered_with_a_sentence(server: Server, ana: Any, query: str, said: str) -> None:
    response = await ana.goto(f"{server.h.base_url}/console?{query}")
    assert response is not None and response.status == 400
    assert await ana.inner_text("p.error") == said
    assert await rows(ana) == []
    await assert_accessible(ana)


async def test_an_incident_record_with_roles_links_and_timeline(server: Server, ana: Any) -> None:
    url = f"{server.h.base_url}/console/incidents/{server.hostile}"
    response = await ana.goto(url)
    assert response is not None and response.status == 200 and response.headers["cache-control"] == "no-store"
    assert await ana.inner_text("h1") == f"INC-{server.hostile}: CheckoutErrorRate: {HOSTILE}"
    assert await ana.evaluate("() => window.pwned === undefined && document.scripts.length === 0 && "
                              "document.images.length === 0")
    facts = await ana.inner_text("section[aria-labelledby=facts-heading]")
    assert "Acknowledged" in facts and "P1" in facts and "checkout-api" in facts and "checkout is failing" in facts
    roles = await ana.inner_text("section[aria-labelledby=roles-heading]")
    assert f"Incident Commander\n{await _name(server, 'slack:U0ANA')} (ana@example.com)" in roles
    links = dict(await ana.eval_on_selector_all(
        "section[aria-labelledby=links-heading] a", "as => as.map(a => [a.innerText, a.href])"))
    stored = await _links(server, server.hostile)
    assert links["Slack war room"] == stored[LinkKind.SLACK_CHANNEL]
    request = next(k for k in links if k.startswith("Xurrent request #"))
    assert links[request] == stored[LinkKind.XURRENT_REQUEST]
    assert links["Bridge (Zoom)"] == stored[LinkKind.BRIDGE]
    assert links["Postmortem"].startswith(f"{server.h.base_url}/incidents/{server.hostile}/postmortem?token=")
    pages = await ana.inner_text("section[aria-labelledby=links-heading] article")
    assert "Shop" in pages and "Investigating" in pages and "Checkout is failing for some customers." in pages
    tasks = await ana.inner_text("section[aria-labelledby=links-heading] ul:last-of-type")
    assert "Alert on the gateway's error ratio" in tasks and "RFC #" in tasks
    rfc = await ana.eval_on_selector("section[aria-labelledby=links-heading] ul:last-of-type a", "a => a.href")
    assert rfc.startswith(server.h.world.xurrent.base_url)
    assert "Latest AI status summary" in await ana.inner_text("main")
    assert "Acknowledged" in facts and "Time to acknowledge" in facts
    # the long note is folded: its start shown, the whole of it inside <details>
    folded = await ana.eval_on_selector_all("ol.timeline details", "ds => ds.map(d => [d.open, d.innerText])")
    assert any(not is_open and LONG_NOTE[:100] in text for is_open, text in folded)
    events = await ana.eval_on_selector_all("ol.timeline > li", "lis => lis.map(li => li.innerText)")
    assert len(events) >= 3
    assert any("War room #" in e for e in events)
    role_event = next(e for e in events if e.split("\n")[0].split(" · ")[1:2] == ["role"])
    assert "ana" in role_event.lower()
    assert [e.split(" UTC")[0] for e in events] == sorted(e.split(" UTC")[0] for e in events)  # oldest first
    await server.shoot(ana, "incident")
    await assert_accessible(ana)


async def _name(server: Server, key: str) -> str:
    """The name the chats last gave this person (the names cache)."""
    async with server.h.runtime.store.read() as tx:
        return (await tx.people.names([key]))[key]


async def _links(server: Server, incident: int) -> dict[LinkKind, str]:
    async with server.h.runtime.store.read() as tx:
        return {k: str(v.url) for k, v in (await tx.links.all(incident)).items() if v.url}


async def test_a_private_incident_is_for_those_who_took_part(server: Server, ana: Any, zed: Any) -> None:
    base = server.h.base_url
    await zed.goto(f"{base}/console")
    body = await zed.inner_text("main")
    assert "A private incident" in body and "Payroll" not in body and f"INC-{server.private}" not in body
    hidden = next(r for r in await rows(zed) if r[0] == "A private incident")
    assert hidden[1:3] == ["Triggered", "P1"]
    assert await zed.eval_on_selector_all(f"a[href='/console/incidents/{server.private}']", "as => as.length") == 0
    await zed.goto(f"{base}/console?q=payroll")
    assert "No incident matches these filters." in await zed.inner_text("main")
    response = await zed.goto(f"{base}/console/incidents/{server.private}")
    assert response is not None and response.status == 404
    refused = await zed.inner_text("main")
    assert "Payroll" not in refused and "There is no incident" in refused
    unknown = await zed.goto(f"{base}/console/incidents/999999")
    assert unknown is not None and unknown.status == 404 and await zed.inner_text("h1") == "No such incident"
    await server.shoot(zed, "private-hidden")
    await assert_accessible(zed)

    # ben is hr's responder (its assignee): he sees it; so does nobody else signed in
    async with signed_in(zed.context.browser, server, ConsoleUser("ben@example.com", "Ben")) as ben:
        response = await ben.goto(f"{base}/console/incidents/{server.private}")
        assert response is not None and response.status == 200
        assert "PayrollExportLeaked" in await ben.inner_text("h1")
        await ben.goto(f"{base}/console?q=payroll")
        assert [r[0] for r in await rows(ben)] == [f"INC-{server.private}"]


async def test_who_is_on_call_and_the_next_handover(server: Server, ana: Any) -> None:
    response = await ana.goto(f"{server.h.base_url}/console/oncall")
    assert response is not None and response.status == 200
    schedules = await ana.eval_on_selector_all(
        "table tbody tr", "trs => trs.map(tr => [...tr.cells].map(td => td.innerText.trim()))")
    assert [s[0] for s in schedules] == ["checkout-primary (team checkout)", "payments-primary"]
    assert schedules[0][1] in ("ana@example.com", "ben@example.com")
    assert "from now) to " in schedules[0][2] and "ben@example.com" in schedules[0][2] + schedules[0][1]
    assert schedules[1][1] == "eli@example.com" and schedules[1][2] == "no change within the next year"
    policies = await ana.inner_text("section[aria-labelledby=policies-heading]")
    assert "schedule checkout-primary: " in policies and "Dana Boss (dana@example.com)" in policies
    await server.shoot(ana, "oncall")
    await assert_accessible(ana)


async def test_not_signed_in_is_sent_to_sign_in(server: Server, chromium: Any) -> None:
    for path in ("/console?status=open", f"/console/incidents/{server.hostile}", "/console/oncall"):
        response = await server.h.http.get(path, follow_redirects=False)
        assert response.status_code == 302, path
        location = urlsplit(response.headers["location"])
        assert location.path == "/console/signin"
        assert parse_qs(location.query) == {"next": [path]}  # back to the page asked for, once signed in
        assert "PaymentsDown" not in response.text and "Checkout" not in response.text
    async with signed_in(chromium, server, None) as page:
        await page.goto(f"{server.h.base_url}/console")
        assert page.url.startswith(server.h.world.oidc.issuer)  # at the identity provider's sign-in
    # a forged or foreign cookie is no sign-in either
    forged = await server.h.http.get("/console", headers={"Cookie": f"{COOKIE}=forged"}, follow_redirects=False)
    assert forged.status_code == 302


async def test_readable_on_a_phone(server: Server, chromium: Any) -> None:
    async with signed_in(chromium, server, ANA, width=390) as phone:
        for path in ("/console", f"/console/incidents/{server.hostile}", "/console/oncall"):
            await phone.goto(f"{server.h.base_url}{path}")
            overflow = await phone.evaluate("() => document.documentElement.scrollWidth")
            assert overflow <= 390, (path, overflow)
        await phone.goto(f"{server.h.base_url}/console")
        await server.shoot(phone, "list-phone")
        await assert_accessible(phone)
