"""The Statuspage adapter over real HTTP against the emulator: incidents created with component statuses, updated
and resolved; component statuses set; created once when the answer is lost; the rate limit paced and honoured; the
key refused naming its setting; 404 and 422 translated; 5xx retried."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from warroom.adapters.errors import NotFound, Permanent
from warroom.adapters.statuspage import Pacer, StatuspageClient
from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.statuspage import StatuspageEmulator
from warroom.settings import SECRET_KEYS, Settings, StatuspageSettings

KEY = "sp-test-key"
CREATE = "POST /pages/{page_id}/incidents"
UPDATE = "PATCH /pages/{page_id}/incidents/{incident_id}"
UNRESOLVED = "GET /pages/{page_id}/incidents/unresolved"
COMPONENT = "GET /pages/{page_id}/components/{component_id}"


@pytest.fixture
async def emu() -> AsyncIterator[StatuspageEmulator]:
    emulator = StatuspageEmulator(EmulatorConfig(), api_key=KEY)
    # the real limit (60 requests a rolling minute per key): no test here makes that many unless it lowers it
    await emulator.start()
    emulator.add_page("Acme Status", page_id="pg1")
    emulator.add_component("pg1", "Checkout", component_id="checkout")
    emulator.add_component("pg1", "Search", component_id="search")
    yield emulator
    await emulator.stop()


@pytest.fixture
async def make(emu: StatuspageEmulator) -> AsyncIterator[Callable[..., StatuspageClient]]:
    made: list[StatuspageClient] = []

    def build(**overrides: Any) -> StatuspageClient:
        args: dict[str, Any] = {"api_key": KEY, "api_url": f"{emu.base_url}/v1", "max_retries": 2,
                                "pacer": Pacer(0.02), **overrides}
        client = StatuspageClient(**args)
        made.append(client)
        return client

    yield build
    for client in made:
        await client.aclose()


async def test_an_incident_is_created_with_component_statuses_updated_and_resolved(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    client = make()
    incident = await client.create_incident(
        "pg1", "Checkout errors", key="INC-42@pg1", body="We are looking into failed checkouts.",
        components={"checkout": "major_outage"}, deliver_notifications=False,
    )
    assert incident.page_id == "pg1" and incident.status == "investigating" and incident.key == "INC-42@pg1"
    assert incident.impact == "critical" and incident.components == {"checkout": "major_outage"}
    assert incident.shortlink.startswith("https://") and len(incident.id) == 12
    assert emu.component_status("pg1", "checkout") == "major_outage"
    assert emu.component_status("pg1", "search") == "operational"
    sent = json.loads(emu.calls_to(CREATE)[0].body)["incident"]
    assert sent["component_ids"] == ["checkout"] and sent["deliver_notifications"] is False
    assert emu.calls_to(CREATE)[0].method == "POST"

    updated = await client.update_incident(
        "pg1", incident.id, status="identified", body="A bad deploy; rolling back.",
        components={"checkout": "partial_outage"},
    )
    assert updated.status == "identified" and updated.impact == "major"
    assert [u.status for u in updated.updates] == ["identified", "investigating"]
    assert emu.component_status("pg1", "checkout") == "partial_outage"
    assert [i.id for i in await client.unresolved_incidents("pg1")] == [incident.id]

    resolved = await client.resolve_incident("pg1", incident.id, "Checkout works again.", component_ids=["checkout"])
    assert resolved.status == "resolved" and resolved.raw["resolved_at"]
    assert emu.component_status("pg1", "checkout") == "operational"
    assert [u["body"] for u in emu.updates_of("pg1", incident.id)] == [
        "We are looking into failed checkouts.", "A bad deploy; rolling back.", "Checkout works again."
    ]
    assert await client.unresolved_incidents("pg1") == []
    assert all(c.path.startswith("/v1/pages/pg1") for c in emu.calls)


async def test_component_statuses_are_listed_read_and_set(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    client = make()
    assert [c.name for c in await client.components("pg1")] == ["Checkout", "Search"]
    changed = await client.set_component_status("pg1", "search", "degraded_performance")
    assert changed.status == "degraded_performance" and changed.page_id == "pg1"
    assert (await client.component("pg1", "search")).status == "degraded_performance"
    assert emu.component_status("pg1", "search") == "degraded_performance"
    with pytest.raises(ValueError, match="not a Statuspage component status"):
        await client.set_component_status("pg1", "search", "down")  # type: ignore[arg-type]
    assert [p["id"] for p in await client.pages()] == ["pg1"]


async def test_a_lost_create_answer_does_not_create_twice(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    emu.inject(CREATE, kind="after", status=502)
    client = make()
    incident = await client.create_incident("pg1", "Checkout errors", key="INC-7@pg1",
                                            components={"checkout": "partial_outage"})
    assert len(emu.incidents_on("pg1")) == 1 and incident.id == emu.incidents_on("pg1")[0]["id"]
    assert len(emu.calls_to(CREATE)) == 1 and len(emu.calls_to(UNRESOLVED)) == 1
    # an incident of the same name but another key (or made by a person) is not adopted
    again = await client.create_incident("pg1", "Checkout errors", key="INC-8@pg1")
    assert again.id != incident.id and len(emu.incidents_on("pg1")) == 2


async def test_a_lost_answer_to_a_backfilled_resolved_incident_is_found_among_recent_ones(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    emu.inject(CREATE, kind="after", status=500)
    client = make()
    incident = await client.create_incident("pg1", "Yesterday's blip", key="INC-5@pg1", status="resolved")
    assert incident.status == "resolved" and len(emu.incidents_on("pg1")) == 1 and len(emu.calls_to(CREATE)) == 1
    assert len(emu.calls_to("GET /pages/{page_id}/incidents")) == 1


async def test_a_failed_create_is_looked_up_then_sent_again(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    emu.inject(CREATE, status=500)
    client = make()
    incident = await client.create_incident("pg1", "Search slow", key="INC-9@pg1")
    assert [c.status for c in emu.calls_to(CREATE)] == [500, 201] and len(emu.calls_to(UNRESOLVED)) == 1
    assert [i["id"] for i in emu.incidents_on("pg1")] == [incident.id]


async def test_a_lost_update_answer_does_not_post_the_update_twice(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    client = make()
    incident = await client.create_incident("pg1", "Checkout errors", key="INC-10@pg1")
    emu.inject(UPDATE, kind="after", status=503)
    updated = await client.update_incident("pg1", incident.id, status="monitoring", body="A fix is out.")
    assert updated.status == "monitoring" and len(emu.calls_to(UPDATE)) == 1
    assert [u["status"] for u in emu.updates_of("pg1", incident.id)] == ["investigating", "monitoring"]


async def test_reads_are_retried_after_a_5xx(emu: StatuspageEmulator, make: Callable[..., StatuspageClient]) -> None:
    emu.inject(COMPONENT, status=503, times=2)
    client = make()
    assert (await client.component("pg1", "checkout")).status == "operational"
    assert [c.status for c in emu.calls_to(COMPONENT)] == [503, 503, 200]


async def test_the_client_paces_itself_under_the_rate_limit(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    emu.limit, emu.window = 1, 0.2  # the real 1 request/s, scaled down (with room for loopback jitter)
    client = make(pacer=Pacer(0.4))
    for status in ("degraded_performance", "partial_outage", "major_outage", "operational"):
        await client.set_component_status("pg1", "checkout", status)  # type: ignore[arg-type]
    await client.components("pg1")
    assert emu.throttled == 0 and all(c.status == 200 for c in emu.calls)
    assert client.pacer.waited > 0


async def test_an_unpaced_client_meets_the_limit_and_honours_retry_after(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    emu.limit, emu.window = 1, 0.5
    client = make(pacer=Pacer(0.0))
    await client.component("pg1", "checkout")
    await client.component("pg1", "search")  # too soon: 429 with Retry-After: 1, waited out, sent again
    assert emu.throttled == 1
    assert [c.status for c in emu.calls] == [200, 429, 200]


async def test_a_420_without_retry_after_is_waited_out_too(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    emu.inject(CREATE, status=420, body={"error": "Enhance your calm"})
    client = make()
    await client.create_incident("pg1", "Checkout errors", key="INC-11@pg1")
    assert [c.status for c in emu.calls_to(CREATE)] == [420, 201] and len(emu.incidents_on("pg1")) == 1
    assert emu.calls_to(UNRESOLVED) == []  # a rate limit did nothing: no lookup needed


async def test_a_wrong_key_is_permanent_and_names_the_setting(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    client = make(api_key="wrong")
    with pytest.raises(Permanent, match=r"statuspage\.api_key") as caught:
        await client.create_incident("pg1", "Checkout errors", key="INC-12@pg1")
    assert "wrong" not in str(caught.value)
    assert [c.status for c in emu.calls] == [401] and emu.incidents_on("pg1") == []


async def test_unknown_ids_and_invalid_input_are_translated(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    client = make()
    with pytest.raises(NotFound, match="component id 'nope'"):
        await client.set_component_status("pg1", "nope", "major_outage")
    with pytest.raises(NotFound, match="page id 'nopage'"):
        await client.components("nopage")
    with pytest.raises(NotFound, match="no component id among 'ghost'"):
        await client.create_incident("pg1", "x", key="k", components={"ghost": "major_outage"})
    with pytest.raises(Permanent, match="Name can't be blank") as caught:
        await client.create_incident("pg1", "", key="INC-13@pg1")
    assert not isinstance(caught.value, NotFound)


async def test_the_settings_section_and_its_secret() -> None:
    assert ("statuspage", "api_key") in SECRET_KEYS
    assert Settings.model_fields["statuspage"].annotation is StatuspageSettings
    assert StatuspageSettings().api_url == "https://api.statuspage.io/v1"
    client = StatuspageClient.from_settings(StatuspageSettings(api_key=SecretStr("k"), timeout=5))
    assert client.api_url == "https://api.statuspage.io/v1"
    await client.aclose()


async def test_every_attempt_is_observed_as_statuspage(
    emu: StatuspageEmulator, make: Callable[..., StatuspageClient]
) -> None:
    seen: list[tuple[str, str]] = []
    emu.inject(COMPONENT, status=502)
    client = make(observe=lambda system, outcome: seen.append((system, outcome)))
    await client.component("pg1", "checkout")
    with pytest.raises(NotFound):
        await client.component("pg1", "nope")
    assert seen == [("statuspage", "transient"), ("statuspage", "ok"), ("statuspage", "not_found")]
