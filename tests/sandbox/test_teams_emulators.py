"""The Microsoft Graph and Bot Connector emulators over real HTTP: Entra tokens, Graph's error shapes, channel name
rules and limits, per-team throttling, users, chats, online meetings, and the Connector's posts, edits and rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.teams.connector import ConnectorEmulator
from warroom.sandbox.teams.graph import NAME_TAKEN, GraphEmulator
from warroom.sandbox.teams.tenant import DELETED_KEPT, TeamsTenant

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
BOT_SCOPE = "https://api.botframework.com/.default"
CARD = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "card"}]}


@dataclass
class Sandbox:
    tenant: TeamsTenant
    graph: GraphEmulator
    connector: ConnectorEmulator
    http: httpx.AsyncClient
    team: str
    ana: str
    ben: str
    outsider: str

    async def token(self, scope: str = GRAPH_SCOPE) -> dict[str, str]:
        answer = await self.http.post(
            f"{self.graph.base_url}/{self.tenant.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.tenant.app_id,
                "client_secret": self.tenant.app_secret,
                "scope": scope,
            },
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def g(self, path: str) -> str:
        return f"{self.graph.base_url}/v1.0/{path}"

    def c(self, path: str) -> str:
        return f"{self.connector.service_url}v3/{path}"


@pytest.fixture
async def box() -> AsyncIterator[Sandbox]:
    tenant = TeamsTenant()
    ana = tenant.add_user("ana@example.com", "Ana Ops")
    ben = tenant.add_user("ben@example.com", "Ben Backend", upn="ben.b@example.onmicrosoft.com")
    outsider = tenant.add_user("olga@example.com", "Olga Outside")
    team = tenant.add_team("Ops", [ana, ben])
    graph, connector = GraphEmulator(tenant, EmulatorConfig()), ConnectorEmulator(tenant, EmulatorConfig())
    graph.team_rps = 1000  # the throttling test sets Graph's own limit back
    await graph.start()
    await connector.start()
    async with httpx.AsyncClient(timeout=10) as http:
        yield Sandbox(tenant, graph, connector, http, team, ana, ben, outsider)
    await graph.stop()
    await connector.stop()


def member(user_id: str, *roles: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.aadUserConversationMember",
        "roles": list(roles),
        "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user_id}')",
    }


async def create_channel(box: Sandbox, auth: dict[str, str], name: str, **body: Any) -> httpx.Response:
    return await box.http.post(
        box.g(f"teams/{box.team}/channels"), json={"displayName": name, **body}, headers=auth
    )


# -- Entra ID -------------------------------------------------------------------------------------------
async def test_the_token_endpoint_refuses_like_entra(box: Sandbox) -> None:
    url = f"{box.graph.base_url}/{box.tenant.tenant_id}/oauth2/v2.0/token"
    good = {
        "grant_type": "client_credentials",
        "client_id": box.tenant.app_id,
        "client_secret": box.tenant.app_secret,
        "scope": GRAPH_SCOPE,
    }
    answer = await box.http.post(url, data=good)
    body = answer.json()
    assert answer.status_code == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3599
    wrong = await box.http.post(url, data={**good, "client_secret": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.json()["error_description"].startswith("AADSTS7000215")
    scope = await box.http.post(url, data={**good, "scope": "https://example.com/.default"})
    assert scope.status_code == 400 and scope.json()["error"] == "invalid_scope"
    tenant = await box.http.post(f"{box.graph.base_url}/not-a-tenant/oauth2/v2.0/token", data=good)
    assert tenant.status_code == 400 and "AADSTS90002" in tenant.json()["error_description"]
    # a tenant where the Bot Framework has no service principal (the app was never made an Azure Bot there)
    box.tenant.resources.discard("https://api.botframework.com")
    bot = await box.http.post(url, data={**good, "scope": BOT_SCOPE})
    assert bot.status_code == 400 and bot.json()["error"] == "invalid_resource"
    assert bot.json()["error_description"].startswith(
        "AADSTS500011: The resource principal named https://api.botframework.com was not found in the tenant named "
        f"{box.tenant.tenant_id}.")
    assert (await box.http.post(url, data=good)).status_code == 200  # Graph's is still issued


async def test_graph_wants_a_live_graph_token(box: Sandbox) -> None:
    assert (await box.http.get(box.g("users"))).json()["error"]["code"] == "InvalidAuthenticationToken"
    bot = await box.http.get(box.g("users"), headers=await box.token(BOT_SCOPE))
    assert bot.status_code == 401 and "audience" in bot.json()["error"]["message"]
    auth = await box.token()
    assert (await box.http.get(box.g("users"), headers=auth)).status_code == 200
    box.tenant.expire_tokens()
    expired = await box.http.get(box.g("users"), headers=auth)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]


# -- channels -------------------------------------------------------------------------------------------
async def test_channel_names_follow_teams_rules(box: Sandbox) -> None:
    auth = await box.token()
    created = await create_channel(box, auth, "INC-1 Checkout down", description="war room of INC-1")
    record = created.json()
    assert (
        created.status_code == 201
        and record["id"].endswith("@thread.tacv2")
        and record["membershipType"] == "standard"
    )
    assert record["webUrl"].startswith("https://teams.microsoft.com/l/channel/")
    for bad in ("x" * 51, "INC-2 5xx: errors", "INC-3 a/b", "_hidden", "ends.", "two..dots", ""):
        answer = await create_channel(box, auth, bad)
        assert answer.status_code == 400, bad
        assert (
            answer.json()["error"]["code"] == "BadRequest"
            and answer.json()["error"]["innerError"]["request-id"]
        )
    for taken in ("INC-1 Checkout down", "inc-1 checkout DOWN", "General"):
        answer = await create_channel(box, auth, taken)
        assert answer.status_code == 400 and answer.json()["error"]["message"] == NAME_TAKEN
    listed = await box.http.get(
        box.g(f"teams/{box.team}/channels"),
        headers=auth,
        params={"$filter": "displayName eq 'INC-1 Checkout down'"},
    )
    assert [c["id"] for c in listed.json()["value"]] == [record["id"]]


async def test_deleted_channels_keep_their_names_and_count_for_30_days(box: Sandbox) -> None:
    auth = await box.token()
    box.graph.channel_limit = 3  # General + 2
    first = (await create_channel(box, auth, "INC-1 one")).json()
    assert (await create_channel(box, auth, "INC-2 two")).status_code == 201
    deleted = await box.http.delete(box.g(f"teams/{box.team}/channels/{first['id']}"), headers=auth)
    assert deleted.status_code == 204
    listed = (await box.http.get(box.g(f"teams/{box.team}/channels"), headers=auth)).json()["value"]
    assert first["id"] not in {c["id"] for c in listed}
    assert (await create_channel(box, auth, "INC-1 one")).json()["error"]["message"] == NAME_TAKEN
    full = await create_channel(box, auth, "INC-3 three")
    assert full.status_code == 400 and "maximum number of channels" in full.json()["error"]["message"]
    now = box.tenant.clock()
    box.tenant.clock = lambda: now + DELETED_KEPT + 1
    assert (
        await create_channel(box, auth, "INC-1 one")
    ).status_code == 401  # the old token expired meanwhile
    assert (await create_channel(box, await box.token(), "INC-1 one")).status_code == 201


async def test_private_channels_need_an_owner_team_members_and_fit_the_limits(box: Sandbox) -> None:
    auth = await box.token()
    no_owner = await create_channel(box, auth, "INC-1 p", membershipType="private", members=[member(box.ana)])
    assert no_owner.status_code == 400 and "owner" in no_owner.json()["error"]["message"]
    outsider = await create_channel(
        box,
        auth,
        "INC-1 p",
        membershipType="private",
        members=[member(box.ana, "owner"), member(box.outsider)],
    )
    assert outsider.status_code == 400 and "not a member of the team" in outsider.json()["error"]["message"]
    too_many = await create_channel(
        box, auth, "INC-1 p", membershipType="private", members=[member(box.ana, "owner")] * 201
    )
    assert too_many.status_code == 400 and "200" in too_many.json()["error"]["message"]
    ok = await create_channel(
        box, auth, "INC-1 p", membershipType="private", members=[member(box.ana, "owner")]
    )
    channel = ok.json()["id"]
    assert ok.status_code == 201 and box.tenant.channels[channel]["members"] == {box.ana}
    add = box.g(f"teams/{box.team}/channels/{channel}/members")
    assert (await box.http.post(add, json=member(box.ben), headers=auth)).status_code == 201
    assert (await box.http.post(add, json=member(box.ben), headers=auth)).status_code == 409
    assert (await box.http.post(add, json=member(box.outsider), headers=auth)).status_code == 400
    box.graph.private_channel_limit = 1
    over = await create_channel(
        box, auth, "INC-2 p", membershipType="private", members=[member(box.ana, "owner")]
    )
    assert over.status_code == 400 and "private channels" in over.json()["error"]["message"]


async def test_graph_throttles_each_team_at_four_requests_a_second(box: Sandbox) -> None:
    auth = await box.token()
    box.graph.team_rps = 4
    other = box.tenant.add_team("Other", [box.ana])
    answers = [await box.http.get(box.g(f"teams/{box.team}/channels"), headers=auth) for _ in range(6)]
    assert [a.status_code for a in answers].count(429) == 2
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1 and limited.json()["error"]["code"] == "TooManyRequests"
    assert (await box.http.get(box.g(f"teams/{other}/channels"), headers=auth)).status_code == 200
    assert (await box.http.get(box.g("users"), headers=auth)).status_code == 200  # not under a team


async def test_archiving_makes_a_channel_read_only_for_the_bot(box: Sandbox) -> None:
    auth, bot = await box.token(), await box.token(BOT_SCOPE)
    channel = (await create_channel(box, auth, "INC-1 a")).json()["id"]
    archived = await box.http.post(
        box.g(f"teams/{box.team}/channels/{channel}/archive"), json={}, headers=auth
    )
    assert archived.status_code == 202 and "operations" in archived.headers["Location"]
    post = await box.http.post(
        box.c(f"conversations/{channel}/activities"), json={"type": "message", "text": "x"}, headers=bot
    )
    assert post.status_code == 403


# -- users, chats, meetings -----------------------------------------------------------------------------
async def test_users_by_mail_filter_and_by_principal_name(box: Sandbox) -> None:
    auth = await box.token()
    found = await box.http.get(
        box.g("users"),
        headers=auth,
        params={"$filter": "mail in ('ANA@example.com', 'ben@example.com', 'x@y.z')"},
    )
    assert sorted(u["mail"] for u in found.json()["value"]) == ["ana@example.com", "ben@example.com"]
    by_upn = await box.http.get(box.g("users/ben.b@example.onmicrosoft.com"), headers=auth)
    assert by_upn.json()["id"] == box.ben
    missing = await box.http.get(box.g("users/nobody@example.com"), headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"
    odd = await box.http.get(box.g("users"), headers=auth, params={"$filter": "startswith(mail, 'a')"})
    assert odd.status_code == 400 and odd.json()["error"]["code"] == "Request_UnsupportedQuery"


async def test_group_chats_and_installing_the_bot(box: Sandbox) -> None:
    auth, bot = await box.token(), await box.token(BOT_SCOPE)
    lonely = await box.http.post(
        box.g("chats"),
        headers=auth,
        json={"chatType": "group", "topic": "t", "members": [member(box.ana, "owner")]},
    )
    assert lonely.status_code == 400
    chat = (
        await box.http.post(
            box.g("chats"),
            headers=auth,
            json={
                "chatType": "group",
                "topic": "INC-7 secret",
                "members": [member(box.ana, "owner"), member(box.ben, "owner")],
            },
        )
    ).json()
    assert chat["id"].endswith("@thread.v2") and chat["chatType"] == "group"
    listed = await box.http.get(
        box.g(f"users/{box.ben}/chats"), headers=auth, params={"$filter": "chatType eq 'group'"}
    )
    assert [c["topic"] for c in listed.json()["value"]] == ["INC-7 secret"]
    message = {"type": "message", "text": "hello"}
    assert (
        await box.http.post(box.c(f"conversations/{chat['id']}/activities"), json=message, headers=bot)
    ).json()["error"]["code"] == "BotNotInConversationRoster"
    install = box.g(f"chats/{chat['id']}/installedApps")
    bind = {
        "teamsApp@odata.bind": f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{box.tenant.catalog_app_id}"
    }
    assert (await box.http.post(install, json=bind, headers=auth)).status_code == 201
    assert (await box.http.post(install, json=bind, headers=auth)).status_code == 409
    assert (
        await box.http.post(box.c(f"conversations/{chat['id']}/activities"), json=message, headers=bot)
    ).status_code == 201
    read = (await box.http.get(box.g(f"chats/{chat['id']}/messages"), headers=auth)).json()["value"]
    assert read[0]["from"]["application"]["id"] == box.tenant.app_id and "hello" in read[0]["body"]["content"]


async def test_create_or_get_returns_one_meeting_per_external_id(box: Sandbox) -> None:
    auth = await box.token()
    body = {"externalId": "warroom-1", "subject": "INC-1 bridge"}
    refused = await box.http.post(
        box.g(f"users/{box.ana}/onlineMeetings/createOrGet"), json=body, headers=auth
    )
    assert (
        refused.status_code == 403
        and refused.json()["error"]["message"] == "No application access policy found for this app."
    )
    box.tenant.policy_users.add(box.ana)
    first = await box.http.post(box.g(f"users/{box.ana}/onlineMeetings/createOrGet"), json=body, headers=auth)
    again = await box.http.post(box.g(f"users/{box.ana}/onlineMeetings/createOrGet"), json=body, headers=auth)
    assert (first.status_code, again.status_code) == (201, 200)
    assert (
        first.json()["id"] == again.json()["id"] and first.json()["joinWebUrl"] == again.json()["joinWebUrl"]
    )
    assert first.json()["joinMeetingIdSettings"]["joinMeetingId"]
    missing = await box.http.post(
        box.g(f"users/{box.ana}/onlineMeetings/createOrGet"), json={"subject": "x"}, headers=auth
    )
    assert missing.status_code == 400
    backwards = {
        "externalId": "w2",
        "startDateTime": "2030-01-01T10:00:00Z",
        "endDateTime": "2030-01-01T09:00:00Z",
    }
    assert (
        await box.http.post(
            box.g(f"users/{box.ana}/onlineMeetings/createOrGet"), json=backwards, headers=auth
        )
    ).status_code == 400


# -- the Bot Connector ----------------------------------------------------------------------------------
async def test_connector_threads_posts_and_edits_in_a_channel(box: Sandbox) -> None:
    auth, bot = await box.token(), await box.token(BOT_SCOPE)
    channel = (await create_channel(box, auth, "INC-1 c")).json()["id"]
    assert (await box.http.post(box.c("conversations"), json={}, headers={})).status_code == 401
    assert (
        await box.http.post(box.c("conversations"), json={}, headers=auth)
    ).status_code == 401  # a Graph token
    started = await box.http.post(
        box.c("conversations"),
        headers=bot,
        json={
            "isGroup": True,
            "channelData": {"channel": {"id": channel}},
            "activity": {
                "type": "message",
                "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": CARD}],
            },
        },
    )
    thread = started.json()
    assert started.status_code == 201 and thread["id"] == f"{channel};messageid={thread['activityId']}"
    reply = await box.http.post(
        box.c(f"conversations/{thread['id']}/activities"),
        headers=bot,
        json={"type": "message", "text": "in the thread"},
    )
    assert reply.status_code == 201
    edit = await box.http.put(
        box.c(f"conversations/{thread['id']}/activities/{thread['activityId']}"),
        headers=bot,
        json={
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": {**CARD, "body": []}}
            ],
        },
    )
    assert edit.status_code == 200
    posted = box.connector.posted(channel)
    assert len(posted) == 2 and len(posted[0].versions) == 2 and posted[1].reply_to == posted[0].id
    assert box.connector.cards(channel)[0][1]["body"] == []
    top = (await box.http.get(box.g(f"teams/{box.team}/channels/{channel}/messages"), headers=auth)).json()[
        "value"
    ]
    assert [m["id"] for m in top] == [thread["activityId"]]  # replies are not top-level messages
    bad_card = await box.http.post(
        box.c(f"conversations/{channel}/activities"),
        headers=bot,
        json={
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": "x"}],
        },
    )
    assert bad_card.status_code == 400
    empty = await box.http.post(
        box.c(f"conversations/{channel}/activities"), headers=bot, json={"type": "message"}
    )
    assert empty.status_code == 400
    huge = await box.http.post(
        box.c(f"conversations/{channel}/activities"),
        headers=bot,
        json={"type": "message", "text": "x" * 40_000},
    )
    assert huge.status_code == 413


async def test_connector_refuses_teams_without_the_bot_and_throttles_per_thread(box: Sandbox) -> None:
    auth, bot = await box.token(), await box.token(BOT_SCOPE)
    elsewhere = box.tenant.add_team("No bot", [box.ana], bot_installed=False)
    foreign = (
        await box.http.post(box.g(f"teams/{elsewhere}/channels"), json={"displayName": "x"}, headers=auth)
    ).json()
    refused = await box.http.post(
        box.c(f"conversations/{foreign['id']}/activities"),
        headers=bot,
        json={"type": "message", "text": "hi"},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "BotNotInConversationRoster"
    unknown = await box.http.post(
        box.c("conversations/19:nothing@thread.tacv2/activities"),
        headers=bot,
        json={"type": "message", "text": "hi"},
    )
    assert unknown.status_code == 404
    channel = (await create_channel(box, auth, "INC-1 busy")).json()["id"]
    codes = [
        (
            await box.http.post(
                box.c(f"conversations/{channel}/activities"),
                headers=bot,
                json={"type": "message", "text": f"line {i}"},
            )
        ).status_code
        for i in range(9)
    ]
    assert codes.count(201) == 7 and codes.count(429) == 2
