"""The Slack emulator, driven over real HTTP by slack_sdk's AsyncWebClient (the client warroom uses)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.slack import SlackEmulator

TOKEN = "xoxb-sandbox-token"
BOT = "U0WARROOM"


@pytest.fixture
async def emu() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(EmulatorConfig(rate_limits=False))
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
def client(emu: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=f"{emu.base_url}/api/")


async def slack_error(call: Awaitable[Any]) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


async def error_code(call: Awaitable[Any]) -> str:
    return str((await slack_error(call)).response["error"])


async def new_channel(client: AsyncWebClient, name: str, **kwargs: Any) -> str:
    return str((await client.conversations_create(name=name, **kwargs))["channel"]["id"])


# -- auth ---------------------------------------------------------------------------------------------------
async def test_tokens_are_checked(emu: SlackEmulator, client: AsyncWebClient) -> None:
    assert await error_code(AsyncWebClient(base_url=f"{emu.base_url}/api/").auth_test()) == "not_authed"
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=f"{emu.base_url}/api/")
    error = await slack_error(wrong.auth_test())
    assert error.response.status_code == 200 and error.response["error"] == "invalid_auth"

    me = await client.auth_test()
    assert (me["user_id"], me["team_id"], me["bot_id"]) == (BOT, "T0SANDBOX", "B0WARROOM")
    # a token sent as a form argument works too
    by_form = await AsyncWebClient(base_url=f"{emu.base_url}/api/").api_call("auth.test", data={"token": TOKEN})
    assert by_form["user_id"] == BOT


# -- channels -------------------------------------------------------------------------------------------------
async def test_create_channel_records_creator_and_enforces_name_rules(emu: SlackEmulator, client: AsyncWebClient) -> None:
    created = (await client.conversations_create(name="inc-1-checkout", is_private=True))["channel"]
    assert created["name"] == "inc-1-checkout" and created["is_private"] is True
    assert created["creator"] == BOT and created["created"] > 0
    assert emu.channel_by_name("inc-1-checkout")["members"] == [BOT]

    assert await error_code(client.conversations_create(name="Has Caps")) == "invalid_name_specials"
    assert await error_code(client.conversations_create(name="dots.not.allowed")) == "invalid_name_specials"
    assert await error_code(client.conversations_create(name="x" * 81)) == "invalid_name_maxlength"
    assert await error_code(client.conversations_create(name="")) == "invalid_name_required"
    assert await error_code(client.conversations_create(name="inc-1-checkout")) == "name_taken"
    assert (await client.conversations_create(name="a" * 80))["ok"]


async def test_list_pages_with_cursors_and_filters(emu: SlackEmulator, client: AsyncWebClient) -> None:
    names = [f"room-{i}" for i in range(5)]
    for name in names:
        await new_channel(client, name)
    await new_channel(client, "secret", is_private=True)
    emu.add_channel("not-mine-private", creator="U0OTHER", is_private=True)  # the bot cannot see it
    archived = await new_channel(client, "old-room")
    await client.conversations_archive(channel=archived)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await client.conversations_list(limit=2, cursor=cursor)
        pages += 1
        seen += [c["name"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == [*names, "old-room"] and pages == 3

    both = await client.conversations_list(types="public_channel,private_channel", exclude_archived=True)
    assert [c["name"] for c in both["channels"]] == [*names, "secret"]
    assert await error_code(client.conversations_list(cursor="not-a-cursor")) == "invalid_cursor"


async def test_info_members_topic_purpose_archive(emu: SlackEmulator, client: AsyncWebClient) -> None:
    channel = await new_channel(client, "inc-2")
    ids = [emu.add_user(f"p{i}@example.com", f"Person{i} Example") for i in range(3)]
    await client.conversations_invite(channel=channel, users=ids)
    members = await client.conversations_members(channel=channel, limit=2)
    rest = await client.conversations_members(channel=channel, cursor=members["response_metadata"]["next_cursor"])
    assert members["members"] + rest["members"] == [BOT, *ids] and rest["response_metadata"]["next_cursor"] == ""

    topic = await client.conversations_setTopic(channel=channel, topic="INC-2 · P1 · triggered")
    assert topic["channel"]["topic"]["value"] == "INC-2 · P1 · triggered"
    await client.conversations_setPurpose(channel=channel, purpose="War room for INC-2")
    info = (await client.conversations_info(channel=channel, include_num_members=True))["channel"]
    assert info["purpose"]["value"] == "War room for INC-2" and info["num_members"] == 4
    assert await error_code(client.conversations_setTopic(channel=channel, topic="x" * 251)) == "too_long"

    await client.conversations_archive(channel=channel)
    assert emu.channels[channel]["is_archived"] is True
    assert await error_code(client.conversations_archive(channel=channel)) == "already_archived"
    assert await error_code(client.chat_postMessage(channel=channel, text="hello")) == "is_archived"
    assert await error_code(client.conversations_info(channel="C_NOPE")) == "channel_not_found"


async def test_invite_errors(emu: SlackEmulator, client: AsyncWebClient) -> None:
    channel = await new_channel(client, "inc-3")
    ana = emu.add_user("ana@example.com", "Ana Ops")
    ben = emu.add_user("ben@example.com", "Ben Backend")
    assert ana == "U0ANA"

    await client.conversations_invite(channel=channel, users=[ana])
    assert await error_code(client.conversations_invite(channel=channel, users=[ana])) == "already_in_channel"
    # one member already there, one new: fine
    await client.conversations_invite(channel=channel, users=[ana, ben])
    assert emu.channels[channel]["members"] == [BOT, ana, ben]

    carl = emu.add_user("carl@example.com", "Carl")
    error = await slack_error(client.conversations_invite(channel=channel, users=[carl, "U0GHOST"]))
    assert error.response["error"] == "user_not_found"
    assert error.response["errors"] == [{"user": "U0GHOST", "ok": False, "error": "user_not_found"}]
    assert carl not in emu.channels[channel]["members"]  # all or nothing
    assert await error_code(client.conversations_invite(channel=channel, users=[carl, "U0GHOST"], force=True)) == (
        "user_not_found"
    )
    assert carl in emu.channels[channel]["members"]  # force invites the valid ones

    many = ",".join(f"U{i:08d}" for i in range(1001))
    assert await error_code(client.conversations_invite(channel=channel, users=many)) == "too_many_users"
    assert await error_code(client.conversations_invite(channel="C_NOPE", users=[ana])) == "channel_not_found"


# -- messages -------------------------------------------------------------------------------------------------
async def test_post_message_validation_and_metadata(emu: SlackEmulator, client: AsyncWebClient) -> None:
    channel = await new_channel(client, "inc-4")
    with pytest.warns(UserWarning, match="text"):  # slack_sdk's own nudge to always send text
        assert await error_code(client.chat_postMessage(channel=channel)) == "no_text"
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    assert await error_code(client.chat_postMessage(channel=channel, text="x", blocks=blocks * 51)) == "invalid_blocks"
    assert await error_code(client.chat_postMessage(channel="C_NOPE", text="x")) == "channel_not_found"

    metadata = {"event_type": "warroom_incident_card", "event_payload": {"key": "INC-4"}}
    posted = await client.chat_postMessage(channel=channel, text="card", blocks=blocks, metadata=metadata)
    assert posted["channel"] == channel and posted["message"]["text"] == "card"
    assert posted["message"]["metadata"] == metadata and posted["message"]["user"] == BOT
    # form-encoded, with blocks as a JSON string, as older clients send it
    form = await client.api_call("chat.postMessage", data={"channel": channel, "blocks": json.dumps(blocks)})
    assert form["message"]["blocks"] == blocks
    assert float(form["ts"]) > float(posted["ts"])

    stored = emu.messages(channel)
    assert [m["ts"] for m in stored] == [posted["ts"], form["ts"]]
    assert stored[0]["metadata"] == metadata and stored[0]["blocks"] == blocks and stored[0]["edits"] == []


async def test_history_is_newest_first_paged_and_hides_metadata_unless_asked(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    channel = await new_channel(client, "inc-5")
    posted = []
    for i in range(5):
        meta = {"event_type": "warroom_line", "event_payload": {"key": f"line-{i}"}}
        posted.append((await client.chat_postMessage(channel=channel, text=f"m{i}", metadata=meta))["ts"])

    first = await client.conversations_history(channel=channel, limit=3)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3", "m2"] and first["has_more"] is True
    assert all("metadata" not in m for m in first["messages"])
    second = await client.conversations_history(
        channel=channel, limit=3, cursor=first["response_metadata"]["next_cursor"], include_all_metadata=True
    )
    assert [m["text"] for m in second["messages"]] == ["m1", "m0"] and second["has_more"] is False
    assert second["messages"][1]["metadata"]["event_payload"] == {"key": "line-0"}
    assert [m["ts"] for m in second["messages"]] == [posted[1], posted[0]]


async def test_update_keeps_an_edit_history_and_refuses_others_messages(
    emu: SlackEmulator, client: AsyncWebClient
) -> None:
    channel = await new_channel(client, "inc-6")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "v1"}}]
    ts = (await client.chat_postMessage(channel=channel, text="v1", blocks=blocks))["ts"]
    await client.chat_update(channel=channel, ts=ts, text="v2")  # blocks left out: kept
    new_blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "v3"}}]
    updated = await client.chat_update(channel=channel, ts=ts, text="v3", blocks=new_blocks)
    assert updated["ts"] == ts and updated["message"]["edited"]["user"] == BOT

    message = emu.messages(channel)[0]
    assert [e["text"] for e in message["edits"]] == ["v2", "v3"]
    assert message["edits"][0]["blocks"] == blocks and message["blocks"] == new_blocks

    assert await error_code(client.chat_update(channel=channel, ts="1.000001", text="x")) == "message_not_found"
    theirs = emu.add_message(channel, "a human wrote this", user="U0ANA")
    assert await error_code(client.chat_update(channel=channel, ts=theirs, text="x")) == "cant_update_message"


async def test_ephemeral_messages_go_to_members_only(emu: SlackEmulator, client: AsyncWebClient) -> None:
    channel = await new_channel(client, "inc-7")
    ana = emu.add_user("ana@example.com", "Ana Ops")
    assert await error_code(client.chat_postEphemeral(channel=channel, user=ana, text="psst")) == "user_not_in_channel"
    await client.conversations_invite(channel=channel, users=[ana])
    sent = await client.chat_postEphemeral(channel=channel, user=ana, text="psst")
    assert sent["message_ts"] and emu.ephemeral[-1]["text"] == "psst" and emu.messages(channel) == []


# -- pins, bookmarks, users, views ----------------------------------------------------------------------------
async def test_pins(emu: SlackEmulator, client: AsyncWebClient) -> None:
    channel = await new_channel(client, "inc-8")
    ts = (await client.chat_postMessage(channel=channel, text="card"))["ts"]
    await client.pins_add(channel=channel, timestamp=ts)
    assert await error_code(client.pins_add(channel=channel, timestamp=ts)) == "already_pinned"
    assert await error_code(client.pins_add(channel=channel, timestamp="1.000001")) == "message_not_found"
    items = (await client.pins_list(channel=channel))["items"]
    assert [(i["type"], i["message"]["ts"]) for i in items] == [("message", ts)]
    assert emu.pins[channel] == [ts]


async def test_bookmarks(emu: SlackEmulator, client: AsyncWebClient) -> None:
    channel = await new_channel(client, "inc-9")
    added = (await client.bookmarks_add(channel_id=channel, title="Runbook", type="link",
                                        link="https://runbooks.example.com/x"))["bookmark"]
    assert added["id"].startswith("Bk") and added["title"] == "Runbook" and added["type"] == "link"
    assert await error_code(client.bookmarks_add(channel_id=channel, title="t", type="message")) == (
        "invalid_bookmark_type"
    )
    listed = (await client.bookmarks_list(channel_id=channel))["bookmarks"]
    assert [(b["id"], b["link"]) for b in listed] == [(added["id"], "https://runbooks.example.com/x")]
    assert emu.bookmarks[channel][0]["title"] == "Runbook"


async def test_users(emu: SlackEmulator, client: AsyncWebClient) -> None:
    ana = emu.add_user("ana@example.com", "Ana Ops")
    found = (await client.users_lookupByEmail(email="Ana@Example.com"))["user"]
    assert found["id"] == ana and found["profile"]["email"] == "ana@example.com"
    assert await error_code(client.users_lookupByEmail(email="nobody@example.com")) == "users_not_found"
    assert (await client.users_info(user=ana))["user"]["real_name"] == "Ana Ops"
    assert (await client.users_info(user=BOT))["user"]["is_bot"] is True
    assert await error_code(client.users_info(user="U0GHOST")) == "user_not_found"


async def test_views_open_records_the_view(emu: SlackEmulator, client: AsyncWebClient) -> None:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Declare"}, "blocks": []}
    opened = await client.views_open(trigger_id="123.456.abc", view=view)
    assert opened["view"]["id"].startswith("V") and opened["view"]["type"] == "modal"
    assert emu.views[opened["view"]["id"]]["view"] == view
    assert await error_code(client.views_open(trigger_id=None, view=view)) == "invalid_trigger_id"


# -- rate limits ----------------------------------------------------------------------------------------------
async def test_tier_limits_answer_429_with_retry_after(emu: SlackEmulator, client: AsyncWebClient) -> None:
    emu.config.rate_limits = True
    emu.tier_limits[2] = 2  # Tier 2 lowered to 2 a minute
    allowed = emu.tier_capacity(2)
    for i in range(allowed):
        await client.conversations_create(name=f"burst-{i}")
    error = await slack_error(client.conversations_create(name="one-too-many"))
    assert error.response.status_code == 429
    assert error.response["error"] == "ratelimited" and error.response["ok"] is False
    assert int(error.response.headers["Retry-After"]) >= 1
    assert "one-too-many" not in {c["name"] for c in emu.channels.values()}
    # limits are per method: a Tier 3 method is unaffected
    await client.conversations_info(channel=emu.channel_by_name("burst-0")["id"])


async def test_posting_is_limited_per_channel_after_a_short_burst(emu: SlackEmulator, client: AsyncWebClient) -> None:
    busy, quiet = await new_channel(client, "busy"), await new_channel(client, "quiet")
    emu.config.rate_limits = True
    results = await asyncio.gather(
        *(client.chat_postMessage(channel=busy, text=f"m{i}") for i in range(emu.post_burst + 10)),
        return_exceptions=True,
    )
    limited = [r for r in results if isinstance(r, SlackApiError)]
    assert len(results) - len(limited) >= emu.post_burst and limited
    assert all(e.response.status_code == 429 and e.response.headers["Retry-After"] == "1" for e in limited)
    assert len(emu.messages(busy)) == len(results) - len(limited)
    assert (await client.chat_postMessage(channel=quiet, text="another channel is fine"))["ok"]


# -- faults and read-back -------------------------------------------------------------------------------------
async def test_fault_injection(emu: SlackEmulator, client: AsyncWebClient) -> None:
    channel = await new_channel(client, "inc-10")
    emu.inject("chat.postMessage", "status", status=500)
    assert (await slack_error(client.chat_postMessage(channel=channel, text="x"))).response.status_code == 500
    assert emu.messages(channel) == []

    emu.inject("chat.postMessage", "after", status=500)  # posted, but the answer is lost
    assert (await slack_error(client.chat_postMessage(channel=channel, text="lost"))).response.status_code == 500
    assert [m["text"] for m in emu.messages(channel)] == ["lost"]

    emu.inject("users.info", "ratelimit", retry_after=7)
    limited = await slack_error(client.users_info(user=BOT))
    assert limited.response.status_code == 429 and limited.response.headers["Retry-After"] == "7"
    assert limited.response["error"] == "ratelimited"
    assert [c.status for c in emu.calls_to("chat.postMessage")] == [500, 500]


async def test_state_endpoint_and_unknown_methods(emu: SlackEmulator, client: AsyncWebClient) -> None:
    channel = await new_channel(client, "inc-11")
    await client.chat_postMessage(channel=channel, text="hello")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{emu.base_url}/_sandbox/state") as response:
            state = await response.json()
        async with http.post(f"{emu.base_url}/api/chat.nonsense", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            unknown = (r.status, await r.json())
    assert [c["name"] for c in state["channels"]] == ["inc-11"]
    assert state["messages"][channel][0]["text"] == "hello"
    assert unknown == (404, {"ok": False, "error": "unknown_method", "req_method": "chat.nonsense"})
