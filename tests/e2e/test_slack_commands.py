"""Responders act from the war room: signed slash commands through slack-bolt change both records."""

from __future__ import annotations

from warroom.sandbox.harness import Harness

from .helpers import open_room, settle


async def test_commands_in_the_war_room_reach_both_records(harness: Harness) -> None:
    h = harness
    incident, channel, request_id = await open_room(h)
    ben = h.world.slack.add_user("ben@example.com", "Ben Backend")

    ack = await h.slack_command("ack", user=ben, channel=channel)
    assert ack.status_code == 200 and f"INC-{incident} acknowledged" in ack.text and '"in_channel"' in ack.text
    await h.slack_command("priority p2", user=ben, channel=channel)
    await h.slack_command("title Checkout <b>down</b> & payments", user=ben, channel=channel)
    await h.slack_command("assign me", user=ben, channel=channel)
    await h.slack_command("note See <https://grafana.example/d/1|the dashboard> *now* @here", user=ben, channel=channel)
    await settle(h)
    request = h.world.xurrent.requests[request_id]
    assert request["status"] == "accepted" and request["impact"] == "high"
    assert request["subject"] == "Checkout <b>down</b> & payments"
    assert request["member"]["name"] == "Ben Backend"
    assert h.world.xurrent.notes(request_id)[-1]["text"] == "See <https://grafana.example/d/1|the dashboard> *now* @here"
    async with h.runtime.store.read() as tx:
        current = await tx.incidents.get(incident)
    assert current is not None and current.assignee == "ben@example.com" and current.priority == "P2"

    status = await h.slack_command("status", user=ben, channel=channel)
    assert "acknowledged, P2, assigned to ben@example.com" in status.text and '"ephemeral"' in status.text
    await h.slack_command("resolve rolled back the deploy", user=ben, channel=channel)
    await settle(h)
    request = h.world.xurrent.requests[request_id]
    assert request["status"] == "completed" and request["completion_reason"] == "solved"
    assert h.world.xurrent.notes(request_id)[-1]["text"] == "rolled back the deploy"


async def test_commands_explain_mistakes_and_where_they_work(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    outside = await h.slack_command("ack", channel="C0GENERAL")
    assert "works in an incident's war room channel" in outside.text
    incident, channel, _ = await open_room(h)
    assert "Unknown priority" in (await h.slack_command("priority P9", channel=channel)).text
    assert "Try `/incident" in (await h.slack_command("acknowlege", channel=channel)).text
    already = await h.slack_command("reopen", channel=channel)
    assert "only a resolved incident can be reopened" in already.text
    async with h.runtime.store.read() as tx:
        assert (await tx.incidents.get(incident)).status.value == "triggered"  # type: ignore[union-attr]


async def test_a_note_with_a_nul_character_is_stored_without_it(harness: Harness) -> None:
    h = harness
    _, channel, request_id = await open_room(h)
    reply = await h.slack_command("note disk\x00 full", channel=channel)
    assert "Note added" in reply.text
    await settle(h)
    assert h.world.xurrent.notes(request_id)[-1]["text"] == "disk full"
