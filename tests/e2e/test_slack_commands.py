"""Responders act from the war room: slash commands through slack-bolt change both records — each test run with
Slack reaching warroom over HTTP (signed requests) and over Socket Mode (envelopes on warroom's WebSocket)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from warroom.sandbox.base import Fault
from warroom.sandbox.harness import Harness

from .helpers import open_room, settle
from .slack_modes import SLACK_MODES, start_in_mode, stop_in_mode


@pytest.fixture(params=SLACK_MODES)
async def harness(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[Harness]:
    h = await start_in_mode(db_url, request.param)
    yield h
    await stop_in_mode(h)


@pytest.fixture(params=SLACK_MODES)
async def sqlite_harness(request: pytest.FixtureRequest, sqlite_url: str) -> AsyncIterator[Harness]:
    h = await start_in_mode(sqlite_url, request.param)
    yield h
    await stop_in_mode(h)


@pytest.fixture
async def http_harness(db_url: str) -> AsyncIterator[Harness]:
    h = await Harness.start(db_url)
    yield h
    await h.stop()


@pytest.mark.one_db("Socket Mode is a transport: the commands keep PostgreSQL over HTTP", only="socket")
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


@pytest.mark.one_db(
    "Socket Mode is a transport: the NUL (refused by PostgreSQL) keeps its HTTP run on PostgreSQL",
    only="socket",
)
async def test_a_note_with_a_nul_character_is_stored_without_it(harness: Harness) -> None:
    h = harness
    _, channel, request_id = await open_room(h)
    reply = await h.slack_command("note disk\x00 full", channel=channel)
    assert "Note added" in reply.text
    await settle(h)
    assert h.world.xurrent.notes(request_id)[-1]["text"] == "disk full"


@pytest.mark.one_db("Socket Mode is a transport: the refusal keeps PostgreSQL over HTTP", only="socket")
async def test_a_refused_command_has_no_effect(harness: Harness) -> None:
    """`resolve <note>` on a resolved incident is refused whole: no note on the incident nor on the request."""
    h = harness
    incident, channel, request_id = await open_room(h)
    await h.slack_command("resolve rolled back", channel=channel)
    await settle(h)
    notes_before = len(h.world.xurrent.notes(request_id))
    again = await h.slack_command("resolve this note must not land", channel=channel)
    assert "resolved already" in again.text or "already resolved" in again.text or "is resolved" in again.text, again.text
    await settle(h)
    async with h.runtime.store.read() as tx:
        notes = [e.text for e in await tx.timeline.for_incident(incident) if e.kind == "note"]
    assert notes == ["rolled back"]
    assert len(h.world.xurrent.notes(request_id)) == notes_before


async def test_a_command_that_failed_is_applied_when_slack_retries_it(http_harness: Harness) -> None:
    """The retry de-duplication is recorded with the command's effect: a command cut short by a failure (here
    Slack's users.info dropping the connection while warroom looks the person up) is applied by Slack's retry, and
    a retry of a command that was applied is not applied twice. (Over HTTP, where the failure is an answer; Socket
    Mode's redeliveries are tested in test_slack_socket_mode.py.)"""
    h = http_harness
    incident, channel, _ = await open_room(h)
    ben = h.world.slack.add_user("ben@example.com", "Ben Backend")
    h.world.slack.faults.append(Fault("users.info", kind="reset", times=10))  # past slack_sdk's own retries
    first = await h.slack.command(f"assign <@{ben}>", channel=channel, trigger="T-assign-1")
    h.world.slack.faults.clear()
    assert first.status_code >= 500 or "assigned" not in first.text  # Slack got no answer: it will retry
    retry = await h.slack.command(f"assign <@{ben}>", channel=channel, trigger="T-assign-1")
    assert retry.status_code == 200 and "assigned to ben@example.com" in retry.text
    again = await h.slack.command("note only once", channel=channel, trigger="T-note-1")
    repeat = await h.slack.command("note only once", channel=channel, trigger="T-note-1")
    assert "Note added" in again.text and "Note added" not in repeat.text
    async with h.runtime.store.read() as tx:
        current = await tx.incidents.get(incident)
        notes = [e.text for e in await tx.timeline.for_incident(incident) if e.kind == "note"]
    assert current is not None and current.assignee == "ben@example.com"
    assert notes.count("only once") == 1


@pytest.mark.one_db("a read-only reply's formatting: no concurrency, no dialect-specific SQL")
async def test_status_shows_the_incidents_links(harness: Harness) -> None:
    h = harness
    incident, channel, request_id = await open_room(h)
    status = (await h.slack_command("status", channel=channel)).json()["text"]
    assert f"INC-{incident} is triggered" in status
    assert f"/requests/{request_id}|ITSM request>" in status and "|Bridge>" in status and "|Slack war room>" in status
