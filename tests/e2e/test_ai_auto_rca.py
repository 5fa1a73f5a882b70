"""The first hypothesis without being asked: when an alert opens a war room, the AI responder ranks the probable
causes by itself and posts them, with their evidence, once the war room exists; a new alert or a change that moves
the leading causes posts them again, one that does not move them posts nothing; a resolved incident gets none.
Through the real server: alerts through the intake, changes through ``POST /events/changes``, the posts read from
the Slack emulator's war room."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from warroom.sandbox.harness import Harness
from warroom.sandbox.world import INTAKE_TOKEN
from warroom.store.schema import outbox

from .helpers import critical_alert, open_room, settle

AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


def auto_rca(data: dict[str, Any]) -> None:
    data["ai"].update(auto_rca=True, auto_rca_seconds=0)


def rca_posts(h: Harness, channel: str) -> list[str]:
    return [str(m["text"]) for m in h.world.slack.messages(channel)
            if str(m.get("text", "")).startswith("🤖 Probable causes")]


async def change(h: Harness, change_id: str, title: str, minutes_ago: float, service: str = "checkout-api") -> None:
    at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = await h.http.post("/events/changes", headers=AUTH, json={
        "id": change_id, "service": service, "at": at, "title": title, "url": f"https://ci.example.com/{change_id}"})
    assert response.status_code == 202, response.text


async def test_the_first_hypothesis_is_posted_by_itself_once(start: Any) -> None:
    h: Harness = await start(auto_rca)
    await change(h, "deploy-77", "checkout-api 7.3.0: DB connection pool size 50 → 5", minutes_ago=8)
    incident, channel, _ = await open_room(h)
    await settle(h)
    posts = rca_posts(h, channel)
    assert len(posts) == 1, posts
    assert "deploy-77" in posts[0] and "checkout-api 7.3.0" in posts[0]  # the change, cited
    # the same alert again (Alertmanager repeats): nothing new, nothing posted
    await h.post_alerts(critical_alert())
    await settle(h)
    assert len(rca_posts(h, channel)) == 1
    async with h.runtime.store.read() as tx:
        events = [e for e in await tx.timeline.for_incident(incident) if e.kind == "ai_rca"]
    assert len(events) == 1 and events[0].data["auto"] is True and events[0].data["causes"][0] == "change:deploy-77"


async def test_a_new_alert_that_moves_the_causes_posts_them_again(start: Any) -> None:
    h: Harness = await start(auto_rca)
    _, channel, _ = await open_room(h)
    await settle(h)
    first = rca_posts(h, channel)
    # a dependency's database alert joins the incident: the ranking moves, and is posted again
    await h.post_alerts(critical_alert("PostgresTooManyConnections", severity="critical",
                                       annotations={"summary": "orders-db refuses connections: 300 of 300 in use"}))
    await settle(h)
    second = rca_posts(h, channel)
    assert len(second) == len(first) + 1, second
    assert "PostgresTooManyConnections" in second[-1] or "connection" in second[-1].lower()


async def test_no_hypothesis_by_itself_without_the_setting(start: Any) -> None:
    h: Harness = await start()  # the sandbox's default: auto_rca off
    _, channel, _ = await open_room(h)
    await settle(h)
    assert rca_posts(h, channel) == []
    async with h.runtime.store.read() as tx:
        jobs = (await tx.conn.execute(select(outbox.c.kind).where(outbox.c.kind == "ai.answer"))).all()
    assert jobs == []
