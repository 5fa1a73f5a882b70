"""The Zoom and Webex bridge adapters over real HTTP against the emulators: create, adopt after a crash, tokens,
rate limits, failures, and that no host-only link or key ever reaches a Meeting."""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any

import pytest
from pydantic import SecretStr

from warroom.adapters.errors import NotFound, Permanent, RateLimited, Transient
from warroom.adapters.ports import BridgePort, Meeting
from warroom.adapters.webex import BRIDGE_HOURS, WebexBridge
from warroom.adapters.zoom import ZoomBridge
from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.webex import WebexEmulator
from warroom.sandbox.zoom import ZoomEmulator
from warroom.settings import WebexSettings, ZoomSettings

ZOOM_SECRET = "zoom-test-secret"
WEBEX_TOKEN = "webex-test-token"
ZOOM_CREATE = "POST /users/{userId}/meetings"
ZOOM_LIST = "GET /users/{userId}/meetings"
TOPIC = "INC-42 Checkout error rate above 12%"


def everything(meeting: Meeting) -> str:
    return json.dumps(asdict(meeting))


# -- Zoom -------------------------------------------------------------------------------------------
@pytest.fixture
async def zoom_emu() -> AsyncIterator[ZoomEmulator]:
    emu = ZoomEmulator(EmulatorConfig(), client_secret=ZOOM_SECRET)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def zoom_bridge(zoom_emu: ZoomEmulator) -> AsyncIterator[Callable[..., ZoomBridge]]:
    made: list[ZoomBridge] = []

    def make(**overrides: Any) -> ZoomBridge:
        args: dict[str, Any] = {
            "api_url": f"{zoom_emu.base_url}/v2",
            "oauth_url": f"{zoom_emu.base_url}/oauth/token",
            "account_id": zoom_emu.account_id,
            "client_id": zoom_emu.client_id,
            "client_secret": ZOOM_SECRET,
            "max_retries": 2,
            **overrides,
        }
        bridge = ZoomBridge(**args)
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        await bridge.aclose()


async def test_zoom_creates_a_scheduled_bridge_anyone_can_join_at_once(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    bridge = zoom_bridge()
    port: BridgePort = bridge
    meeting = await port.create_meeting(TOPIC, agenda="Major incident bridge for INC-42 (checkout-api)")
    record = zoom_emu.meetings[int(meeting.id)]
    assert meeting.provider == "zoom" and meeting.topic == TOPIC and meeting.join_url == record["join_url"]
    assert record["type"] == 2 and record["agenda"] == "Major incident bridge for INC-42 (checkout-api)"
    assert record["settings"]["join_before_host"] is True and record["settings"]["waiting_room"] is False
    assert abs(time.time() - calendar.timegm(time.strptime(record["start_time"], "%Y-%m-%dT%H:%M:%SZ"))) < 120
    assert meeting.extra["meeting_number"] == meeting.id
    assert meeting.extra["passcode"] == record["password"]
    assert meeting.extra["phone_passcode"] == record["pstn_password"]
    assert [d["number"] for d in meeting.extra["dial_in"]] == [n["number"] for n in record["settings"]["global_dial_in_numbers"]]


async def test_zoom_meeting_and_extra_never_carry_the_host_link(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    bridge = zoom_bridge()
    created = await bridge.create_meeting(TOPIC)
    found = await zoom_bridge().find_meeting(TOPIC)
    assert found is not None
    record = zoom_emu.meetings[int(created.id)]
    zak = record["start_url"].split("zak=")[1]
    for meeting in (created, found):
        text = everything(meeting)
        assert record["start_url"] not in text and zak not in text and "/s/" not in text
        assert "start_url" not in text and "zak" not in text
        assert record["host_email"] not in text and record["host_id"] not in text


async def test_zoom_a_fresh_adapter_finds_the_bridge_after_a_crash(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    zoom_emu.max_page_size = 2  # so that finding it walks several pages
    first = zoom_bridge()
    for i in range(4):
        await first.create_meeting(f"INC-{i} something else")
    created = await first.create_meeting(TOPIC)
    await first.aclose()  # the process dies

    again = zoom_bridge()
    found = await again.find_meeting(TOPIC)
    assert found == created
    assert len(zoom_emu.calls_to(ZOOM_LIST)) == 3
    assert await again.find_meeting("INC-99 never created") is None
    assert len(zoom_emu.meetings) == 5


async def test_zoom_topics_are_cut_to_200_characters_and_found_by_the_cut(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    long = "INC-7 " + "very long title " * 20
    meeting = await zoom_bridge().create_meeting(long)
    assert meeting.topic == long[:200] == zoom_emu.meetings[int(meeting.id)]["topic"]
    assert await zoom_bridge().find_meeting(long) == meeting


async def test_zoom_lost_answer_to_create_is_looked_up_not_created_twice(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    zoom_emu.inject(ZOOM_CREATE, "after", status=504)  # created, but the answer is lost
    meeting = await zoom_bridge().create_meeting(TOPIC)
    assert list(zoom_emu.meetings) == [int(meeting.id)]
    assert len(zoom_emu.calls_to(ZOOM_CREATE)) == 1


async def test_zoom_token_is_reused_then_fetched_again_on_401(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    bridge = zoom_bridge()
    await bridge.create_meeting("INC-1 a")
    await bridge.create_meeting("INC-2 b")
    assert await bridge.find_meeting("INC-1 a") is not None
    assert bridge.token_fetches == 1 and len(zoom_emu.calls_to("POST /oauth/token")) == 1

    zoom_emu.expire_tokens()  # Zoom says the token is no good before our clock does
    await bridge.create_meeting("INC-3 c")
    assert bridge.token_fetches == 2
    statuses = [c.status for c in zoom_emu.calls_to(ZOOM_CREATE)]
    assert statuses == [201, 201, 401, 201]


async def test_zoom_token_is_renewed_shortly_before_it_expires(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    now = [0.0]
    bridge = zoom_bridge(clock=lambda: now[0])
    await bridge.create_meeting("INC-1 a")
    now[0] = 3000.0
    await bridge.find_meeting("INC-1 a")
    assert bridge.token_fetches == 1
    now[0] = 3550.0  # within the last minute of the hour: fetched again before Zoom would refuse it
    await bridge.find_meeting("INC-1 a")
    assert bridge.token_fetches == 2
    assert all(c.status != 401 for c in zoom_emu.calls)


async def test_zoom_bad_credentials_are_permanent_and_say_what_to_fix(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    with pytest.raises(Permanent) as refused:
        await zoom_bridge(client_secret="wrong").create_meeting(TOPIC)
    assert "Invalid client_id or client_secret" in refused.value.reason
    assert "WARROOM_ZOOM__CLIENT_SECRET" in refused.value.reason and ZOOM_SECRET not in str(refused.value)
    with pytest.raises(Permanent) as account:
        await zoom_bridge(account_id="not-ours").find_meeting(TOPIC)
    assert "Account does not exist" in account.value.reason and "zoom.account_id" in account.value.reason
    assert zoom_emu.meetings == {}


async def test_zoom_unknown_host_user_is_permanent(zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]) -> None:
    with pytest.raises(Permanent) as refused:
        await zoom_bridge(host_user="nobody@example.com").create_meeting(TOPIC)
    assert "zoom.host_user" in refused.value.reason and not isinstance(refused.value, NotFound)
    named = await zoom_bridge(host_user="owner@example.com").create_meeting(TOPIC)
    assert zoom_emu.meetings[int(named.id)]["host_email"] == "owner@example.com"


async def test_zoom_short_429_is_waited_out(zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]) -> None:
    zoom_emu.inject(ZOOM_CREATE, "ratelimit", retry_after=1)
    meeting = await zoom_bridge().create_meeting(TOPIC)
    assert [c.status for c in zoom_emu.calls_to(ZOOM_CREATE)] == [429, 201]
    assert list(zoom_emu.meetings) == [int(meeting.id)]


async def test_zoom_long_429_is_rate_limited(zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]) -> None:
    zoom_emu.inject(ZOOM_CREATE, "ratelimit", retry_after=120)
    with pytest.raises(RateLimited) as limited:
        await zoom_bridge().create_meeting(TOPIC)
    assert limited.value.retry_after == 120
    assert zoom_emu.meetings == {} and len(zoom_emu.calls_to(ZOOM_CREATE)) == 1


async def test_zoom_daily_create_limit_is_rate_limited_until_midnight_utc(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    zoom_emu.daily_create_limit = 1
    bridge = zoom_bridge()
    await bridge.create_meeting("INC-1 a")
    with pytest.raises(RateLimited) as limited:
        await bridge.create_meeting("INC-2 b")
    seconds_to_midnight = 86400 - time.time() % 86400
    assert abs(limited.value.retry_after - seconds_to_midnight) < 5
    assert "daily limit" in limited.value.reason and "00:00 UTC" in limited.value.reason
    assert len(zoom_emu.meetings) == 1


async def test_zoom_5xx_is_transient_after_retries_with_a_lookup_before_each(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    zoom_emu.inject(ZOOM_CREATE, "status", status=503, times=10)
    with pytest.raises(Transient) as failed:
        await zoom_bridge(max_retries=2).create_meeting(TOPIC)
    assert not isinstance(failed.value, RateLimited)
    assert len(zoom_emu.calls_to(ZOOM_CREATE)) == 3
    assert len(zoom_emu.calls_to(ZOOM_LIST)) == 3  # looked for the meeting after every failed POST
    assert zoom_emu.meetings == {}

    zoom_emu.faults.clear()
    zoom_emu.inject(ZOOM_LIST, "status", status=502, times=10)
    with pytest.raises(Transient):
        await zoom_bridge(max_retries=1).find_meeting(TOPIC)
    assert len(zoom_emu.calls_to(ZOOM_LIST)) == 3 + 2


async def test_zoom_400_is_permanent_with_zoom_field_messages(
    zoom_emu: ZoomEmulator, zoom_bridge: Callable[..., ZoomBridge]
) -> None:
    body = {"code": 300, "message": "Validation Failed.", "errors": [{"field": "settings.audio", "message": "Invalid field."}]}
    zoom_emu.inject(ZOOM_CREATE, "status", status=400, body=body)
    with pytest.raises(Permanent) as refused:
        await zoom_bridge().create_meeting(TOPIC)
    assert "settings.audio: Invalid field." in refused.value.reason
    assert len(zoom_emu.calls_to(ZOOM_CREATE)) == 1


async def test_zoom_from_settings(zoom_emu: ZoomEmulator) -> None:
    settings = ZoomSettings(
        api_url=f"{zoom_emu.base_url}/v2",
        oauth_url=f"{zoom_emu.base_url}/oauth/token",
        account_id=zoom_emu.account_id,
        client_id=zoom_emu.client_id,
        client_secret=SecretStr(ZOOM_SECRET),
        host_user="owner@example.com",
    )
    bridge = ZoomBridge.from_settings(settings)
    try:
        assert bridge.provider == "zoom"
        meeting = await bridge.create_meeting(TOPIC)
        assert int(meeting.id) in zoom_emu.meetings
    finally:
        await bridge.aclose()


# -- Webex ------------------------------------------------------------------------------------------
@pytest.fixture
async def webex_emu() -> AsyncIterator[WebexEmulator]:
    emu = WebexEmulator(EmulatorConfig(), token=WEBEX_TOKEN)
    emu.per_second_limit = 1000  # the tests about limits lower it
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def webex_bridge(webex_emu: WebexEmulator) -> AsyncIterator[Callable[..., WebexBridge]]:
    made: list[WebexBridge] = []

    def make(**overrides: Any) -> WebexBridge:
        args: dict[str, Any] = {"api_url": f"{webex_emu.base_url}/v1", "token": WEBEX_TOKEN, "max_retries": 2, **overrides}
        bridge = WebexBridge(**args)
        made.append(bridge)
        return bridge

    yield make
    for bridge in made:
        await bridge.aclose()


async def test_webex_creates_a_meeting_starting_now_that_anyone_can_join(
    webex_emu: WebexEmulator, webex_bridge: Callable[..., WebexBridge]
) -> None:
    before = time.time()
    meeting = await webex_bridge().create_meeting(TOPIC, agenda="Major incident bridge for INC-42 (payments)")
    record = webex_emu.meetings[meeting.id]
    assert meeting.provider == "webex" and meeting.topic == TOPIC and meeting.join_url == record["webLink"]
    assert before - 60 < record["start"] <= before + 120
    assert record["end"] - record["start"] == BRIDGE_HOURS * 3600
    assert record["enabledJoinBeforeHost"] is True and record["joinBeforeHostMinutes"] == 15
    assert record["unlockedMeetingJoinSecurity"] == "allowJoin" and record["agenda"].startswith("Major incident")
    assert meeting.extra["meeting_number"] == record["meetingNumber"]
    assert meeting.extra["sip_address"] == record["sipAddress"]
    assert meeting.extra["access_code"] == record["telephony"]["accessCode"]
    assert [d["number"] for d in meeting.extra["dial_in"]] == [n["callInNumber"] for n in record["telephony"]["callInNumbers"]]


async def test_webex_meeting_and_extra_never_carry_the_host_key(
    webex_emu: WebexEmulator, webex_bridge: Callable[..., WebexBridge]
) -> None:
    created = await webex_bridge().create_meeting(TOPIC)
    found = await webex_bridge().find_meeting(TOPIC)
    assert found is not None
    host_key = webex_emu.meetings[created.id]["hostKey"]
    for meeting in (created, found):
        text = everything(meeting)
        assert host_key not in text and "hostKey" not in text and "host_key" not in text
        assert webex_emu.host["email"] not in text and webex_emu.host["id"] not in text


async def test_webex_a_fresh_adapter_finds_the_bridge_after_a_crash(
    webex_emu: WebexEmulator, webex_bridge: Callable[..., WebexBridge]
) -> None:
    webex_emu.max_page_size = 2  # so that finding it walks several pages
    first = webex_bridge()
    for i in range(4):
        await first.create_meeting(f"INC-{i} something else")
    long = "INC-42 " + "a very long incident title " * 8
    created = await first.create_meeting(long)
    assert created.topic == long[:128]
    await first.aclose()  # the process dies

    again = webex_bridge()
    assert await again.find_meeting(long) == created
    assert len(webex_emu.calls_to("GET /meetings")) == 3
    assert await again.find_meeting("INC-99 never created") is None


async def test_webex_lost_answer_to_create_is_looked_up_not_created_twice(
    webex_emu: WebexEmulator, webex_bridge: Callable[..., WebexBridge]
) -> None:
    webex_emu.inject("POST /meetings", "after", status=502)
    meeting = await webex_bridge().create_meeting(TOPIC)
    assert list(webex_emu.meetings) == [meeting.id]
    assert len(webex_emu.calls_to("POST /meetings")) == 1


async def test_webex_bad_token_is_permanent_and_says_what_to_fix(
    webex_emu: WebexEmulator, webex_bridge: Callable[..., WebexBridge]
) -> None:
    with pytest.raises(Permanent) as refused:
        await webex_bridge(token="expired-token").create_meeting(TOPIC)
    assert "WARROOM_WEBEX__TOKEN" in refused.value.reason and "expired-token" not in str(refused.value)
    assert webex_emu.meetings == {}


async def test_webex_short_429_is_waited_out_and_long_one_is_rate_limited(
    webex_emu: WebexEmulator, webex_bridge: Callable[..., WebexBridge]
) -> None:
    webex_emu.inject("POST /meetings", "ratelimit", retry_after=1)
    meeting = await webex_bridge().create_meeting(TOPIC)
    assert [c.status for c in webex_emu.calls_to("POST /meetings")] == [429, 200]
    assert list(webex_emu.meetings) == [meeting.id]

    webex_emu.inject("GET /meetings", "ratelimit", retry_after=600)
    with pytest.raises(RateLimited) as limited:
        await webex_bridge().find_meeting(TOPIC)
    assert limited.value.retry_after == 600


async def test_webex_daily_limit_is_rate_limited(webex_emu: WebexEmulator, webex_bridge: Callable[..., WebexBridge]) -> None:
    webex_emu.daily_limit = 2
    bridge = webex_bridge()
    await bridge.create_meeting("INC-1 a")
    await bridge.create_meeting("INC-2 b")
    with pytest.raises(RateLimited) as limited:
        await bridge.create_meeting("INC-3 c")
    assert limited.value.retry_after > 80000
    assert len(webex_emu.meetings) == 2


async def test_webex_5xx_is_transient_after_retries_and_400_permanent(
    webex_emu: WebexEmulator, webex_bridge: Callable[..., WebexBridge]
) -> None:
    webex_emu.inject("POST /meetings", "status", status=500, times=10)
    with pytest.raises(Transient) as failed:
        await webex_bridge(max_retries=2).create_meeting(TOPIC)
    assert not isinstance(failed.value, RateLimited)
    assert len(webex_emu.calls_to("POST /meetings")) == 3 and webex_emu.meetings == {}

    webex_emu.faults.clear()
    refusal = {"message": "The request could not be understood.", "errors": [{"description": "password does not conform"}],
               "trackingId": "ROUTER_TEST-1"}
    webex_emu.inject("POST /meetings", "status", status=400, body=refusal)
    with pytest.raises(Permanent) as refused:
        await webex_bridge().create_meeting(TOPIC)
    assert "password does not conform" in refused.value.reason and "ROUTER_TEST-1" in refused.value.reason
    assert len(webex_emu.calls_to("POST /meetings")) == 4


async def test_webex_from_settings(webex_emu: WebexEmulator) -> None:
    bridge = WebexBridge.from_settings(WebexSettings(api_url=f"{webex_emu.base_url}/v1", token=SecretStr(WEBEX_TOKEN)))
    try:
        assert bridge.provider == "webex"
        meeting = await bridge.create_meeting(TOPIC)
        assert meeting.id in webex_emu.meetings
    finally:
        await bridge.aclose()
