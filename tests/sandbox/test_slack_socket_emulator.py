"""The Slack emulator's Socket Mode, driven as a client would: apps.connections.open through slack_sdk's
AsyncWebClient, the WebSocket through aiohttp (warroom's own side uses slack-bolt's handler: tests/e2e)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.slack import SlackEmulator
from warroom.sandbox.slack.socket import SocketModeHub

BOT_TOKEN = "xoxb-sandbox-token"
APP_TOKEN = "xapp-1-A0WARROOM-1-sandbox"


@pytest.fixture
async def emu() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(EmulatorConfig(rate_limits=False), app_token=APP_TOKEN)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def web(emu: SlackEmulator, token: str | None = BOT_TOKEN) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=f"{emu.base_url}/api/")


async def open_url(emu: SlackEmulator) -> str:
    return str((await web(emu).apps_connections_open(app_token=APP_TOKEN))["url"])


async def connect(emu: SlackEmulator, session: aiohttp.ClientSession) -> tuple[aiohttp.ClientWebSocketResponse, Any]:
    ws = await session.ws_connect(await open_url(emu))
    return ws, await ws.receive_json(timeout=5)


async def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        await call
    return dict(info.value.response.data)  # type: ignore[arg-type]


async def next_frame(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    return dict(await ws.receive_json(timeout=5))


# -- apps.connections.open ----------------------------------------------------------------------------------
async def test_apps_connections_open_takes_only_the_app_level_token(emu: SlackEmulator) -> None:
    assert (await error_of(web(emu, None).apps_connections_open(app_token="")))["error"] == "not_authed"
    assert (await error_of(web(emu).apps_connections_open(app_token="xapp-1-wrong")))["error"] == "invalid_auth"
    assert (await error_of(web(emu).apps_connections_open(app_token=BOT_TOKEN)))["error"] == "not_allowed_token_type"
    emu.socket.app_token_scopes = {"authorizations:read"}
    missing = await error_of(web(emu).apps_connections_open(app_token=APP_TOKEN))
    assert (missing["error"], missing["needed"]) == ("missing_scope", "connections:write")
    emu.socket.app_token_scopes = {"connections:write"}
    url = await open_url(emu)
    assert url.startswith(f"ws://127.0.0.1:{emu.port}/link/?ticket=") and "app_id=A0WARROOM" in url
    async with aiohttp.ClientSession() as http, http.get(f"{emu.base_url}/api/apps.connections.open",
                                                        headers={"Authorization": f"Bearer {APP_TOKEN}"}) as got:
        assert (await got.json())["error"] == "insecure_request"
    # and the app-level token is no good for the Web API
    assert (await error_of(web(emu, APP_TOKEN).auth_test()))["error"] == "not_allowed_token_type"


async def test_a_ticket_opens_one_connection(emu: SlackEmulator, session: aiohttp.ClientSession) -> None:
    url = await open_url(emu)
    ws = await session.ws_connect(url)
    hello = await next_frame(ws)
    assert hello["type"] == "hello" and hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": "A0WARROOM"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(url)  # used
    assert refused.value.status == 401
    second, hello = await connect(emu, session)
    assert hello["num_connections"] == 2 and emu.socket.opened == 2
    await ws.close()
    await second.close()


# -- envelopes and acks --------------------------------------------------------------------------------------
async def test_an_envelope_is_delivered_and_its_ack_recorded(emu: SlackEmulator,
                                                            session: aiohttp.ClientSession) -> None:
    ws, _ = await connect(emu, session)
    envelope = await emu.socket.send("slash_commands", {"command": "/incident", "text": "status"})
    frame = await next_frame(ws)
    assert frame == {"envelope_id": envelope.envelope_id, "type": "slash_commands",
                     "payload": {"command": "/incident", "text": "status"}, "accepts_response_payload": True,
                     "retry_attempt": 0, "retry_reason": ""}
    await ws.send_json({"envelope_id": envelope.envelope_id, "payload": {"text": "all quiet"}})
    ack = await asyncio.wait_for(envelope.done, 5)
    assert ack is not None and ack.payload == {"text": "all quiet"} and emu.socket.unacked() == []
    # an ack for something never sent is kept apart
    await ws.send_json({"envelope_id": "nope"})
    await ws.send_str("not json")
    clicked = await emu.socket.send("interactive", {"type": "block_actions"})
    assert not clicked.accepts_response_payload and (await next_frame(ws))["type"] == "interactive"
    await ws.send_json({"envelope_id": clicked.envelope_id})
    assert (await asyncio.wait_for(clicked.done, 5)).payload is None  # type: ignore[union-attr]
    assert emu.socket.stray == [{"envelope_id": "nope"}, "not json"]
    await ws.close()


async def test_an_envelope_not_acked_in_time_is_sent_again_then_given_up(emu: SlackEmulator,
                                                                         session: aiohttp.ClientSession) -> None:
    emu.socket.ack_timeout = 0.05
    emu.socket.max_retries = 2
    ws, _ = await connect(emu, session)
    envelope = await emu.socket.send("events_api", {"type": "event_callback", "event_id": "Ev1"})
    frames = [await next_frame(ws) for _ in range(3)]
    assert [(f["retry_attempt"], f["retry_reason"]) for f in frames] == [(0, ""), (1, "timeout"), (2, "timeout")]
    assert {f["envelope_id"] for f in frames} == {envelope.envelope_id}
    assert await asyncio.wait_for(envelope.done, 5) is None and envelope.given_up
    assert emu.socket.unacked() == [envelope]
    await ws.close()


async def test_envelopes_wait_for_a_connection_and_survive_a_dropped_one(emu: SlackEmulator,
                                                                         session: aiohttp.ClientSession) -> None:
    waiting = await emu.socket.send("events_api", {"event_id": "Ev1"})
    ws, _ = await connect(emu, session)
    assert (await next_frame(ws))["envelope_id"] == waiting.envelope_id  # delivered at hello
    await emu.socket.drop(abrupt=True)  # the network goes: no ack can come on that connection
    again, _ = await connect(emu, session)
    frame = await next_frame(again)
    assert (frame["envelope_id"], frame["retry_attempt"], frame["retry_reason"]) == (
        waiting.envelope_id, 1, "connection_lost")
    await again.send_json({"envelope_id": waiting.envelope_id})
    assert (await asyncio.wait_for(waiting.done, 5)) is not None
    await again.close()
    await ws.close()


async def test_an_ack_may_come_on_another_connection_of_the_app(emu: SlackEmulator,
                                                                session: aiohttp.ClientSession) -> None:
    first, _ = await connect(emu, session)
    second, _ = await connect(emu, session)
    sent = [await emu.socket.send("events_api", {"event_id": f"Ev{i}"}) for i in range(2)]
    by_connection = [await next_frame(first), await next_frame(second)]  # spread over both
    assert {f["envelope_id"] for f in by_connection} == {e.envelope_id for e in sent}
    for frame in by_connection:
        await first.send_json({"envelope_id": frame["envelope_id"]})
    for envelope in sent:
        assert await asyncio.wait_for(envelope.done, 5) is not None
    await first.close()
    await second.close()


async def test_a_refresh_asks_the_app_to_reconnect_and_closes_the_old_connection(
    emu: SlackEmulator, session: aiohttp.ClientSession,
) -> None:
    old, _ = await connect(emu, session)
    await emu.socket.refresh()
    assert await next_frame(old) == {"type": "disconnect", "reason": "refresh_requested",
                                     "debug_info": {"host": "applink-sandbox"}}
    held = await emu.socket.send("events_api", {"event_id": "Ev1"})  # not on the connection being retired
    new, hello = await connect(emu, session)
    assert hello["num_connections"] == 2
    assert (await next_frame(new))["envelope_id"] == held.envelope_id
    closing = await old.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await new.close()


async def test_faults_lose_acks_and_duplicate_envelopes(emu: SlackEmulator, session: aiohttp.ClientSession) -> None:
    hub: SocketModeHub = emu.socket
    hub.ack_timeout = 0.05
    hub.max_retries = 1000  # redelivered until acked, however slow this test runs
    ws, _ = await connect(emu, session)
    hub.inject("duplicate")
    twice = await hub.send("events_api", {"event_id": "Ev1"})
    assert (await next_frame(ws))["envelope_id"] == (await next_frame(ws))["envelope_id"] == twice.envelope_id
    hub.inject("lose_ack")
    await ws.send_json({"envelope_id": twice.envelope_id})  # lost
    assert (await next_frame(ws))["retry_reason"] == "timeout"
    await ws.send_json({"envelope_id": twice.envelope_id})
    assert (await asyncio.wait_for(twice.done, 5)) is not None and hub.lost_acks[0]["fault"] == "lose_ack"
    with pytest.raises(ValueError, match="unknown Socket Mode fault"):
        hub.inject("explode")
    await ws.close()


async def test_at_most_ten_connections(emu: SlackEmulator, session: aiohttp.ClientSession) -> None:
    open_ = [(await connect(emu, session))[0] for _ in range(10)]
    extra, frame = await connect(emu, session)
    assert frame == {"type": "disconnect", "reason": "too_many_websockets"}
    assert (await extra.receive(timeout=5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    for ws in open_:
        await ws.close()
    assert json.dumps(emu.socket.state())
