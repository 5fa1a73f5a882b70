"""Hostile input to every console route, on SQLite and PostgreSQL (which refuses NUL in text): control characters,
bytes that are not UTF-8, over-long values — in every query parameter the console reads, in the incident's path and
in the sign-in's and callback's parameters. Each answer is a page (400 with a sentence, a 404, a redirect), never a
5xx. And the incident page reads its tasks' RFC links in one query, however many tasks it has."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import event

from warroom.core.model import Origin, Urgency
from warroom.sandbox.harness import Harness
from warroom.web.console.auth import ConsoleUser, session_cookie

ANA = ConsoleUser("ana@example.com", "Ana Ops")
#: Query values as they travel (percent-encoded): NUL, other C0 and C1 controls, DEL, a line break, a UTF-16
#: surrogate and a byte that is not UTF-8, an over-long value.
HOSTILE = ["%00", "db%00x", "%1F", "%7F", "%C2%85", "a%0D%0Ab", "%ED%A0%80", "%FF", "x" * 5000, "%25%00"]
PARAMS = ["q", "status", "service", "priority", "page", "next", "state", "code", "iss", "error", "other"]
ROUTES = ["/console", "/console/oncall", "/console/incidents/1", "/console/signin", "/console/callback",
          "/console/signout"]


@pytest_asyncio.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = await Harness.start(db_url, workers=False, webhooks=False)
    try:
        yield harness
    finally:
        await harness.stop()


def signed_in(h: Harness) -> httpx.AsyncClient:
    name, value = session_cookie(h.settings, ANA, datetime.now(UTC))
    return httpx.AsyncClient(base_url=h.base_url, timeout=30, cookies={name: value})


async def test_no_input_gives_a_5xx_on_any_console_route(h: Harness) -> None:
    async with signed_in(h) as http, httpx.AsyncClient(base_url=h.base_url, timeout=30) as anonymous:
        incident = await _incident(h, tasks=1)
        start = await anonymous.get("/console/signin")  # a sign-in under way: the callback checks its parameters
        assert start.status_code == 302
        for value in HOSTILE:
            asked = [f"{route}?{param}={value}" for route in ROUTES for param in PARAMS]
            asked += [f"/console/incidents/{value}", f"/console/incidents/{incident}?q={value}",
                      f"/console?{value}=1"]
            for url in asked:
                for client in (http, anonymous):
                    reply = await client.get(url)
                    assert reply.status_code < 500, (url, reply.status_code, reply.text[:300])
            reply = await http.post(f"/console/signout?next={value}", headers={"Origin": h.base_url})
            assert reply.status_code < 500, (value, reply.status_code)
        # the pages refuse control characters with a sentence, the title search's NUL first of all
        for url in ("/console?q=%00", "/console?q=db%00x", "/console?status=%0A", "/console?service=a%1Fb",
                    "/console?page=1%7F", f"/console/incidents/{incident}?x=%C2%85", "/console/incidents/1%00",
                    "/console/oncall?q=%00"):
            reply = await http.get(url)
            assert reply.status_code == 400, (url, reply.status_code)
            assert "holds a control character (such as NUL or a line break): remove it" in reply.text, url
            assert reply.headers["Cache-Control"] == "no-store"
        too_long = await http.get("/console/oncall?x=" + "y" * 5000)
        assert too_long.status_code == 400 and "5000 characters long: give at most 1000" in too_long.text
        # the callback says so too, before anything reaches the identity provider
        state = httpx.URL(start.headers["Location"]).params["state"]
        callback = await anonymous.get(f"/console/callback?state={state}&code=abc%00def")
        assert callback.status_code == 400 and "start the sign-in again" in callback.text
        # and ordinary values still work
        assert (await http.get("/console?q=checkout&status=open")).status_code == 200
        assert (await http.get(f"/console/incidents/{incident}")).status_code == 200


async def _incident(h: Harness, tasks: int) -> int:
    """An incident with ``tasks`` post-incident tasks, each with its RFC."""
    async with h.runtime.store.tx() as tx:
        incident = await tx.incidents.create(title="Checkout is failing", service="checkout-api", priority="P1",
                                             urgency=Urgency.HIGH, details="", assignee=None, origin=Origin.CHAT)
        for n in range(tasks):
            task = await tx.records.add_task(incident.id, f"Follow-up {n}")
            rfc = f"{7000 + 10 * incident.id + n}"
            await tx.task_links.put(task, rfc, f"https://xurrent.example/requests/{rfc}", {"status": "assigned"})
    return incident.id


async def test_the_incident_page_reads_task_links_in_one_query(h: Harness) -> None:
    one, many = await _incident(h, tasks=1), await _incident(h, tasks=6)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = h.runtime.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    counts = []
    try:
        async with signed_in(h) as http:
            for incident in (one, many):
                statements.clear()
                reply = await http.get(f"/console/incidents/{incident}")
                assert reply.status_code == 200 and "Follow-up 0" in reply.text and f"{7000 + 10 * incident}" in reply.text
                counts.append((len(statements), sum("task_links" in s for s in statements)))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert counts[0] == counts[1]  # six tasks cost no more queries than one (workers are off: only the page reads)
    assert counts[1][1] == 1
