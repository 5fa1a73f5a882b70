"""Socket Mode (``slack.mode: socket``) end to end: warroom opens the connection itself (no /slack/events), and what
Slack's side of the connection does to it — a connection dropped mid-envelope, an envelope sent twice, an ack that
never arrives, a ``disconnect`` refresh — ends with every envelope acked and every change applied once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from warroom.chat.slack import blocks
from warroom.chat.slack.socket import SocketModeRefused
from warroom.sandbox.base import Fault
from warroom.sandbox.harness import Harness
from warroom.sandbox.slack.socket import SocketModeHub
from warroom.sandbox.world import World
from warroom.settings import Settings
from warroom.web.app import create_app

from .helpers import open_room, settle
from .slack_modes import start_in_mode, stop_in_mode


@pytest.fixture
async def socket_harness(db_url: str) -> AsyncIterator[Harness]:
    h = await start_in_mode(db_url, "socket")
    yield h
    await stop_in_mode(h)


def hub(h: Harness) -> SocketModeHub:
    return h.world.slack.socket


async def notes(h: Harness, incident: int) -> list[str]:
    async with h.runtime.store.read() as tx:
        return [e.text for e in await tx.timeline.for_incident(incident) if e.kind == "note"]


def attempts(h: Harness, envelope_id: str) -> list[tuple[int, str]]:
    """(retry_attempt, retry_reason) of every time Slack sent the envelope."""
    return [(d["retry_attempt"], d["retry_reason"]) for d in hub(h).deliveries if d["envelope_id"] == envelope_id]


@pytest.mark.one_db("the connection's set-up and the routes served: nothing of the store")
async def test_warroom_connects_to_slack_and_serves_no_events_url(socket_harness: Harness) -> None:
    h = socket_harness
    (opened,) = h.world.slack.calls_to("apps.connections.open")
    assert opened.status == 200 and hub(h).opened == 1 and len(hub(h).live()) == 1  # one ticket, used
    assert (await h.http.post("/slack/events", content=b"{}")).status_code == 404  # nothing listens there
    answer = await h.slack.command("status", channel="C0GENERAL")
    assert answer.status_code == 200 and "war room" in answer.text


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "no-close-frame"])
async def test_a_connection_dropped_before_the_ack_is_redelivered_after_reconnecting_and_applied_once(
    db_url: str, abrupt: bool,
) -> None:
    """warroom applied the note, but the connection went before Slack had the ack: Slack sends the envelope again on
    the connection warroom opens next (a new apps.connections.open), and the retry is taken in once. Without a close
    frame, warroom notices by its pings (every half second here, so the test is quick — and may see a busy machine
    miss a pong and reconnect once more: the counts below allow for it, and apps.connections.open's Tier 1 limit is
    off so that such a reconnection is not made to wait a minute)."""

    def quick_pings(data: dict[str, Any]) -> None:
        data["slack"]["socket_ping_seconds"] = 0.5

    h = await start_in_mode(db_url, "socket", tweak=quick_pings if abrupt else None, rate_limits=not abrupt)
    try:
        await dropped_before_the_ack(h, abrupt)
    finally:
        await stop_in_mode(h)


async def dropped_before_the_ack(h: Harness, abrupt: bool) -> None:
    incident, channel, request_id = await open_room(h)
    hub(h).inject("drop_before_ack", abrupt=abrupt)
    answer = await h.slack.command("note the primary failed over", channel=channel)
    assert answer.status_code == 200  # acked, by the redelivery (which found it applied: nothing to say)
    (envelope,) = [e for e in hub(h).envelopes.values() if e.payload.get("text") == "note the primary failed over"]
    assert attempts(h, envelope.envelope_id)[:2] == [(0, ""), (1, "connection_lost")]
    assert envelope.ack is not None and envelope.ack.retry_attempt >= 1 and hub(h).lost_acks
    assert hub(h).opened >= 2 and len(hub(h).live()) == 1
    assert await notes(h, incident) == ["the primary failed over"]
    await settle(h)
    assert [n["text"] for n in h.world.xurrent.notes(request_id)].count("the primary failed over") == 1
    # and the new connection carries on
    assert "Note added" in (await h.slack.command("note and is healthy", channel=channel)).text


@pytest.mark.one_db(
    "a delivery the emulator held back: the applied-once paths keep PostgreSQL in the tests around it",
)
async def test_a_connection_dropped_before_the_envelope_left_delivers_it_after_reconnecting(
    socket_harness: Harness,
) -> None:
    h = socket_harness
    incident, channel, _ = await open_room(h)
    hub(h).inject("drop_before_delivery")
    answer = await h.slack.command("ack", channel=channel)
    assert f"INC-{incident} acknowledged" in answer.text  # applied by the redelivery, which answers
    (envelope,) = [e for e in hub(h).envelopes.values() if e.payload.get("text") == "ack"]
    assert [a for a, _ in attempts(h, envelope.envelope_id)] == [1]  # never left the first time
    async with h.runtime.store.read() as tx:
        kinds = [e.kind for e in await tx.timeline.for_incident(incident)]
    assert kinds.count("status_changed") == 1 and hub(h).opened == 2


async def test_an_envelope_sent_twice_is_applied_once(socket_harness: Harness) -> None:
    """Slack delivers at least once: the same envelope twice (a command, a click, a message) is taken in once."""
    h = socket_harness
    incident, channel, request_id = await open_room(h)
    ben = h.world.slack.add_user("ben@example.com", "Ben Backend")
    hub(h).inject("duplicate", times=3)
    await h.slack.command("note seen twice", user=ben, channel=channel)
    await h.slack.click(blocks.ACK, str(incident), user=ben, channel=channel)
    said = {"type": "message", "channel": channel, "user": ben, "text": "db is back", "ts": "1700000200.000100"}
    await h.slack.event(said)
    await hub(h).wait_for(lambda: len(hub(h).acks) >= 2 * len(hub(h).envelopes))  # both copies answered
    for envelope in hub(h).envelopes.values():
        assert [a for a, _ in attempts(h, envelope.envelope_id)] == [0, 0]
        assert sorted(a.late for a in hub(h).acks if a.envelope_id == envelope.envelope_id) == [False, True]
    async with h.runtime.store.read() as tx:
        timeline = await tx.timeline.for_incident(incident)
    assert [e.text for e in timeline if e.kind == "note"] == ["seen twice"]
    assert [e.kind for e in timeline].count("status_changed") == 1
    assert [e.text for e in timeline if e.kind == "discussion"] == ["db is back"]
    await settle(h)
    assert [n["text"] for n in h.world.xurrent.notes(request_id)].count("seen twice") == 1
    assert h.world.xurrent.requests[request_id]["status"] == "accepted"


async def test_an_envelope_whose_ack_never_came_is_sent_again_after_the_timeout(socket_harness: Harness) -> None:
    h = socket_harness
    incident, channel, _ = await open_room(h)
    hub(h).ack_timeout = 0.2  # Slack waits 3 s; the lost ack makes the wait certain, its length does not matter
    hub(h).inject("lose_ack")
    clicked = await h.slack.click(blocks.ACK, str(incident), channel=channel)
    assert clicked.status_code == 200
    (envelope,) = hub(h).envelopes.values()
    sent = attempts(h, envelope.envelope_id)
    assert sent[:2] == [(0, ""), (1, "timeout")] and {r for _, r in sent[1:]} == {"timeout"}
    assert hub(h).opened == 1  # the same connection
    async with h.runtime.store.read() as tx:
        kinds = [e.kind for e in await tx.timeline.for_incident(incident)]
    assert kinds.count("status_changed") == 1


async def test_a_refresh_request_reconnects_and_nothing_is_lost(socket_harness: Harness) -> None:
    """Slack rotates connections: ``disconnect`` (refresh_requested) → warroom asks apps.connections.open for a new
    one and moves over; envelopes sent meanwhile wait for it, and each is applied once."""
    h = socket_harness
    incident, channel, request_id = await open_room(h)
    first = hub(h).live()[0]
    await hub(h).refresh()
    answers = await asyncio.gather(*(h.slack.command(f"note during the refresh {i}", channel=channel)
                                     for i in range(5)))
    assert all("Note added" in a.text for a in answers)
    await hub(h).wait_for(lambda: first.closed and len(hub(h).live()) == 1)
    assert hub(h).opened == 2 and hub(h).live()[0] is not first
    assert not [d for d in hub(h).deliveries if d["connection"] == first.id]  # all went on the new connection
    assert sorted(await notes(h, incident)) == [f"during the refresh {i}" for i in range(5)]
    await settle(h)
    texts = [n["text"] for n in h.world.xurrent.notes(request_id)]
    assert all(texts.count(f"during the refresh {i}") == 1 for i in range(5))


@pytest.mark.one_db(
    "the ack's response payload over the socket; the form's declare keeps PostgreSQL in test_slack_response",
)
async def test_the_declare_form_works_over_socket_mode(socket_harness: Harness) -> None:
    """views.open with the command's trigger, and the submission's errors travel back in the ack's payload."""
    h = socket_harness
    await h.slack.command("declare payments")
    (view,) = [v["view"] for v in h.world.slack.views.values()]
    bad = await h.slack.submit(view["callback_id"], {"service": {"selected_option": {"value": "payments"}},
                                                     "priority": {"selected_option": {"value": "P1"}},
                                                     "title": {"value": ""}})
    assert bad.json()["response_action"] == "errors"
    (envelope,) = [e for e in hub(h).envelopes.values() if e.type == "interactive"]
    assert envelope.accepts_response_payload and envelope.ack is not None
    assert envelope.ack.payload == bad.json()


async def test_slack_out_of_reach_at_start_does_not_stop_warroom(sqlite_url: str) -> None:
    world = await World.start()
    world.slack.faults.append(Fault("apps.connections.open", kind="reset"))
    h = await start_in_mode(sqlite_url, "socket", world=world)
    try:
        assert hub(h).opened == 1 and len(h.world.slack.calls_to("apps.connections.open")) >= 2
        assert (await h.slack.command("status")).status_code == 200
    finally:
        await stop_in_mode(h)


@pytest.mark.parametrize(("token", "error"), [
    ("xapp-1-A0WARROOM-1-wrong", "invalid_auth"),
    ("xoxb-sandbox-token", "not_allowed_token_type"),
])
async def test_a_refused_app_token_stops_the_start_with_what_to_fix(sqlite_url: str, token: str, error: str) -> None:
    world = await World.start()
    data = world.settings_data(sqlite_url, slack_mode="socket")
    data["slack"]["app_token"] = token
    app = create_app(Settings(**data))
    try:
        with pytest.raises(SocketModeRefused) as refused:
            await web.AppRunner(app).setup()
        assert f"({error}:" in str(refused.value) and "connections:write" in str(refused.value)
        assert world.slack.socket.opened == 0
    finally:
        # what started before the refusal (the workers, the store) stops; as `warroom serve` exits
        app.freeze()
        await app.shutdown()
        await app.cleanup()
        await world.stop()


async def test_warroom_shutting_down_closes_the_connection(sqlite_url: str) -> None:
    h = await start_in_mode(sqlite_url, "socket")
    world = h.world
    await h.stop(world=False)
    try:
        await world.slack.socket.wait_for(lambda: not world.slack.socket.live())
        assert world.slack.socket.unacked() == []
    finally:
        await world.stop()
