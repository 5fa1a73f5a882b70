"""XurrentClient against the Xurrent emulator over loopback HTTP: tokens, retries, pagination, errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from warroom.adapters.errors import NotFound, Permanent, RateLimited, Transient
from warroom.adapters.ports import ItsmPort, Person
from warroom.adapters.xurrent import XurrentClient
from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.xurrent import XurrentEmulator
from warroom.settings import XurrentSettings

SECRET = "adapter-secret"


@dataclass
class Env:
    emu: XurrentEmulator
    team: int
    si: int
    ana: int

    def client(
        self,
        *,
        client_secret: str = SECRET,
        account: str | None = None,
        max_retries: int = 4,
        clock: Callable[[], float] = time.monotonic,
        http: httpx.AsyncClient | None = None,
    ) -> XurrentClient:
        xc = XurrentClient(
            api_url=f"{self.emu.base_url}/v1",
            oauth_url=self.emu.base_url,
            account=account or self.emu.account,
            client_id=self.emu.client_id,
            client_secret=client_secret,
            web_url="https://wdc.xurrent.example",
            max_retries=max_retries,
            client=http,
            clock=clock,
        )
        xc.api.backoff_base = 0.01  # keep retry tests fast
        return xc


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    emu = XurrentEmulator(EmulatorConfig(), client_secret=SECRET)
    await emu.start()
    team = emu.add_team("Operations")
    si = emu.add_service_instance("checkout-api (production)", team_id=team)
    ana = emu.add_person("ana@example.com", "Ana Ops")
    yield Env(emu, team, si, ana)
    await emu.stop()


@pytest.fixture
async def xc(env: Env) -> AsyncIterator[XurrentClient]:
    client = env.client()
    yield client
    await client.aclose()


def fields(env: Env, source_id: str = "incident-1", **extra: object) -> dict[str, object]:
    return {
        "subject": "Checkout is down",
        "category": "incident",
        "impact": "top",
        "urgent": True,
        "status": "assigned",
        "note": "Major incident INC-1 declared in warroom.",
        "source": "warroom",
        "source_ID": source_id,  # the sync mapping's spelling; the REST field is sourceID
        "service_instance_id": env.si,
        **extra,
    }


async def test_implements_the_itsm_port(xc: XurrentClient) -> None:
    port: ItsmPort = xc
    assert port.request_url(70001) == "https://wdc.xurrent.example/requests/70001"


async def test_create_get_update_and_notes(env: Env, xc: XurrentClient) -> None:
    person = await xc.find_person("Ana@Example.com")
    assert person == Person(id=env.ana, name="Ana Ops", email="Ana@Example.com")
    created = await xc.create_request(fields(env, member_id=person.id))
    rid = int(created["id"])
    assert created["sourceID"] == "incident-1" and created["source"] == "warroom"
    assert created["team"]["name"] == "Operations" and created["member"]["name"] == "Ana Ops"
    assert (await xc.get_request(rid))["subject"] == "Checkout is down"
    updated = await xc.update_request(rid, {"status": "completed", "completion_reason": "solved"})
    # >=: Xurrent stamps to the second, and a change within the same second keeps updated_at (as the emulator does)
    assert updated["status"] == "completed" and updated["updated_at"] >= created["updated_at"]
    note_id = await xc.add_note(rid, "Root cause: a bad deploy.", internal=True)
    notes = await xc.list_notes(rid)
    assert [n["text"] for n in notes] == ["Major incident INC-1 declared in warroom.", "Root cause: a bad deploy."]
    assert notes[-1]["id"] == note_id and notes[-1]["internal"] is True
    assert env.emu.requests[rid]["completion_reason"] == "solved"


async def test_find_person_returns_none_when_nobody_matches(xc: XurrentClient) -> None:
    assert await xc.find_person("fay@contractor.example") is None


async def test_find_request_by_source_finds_only_its_own(env: Env, xc: XurrentClient) -> None:
    mine = await xc.create_request(fields(env, "incident-1"))
    await xc.create_request(fields(env, "incident-2"))
    env.emu.create_request({**fields(env), "source": "other-tool", "sourceID": "incident-1"})
    found = await xc.find_request_by_source("warroom", "incident-1")
    assert found is not None and found["id"] == mine["id"] and found["urgent"] is True  # the full record
    assert await xc.find_request_by_source("warroom", "incident-3") is None


async def test_get_unknown_request_is_not_found(xc: XurrentClient) -> None:
    with pytest.raises(NotFound):
        await xc.get_request(424242)


async def test_validation_error_is_permanent_with_xurrents_messages(env: Env, xc: XurrentClient) -> None:
    with pytest.raises(Permanent) as caught:
        await xc.create_request({"category": "incident", "service_instance_id": env.si})
    assert not isinstance(caught.value, NotFound)
    assert "Subject can't be blank" in caught.value.reason and "Impact can't be blank" in caught.value.reason
    assert len(env.emu.calls_to("POST /requests")) == 1  # not retried
    rid = int((await xc.create_request(fields(env)))["id"])
    with pytest.raises(Permanent) as caught:
        await xc.update_request(rid, {"status": "completed"})
    assert "Completion reason can't be blank" in caught.value.reason


# -- tokens -------------------------------------------------------------------------------------------


async def test_one_token_serves_many_calls(env: Env, xc: XurrentClient) -> None:
    rid = int((await xc.create_request(fields(env)))["id"])
    for _ in range(4):
        await xc.get_request(rid)
    await xc.find_person("ana@example.com")
    assert len(env.emu.calls_to("POST /token")) == 1 and xc.token_fetches == 1
    assert xc.calls == 6


async def test_token_refreshed_once_on_401(env: Env, xc: XurrentClient) -> None:
    rid = int((await xc.create_request(fields(env)))["id"])
    env.emu.expire_tokens()
    assert (await xc.get_request(rid))["id"] == rid
    gets = env.emu.calls_to("GET /requests/:id")
    assert [c.status for c in gets] == [401, 200]
    assert len(env.emu.calls_to("POST /token")) == 2


async def test_token_refreshed_before_it_expires(env: Env) -> None:
    now = [1000.0]
    client = env.client(clock=lambda: now[0])
    try:
        await client.find_person("ana@example.com")
        now[0] += 3600 - 30  # inside the last minute of the token's hour
        await client.find_person("ana@example.com")
    finally:
        await client.aclose()
    assert len(env.emu.calls_to("POST /token")) == 2
    assert all(c.status == 200 for c in env.emu.calls_to("GET /people"))  # no 401 was needed


async def test_bad_client_secret_is_permanent_and_says_what_to_check(env: Env) -> None:
    client = env.client(client_secret="wrong")
    try:
        with pytest.raises(Permanent) as caught:
            await client.get_request(1)
    finally:
        await client.aclose()
    assert "client secret" in caught.value.reason and "invalid_client" in caught.value.reason
    assert len(env.emu.calls_to("POST /token")) == 1
    assert env.emu.calls_to("GET /requests/:id") == []


async def test_token_endpoint_5xx_is_retried(env: Env, xc: XurrentClient) -> None:
    env.emu.inject("POST /token", "status", status=503, body={"message": "Service Unavailable"})
    assert await xc.find_person("nobody@example.com") is None
    assert [c.status for c in env.emu.calls_to("POST /token")] == [503, 200]


async def test_wrong_account_is_permanent(env: Env) -> None:
    client = env.client(account="someone-else")
    try:
        with pytest.raises(Permanent) as caught:
            await client.find_person("ana@example.com")
    finally:
        await client.aclose()
    assert "403" in caught.value.reason and "someone-else" in caught.value.reason


# -- pagination ---------------------------------------------------------------------------------------


async def test_link_pagination_across_pages(env: Env, xc: XurrentClient) -> None:
    seeded = {int(env.emu.create_request(fields(env, f"incident-{i}"))["id"]) for i in range(230)}
    seen = [r["id"] async for r in xc.requests()]
    assert len(seen) == 230 and set(seen) == seeded
    assert len(env.emu.calls_to("GET /requests")) == 3  # 100 + 100 + 30, following rel="next"
    completed = [r async for r in xc.paginate("requests", {"status": "completed"})]
    assert completed == []


# -- rate limits and failures -------------------------------------------------------------------------


async def test_short_retry_after_is_waited_inline(env: Env, xc: XurrentClient) -> None:
    env.emu.inject("GET /people", "ratelimit", retry_after=0)
    assert await xc.find_person("ana@example.com") is not None
    assert [c.status for c in env.emu.calls_to("GET /people")] == [429, 200]


async def test_real_burst_limit_is_waited_out(env: Env, xc: XurrentClient) -> None:
    env.emu.burst_limit, env.emu.burst_window = 2, 0.2
    for _ in range(3):
        await xc.find_person("ana@example.com")
    statuses = [c.status for c in env.emu.calls_to("GET /people")]
    assert statuses.count(200) == 3 and 429 in statuses


async def test_long_retry_after_raises_rate_limited(env: Env, xc: XurrentClient) -> None:
    env.emu.inject("POST /requests", "ratelimit", retry_after=120)
    with pytest.raises(RateLimited) as caught:
        await xc.create_request(fields(env))
    assert caught.value.retry_after >= 120
    assert env.emu.requests == {}


async def test_5xx_is_retried_then_transient(env: Env) -> None:
    client = env.client(max_retries=2)
    env.emu.inject("GET /requests/:id", "status", status=503, body={"message": "Service Unavailable"}, times=10)
    try:
        with pytest.raises(Transient) as caught:
            await client.get_request(1)
    finally:
        await client.aclose()
    assert not isinstance(caught.value, RateLimited)
    assert [c.status for c in env.emu.calls_to("GET /requests/:id")] == [503, 503, 503]


async def test_5xx_then_success(env: Env, xc: XurrentClient) -> None:
    rid = int((await xc.create_request(fields(env)))["id"])
    env.emu.inject("GET /requests/:id", "status", status=502, body={"message": "Bad Gateway"})
    assert (await xc.get_request(rid))["id"] == rid
    assert [c.status for c in env.emu.calls_to("GET /requests/:id")] == [502, 200]


# -- construction -------------------------------------------------------------------------------------


async def test_from_settings(env: Env) -> None:
    settings = XurrentSettings(
        account=env.emu.account,
        api_url=f"{env.emu.base_url}/v1",
        oauth_url=env.emu.base_url,
        web_url=f"{env.emu.base_url}/web",
        client_id=env.emu.client_id,
        client_secret=SecretStr(SECRET),
    )
    client = XurrentClient.from_settings(settings)
    try:
        assert (await client.me())["name"] == "Warroom Integration"
        assert client.request_url(7) == settings.request_url(7)
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("region", "environment", "link"),
    [
        ("global", "production", "https://{account}.xurrent.com/requests/{id}"),
        ("uk", "production", "https://{account}.uk.xurrent.com/requests/{id}"),
        ("au", "qa", "https://{account}.au.xurrent.qa/requests/{id}"),
        ("us", "demo", "https://{account}.xurrent-demo.com/requests/{id}"),
    ],
)
async def test_browser_links_are_on_the_account_host_of_the_region(
    env: Env, region: str, environment: str, link: str
) -> None:
    """The card's "Open ITSM request" is on the same host as the webhook issuer, whatever the API host is."""
    settings = XurrentSettings(
        account=env.emu.account,
        region=region,  # type: ignore[arg-type]
        environment=environment,  # type: ignore[arg-type]
        api_url=f"{env.emu.base_url}/v1",  # the API behind a proxy (here the emulator) moves no browser link
        oauth_url=env.emu.base_url,
        client_id=env.emu.client_id,
        client_secret=SecretStr(SECRET),
    )
    client = XurrentClient.from_settings(settings)
    try:
        rid = int((await client.create_request(fields(env)))["id"])
        expected = link.format(account=env.emu.account, id=rid)
        assert client.request_url(rid) == settings.request_url(rid) == expected
        assert expected.startswith(settings.issuer() + "/requests/")
    finally:
        await client.aclose()


async def test_an_injected_http_client_is_left_open(env: Env) -> None:
    async with httpx.AsyncClient() as shared:
        client = env.client(http=shared)
        assert await client.find_person("ana@example.com") is not None
        await client.aclose()
        assert not shared.is_closed and shared.event_hooks["response"] == []
