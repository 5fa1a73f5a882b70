"""The Xurrent emulator over real HTTP: OAuth, the account header, validation, collections, notes, rate limits."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.xurrent import AuditLine, XurrentEmulator

SECRET = "test-secret"


@dataclass
class Env:
    emu: XurrentEmulator
    http: httpx.AsyncClient
    headers: dict[str, str]
    team: int
    si: int
    ana: int

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(f"/v1{path}", json=body, headers=self.headers)

    async def get(self, path: str, params: Any = None) -> httpx.Response:
        return await self.http.get(f"/v1{path}", params=params, headers=self.headers)

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.http.patch(f"/v1{path}", json=body, headers=self.headers)


async def token(http: httpx.AsyncClient, secret: str = SECRET) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": "warroom-sandbox", "client_secret": secret}
    return await http.post("/token", data=form)


async def start(emu: XurrentEmulator) -> Env:
    base = await emu.start()
    http = httpx.AsyncClient(base_url=base)
    team = emu.add_team("Operations")
    si = emu.add_service_instance("checkout-api (production)", team_id=team)
    ana = emu.add_person("ana@example.com", "Ana Ops")
    access = (await token(http)).json()["access_token"]
    headers = {"Authorization": f"Bearer {access}", "X-Xurrent-Account": emu.account}
    return Env(emu, http, headers, team, si, ana)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emu = XurrentEmulator(EmulatorConfig(), client_secret=SECRET)
    e = await start(emu)
    yield e
    await e.http.aclose()
    await emu.stop()


def valid(env: Env, **extra: Any) -> dict[str, Any]:
    return {"subject": "Checkout down", "category": "incident", "impact": "top", "service_instance_id": env.si, **extra}


# -- OAuth and the gate ------------------------------------------------------------------------------


async def test_token_for_form_credentials_and_basic_auth(env: Env) -> None:
    answer = await token(env.http)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["access_token"]
    basic = base64.b64encode(f"warroom-sandbox:{SECRET}".encode()).decode()
    answer = await env.http.post(
        "/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert answer.status_code == 200 and answer.json()["access_token"]


async def test_token_refused_for_a_bad_secret_and_other_grants(env: Env) -> None:
    bad = await token(env.http, secret="wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    other = await env.http.post("/token", data={"grant_type": "password", "client_id": "warroom-sandbox"})
    assert other.status_code == 400 and other.json()["error"] == "unsupported_grant_type"


async def test_api_needs_a_token_and_the_account_header(env: Env) -> None:
    no_token = await env.http.get("/v1/requests", headers={"X-Xurrent-Account": "wdc"})
    assert no_token.status_code == 401 and no_token.json() == {"message": "Unauthorized"}
    bearer = {"Authorization": env.headers["Authorization"]}
    missing = await env.http.get("/v1/requests", headers=bearer)
    assert missing.status_code == 403 and "X-Xurrent-Account" in missing.json()["message"]
    wrong = await env.http.get("/v1/requests", headers={**bearer, "X-Xurrent-Account": "other"})
    assert wrong.status_code == 403 and "other" in wrong.json()["message"]
    older = await env.http.get("/v1/requests", headers={**bearer, "X-4me-Account": "wdc"})
    assert older.status_code == 200


async def test_expired_tokens_get_401() -> None:
    emu = XurrentEmulator(EmulatorConfig(), client_secret=SECRET, token_lifetime=0)
    env = await start(emu)
    try:
        answer = await env.get("/requests")
        assert answer.status_code == 401 and answer.json() == {"message": "Unauthorized"}
    finally:
        await env.http.aclose()
        await emu.stop()


async def test_expire_tokens_ends_tokens_already_handed_out(env: Env) -> None:
    assert (await env.get("/requests")).status_code == 200
    env.emu.expire_tokens()
    assert (await env.get("/requests")).status_code == 401


async def test_unknown_paths_and_ids_answer_not_found(env: Env) -> None:
    for path in ("/requests/999", "/requests/999/notes", "/people/999", "/teams/999", "/service_instances/999", "/nothing"):
        answer = await env.get(path)
        assert answer.status_code == 404 and answer.json() == {"message": "Not Found"}, path
    assert (await env.patch("/requests/999", {"subject": "x"})).status_code == 404


# -- creating and validating requests ----------------------------------------------------------------


async def test_create_returns_the_full_request(env: Env) -> None:
    answer = await env.post(
        "/requests",
        valid(env, urgent=True, member_id=env.ana, note="Details first", source="warroom", sourceID="incident-7"),
    )
    assert answer.status_code == 201
    r = answer.json()
    assert r["subject"] == "Checkout down" and r["category"] == "incident" and r["impact"] == "top"
    assert r["urgent"] is True and r["status"] == "assigned" and r["completion_reason"] is None
    assert r["service_instance"] == {"id": env.si, "name": "checkout-api (production)"}
    assert r["team"] == {"id": env.team, "name": "Operations"}  # defaulted from the service instance
    assert r["member"] == {"id": env.ana, "name": "Ana Ops"}
    assert r["source"] == "warroom" and r["sourceID"] == "incident-7"
    assert r["created_at"].endswith("Z") and r["updated_at"] == r["created_at"]
    assert "major_incident_status" in r
    notes = env.emu.notes(r["id"])
    assert [(n["text"], n["internal"]) for n in notes] == [("Details first", False)]
    assert env.emu.requests[r["id"]]["sourceID"] == "incident-7"


def errors_of(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["message"] == "Validation Failed"
    return {field: message for field, message in body["errors"]}


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"subject": None}, "subject", "Subject can't be blank"),
        ({"subject": "x" * 256}, "subject", "Subject is too long (maximum is 255 characters)"),
        ({"category": None}, "category", "Category can't be blank"),
        ({"category": "outage"}, "category", "Category is not included in the list"),
        ({"impact": None}, "impact", "Impact can't be blank"),
        ({"impact": "huge"}, "impact", "Impact is not included in the list"),
        ({"status": "closed"}, "status", "Status is not included in the list"),
        ({"status": "completed"}, "completion_reason", "Completion reason can't be blank"),
        ({"status": "completed", "completion_reason": "fixed"}, "completion_reason", "Completion reason is not included in the list"),
        ({"major_incident_status": "big"}, "major_incident_status", "Major incident status is not included in the list"),
        ({"service_instance_id": 999}, "service_instance", "Service instance must exist"),
        ({"member_id": 999}, "member", "Member must exist"),
        ({"service_instance_id": None}, "team", "Team can't be blank"),
        ({"sourceID": "x" * 129}, "sourceID", "Source ID is too long (maximum is 128 characters)"),
    ],
)
async def test_create_validation(env: Env, change: dict[str, Any], field: str, message: str) -> None:
    body = {k: v for k, v in {**valid(env), **change}.items() if v is not None}
    errors = errors_of(await env.post("/requests", body))
    assert errors[field] == message
    assert env.emu.requests == {}


async def test_impact_is_optional_outside_incidents(env: Env) -> None:
    answer = await env.post("/requests", {"subject": "Add a rack", "category": "rfc", "team_id": env.team})
    assert answer.status_code == 201 and answer.json()["impact"] is None


async def test_rfc_requests_live_through_their_statuses_with_their_webhook_events(env: Env) -> None:
    """A task's RFC: category rfc on a service instance (team from it), created by source/sourceID, moved through
    the statuses an RFC takes (declined, waiting, completed and reopened), each change audited with its events."""
    seen: list[AuditLine] = []
    env.emu.listeners.append(seen.append)
    body = {"subject": "Add a canary stage", "category": "rfc", "service_instance_id": env.si, "status": "assigned",
            "internal_note": "Task details", "source": "warroom", "sourceID": "task-3"}
    created = await env.post("/requests", body)
    assert created.status_code == 201
    r = created.json()
    assert r["category"] == "rfc" and r["impact"] is None and r["team"]["id"] == env.team
    found = await env.get("/requests", {"source": "warroom", "sourceID": "task-3", "category": "rfc"})
    assert [x["id"] for x in found.json()] == [r["id"]]
    for status in ("in_progress", "waiting_for", "declined", "assigned"):
        answer = await env.patch(f"/requests/{r['id']}", {"status": status})
        assert answer.status_code == 200 and answer.json()["status"] == status
    assert (await env.patch(f"/requests/{r['id']}", {"status": "completed"})).status_code == 422
    done = await env.patch(f"/requests/{r['id']}", {"status": "completed", "completion_reason": "solved"})
    assert done.json()["completion_reason"] == "solved"
    reopened = await env.patch(f"/requests/{r['id']}", {"status": "in_progress"})
    assert reopened.json()["completion_reason"] is None and reopened.json()["reopen_count"] == 1
    assert [line.events for line in seen][:2] == [["request.create"], ["request.update", "request.status-changed"]]
    assert all("request.status-changed" in line.events for line in seen[1:])
    refused = await env.patch(f"/requests/{r['id']}", {"major_incident_status": "proposed"})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [["major_incident_status", "Major incident status can only be set on incidents"]]


async def test_every_missing_field_is_reported_at_once(env: Env) -> None:
    errors = errors_of(await env.post("/requests", {"impact": "medium"}))
    assert errors == {"subject": "Subject can't be blank", "category": "Category can't be blank", "team": "Team can't be blank"}


class Clock:
    """Xurrent's clock for a test, moved by hand (from 2026-01-01T00:00:00Z)."""

    def __init__(self, at: float = 1_767_225_600.0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at

    def tick(self, seconds: float = 1.0) -> None:
        self.at += seconds


def manual_clock(env: Env) -> Clock:
    clock = Clock()
    env.emu.clock = clock
    return clock


async def test_patch_validates_adds_notes_and_moves_updated_at(env: Env) -> None:
    clock = manual_clock(env)
    created = (await env.post("/requests", valid(env))).json()
    rid = created["id"]
    errors = errors_of(await env.patch(f"/requests/{rid}", {"status": "completed"}))
    assert errors == {"completion_reason": "Completion reason can't be blank"}
    clock.tick()
    first = (await env.patch(f"/requests/{rid}", {"status": "accepted", "member_id": env.ana})).json()
    assert first["status"] == "accepted" and first["member"]["name"] == "Ana Ops"
    assert first["updated_at"] > created["updated_at"]
    clock.tick()
    second = (await env.patch(f"/requests/{rid}", {"internal_note": "Only for specialists"})).json()
    assert second["updated_at"] > first["updated_at"]
    clock.tick()
    done = (await env.patch(f"/requests/{rid}", {"status": "completed", "completion_reason": "solved"})).json()
    assert done["status"] == "completed" and done["completion_reason"] == "solved" and done["completed_at"]
    assert done["updated_at"] > second["updated_at"]
    assert [(n["text"], n["internal"]) for n in env.emu.notes(rid)] == [("Only for specialists", True)]
    reopened = (await env.patch(f"/requests/{rid}", {"status": "assigned"})).json()
    assert reopened["completion_reason"] is None and reopened["completed_at"] is None and reopened["reopen_count"] == 1


async def test_changes_are_audited_with_their_webhook_events(env: Env) -> None:
    seen: list[AuditLine] = []
    env.emu.listeners.append(seen.append)
    rid = (await env.post("/requests", valid(env))).json()["id"]
    await env.patch(f"/requests/{rid}", {"status": "accepted", "member_id": env.ana, "note": "On it"})
    env.emu.update_request(rid, {"impact": "high"}, person_id=env.ana)  # an agent in Xurrent's UI
    assert [line.events for line in seen] == [
        ["request.create"],
        ["request.update", "request.status-changed", "request.member-changed", "request.note-added"],
        ["request.update"],
    ]
    assert seen[1].changes["status"] == ["assigned", "accepted"] and seen[1].note_id is not None
    assert seen[2].person == {"id": env.ana, "name": "Ana Ops"} and seen[2].changes["impact"] == ["top", "high"]
    assert env.emu.audit == seen


# -- notes --------------------------------------------------------------------------------------------


async def test_notes_post_and_list_ascending(env: Env) -> None:
    clock = manual_clock(env)
    rid = (await env.post("/requests", valid(env, note="first"))).json()["id"]
    before = (await env.get(f"/requests/{rid}")).json()["updated_at"]
    clock.tick()
    posted = await env.post(
        f"/requests/{rid}/notes", {"text": "second", "internal": True, "suppress_note_added_notifications": True}
    )
    assert posted.status_code == 201 and isinstance(posted.json()["id"], int)
    await env.post(f"/requests/{rid}/notes", {"text": "third"})
    notes = (await env.get(f"/requests/{rid}/notes")).json()
    assert [n["text"] for n in notes] == ["first", "second", "third"]
    assert [n["id"] for n in notes] == sorted(n["id"] for n in notes)
    assert notes[1]["internal"] is True and notes[0]["person"]["name"] and notes[0]["created_at"].endswith("Z")
    internal = (await env.get(f"/requests/{rid}/notes/internal")).json()
    assert [n["text"] for n in internal] == ["second"]
    assert (await env.get(f"/requests/{rid}")).json()["updated_at"] > before


async def test_changes_within_one_second_share_the_updated_at_and_notes_keep_their_visibility(env: Env) -> None:
    """Xurrent shows timestamps to the second: a change in the same second as the last leaves updated_at as it was,
    so only a read after that second is over is sure to have seen it. Notes are internal or public, as posted."""
    clock = manual_clock(env)
    rid = (await env.post("/requests", valid(env))).json()["id"]
    read = (await env.get(f"/requests/{rid}")).json()
    clock.tick(0.4)  # the same second
    env.emu.update_request(rid, {"impact": "high"}, person_id=env.ana)
    env.emu.add_note(rid, "Desk only", internal=True, person_id=env.ana)
    await env.post(f"/requests/{rid}/notes", {"text": "For the requester", "internal": False})
    after = (await env.get(f"/requests/{rid}")).json()
    assert after["impact"] == "high" and after["updated_at"] == read["updated_at"]
    assert (await env.get("/requests", {"updated_at": f">{read['updated_at']}"})).json() == []
    assert [r["id"] for r in (await env.get("/requests", {"updated_at": f">={read['updated_at']}"})).json()] == [rid]
    clock.tick(1)
    env.emu.update_request(rid, {"impact": "top"}, person_id=env.ana)
    assert (await env.get(f"/requests/{rid}")).json()["updated_at"] > read["updated_at"]
    shown = [(n["text"], n["internal"]) for n in (await env.get(f"/requests/{rid}/notes")).json()]
    assert shown == [("Desk only", True), ("For the requester", False)]
    public = (await env.get(f"/requests/{rid}/notes/public")).json()
    assert [n["text"] for n in public] == ["For the requester"]


async def test_note_text_is_required(env: Env) -> None:
    rid = (await env.post("/requests", valid(env))).json()["id"]
    errors = errors_of(await env.post(f"/requests/{rid}/notes", {"text": "  "}))
    assert errors == {"text": "Text can't be blank"}


# -- collections --------------------------------------------------------------------------------------


def seed(env: Env, count: int, **extra: Any) -> list[int]:
    return [int(env.emu.create_request(valid(env, subject=f"r{i}", **extra))["id"]) for i in range(count)]


def links(answer: httpx.Response) -> dict[str, dict[str, str]]:
    return {rel: dict(httpx.URL(link["url"]).params) for rel, link in answer.links.items() if rel}


async def test_pagination_headers_and_link(env: Env) -> None:
    ids = seed(env, 45)
    first = await env.get("/requests")
    assert len(first.json()) == 20 and first.headers["X-Pagination-Per-Page"] == "20"
    answer = await env.get("/requests", {"per_page": 20, "page": 2})
    h = answer.headers
    assert (h["X-Pagination-Current-Page"], h["X-Pagination-Total-Pages"], h["X-Pagination-Total-Entries"]) == ("2", "3", "45")
    rels = links(answer)
    assert {rel: p["page"] for rel, p in rels.items()} == {"first": "1", "prev": "1", "next": "3", "last": "3"}
    assert rels["next"]["per_page"] == "20"
    assert [r["id"] for r in answer.json()] == sorted(ids, reverse=True)[20:40]  # descending by id
    last = await env.get("/requests", {"per_page": 20, "page": 3})
    assert len(last.json()) == 5 and "next" not in links(last)
    capped = await env.get("/requests", {"per_page": 500})
    assert capped.headers["X-Pagination-Per-Page"] == "100" and len(capped.json()) == 45
    bad = await env.get("/requests", {"per_page": 0})
    assert bad.status_code == 400 and bad.json() == {"message": "Parameter 'per_page' cannot be less than 1"}


async def test_collections_show_collection_fields_unless_fields_asks(env: Env) -> None:
    seed(env, 1, source="warroom", sourceID="incident-1")
    row = (await env.get("/requests")).json()[0]
    assert "sourceID" in row and "urgent" not in row and "source" not in row
    row = (await env.get("/requests", {"fields": "source,urgent"})).json()[0]
    assert set(row) == {"id", "source", "urgent"}


async def test_filters(env: Env) -> None:
    now = [1_767_225_600.0]  # 2026-01-01T00:00:00Z, moved by hand
    env.emu.clock = lambda: now[0]
    a, b, c = seed(env, 3)
    now[0] += 1
    env.emu.update_request(b, {"status": "accepted", "member_id": env.ana})
    now[0] += 1
    env.emu.update_request(c, {"status": "completed", "completion_reason": "solved"})
    env.emu.update_request(c, {"impact": "low"})  # c changed a second after b

    async def ids(params: dict[str, str], path: str = "/requests") -> set[int]:
        answer = await env.get(path, params)
        assert answer.status_code == 200, answer.text
        return {r["id"] for r in answer.json()}

    assert await ids({"status": "assigned,accepted"}) == {a, b}
    assert await ids({"status": "!completed"}) == {a, b}
    assert await ids({"member": ""}) == {a, c}
    assert await ids({"member": "!"}) == {b}
    assert await ids({"member": str(env.ana)}) == {b}
    assert await ids({}, "/requests/open") == {a, b}
    assert await ids({"no_such_filter": "x"}) == {a, b, c}  # unknown filters are ignored, as Xurrent does
    stamps = {r["id"]: r["updated_at"] for r in (await env.get("/requests")).json()}
    assert await ids({"updated_at": f">={stamps[c]}"}) == {c}
    assert await ids({"updated_at": f"<={stamps[a]}"}) == {a}
    assert await ids({"updated_at": f">={stamps[a]}<={stamps[b]}"}) == {a, b}
    bad = await env.get("/requests", {"updated_at": ">=yesterday"})
    assert bad.status_code == 400


async def test_filter_by_source_and_source_id(env: Env) -> None:
    mine = seed(env, 1, source="warroom", sourceID="incident-1")[0]
    seed(env, 1, source="warroom", sourceID="incident-2")
    seed(env, 1, source="other-tool", sourceID="incident-1")
    answer = await env.get("/requests", {"source": "warroom", "sourceID": "incident-1"})
    assert [r["id"] for r in answer.json()] == [mine]


async def test_people_by_primary_email(env: Env) -> None:
    found = (await env.get("/people", {"primary_email": "ANA@Example.com", "fields": "name,primary_email"})).json()
    assert found == [{"id": env.ana, "name": "Ana Ops", "primary_email": "ana@example.com"}]
    assert (await env.get("/people", {"primary_email": "nobody@example.com"})).json() == []
    person = (await env.get(f"/people/{env.ana}")).json()
    assert person["primary_email"] == "ana@example.com"
    si = (await env.get(f"/service_instances/{env.si}")).json()
    assert si["name"] == "checkout-api (production)" and si["support_team"] == {"id": env.team, "name": "Operations"}
    assert (await env.get(f"/teams/{env.team}")).json()["name"] == "Operations"
    assert env.ana in env.emu.people and env.emu.api_user["id"] not in env.emu.people


async def test_sandbox_state(env: Env) -> None:
    seed(env, 2)
    state = (await env.http.get("/_sandbox/state")).json()
    assert len(state["requests"]) == 2 and len(state["audit"]) == 2 and state["account"] == "wdc"


# -- rate limits --------------------------------------------------------------------------------------


async def test_rate_limit_headers_on_every_response(env: Env) -> None:
    first = await env.get("/requests")
    second = await env.get("/requests/999")
    assert first.headers["x-ratelimit-limit"] == "3600"
    assert int(second.headers["x-ratelimit-remaining"]) == int(first.headers["x-ratelimit-remaining"]) - 1
    assert int(first.headers["x-ratelimit-reset"]) > 1_700_000_000


async def test_burst_limit_answers_429(env: Env) -> None:
    env.emu.burst_limit = 3
    answers = [await env.get("/requests") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.json()["message"] == "Too Many Requests"
    assert int(limited.headers["Retry-After"]) >= 1 and "x-ratelimit-reset" in limited.headers


async def test_hourly_limit_answers_429(env: Env) -> None:
    env.emu.hourly_limit = 2
    answers = [await env.get("/requests") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[1].headers["x-ratelimit-remaining"] == "0"
    assert answers[2].headers["x-ratelimit-remaining"] == "0"
    assert int(answers[2].headers["Retry-After"]) > 3000  # the hour window has just begun


async def test_rate_limits_can_be_switched_off() -> None:
    emu = XurrentEmulator(EmulatorConfig(rate_limits=False), client_secret=SECRET, burst_limit=1)
    env = await start(emu)
    try:
        assert [(await env.get("/requests")).status_code for _ in range(3)] == [200, 200, 200]
    finally:
        await env.http.aclose()
        await emu.stop()


async def test_injected_rate_limit_uses_xurrent_shape(env: Env) -> None:
    env.emu.inject("GET /requests", "ratelimit", retry_after=30)
    answer = await env.get("/requests")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "30"
    assert answer.json()["documentation_url"].startswith("https://developer.xurrent.com")
    assert env.emu.calls_to("GET /requests")[-1].status == 429
