"""SlackChat (the ChatPort over slack_sdk) against the Slack emulator, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from warroom.adapters.errors import Conflict, NotFound, Permanent, RateLimited, Transient
from warroom.adapters.ports import ChatPort, MessageRef
from warroom.adapters.slack_api import SlackChat
from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.slack import SlackEmulator

TOKEN = "xoxb-sandbox-token"
BOT = "U0WARROOM"
CARD = "warroom_incident_card"


@pytest.fixture
async def emu() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(EmulatorConfig(rate_limits=False))
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


def make_chat(emu: SlackEmulator, token: str = TOKEN, *, max_inline_wait: float = 5.0) -> SlackChat:
    return SlackChat(
        token, base_url=f"{emu.base_url}/api/", team_url=f"{emu.base_url}/", max_inline_wait=max_inline_wait, backoff=0.01
    )


@pytest.fixture
def chat(emu: SlackEmulator) -> SlackChat:
    return make_chat(emu)


def test_it_is_a_chat_port_with_a_shareable_client(chat: SlackChat) -> None:
    port: ChatPort = chat
    assert isinstance(chat.client, AsyncWebClient)
    assert port.channel_url("C123") == chat.team_url + "archives/C123"


async def test_bot_user_id_is_asked_once(emu: SlackEmulator, chat: SlackChat) -> None:
    assert await chat.bot_user_id() == BOT
    assert await chat.bot_user_id() == BOT
    assert len(emu.calls_to("auth.test")) == 1


async def test_create_channel_and_name_taken_is_a_conflict(emu: SlackEmulator, chat: SlackChat) -> None:
    ref = await chat.create_channel("inc-1-checkout-down")
    assert ref.name == "inc-1-checkout-down" and ref.url == f"{emu.base_url}/archives/{ref.id}"
    assert emu.channels[ref.id]["creator"] == BOT and emu.channels[ref.id]["is_private"] is False
    private = await chat.create_channel("inc-1-private", private=True)
    assert emu.channels[private.id]["is_private"] is True

    with pytest.raises(Conflict) as conflict:
        await chat.create_channel("inc-1-checkout-down")
    assert "name_taken" in conflict.value.reason
    with pytest.raises(Permanent) as bad:
        await chat.create_channel("Not A Valid Name")
    assert "invalid_name_specials" in bad.value.reason and "lowercase" in bad.value.reason


async def test_find_own_channel_ignores_channels_others_made_and_pages(emu: SlackEmulator, chat: SlackChat) -> None:
    emu.add_channel("inc-7-db", creator="U0ANA")  # same name pattern, a human's channel
    assert await chat.find_own_channel("inc-7-db") is None

    for i in range(205):  # more than one page of conversations.list (the adapter asks for 200)
        emu.add_channel(f"filler-{i}", creator="U0ANA")
    mine = await chat.create_channel("inc-8-api")
    emu.calls.clear()
    found = await chat.find_own_channel("inc-8-api")
    assert found is not None and found.id == mine.id and found.url == chat.channel_url(mine.id)
    assert len(emu.calls_to("conversations.list")) == 2
    assert await chat.find_own_channel("inc-9-nothing") is None


async def test_lookup_users_leaves_out_people_not_in_the_workspace(emu: SlackEmulator, chat: SlackChat) -> None:
    ana = emu.add_user("ana@example.com", "Ana Ops")
    ben = emu.add_user("ben@example.com", "Ben Backend")
    found = await chat.lookup_users(["ana@example.com", "ghost@example.com", "ben@example.com", "ana@example.com"])
    assert found == {"ana@example.com": ana, "ben@example.com": ben}
    assert len(emu.calls_to("users.lookupByEmail")) == 3
    assert await chat.lookup_users([]) == {}


async def test_invite_is_idempotent_and_skips_unknown_ids(emu: SlackEmulator, chat: SlackChat) -> None:
    channel = await chat.create_channel("inc-2-invite")
    ana = emu.add_user("ana@example.com", "Ana Ops")
    ben = emu.add_user("ben@example.com", "Ben Backend")
    await chat.invite(channel.id, [ana, BOT])  # the bot itself is left out (Slack would say cant_invite_self)
    await chat.invite(channel.id, [ana])  # already_in_channel is success
    assert emu.channels[channel.id]["members"] == [BOT, ana]

    await chat.invite(channel.id, [ben, "U0DEPARTED"])  # Slack refuses the whole call; the known one gets in
    assert emu.channels[channel.id]["members"] == [BOT, ana, ben]
    with pytest.raises(NotFound):
        await chat.invite("C_NOPE", [ana])


async def test_messages_update_and_find(emu: SlackEmulator, chat: SlackChat) -> None:
    channel = await chat.create_channel("inc-3-card")
    await chat.set_topic(channel.id, "INC-3 · P1 · triggered · Checkout down")
    assert emu.channels[channel.id]["topic"] == "INC-3 · P1 · triggered · Checkout down"

    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*INC-3*"}}]
    meta = {"event_type": CARD, "event_payload": {"key": "INC-3"}}
    card = await chat.post_message(channel.id, "INC-3 card", blocks=blocks, metadata=meta)
    assert card.channel_id == channel.id and emu.messages(channel.id)[0]["metadata"] == meta

    await chat.update_message(channel.id, card.ts, "INC-3 card v2", blocks=blocks)
    assert [e["text"] for e in emu.messages(channel.id)[0]["edits"]] == ["INC-3 card v2"]

    # someone else's message with the same metadata, and a page of later chatter, are passed over
    emu.add_message(channel.id, "a copy", user="U0ANA", metadata=meta)
    for i in range(205):
        emu.add_message(channel.id, f"chatter {i}", user="U0ANA")
    emu.calls.clear()
    assert await chat.find_message(channel.id, CARD, "INC-3") == MessageRef(channel.id, card.ts)
    assert len(emu.calls_to("conversations.history")) == 2
    assert await chat.find_message(channel.id, CARD, "INC-4") is None
    assert await chat.find_message(channel.id, "other_event", "INC-3") is None

    with pytest.raises(NotFound) as missing:
        await chat.update_message(channel.id, "1.000001", "x")
    assert "message_not_found" in missing.value.reason


async def test_pin_twice_is_fine(emu: SlackEmulator, chat: SlackChat) -> None:
    channel = await chat.create_channel("inc-4-pin")
    message = await chat.post_message(channel.id, "card")
    await chat.pin(channel.id, message.ts)
    await chat.pin(channel.id, message.ts)
    assert emu.pins[channel.id] == [message.ts]
    with pytest.raises(NotFound):
        await chat.pin(channel.id, "1.000001")


async def test_bookmarks(emu: SlackEmulator, chat: SlackChat) -> None:
    channel = await chat.create_channel("inc-5-links")
    added = await chat.add_bookmark(channel.id, "Runbook", "https://runbooks.example.com/checkout")
    assert added.title == "Runbook" and added.link == "https://runbooks.example.com/checkout"
    assert await chat.list_bookmarks(channel.id) == [added]


# -- error translation ----------------------------------------------------------------------------------------
async def test_a_long_retry_after_is_raised_not_waited(emu: SlackEmulator, chat: SlackChat) -> None:
    channel = await chat.create_channel("inc-6-limits")
    emu.inject("conversations.setTopic", "ratelimit", retry_after=30)
    with pytest.raises(RateLimited) as limited:
        await chat.set_topic(channel.id, "topic")
    assert limited.value.retry_after == 30
    assert len(emu.calls_to("conversations.setTopic")) == 1


async def test_a_short_retry_after_is_waited_inline(emu: SlackEmulator, chat: SlackChat) -> None:
    channel = await chat.create_channel("inc-6-short")
    emu.inject("chat.postMessage", "ratelimit", retry_after=1)
    await chat.post_message(channel.id, "after one second")
    assert [c.status for c in emu.calls_to("chat.postMessage")] == [429, 200]
    assert [m["text"] for m in emu.messages(channel.id)] == ["after one second"]


async def test_the_emulators_own_limits_become_rate_limited(emu: SlackEmulator) -> None:
    chat = make_chat(emu, max_inline_wait=0)
    emu.config.rate_limits = True
    emu.tier_limits[2] = 1
    for i in range(emu.tier_capacity(2)):
        await chat.create_channel(f"room-{i}")
    with pytest.raises(RateLimited) as limited:
        await chat.create_channel("room-too-many")
    assert limited.value.retry_after >= 1


async def test_server_errors_are_retried_then_transient(emu: SlackEmulator, chat: SlackChat) -> None:
    channel = await chat.create_channel("inc-7-errors")
    emu.inject("conversations.setTopic", "status", status=500, times=2)
    await chat.set_topic(channel.id, "recovered")  # a repeatable method: retried inline
    assert emu.channels[channel.id]["topic"] == "recovered"

    emu.inject("conversations.setTopic", "status", status=503, times=10)
    with pytest.raises(Transient):
        await chat.set_topic(channel.id, "never")
    assert [c.status for c in emu.calls_to("conversations.setTopic")] == [500, 500, 200, 503, 503, 503]


async def test_a_post_whose_answer_was_lost_is_not_repeated_inline(emu: SlackEmulator, chat: SlackChat) -> None:
    channel = await chat.create_channel("inc-8-lost")
    emu.inject("chat.postMessage", "after", status=500)
    meta = {"event_type": CARD, "event_payload": {"key": "INC-8"}}
    with pytest.raises(Transient):
        await chat.post_message(channel.id, "card", metadata=meta)
    assert len(emu.messages(channel.id)) == 1  # posted once; the worker's retry finds it
    assert await chat.find_message(channel.id, CARD, "INC-8") is not None

    emu.inject("chat.postMessage", "reset")
    with pytest.raises(Transient):
        await chat.post_message(channel.id, "dropped connection")


async def test_unreachable_slack_is_transient(emu: SlackEmulator) -> None:
    chat = make_chat(emu)
    await emu.stop()
    with pytest.raises(Transient) as down:
        await chat.set_topic("C1", "x")
    assert "could not reach Slack" in down.value.reason


async def test_other_api_errors_are_permanent_with_the_slack_code(emu: SlackEmulator, chat: SlackChat) -> None:
    channel = await chat.create_channel("inc-9-archived")
    await chat.client.conversations_archive(channel=channel.id)
    with pytest.raises(Permanent) as archived:
        await chat.post_message(channel.id, "too late")
    assert not isinstance(archived.value, Transient)
    assert "is_archived" in archived.value.reason and "chat.postMessage" in archived.value.reason

    with pytest.raises(Permanent) as auth:
        await make_chat(emu, token="xoxb-wrong").create_channel("inc-9-x")
    assert "invalid_auth" in auth.value.reason and "slack.bot_token" in auth.value.reason
    assert "xoxb-wrong" not in str(auth.value)
