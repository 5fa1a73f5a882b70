"""Change kinds end to end: ``POST /events/changes`` with a ``kind`` (deploy, config, feature_flag, dns, …), kept in
the database, and shown as what it was in the RCA posted in the war room ("Feature flag flag-9 …", "DNS change
dns-3 …", not "Deploy …") — on SQLite and PostgreSQL. A kind warroom does not know is refused with a sentence that
lists the kinds, and nothing of that request is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from warroom.sandbox.harness import Harness
from warroom.sandbox.world import INTAKE_TOKEN
from warroom.store.schema import changes

from .helpers import critical_alert, open_room, settle

AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


def _at(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _stored(h: Harness) -> dict[str, dict[str, Any]]:
    async with h.runtime.store.read() as tx:
        rows = (await tx.conn.execute(select(changes))).mappings()
        return {str(r["external_id"]): dict(r) for r in rows}


def _ai_lines(h: Harness, channel: str) -> list[str]:
    return [
        str(m["text"]) for m in h.world.slack.messages(channel)
        if str(((m.get("metadata") or {}).get("event_payload") or {}).get("key", "")).startswith("ai-")
    ]


async def test_kinds_are_stored_validated_and_shown_in_the_rca(harness: Harness) -> None:
    h = harness
    events = [
        {"id": "flag-9", "kind": "feature_flag", "service": "checkout-api", "at": _at(6),
         "title": "new-checkout-flow raised to 100%"},
        {"id": "dns-3", "kind": "DNS", "service": "checkout-api", "at": _at(30),
         "title": "Move checkout-api.internal to the new load balancer"},
        {"id": "deploy-5", "service": "search-api", "at": _at(120), "title": "search-api 2.1.0 synonyms"},
    ]
    reply = await h.http.post("/events/changes", json=events, headers=AUTH)
    assert reply.status_code == 202, reply.text
    assert [c["result"] for c in reply.json()["changes"]] == ["new", "new", "new"]
    stored = await _stored(h)
    assert {k: v["kind"] for k, v in stored.items()} == {
        "flag-9": "feature_flag", "dns-3": "dns", "deploy-5": "deploy"  # case forgiven; none given: deploy
    }

    # a kind warroom does not know: 400 with the kinds to use; the valid event beside it is not stored either
    bad = [
        {"id": "cfg-1", "kind": "config", "at": _at(5), "title": "pool size 20"},
        {"id": "rfc-2", "kind": "firmware", "at": _at(5), "title": "switch firmware"},
    ]
    refused = await h.http.post("/events/changes", json=bad, headers=AUTH)
    assert refused.status_code == 400
    reason = refused.json()["error"]
    assert "Event 2's 'kind' ('firmware') is not a kind of change warroom knows" in reason
    assert "deploy, config, feature_flag, dns, infrastructure, database, rfc, other" in reason
    not_text = await h.http.post(
        "/events/changes", json={"id": "x", "kind": 3, "at": _at(5), "title": "t"}, headers=AUTH
    )
    assert not_text.status_code == 400 and "'kind' must be a string" in not_text.json()["error"]
    assert set(await _stored(h)) == {"flag-9", "dns-3", "deploy-5"}

    # a repeat with another kind updates it
    again = {**events[2], "kind": "config"}
    reply = await h.http.post("/events/changes", json=again, headers=AUTH)
    assert reply.json()["changes"] == [{"id": "deploy-5", "result": "updated"}]
    assert (await _stored(h))["deploy-5"]["kind"] == "config"

    # the RCA posted in the war room names each change by its kind
    _, channel, _ = await open_room(h, critical_alert(startsAt=_at(4)))
    before = len(_ai_lines(h, channel))
    answer = await h.slack.command("rca", channel=channel, user="U0ANA")
    assert answer.status_code == 200, answer.text
    await settle(h)
    lines = _ai_lines(h, channel)
    assert len(lines) == before + 1, lines[before:]
    rca = lines[-1]
    assert "Feature flag flag-9 on checkout-api" in rca, rca
    assert "DNS change dns-3 on checkout-api" in rca, rca
    assert "Deploy flag-9" not in rca and "Deploy dns-3" not in rca
