"""The Microsoft Graph adapter over real HTTP against the Graph emulator: names, collisions and adoption, limits,
throttling (Retry-After honoured, calls paced per team), tokens, people, group chats and Teams meetings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from typing import Any

import pytest

from warroom.adapters.errors import Conflict, NotFound, Permanent, RateLimited
from warroom.adapters.microsoft.graph import (
    NAME_MAX,
    TeamsGraph,
    TeamsMeetings,
    channel_display_name,
    clean_channel_name,
    with_suffix,
)
from warroom.adapters.ports import BridgePort
from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.teams.graph import NAME_FORBIDDEN, GraphEmulator
from warroom.sandbox.teams.tenant import TeamsTenant

CREATE = "POST /teams/{team-id}/channels"
MARK = "war room of INC-7 (opened by warroom)"


class World:
    def __init__(self, tenant: TeamsTenant, graph: GraphEmulator, users: dict[str, str], team: str) -> None:
        self.tenant, self.graph, self.users, self.team = tenant, graph, users, team


@pytest.fixture
async def world() -> AsyncIterator[World]:
    tenant = TeamsTenant()
    users = {
        e: tenant.add_user(e, n)
        for e, n in (
            ("ana@example.com", "Ana Ops"),
            ("ben@example.com", "Ben Backend"),
            ("chen@example.com", "Chen DBA"),
        )
    }
    team = tenant.add_team("Ops", list(users.values()))
    graph = GraphEmulator(tenant, EmulatorConfig())
    graph.team_rps = 50  # Graph's own 4 a second where a test is about it
    await graph.start()
    yield World(tenant, graph, users, team)
    await graph.stop()


@pytest.fixture
async def client(world: World) -> AsyncIterator[Callable[..., TeamsGraph]]:
    made: list[TeamsGraph] = []

    def make(**overrides: Any) -> TeamsGraph:
        args: dict[str, Any] = {
            "graph_url": f"{world.graph.base_url}/v1.0",
            "token_url": f"{world.graph.base_url}/{world.tenant.tenant_id}/oauth2/v2.0/token",
            "client_id": world.tenant.app_id,
            "client_secret": world.tenant.app_secret,
            "max_retries": 3,
            "team_rps": 50,
            **overrides,
        }
        made.append(TeamsGraph(**args))
        return made[-1]

    yield make
    for graph in made:
        await graph.aclose()


# -- names ----------------------------------------------------------------------------------------------
def test_channel_names_fit_teams_and_keep_the_incident_number() -> None:
    title = "CheckoutErrorRate: 5xx above 12% on /checkout & /cart for EU customers (eu-west-1)"
    name = channel_display_name(
        "INC-{number} {title}", number=4711, title=title, service="checkout-api", priority="P1"
    )
    assert len(name) <= NAME_MAX and name.startswith("INC-4711 CheckoutErrorRate 5xx above 12")
    assert not set(name) & NAME_FORBIDDEN and name.endswith("…")
    late = channel_display_name("{title} ({number})", number=4711, title=title, service="s", priority=None)
    assert late.endswith("(4711)") and len(late) <= NAME_MAX
    slug = channel_display_name("inc-{number}-{slug}", number=3, title="DB down", service="s", priority="P2")
    assert slug == "inc-3-db-down"
    assert clean_channel_name("_..odd..name.") == "odd.name"
    assert with_suffix("x" * 50, 2) == "x" * 45 + "… (2)" and len(with_suffix("x" * 50, 12)) <= NAME_MAX


# -- channels -------------------------------------------------------------------------------------------
async def test_a_taken_name_is_adopted_when_ours_and_suffixed_when_not(
    world: World, client: Callable[..., TeamsGraph]
) -> None:
    graph = client()
    someone = await graph.create_channel(
        world.team, "INC-7 Checkout down", description="the team's own channel"
    )
    ours = await graph.open_channel(
        world.team, "INC-7 Checkout down", marker=MARK, description=f"Major incident {MARK}."
    )
    assert ours.name == "INC-7 Checkout down (2)" and ours.id != someone.id
    again = await graph.open_channel(
        world.team, "INC-7 Checkout down", marker=MARK, description=f"Major incident {MARK}."
    )
    assert again == ours
    with pytest.raises(Conflict):
        await graph.create_channel(world.team, "inc-7 checkout DOWN")
    assert sum(1 for c in world.tenant.channels.values() if "INC-7" in c["displayName"]) == 2


async def test_a_create_that_failed_after_taking_effect_is_adopted_not_repeated(
    world: World, client: Callable[..., TeamsGraph]
) -> None:
    world.graph.inject(CREATE, "after", status=500)
    world.graph.inject(CREATE, "status", status=502, times=1)
    channel = await client().open_channel(
        world.team, "INC-7 Checkout down", marker=MARK, description=f"Major incident {MARK}."
    )
    assert [c["id"] for c in world.tenant.channels.values() if c["displayName"].startswith("INC-7")] == [
        channel.id
    ]
    assert len(world.graph.calls_to(CREATE)) == 1  # looked up, found, not created twice


async def test_a_deleted_channel_still_holds_its_name(
    world: World, client: Callable[..., TeamsGraph]
) -> None:
    graph = client()
    old = await graph.create_channel(world.team, "INC-7 Checkout down", description="older")
    await graph.delete_channel(world.team, old.id)
    await graph.delete_channel(world.team, old.id)  # gone already: fine
    fresh = await graph.open_channel(world.team, "INC-7 Checkout down", marker=MARK, description=MARK)
    assert fresh.name == "INC-7 Checkout down (2)"


async def test_graph_throttling_is_honoured_and_calls_are_paced_per_team(
    world: World, client: Callable[..., TeamsGraph]
) -> None:
    world.graph.team_rps = 4
    graph = client(team_rps=4)
    world.graph.inject(CREATE, "ratelimit", retry_after=1, times=1)
    channel = await graph.create_channel(world.team, "INC-7 a")
    assert [c.status for c in world.graph.calls_to(CREATE)] == [429, 201] and channel.name == "INC-7 a"
    world.graph.inject("GET /teams/{team-id}/channels", "status", status=503, times=1)
    world.graph.faults[-1].body = {"error": {"code": "ServiceUnavailable", "message": "busy"}}
    # a 503 without Retry-After on a read is retried with backoff; with it, like a 429 — even for a create
    assert await graph.find_channel(world.team, "INC-7 a") is not None
    for n in range(6):  # more calls in one team than Graph takes in a second: paced, no 429 collected
        await graph.find_channel(world.team, f"nothing {n}")
    assert world.graph.throttled == {}
    world.graph.inject(CREATE, "ratelimit", retry_after=30, times=1)
    with pytest.raises(RateLimited) as raised:
        await graph.create_channel(world.team, "INC-7 b")
    assert raised.value.retry_after >= 30


async def test_a_503_with_retry_after_is_waited_out_even_for_a_create(
    world: World, client: Callable[..., TeamsGraph]
) -> None:
    world.graph.throttle_status = 503
    world.graph.inject(CREATE, "ratelimit", retry_after=1, times=1)
    channel = await client().create_channel(world.team, "INC-7 c")
    assert [c.status for c in world.graph.calls_to(CREATE)] == [503, 201] and channel.name == "INC-7 c"


async def test_limits_and_refusals_are_sentences(world: World, client: Callable[..., TeamsGraph]) -> None:
    graph = client()
    world.graph.channel_limit = 2  # General + 1
    await graph.create_channel(world.team, "INC-1 one")
    with pytest.raises(Permanent) as full:
        await graph.open_channel(world.team, "INC-2 two", marker=MARK, description=MARK)
    assert "maximum number of channels" in full.value.reason
    world.graph.inject(
        "GET /users",
        "status",
        status=403,
        body={"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}},
    )
    with pytest.raises(Permanent) as denied:
        await graph.lookup_users(["ana@example.com"])
    assert (
        "Insufficient privileges" in denied.value.reason and "application permission" in denied.value.reason
    )
    with pytest.raises(NotFound):
        await graph.list_channels("00000000-0000-0000-0000-000000000000")
    wrong = client(client_secret="not-the-secret")
    with pytest.raises(Permanent) as refused:
        await wrong.list_channels(world.team)
    assert "AADSTS7000215" in refused.value.reason and "WARROOM_TEAMS__APP_PASSWORD" in refused.value.reason


async def test_private_channels_take_their_members_and_add_more_one_by_one(
    world: World, client: Callable[..., TeamsGraph]
) -> None:
    graph = client()
    ana, ben, chen = (world.users[e] for e in ("ana@example.com", "ben@example.com", "chen@example.com"))
    channel = await graph.open_channel(
        world.team,
        "INC-7 private",
        marker=MARK,
        description=MARK,
        private=True,
        owner_ids=[ana],
        member_ids=[ana, ben],
    )
    record = world.tenant.channels[channel.id]
    assert (
        record["membershipType"] == "private"
        and record["members"] == {ana, ben}
        and record["owners"] == {ana}
    )
    outsider = world.tenant.add_user("olga@example.com", "Olga Outside")
    refused = await graph.add_channel_members(world.team, channel.id, [ben, chen, outsider])
    assert record["members"] == {ana, ben, chen} and list(refused) == [outsider]
    assert await graph.team_member_ids(world.team) == {ana, ben, chen}


async def test_one_token_serves_many_calls_and_an_expired_one_is_replaced(
    world: World, client: Callable[..., TeamsGraph]
) -> None:
    graph = client()
    for n in range(3):
        await graph.find_channel(world.team, f"x{n}")
    assert graph.token.fetches == 1 and world.tenant.tokens_issued == 1
    world.tenant.expire_tokens()
    await graph.find_channel(world.team, "after expiry")
    assert graph.token.fetches == 2


# -- people ---------------------------------------------------------------------------------------------
async def test_people_are_looked_up_by_mail_or_principal_name_in_batches(
    world: World, client: Callable[..., TeamsGraph]
) -> None:
    graph = client()
    for n in range(20):
        world.tenant.add_user(f"p{n}@example.com", f"Person {n}")
    upn = world.tenant.add_user("dora@example.com", "Dora", upn="dora@corp.example")
    world.tenant.users[upn]["mail"] = None  # no mailbox: found by sign-in name only
    emails = [f"P{n}@example.com" for n in range(20)] + ["dora@corp.example", "ghost@example.com"]
    found = await graph.lookup_users(emails)
    assert (
        len(found) == 21
        and found["p3@example.com"].name == "Person 3"
        and found["dora@corp.example"].id == upn
    )
    assert "ghost@example.com" not in found
    assert len(world.graph.calls_to("GET /users")) == 4  # 22 emails: batches of 7 (14 values in one filter)


# -- group chats ----------------------------------------------------------------------------------------
async def test_a_group_chat_is_created_once_and_the_bot_installed(
    world: World, client: Callable[..., TeamsGraph]
) -> None:
    graph = client()
    members = [world.users["ana@example.com"], world.users["ben@example.com"]]
    world.graph.inject("POST /chats", "after", status=504)
    chat = await graph.open_group_chat("INC-9 secret", members)
    assert len(world.tenant.chats) == 1 and chat.topic == "INC-9 secret"
    assert await graph.open_group_chat("INC-9 secret", members, look_first=True) == chat
    await graph.install_app_in_chat(chat.id, world.tenant.catalog_app_id)
    await graph.install_app_in_chat(chat.id, world.tenant.catalog_app_id)  # installed already: fine
    assert world.tenant.chats[chat.id]["apps"] == {world.tenant.catalog_app_id}


# -- meetings -------------------------------------------------------------------------------------------
async def test_teams_meetings_are_idempotent_bridges(world: World, client: Callable[..., TeamsGraph]) -> None:
    graph = client()
    organizer = world.users["ana@example.com"]
    bridge: BridgePort = TeamsMeetings(graph, "ana@example.com")
    with pytest.raises(Permanent) as refused:
        await bridge.create_meeting("INC-7 Checkout down")
    assert "application access policy" in refused.value.reason
    world.tenant.policy_users.add(organizer)
    world.graph.inject("POST /users/{user-id}/onlineMeetings/createOrGet", "after", status=502)
    meeting = await bridge.create_meeting("INC-7 Checkout down", agenda="Major incident bridge")
    again = await bridge.create_meeting("INC-7 Checkout down")
    assert len(world.tenant.meetings) == 1 and again == meeting
    assert meeting.provider == "teams" and meeting.join_url.startswith(
        world.graph.base_url + "/l/meetup-join/"
    )
    assert meeting.extra["meeting_number"] and meeting.extra["dial_in"][0]["number"]
    assert await bridge.find_meeting("INC-7 Checkout down") is None
    assert "_organizer" not in json.dumps(asdict(meeting))
    unset = TeamsMeetings(graph, "")
    with pytest.raises(Permanent) as missing:
        await unset.create_meeting("x")
    assert "teams.meeting_organizer" in missing.value.reason
