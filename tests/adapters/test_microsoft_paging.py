"""What on-call pages need of Microsoft, over real HTTP against the Graph and Bot Connector emulators of one tenant:
a 1:1 chat with a person is refused (403 BotNotInConversationRoster) until the app is installed for them, installing
it twice is fine, and an Entra group's users are read page by page with its other members left out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from warroom.adapters.errors import NotFound
from warroom.adapters.microsoft.connector import BotConnector, NotInRoster
from warroom.adapters.microsoft.graph import TeamsGraph, people
from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.teams.connector import ConnectorEmulator
from warroom.sandbox.teams.graph import GraphEmulator
from warroom.sandbox.teams.tenant import TeamsTenant


@dataclass
class Box:
    tenant: TeamsTenant
    graph: TeamsGraph
    connector: BotConnector
    connector_emulator: ConnectorEmulator
    graph_emulator: GraphEmulator
    users: dict[str, str]


@pytest.fixture
async def box() -> AsyncIterator[Box]:
    tenant = TeamsTenant()
    users = {e: tenant.add_user(e, n) for e, n in (("ana@example.com", "Ana Ops"), ("ben@example.com", "Ben B"),
                                                    ("chen@example.com", "Chen DBA"))}
    tenant.add_team("Ops", [users["ana@example.com"], users["ben@example.com"]])
    graph_emulator, connector_emulator = GraphEmulator(tenant, EmulatorConfig()), ConnectorEmulator(tenant, EmulatorConfig())
    await graph_emulator.start()
    await connector_emulator.start()
    token_url = f"{graph_emulator.base_url}/{tenant.tenant_id}/oauth2/v2.0/token"
    graph = TeamsGraph(graph_url=f"{graph_emulator.base_url}/v1.0", token_url=token_url, client_id=tenant.app_id,
                       client_secret=tenant.app_secret, max_retries=2)
    connector = BotConnector(service_url=connector_emulator.service_url, token_url=token_url, app_id=tenant.app_id,
                             app_password=tenant.app_secret, tenant_id=tenant.tenant_id, max_retries=2)
    yield Box(tenant, graph, connector, connector_emulator, graph_emulator, users)
    await graph.aclose()
    await connector.aclose()
    await graph_emulator.stop()
    await connector_emulator.stop()


async def test_a_chat_with_a_person_needs_the_app_installed_for_them(box: Box) -> None:
    ana = box.users["ana@example.com"]
    with pytest.raises(NotInRoster) as refused:
        await box.connector.open_personal(ana)
    assert "not in that conversation" in refused.value.reason
    await box.graph.install_app_for_user(ana, box.tenant.catalog_app_id)
    await box.graph.install_app_for_user(ana, box.tenant.catalog_app_id)  # installed already (409): fine
    assert box.tenant.bot_installed_for(ana)
    chat = await box.connector.open_personal(ana)
    assert chat == await box.connector.open_personal(ana)  # the same chat each time
    posted = await box.connector.send(chat, {"type": "message", "text": "paged"})
    assert [m.activity["text"] for m in box.connector_emulator.posted(chat)] == ["paged"]
    assert posted.conversation_id == chat == box.connector_emulator.personal_of(ana)
    installs = [c.status for c in box.graph_emulator.calls if c.op.endswith("/teamwork/installedApps")]
    assert installs == [201, 409]
    with pytest.raises(NotFound):
        await box.graph.install_app_for_user(ana, "not-in-the-catalog")


async def test_the_connector_answers_as_teams_does(box: Box) -> None:
    """The raw answers: Teams' error shape for a person without the app, a roster id of a team member allowed."""
    ben = box.users["ben@example.com"]
    auth = await box.connector._headers()
    url = f"{box.connector_emulator.service_url}v3/conversations"
    base = {"isGroup": False, "bot": {"id": f"28:{box.tenant.app_id}"}, "tenantId": box.tenant.tenant_id}
    async with httpx.AsyncClient() as http:
        refused = await http.post(url, headers=auth, json={**base, "members": [{"id": ben}]})
        assert refused.status_code == 403
        assert refused.json() == {"error": {"code": "BotNotInConversationRoster",
                                            "message": "The bot is not part of the conversation roster."}}
        roster_id = f"29:1{ben.replace('-', '')}"  # ben shares a team with the bot
        opened = await http.post(url, headers=auth, json={**base, "members": [{"id": roster_id}]})
        assert opened.status_code == 201 and opened.json()["id"].startswith("a:")
        chen = f"29:1{box.users['chen@example.com'].replace('-', '')}"  # in no team with the bot
        assert (await http.post(url, headers=auth, json={**base, "members": [{"id": chen}]})).status_code == 403


async def test_a_groups_users_are_read_page_by_page(box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(people, "MEMBERS_PAGE", 2)
    ids = box.users
    group = box.tenant.add_group("DBAs", [ids["chen@example.com"], ids["ana@example.com"], ids["ben@example.com"]],
                                 others={"11111111-0000-4000-8000-000000000001": "#microsoft.graph.group",
                                         "11111111-0000-4000-8000-000000000002": "#microsoft.graph.device"})
    box.tenant.users[ids["ben@example.com"]]["mail"] = None  # no mailbox: known by the sign-in name
    box.tenant.users[ids["ben@example.com"]]["userPrincipalName"] = "Ben.B@example.onmicrosoft.com"
    members = await box.graph.group_members(group)
    assert [(u.email, u.name) for u in members] == [("chen@example.com", "Chen DBA"), ("ana@example.com", "Ana Ops"),
                                                    ("ben.b@example.onmicrosoft.com", "Ben B")]
    reads = [c for c in box.graph_emulator.calls if c.op == "GET /groups/{group-id}/members"]
    assert len(reads) == 3  # five members, two a page
    team = next(iter(box.tenant.teams))  # a team is a Microsoft 365 group
    assert {u.email for u in await box.graph.group_members(team)} == {"ana@example.com", "ben.b@example.onmicrosoft.com"}
    with pytest.raises(NotFound):
        await box.graph.group_members("00000000-0000-4000-8000-000000000000")
