"""Evidence that arrives after the first hypothesis ranks the probable causes again by themselves (``ai.auto_rca``):
a change posted to ``POST /events/changes`` on the incident's service or a service next to it (``depends_on``,
either way), and an alert on such a service that goes to another incident or to none. The ranking is posted when
its leading causes moved, and nothing is posted when they did not; a change on an unrelated service ranks nothing.
Through the real server on SQLite and PostgreSQL: alerts through the intake, changes through the change intake,
the posts read from the Slack emulator's war room."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.world import INTAKE_TOKEN
from warroom.store.schema import outbox

from .helpers import settle, war_room
from .sync_helpers import unthrottled
from .test_related_incidents import depends

AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    """Causes ranked by themselves at once; checkout-api depends on payments."""

    def tweak(data: dict[str, Any]) -> None:
        depends(data)
        data["ai"].update(auto_rca=True, auto_rca_seconds=0)

    harness = unthrottled(await Harness.start(db_url, tweak=tweak))
    yield harness
    await harness.stop()


def ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert(name: str, service: str, summary: str, minutes_ago: float, severity: str = "critical") -> dict[str, Any]:
    return alertmanager_payload([{"labels": {"alertname": name, "service": service, "severity": severity},
                                  "annotations": {"summary": summary}, "startsAt": ago(minutes_ago)}])


async def declare(h: Harness, payload: dict[str, Any]) -> tuple[int, str]:
    """The incident an alert declares, once its war room is complete and its first ranking posted; its channel."""
    response = await h.post_alerts(payload)
    assert response.status_code == 202, response.text
    incident = int(response.json()["incidents"][0])
    assert await h.wait_complete(incident) == []
    await settle(h)
    return incident, war_room(h, incident).channel["id"]


async def change(h: Harness, change_id: str, service: str, title: str, minutes_ago: float) -> None:
    response = await h.http.post("/events/changes", headers=AUTH, json={
        "id": change_id, "service": service, "at": ago(minutes_ago), "title": title,
        "url": f"https://ci.example.com/{change_id}"})
    assert response.status_code == 202, response.text
    await settle(h)


def rca_posts(h: Harness, channel: str) -> list[str]:
    return [str(m["text"]) for m in h.world.slack.messages(channel)
            if str(m.get("text", "")).startswith("🤖 Probable causes")]


async def rankings(h: Harness, incident: int) -> int:
    """How many rankings the incident's causes have had (the ``ai.answer`` jobs that ranked them by themselves)."""
    async with h.runtime.store.read() as tx:
        query = select(func.count()).select_from(outbox).where(
            outbox.c.kind == "ai.answer", outbox.c.incident_id == incident)
        return int((await tx.conn.execute(query)).scalar_one())


async def test_a_change_on_a_dependency_posted_later_ranks_the_causes_again(h: Harness) -> None:
    checkout, channel = await declare(h, alert("CheckoutErrorRate", "checkout-api", "5xx above 12%", minutes_ago=5))
    before = rca_posts(h, channel)  # one alert of its own: no cause to name yet, or its signal
    assert len(before) <= 1 and "payments-deploy-41" not in " ".join(before), before
    ranked = await rankings(h, checkout)
    assert ranked == 1  # ranked once, when declared

    # the dependency's deploy is reported after the war room opened (CI told late): it leads now, and is posted
    await change(h, "payments-deploy-41", "payments", "payments 4.2.0: gateway client timeout 30 s → 2 s",
                 minutes_ago=9)
    posts = rca_posts(h, channel)
    assert len(posts) == len(before) + 1, posts
    assert "payments-deploy-41" in posts[-1] and "payments 4.2.0" in posts[-1], posts[-1]
    assert await rankings(h, checkout) == ranked + 1

    # the same change reported again (a repeat of the event): ranked again, the leading causes did not move, so the
    # war room hears nothing
    await change(h, "payments-deploy-41", "payments", "payments 4.2.0: gateway client timeout 30 s → 2 s",
                 minutes_ago=9)
    assert await rankings(h, checkout) == ranked + 2
    assert rca_posts(h, channel) == posts

    # a change on a service checkout-api neither depends on nor serves: nothing is ranked, nothing posted
    await change(h, "billing-batch-7", "billing-batch", "billing-batch 1.9: nightly export moved to 02:00",
                 minutes_ago=3)
    assert await rankings(h, checkout) == ranked + 2
    assert rca_posts(h, channel) == posts
    async with h.runtime.store.read() as tx:
        events = [e for e in await tx.timeline.for_incident(checkout) if e.kind == "ai_rca"]
    assert len(events) == len(posts) and all(e.data["auto"] for e in events)
    assert "change:payments-deploy-41" in events[-1].data["causes"][:3]


@pytest.mark.parametrize("severity", ["warning", "critical"])
async def test_an_alert_on_a_dependency_in_another_incident_or_in_none_ranks_the_causes_again(
    h: Harness, severity: str
) -> None:
    checkout, channel = await declare(h, alert("CheckoutErrorRate", "checkout-api", "5xx above 12%", minutes_ago=5))
    ranked = await rankings(h, checkout)
    before = rca_posts(h, channel)

    # a payments alert: a warning is below payments' declare threshold and is recorded in no incident; a critical
    # one declares a payments incident of its own — either way checkout-api ranks again, and the dependency leads
    response = await h.post_alerts(alert("PaymentsAuthFailures", "payments", "authorisations failing",
                                         minutes_ago=8, severity=severity))
    assert response.status_code == 202, response.text
    elsewhere = response.json()["incidents"]
    assert elsewhere == ([] if severity == "warning" else [checkout + 1])
    if elsewhere:
        assert await h.wait_complete(elsewhere[0]) == []
    await settle(h)
    assert await rankings(h, checkout) == ranked + 1
    posts = rca_posts(h, channel)
    assert len(posts) == len(before) + 1, posts
    assert "PaymentsAuthFailures" in posts[-1], posts[-1]
    async with h.runtime.store.read() as tx:
        events = [e for e in await tx.timeline.for_incident(checkout) if e.kind == "ai_rca"]
    assert events[-1].data["causes"][0] == "dependency:payments"
