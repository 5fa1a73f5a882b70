"""`/incident list` from any channel, in Slack and in Teams (one grammar, one runner): the open incidents, the highest
priority first, with their priority, state, service, title (outside text, escaped) and war-room links; only the
person who asked sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness
from warroom.sandbox.world import World

from .helpers import open_room, settle
from .teams_bot_helpers import TeamsSide
from .teams_bot_helpers import open_war_room as open_teams_room
from .teams_bot_helpers import settle as settle_teams

HOSTILE = "<!channel> Cards & <b>wallets</b> fail <https://evil.example|click>"


async def room_url(h: Harness, incident_id: int, kind: LinkKind) -> str:
    async with h.runtime.store.read() as tx:
        url = (await tx.links.all(incident_id))[kind].url
    assert url
    return url


async def test_slack_list_shows_the_open_incidents_to_the_asker(harness: Harness) -> None:
    h = harness
    empty = (await h.slack_command("list", channel="C0GENERAL")).json()
    assert empty == {"text": "No incidents are open. Declare one with `/incident declare`.", "response_type": "ephemeral"}

    first, channel, _ = await open_room(h)  # checkout-api, P1, from an alert
    service = h.runtime.incidents
    second = (await service.declare(service="payments", title=HOSTILE, priority="P2", actor="slack:U0ANA")).id
    resolved = (await service.declare(service="payments", title="Gone already", priority="P1", actor="slack:U0ANA")).id
    await settle(h)
    await service.resolve(resolved, actor="slack:U0ANA")
    newest = (await service.declare(service="checkout-api", title="Slow pages", priority="P3", actor="slack:U0ANA")).id
    await h.runtime.worker.run_until_idle()

    for where in ("C0GENERAL", channel):  # any channel, a war room too
        reply = (await h.slack_command("incidents", channel=where)).json()
        assert reply["response_type"] == "ephemeral"
        lines = reply["text"].split("\n")
        assert lines[0] == "3 incidents are open, the highest priority first:"
        assert lines[1] == (f"• INC-{first} · P1 · triggered · checkout-api · CheckoutErrorRate: 5xx above 12% · "
                            f"<{await room_url(h, first, LinkKind.SLACK_CHANNEL)}|Slack war room>")
        assert lines[2] == (f"• INC-{second} · P2 · triggered · payments · &lt;!channel&gt; Cards &amp; &lt;b&gt;wallets"
                            "&lt;/b&gt; fail &lt;https://evil.example|click&gt; · "
                            f"<{await room_url(h, second, LinkKind.SLACK_CHANNEL)}|Slack war room>")
        assert lines[3].startswith(f"• INC-{newest} · P3 · triggered · checkout-api · Slow pages · ")
        assert len(lines) == 4 and f"INC-{resolved}" not in reply["text"]
    assert "• `list` — list the open incidents" in (await h.slack_command("help")).json()["text"]


async def test_slack_list_shows_at_most_twenty(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    for n in range(22):
        await h.runtime.incidents.declare(service="payments", title=f"Incident {n}", priority="P4",
                                          actor="slack:U0ANA")
    lines = (await h.slack_command("list")).json()["text"].split("\n")
    assert lines[0] == "22 incidents are open, the highest priority first:"
    assert len(lines) == 22 and lines[-1] == "…and 2 more, lower in priority or older."
    assert lines[1].startswith("• INC-22 · P4 · triggered · payments · Incident 21 · ")  # the newest first


# ---------------------------------------------------------------------------------------------- Teams


@pytest.fixture
async def teams_pair(db_url: str) -> AsyncIterator[tuple[Harness, TeamsSide]]:
    world = await World.start()
    teams = await TeamsSide.start(world)
    teams.connector.config.rate_limits = False
    chat_only = teams.tweak()

    def tweak(data: dict[str, Any]) -> None:
        chat_only(data)
        # payments' war rooms are private channels: anyone may list the incident, not read its title
        data["services"][1]["teams"]["war_room"] = "private"

    h = await Harness.start(db_url, world=world, tweak=tweak)
    teams.client.bot_url = f"{h.base_url}/api/messages"
    yield h, teams
    await teams.stop()
    await h.stop()


@pytest.mark.one_db("the Teams front end of the list, whose query keeps PostgreSQL in the Slack test")
async def test_teams_list_is_the_same_command(teams_pair: tuple[Harness, TeamsSide]) -> None:
    h, teams = teams_pair
    first, _ = await open_teams_room(h)
    private = (await h.runtime.incidents.declare(service="payments", title="Payroll data exposed", priority="P1",
                                                 actor="teams:someone")).id
    await settle_teams(h)
    dana = teams.person("dana@example.com")
    chat = teams.personal(dana)
    said = await teams.client.say(chat, dana, "list", to_bot=False)
    (reply,) = teams.replies_to(chat, said)
    lines = reply.split("\n")
    assert "2 incidents are open, the highest priority first:" in lines[0]
    assert f"INC-{private} · P1 · triggered · payments · private: its title and war room are for its responders" in reply
    assert "Payroll" not in reply
    url = await room_url(h, first, LinkKind.TEAMS_CHANNEL)
    assert f"INC-{first} · P1 · triggered · checkout-api · CheckoutErrorRate: 5xx above 12% · [Teams war room]({url})" in reply
    assert reply.index(f"INC-{private}") < reply.index(f"INC-{first}")  # equal priority: the newest first
