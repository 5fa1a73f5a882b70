"""Related incidents end to end: each alert declares an incident on its own service; when checkout-api depends on
payments (``services[].depends_on``), the checkout war room is told of the open payments incident — whichever was
declared first — once, with the other incident's title escaped; and ``/incident rca`` in the checkout war room ranks
the payments dependency with the payments alert (declared in the other incident) as evidence. Through the real
server on SQLite and PostgreSQL: alerts through the intake, the lines read from the Slack emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness, alertmanager_payload

from .helpers import settle, war_room
from .sync_helpers import unthrottled

TITLE = "payments <!channel> authorisations *failing* & retrying"


def depends(data: dict[str, Any]) -> None:
    for svc in data["services"]:
        if svc["name"] == "checkout-api":
            svc["depends_on"] = ["payments"]


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = unthrottled(await Harness.start(db_url, tweak=depends))
    yield harness
    await harness.stop()


def alert(name: str, service: str, summary: str, minutes_ago: float) -> dict[str, Any]:
    starts = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return alertmanager_payload([{"labels": {"alertname": name, "service": service, "severity": "critical"},
                                  "annotations": {"summary": summary}, "startsAt": starts}])


async def declare(h: Harness, payload: dict[str, Any]) -> tuple[int, str]:
    """The incident an alert declares, once its war room is complete; and the room's Slack channel."""
    response = await h.post_alerts(payload)
    assert response.status_code == 202, response.text
    incident = int(response.json()["incidents"][0])
    assert await h.wait_complete(incident) == []
    return incident, war_room(h, incident).channel["id"]


def related_lines(h: Harness, channel: str) -> list[str]:
    return [str(m["text"]) for m in h.world.slack.messages(channel) if str(m.get("text", "")).startswith("🔗")]


async def rca(h: Harness, channel: str) -> str:
    reply = await h.slack.command("rca", channel=channel)
    assert reply.status_code == 200, reply.text
    await settle(h)
    posts = [str(m["text"]) for m in h.world.slack.messages(channel)
             if str(m.get("text", "")).startswith("🤖 Probable causes")]
    assert len(posts) == 1, posts
    return posts[0]


async def test_the_dependent_room_hears_of_the_open_dependency_and_the_rca_cites_it(h: Harness) -> None:
    payments = alert("PaymentsAuthFailures", "payments", TITLE, minutes_ago=12)
    pay, pay_channel = await declare(h, payments)
    checkout, channel = await declare(h, alert("CheckoutErrorRate", "checkout-api", "5xx above 12%", minutes_ago=5))
    await settle(h)
    async with h.runtime.store.read() as tx:
        declared = await tx.incidents.get(pay)
        pay_alert = (await tx.alerts.for_incident(pay))[0]["id"]
        events = [e for e in await tx.timeline.for_incident(checkout) if e.kind == "related"]
    assert declared is not None
    since = declared.created_at.strftime("%H:%M")
    lines = related_lines(h, channel)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"🔗 INC-{pay} on payments is open since {since} UTC (P1: ")
    assert lines[0].endswith(") — likely related.")
    assert "&lt;!channel&gt;" in lines[0] and "<!channel>" not in lines[0]  # the title is outside text
    assert related_lines(h, pay_channel) == []  # the dependency's room is not told of its dependents
    assert len(events) == 1 and events[0].data["ref"] == f"INC-{pay}"

    # Alertmanager repeats both alerts: nothing is declared again, nothing is said again
    assert (await h.post_alerts(payments)).status_code == 202
    await settle(h)
    assert len(related_lines(h, channel)) == 1

    causes = await rca(h, channel)
    async with h.runtime.store.read() as tx:
        ranked = [e.data for e in await tx.timeline.for_incident(checkout) if e.kind == "ai_rca"][-1]
    # the dependency that alerted first ranks first, on the alert of the other incident and on that incident
    assert ranked["causes"][0] == "dependency:payments", ranked
    first = causes.split("\n2. ")[0]
    assert "1. Dependency payments failing" in first and "payments alerted first" in first, causes
    assert f"[alert:{pay_alert}] alert PaymentsAuthFailures [critical] on payments (firing, in INC-{pay})" in first
    assert f"[incident:INC-{pay}] incident INC-{pay} on payments (open, a dependency)" in first
    async with h.runtime.store.read() as tx:
        room = await tx.links.get(pay, LinkKind.SLACK_CHANNEL)
    assert room is not None and f"<{room.url}>" in first and "hxxp" not in first  # its war room, a live link


async def test_the_dependent_declared_first_hears_of_the_dependency_declared_later(h: Harness) -> None:
    checkout, channel = await declare(h, alert("CheckoutErrorRate", "checkout-api", "5xx above 12%", minutes_ago=6))
    await settle(h)
    assert related_lines(h, channel) == []  # nothing it depends on is open yet
    pay, pay_channel = await declare(h, alert("PaymentsAuthFailures", "payments", TITLE, minutes_ago=3))
    await settle(h)
    lines = related_lines(h, channel)
    assert len(lines) == 1 and lines[0].startswith(f"🔗 INC-{pay} on payments is open since "), lines
    assert related_lines(h, pay_channel) == []
    async with h.runtime.store.read() as tx:
        told = [e.data["ref"] for e in await tx.timeline.for_incident(checkout) if e.kind == "related"]
        untold = [e for e in await tx.timeline.for_incident(pay) if e.kind == "related"]
    assert told == [f"INC-{pay}"] and untold == []
