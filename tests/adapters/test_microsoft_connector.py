"""The Bot Connector adapter over real HTTP against the Connector emulator: threads, posts and in-place edits, the
retry rules (429 waited out; 412/5xx retried for edits, handed back for new posts), tokens and refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from warroom.adapters.errors import NotFound, Permanent, Transient
from warroom.adapters.microsoft.connector import BotConnector
from warroom.chat.teams.cards import attachment
from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.teams.connector import ConnectorEmulator
from warroom.sandbox.teams.graph import GraphEmulator
from warroom.sandbox.teams.tenant import TeamsTenant

CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "INC-1"}]}
SEND = "POST /v3/conversations/{id}/activities"
EDIT = "PUT /v3/conversations/{id}/activities/{activityId}"


class Box:
    def __init__(
        self, tenant: TeamsTenant, graph: GraphEmulator, connector: ConnectorEmulator, channel: str
    ) -> None:
        self.tenant, self.graph, self.connector, self.channel = tenant, graph, connector, channel


@pytest.fixture
async def box() -> AsyncIterator[Box]:
    tenant = TeamsTenant()
    ana = tenant.add_user("ana@example.com", "Ana Ops")
    team = tenant.add_team("Ops", [ana])
    channel = tenant.new_channel(team, "INC-1 c", "standard", description="", members=set())["id"]
    graph, connector = GraphEmulator(tenant, EmulatorConfig()), ConnectorEmulator(tenant, EmulatorConfig())
    await graph.start()
    await connector.start()
    yield Box(tenant, graph, connector, channel)
    await graph.stop()
    await connector.stop()


@pytest.fixture
async def bot(box: Box) -> AsyncIterator[Callable[..., BotConnector]]:
    made: list[BotConnector] = []

    def make(**overrides: Any) -> BotConnector:
        args: dict[str, Any] = {
            "service_url": box.connector.service_url,
            "token_url": f"{box.graph.base_url}/{box.tenant.tenant_id}/oauth2/v2.0/token",
            "app_id": box.tenant.app_id,
            "app_password": box.tenant.app_secret,
            "tenant_id": box.tenant.tenant_id,
            "max_retries": 3,
            **overrides,
        }
        made.append(BotConnector(**args))
        return made[-1]

    yield make
    for connector in made:
        await connector.aclose()


def card_message(text: str = "INC-1") -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [attachment({**CARD, "body": [{"type": "TextBlock", "text": text}]})],
    }


async def test_a_thread_is_started_posted_into_and_its_card_edited_in_place(
    box: Box, bot: Callable[..., BotConnector]
) -> None:
    connector = bot()
    posted = await connector.start_thread(box.channel, card_message())
    assert posted.conversation_id == f"{box.channel};messageid={posted.activity_id}"
    assert posted.service_url == box.connector.service_url.rstrip("/")
    line = await connector.send(box.channel, {"type": "message", "text": "a line"})
    reply = await connector.send(posted.conversation_id, {"type": "message", "text": "in the thread"})
    await connector.update(
        posted.conversation_id,
        posted.activity_id,
        card_message("INC-1 acknowledged"),
        service_url=posted.service_url,
    )
    messages = box.connector.posted(box.channel)
    assert [m.id for m in messages] == [posted.activity_id, line.activity_id, reply.activity_id]
    assert messages[2].reply_to == posted.activity_id and messages[1].reply_to is None
    assert [v["attachments"][0]["content"]["body"][0]["text"] for v in messages[0].versions] == [
        "INC-1",
        "INC-1 acknowledged",
    ]
    assert connector.token.fetches == 1
    body = box.connector.calls_to("POST /v3/conversations")[0]
    assert body.status == 201


async def test_throttling_is_waited_out_and_edits_are_retried(
    box: Box, bot: Callable[..., BotConnector]
) -> None:
    connector = bot()
    posted = await connector.start_thread(box.channel, card_message())
    box.connector.inject(SEND, "ratelimit", retry_after=1)
    await connector.send(box.channel, {"type": "message", "text": "after a 429"})
    assert [c.status for c in box.connector.calls_to(SEND)] == [429, 201]
    for status in (412, 502, 504):
        box.connector.inject(EDIT, "status", status=status, body={"error": {"code": "x", "message": "later"}})
    await connector.update(posted.conversation_id, posted.activity_id, card_message("edited"))
    assert [c.status for c in box.connector.calls_to(EDIT)] == [412, 502, 504, 200]


async def test_a_post_that_may_have_been_delivered_is_not_sent_again(
    box: Box, bot: Callable[..., BotConnector]
) -> None:
    connector = bot()
    box.connector.inject(SEND, "after", status=502)
    with pytest.raises(Transient):
        await connector.send(box.channel, {"type": "message", "text": "once"})
    assert len(box.connector.calls_to(SEND)) == 1 and len(box.connector.posted(box.channel)) == 1
    box.connector.inject(
        SEND, "status", status=412, body={"error": {"code": "PreconditionFailed", "message": "x"}}
    )
    with pytest.raises(Transient):
        await connector.send(box.channel, {"type": "message", "text": "twice?"})


async def test_refusals_say_what_to_do(box: Box, bot: Callable[..., BotConnector]) -> None:
    connector = bot()
    other = box.tenant.add_team("No bot", [], bot_installed=False)
    elsewhere = box.tenant.new_channel(other, "x", "standard", description="", members=set())["id"]
    with pytest.raises(Permanent) as refused:
        await connector.send(elsewhere, {"type": "message", "text": "hi"})
    assert "install the warroom app in the team" in refused.value.reason
    with pytest.raises(NotFound):
        await connector.update(box.channel, "12345", card_message())
    with pytest.raises(Permanent):
        await connector.send(box.channel, {"type": "message"})  # neither text nor attachments
    wrong = bot(app_password="nope")
    with pytest.raises(Permanent) as denied:
        await wrong.send(box.channel, {"type": "message", "text": "hi"})
    assert "AADSTS7000215" in denied.value.reason


async def test_an_expired_token_is_replaced_once(box: Box, bot: Callable[..., BotConnector]) -> None:
    connector = bot()
    await connector.send(box.channel, {"type": "message", "text": "one"})
    box.tenant.expire_tokens()
    await connector.send(box.channel, {"type": "message", "text": "two"})
    assert connector.token.fetches == 2 and len(box.connector.posted(box.channel)) == 2
