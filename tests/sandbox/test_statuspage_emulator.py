"""The Statuspage emulator over real HTTP: the API key, record shapes, incidents with their updates and component
statuses, validation, error bodies, the rate limit, faults and the call log."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.statuspage import StatuspageEmulator

KEY = "sp-emu-key"
AUTH = {"Authorization": f"OAuth {KEY}"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ID = re.compile(r"^[a-z0-9]{12}$")


@pytest.fixture
async def sp() -> AsyncIterator[tuple[StatuspageEmulator, httpx.AsyncClient, str]]:
    emu = StatuspageEmulator(EmulatorConfig(rate_limits=False), api_key=KEY)
    base = await emu.start()
    page = emu.add_page("Acme Status")
    async with httpx.AsyncClient(base_url=f"{base}/v1", headers=AUTH) as http:
        yield emu, http, page
    await emu.stop()


async def test_the_key_is_checked(sp: tuple[StatuspageEmulator, httpx.AsyncClient, str]) -> None:
    emu, http, page = sp
    for headers in ({"Authorization": "OAuth wrong"}, {"Authorization": f"Bearer {KEY}"}):
        answer = await http.get(f"/pages/{page}/components", headers=headers)
        assert answer.status_code == 401 and answer.json() == {"error": "Could not authenticate"}
    assert (await http.get(f"/pages/{page}/components", params={"api_key": KEY}, headers={"Authorization": ""})
            ).status_code == 200
    missing = await http.get("/pages/nosuchpage00/components")
    assert missing.status_code == 404 and isinstance(missing.json()["error"], str)
    assert [c.status for c in emu.calls] == [401, 401, 200, 404]


async def test_components_have_statuspage_shapes_and_change_status(
    sp: tuple[StatuspageEmulator, httpx.AsyncClient, str],
) -> None:
    emu, http, page = sp
    cid = emu.add_component(page, "API", group_id="grp000000001")
    listed = (await http.get(f"/pages/{page}/components")).json()
    assert len(listed) == 1
    component = listed[0]
    assert ID.match(component["id"]) and component["page_id"] == page and component["group_id"] == "grp000000001"
    assert component["name"] == "API" and component["status"] == "operational"
    assert RFC3339.match(component["created_at"]) and RFC3339.match(component["updated_at"])
    changed = await http.patch(f"/pages/{page}/components/{cid}", json={"component": {"status": "major_outage"}})
    assert changed.status_code == 200 and changed.json()["status"] == "major_outage"
    assert emu.component_status(page, cid) == "major_outage"
    bad = await http.patch(f"/pages/{page}/components/{cid}", json={"component": {"status": "down"}})
    assert bad.status_code == 422 and "error" in bad.json()
    assert (await http.get(f"/pages/{page}/components/nope")).status_code == 404


async def test_an_incident_with_updates_and_component_statuses(
    sp: tuple[StatuspageEmulator, httpx.AsyncClient, str],
) -> None:
    emu, http, page = sp
    api = emu.add_component(page, "API")
    web = emu.add_component(page, "Web", status="degraded_performance")
    created = await http.post(f"/pages/{page}/incidents", json={"incident": {
        "name": "API errors", "status": "investigating", "body": "Looking into it.",
        "component_ids": [api, web], "components": {api: "partial_outage"}, "metadata": {"warroom": {"key": "k1"}},
    }})
    assert created.status_code == 201
    incident = created.json()
    assert ID.match(incident["id"]) and incident["page_id"] == page and incident["shortlink"].startswith("https://")
    assert RFC3339.match(incident["created_at"]) and incident["resolved_at"] is None
    assert incident["impact"] == "major" and incident["metadata"] == {"warroom": {"key": "k1"}}
    assert {c["id"]: c["status"] for c in incident["components"]} == {api: "partial_outage", web: "degraded_performance"}
    [first] = incident["incident_updates"]
    assert first["status"] == "investigating" and first["body"] == "Looking into it."
    assert first["affected_components"][0] == {"code": api, "name": "API", "old_status": "operational",
                                               "new_status": "partial_outage"}
    assert not any(k.startswith("_") for k in incident)

    iid = incident["id"]
    patched = (await http.patch(f"/pages/{page}/incidents/{iid}", json={"incident": {
        "status": "resolved", "body": "Fixed.", "components": {api: "operational", web: "operational"},
    }})).json()
    assert patched["status"] == "resolved" and RFC3339.match(patched["resolved_at"]) and patched["impact"] == "none"
    assert [u["status"] for u in patched["incident_updates"]] == ["resolved", "investigating"]  # newest first
    assert [u["body"] for u in emu.updates_of(page, iid)] == ["Looking into it.", "Fixed."]
    assert emu.component_status(page, api) == emu.component_status(page, web) == "operational"
    assert (await http.get(f"/pages/{page}/incidents/unresolved")).json() == []
    assert [i["id"] for i in (await http.get(f"/pages/{page}/incidents")).json()] == [iid]
    assert (await http.get(f"/pages/{page}/incidents/{iid}")).json()["name"] == "API errors"
    await http.post(f"/pages/{page}/incidents", json={"incident": {"name": "Web slow"}})
    newest = (await http.get(f"/pages/{page}/incidents", params={"limit": 1})).json()
    assert [i["name"] for i in newest] == ["Web slow"]
    assert [i["id"] for i in (await http.get(f"/pages/{page}/incidents", params={"q": "api"})).json()] == [iid]


async def test_invalid_incidents_are_refused(sp: tuple[StatuspageEmulator, httpx.AsyncClient, str]) -> None:
    emu, http, page = sp
    path = f"/pages/{page}/incidents"
    for incident, status in (
        ({"status": "investigating"}, 422),
        ({"name": "x" * 256}, 422),
        ({"name": "x", "status": "broken"}, 422),
        ({"name": "x", "impact_override": "huge"}, 422),
        ({"name": "x", "metadata": {"warroom": "flat"}}, 422),
        ({"name": "x", "components": {"ghost0000000": "major_outage"}}, 404),
    ):
        answer = await http.post(path, json={"incident": incident})
        assert answer.status_code == status, incident
        assert "error" in answer.json()
    assert (await http.post(path, json={"name": "unwrapped"})).status_code == 400
    assert emu.incidents_on(page) == []


async def test_the_rate_limit_per_key(sp: tuple[StatuspageEmulator, httpx.AsyncClient, str]) -> None:
    emu, http, page = sp
    emu.config.rate_limits = True
    emu.limit, emu.window = 2, 60.0
    answers = [await http.get(f"/pages/{page}/components") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json() == {"error": "Rate limit exceeded"} and int(answers[2].headers["Retry-After"]) >= 1
    emu.throttle_status = 420
    assert (await http.get(f"/pages/{page}/components")).status_code == 420
    assert emu.throttled == 2


async def test_faults_and_the_call_log(sp: tuple[StatuspageEmulator, httpx.AsyncClient, str]) -> None:
    emu, http, page = sp
    emu.inject("POST /pages/{page_id}/incidents", kind="after", status=500)
    answer = await http.post(f"/pages/{page}/incidents", json={"incident": {"name": "Lost answer"}})
    assert answer.status_code == 500 and len(emu.incidents_on(page)) == 1  # the effect happened
    [call] = emu.calls_to("POST /pages/{page_id}/incidents")
    assert call.status == 500 and "Lost answer" in call.body
    state = (await http.get(f"{emu.base_url}/_sandbox/state")).json()
    assert state["incidents"][page][0]["name"] == "Lost answer"
