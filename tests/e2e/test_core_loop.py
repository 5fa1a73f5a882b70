"""The core loop over HTTP: an Alertmanager alert becomes a major incident with a complete Slack war room, a
linked Xurrent request and a bridge — on SQLite and on PostgreSQL."""

from __future__ import annotations

import json

from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.world import INTAKE_TOKEN

from .helpers import critical_alert, war_room


async def test_an_alert_opens_a_complete_war_room(harness: Harness) -> None:
    response = await harness.post_alerts(critical_alert())
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["alerts"][0]["result"] == "declared"
    incident = body["incidents"][0]
    assert await harness.wait_complete(incident) == []

    room = war_room(harness, incident)
    slack = harness.world.slack
    # the channel: default pattern inc-<number>-<slug>, everyone from the catalog who is in Slack invited in one call
    assert room.channel["name"] == f"inc-{incident}-checkouterrorrate-5xx-above-12"
    emails = {slack.users[m]["profile"]["email"] for m in room.channel["members"] if m in slack.users}
    assert emails == {"ana@example.com", "ben@example.com", "chen@example.com", "fay@contractor.example", "dana@example.com"}
    assert len(slack.calls_to("conversations.invite")) == 1
    assert f"INC-{incident}" in room.channel["topic"] and "P1" in room.channel["topic"]

    # the card: posted once, pinned, carrying the request and the bridge (edited in place if they came later)
    request = room.requests[0]
    meeting = room.meetings[0]
    assert room.card["ts"] in slack.pins[room.channel["id"]]
    assert f"#{request['id']}" in room.card_text and meeting["join_url"] in room.card_text
    titles = {b["title"]: b["link"] for b in slack.bookmarks[room.channel["id"]]}
    assert titles["Join bridge"] == meeting["join_url"]
    assert titles["ITSM request"].endswith(f"/requests/{request['id']}")
    assert titles["Runbook"] == "https://runbooks.example.com/checkout-api"

    # the linked request follows the seed's mapping
    assert len(room.requests) == 1
    assert request["subject"] == "CheckoutErrorRate: 5xx above 12%"
    assert request["category"] == "incident"
    assert request["impact"] == "top"  # P1 with the default table
    assert request["urgent"] is True
    assert request["status"] == "assigned"
    assert request["service_instance"]["id"] == harness.world.service_instances["checkout-api"]
    assert request["member"]["name"] == "Ana Ops"  # the on-call (first responder) exists in Xurrent
    assert request["source"] == "warroom" and request["sourceID"] == f"incident-{incident}"
    notes = harness.world.xurrent.notes(request["id"])
    assert "error ratio 0.12 on checkout" in notes[0]["text"]

    # only the join link ever reaches Slack, never the host link
    everything = json.dumps({"m": room.messages, "b": slack.bookmarks, "c": room.channel})
    assert meeting["start_url"] not in everything
    assert len(room.meetings) == 1


async def test_repeats_are_deduplicated_and_more_alerts_group_into_the_open_incident(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    first = (await h.post_alerts(critical_alert())).json()
    again = (await h.post_alerts(critical_alert())).json()
    other = (await h.post_alerts(critical_alert(name="CheckoutLatency", severity="warning"))).json()
    assert again["alerts"][0]["result"] == "repeat"
    assert other["alerts"][0]["result"] == "grouped"
    assert first["incidents"] == again["incidents"] == other["incidents"]
    await h.wait_complete(first["incidents"][0])
    await h.runtime.worker.run_until_idle()
    room = war_room(h, first["incidents"][0])
    assert len(room.channels) == 1 and len(room.requests) == 1
    assert any("CheckoutLatency" in m["text"] for m in room.messages)


async def test_a_resolved_alert_is_said_in_the_war_room_and_the_incident_stays_open(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    alert = critical_alert()
    incident = (await h.post_alerts(alert)).json()["incidents"][0]
    assert await h.wait_complete(incident) == []
    resolved = json.loads(json.dumps(alert))
    resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2030-01-01T00:00:00Z"
    assert (await h.post_alerts(resolved)).json()["alerts"][0]["result"] == "resolved"
    await h.runtime.worker.run_until_idle()
    lines = [m["text"] for m in war_room(h, incident).messages]
    assert any("resolved" in line and "stays open" in line for line in lines)
    async with h.runtime.store.read() as tx:
        assert (await tx.incidents.get(incident)).status.value == "triggered"  # type: ignore[union-attr]
    assert war_room(h, incident).requests[0]["status"] == "assigned"


async def test_assignee_missing_in_xurrent_leaves_the_member_empty(sqlite_url: str) -> None:
    def tweak(data: dict) -> None:  # type: ignore[type-arg]
        data["services"][0]["on_call"] = "fay@contractor.example"

    h = await Harness.start(sqlite_url, tweak=tweak)
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        assert await h.wait_complete(incident) == []
        request = war_room(h, incident).requests[0]
        assert request["member"] is None
        async with h.runtime.store.read() as tx:
            texts = [e.text for e in await tx.timeline.for_incident(incident)]
        assert any("not a person in Xurrent" in t for t in texts)
    finally:
        await h.stop()


async def test_below_threshold_alerts_open_nothing(sqlite_harness: Harness) -> None:
    body = (await sqlite_harness.post_alerts(critical_alert(severity="warning"))).json()
    assert body["alerts"][0]["result"] == "recorded" and body["incidents"] == []
    assert sqlite_harness.world.slack.channels == {}


async def test_webex_service_gets_a_webex_bridge_and_its_custom_impact(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    incident = (await h.post_alerts(critical_alert(name="PaymentsDown", service="payments", severity="high"))).json()["incidents"][0]
    assert await h.wait_complete(incident) == []
    room = war_room(h, incident)
    assert room.requests[0]["impact"] == "top"  # payments maps P2 → top
    assert room.requests[0]["urgent"] is True
    assert room.meetings[0]["webLink"] in room.card_text


async def test_intake_refuses_bad_tokens_and_bodies_and_stores_nothing(harness: Harness) -> None:
    h = harness
    good = critical_alert()
    assert (await h.post_alerts(good, token="wrong")).status_code == 401
    assert (await h.http.post("/alerts/alertmanager", json=good)).status_code == 401
    bad = await h.http.post("/alerts/alertmanager", content=b"{not json", headers={"Authorization": f"Bearer {INTAKE_TOKEN}"})
    assert bad.status_code == 400 and bad.json()["error"]
    wrong_version = {**good, "version": "3"}
    assert (await h.post_alerts(wrong_version)).status_code == 400
    half_bad = alertmanager_payload([good["alerts"][0], {"labels": {"alertname": "x", "service": "checkout-api"}}])
    half_bad["alerts"][1]["labels"] = ["not", "an", "object"]
    refused = await h.post_alerts(half_bad)
    assert refused.status_code == 400 and "labels" in refused.json()["error"]
    huge = {**good, "commonAnnotations": {"blob": "x" * (h.settings.intake.max_body_bytes + 10)}}
    assert (await h.post_alerts(huge)).status_code == 413
    async with h.runtime.store.read() as tx:
        assert await tx.alerts.count() == 0 and await tx.incidents.count() == 0


async def test_health_readiness_and_metrics(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    assert (await h.http.get("/healthz")).json() == {"status": "ok"}
    assert (await h.http.get("/readyz")).json() == {"status": "ready"}
    incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
    await h.wait_complete(incident)
    metrics = (await h.http.get("/metrics")).text
    assert 'warroom_alerts_total{result="declared",source="alertmanager"} 1.0' in metrics
    assert 'warroom_outbox_jobs_total{kind="itsm.create_request",outcome="done"} 1.0' in metrics
    assert "warroom_outbox_backlog{status=\"done\"}" in metrics


async def test_a_taken_channel_name_gets_a_suffix(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.world.slack.add_channel("inc-1-checkouterrorrate-5xx-above-12", creator="U0SOMEONE")
    incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
    assert await h.wait_complete(incident) == []
    ours = [c for c in h.world.slack.channels.values() if c["creator"] == h.world.slack.bot_user_id]
    assert [c["name"] for c in ours] == ["inc-1-checkouterrorrate-5xx-above-12-2"]


async def test_the_demo_completes() -> None:
    from warroom.sandbox.demo.slack import run_demo

    assert await run_demo() == 0
