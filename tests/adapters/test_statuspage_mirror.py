"""A built-in page mirrored on Atlassian Statuspage, as configured: the settings checks (a mapped component that is
not the page's, ids without a page, a mirrored page without an API key) and ``check-config --online``'s look at the
page and component ids, against the Statuspage emulator over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from warroom.adapters.statuspage import StatuspageClient
from warroom.preflight import Outcome, run_checks
from warroom.sandbox.world import World
from warroom.settings import Settings, StatuspageSettings, check


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = await World.start()
    yield w
    await w.stop()


def shop(page_id: str, components: dict[str, str]) -> dict[str, Any]:
    return {"name": "shop", "components": [{"name": "Checkout"}, {"name": "Payments"}],
            "statuspage": {"page_id": page_id, "components": components}}


def settings_with(world: World, sqlite_url: str, *pages: dict[str, Any], api_key: bool = True,
                  others: bool = True) -> Settings:
    """The sandbox's settings with ``pages``; ``others=False``: no other outside system in use (online checks of
    Statuspage alone)."""
    data = world.settings_data(sqlite_url)
    data["status_pages"] = list(pages)
    if not api_key:
        del data["statuspage"]["api_key"]
    if not others:
        data["slack"]["enabled"] = data["xurrent"]["enabled"] = False
        data.pop("console", None)  # no web console sign-in either
        for service in data["services"]:
            service["bridge"] = "none"
    return Settings(**data)


def statuspage_outcomes(outcomes: list[Outcome]) -> list[Outcome]:
    return [o for o in outcomes if o.system == "Statuspage"]


async def test_the_mirror_settings_are_checked(world: World, sqlite_url: str) -> None:
    good = shop(world.statuspage_page, {"Checkout": world.statuspage_components["Checkout"]})
    assert check(settings_with(world, sqlite_url, good)) == []

    problems = check(settings_with(world, sqlite_url, shop("abc123", {"Checkout": "x1", "Chekout": "x2", "Payments": " "})))
    assert problems == [
        "status_pages[0] (shop) statuspage.components maps 'Chekout', which is not one of the page's components "
        "(Checkout, Payments).",
        "status_pages[0] (shop) statuspage.components maps 'Payments' to an empty id: write the Statuspage component id.",
    ]
    assert check(settings_with(world, sqlite_url, shop("", {"Checkout": "x1"}))) == [
        "status_pages[0] (shop) statuspage.components is set but statuspage.page_id is not: set the Statuspage page "
        "id (Statuspage → the page → API info) or remove the mapping."]
    [no_key] = check(settings_with(world, sqlite_url, shop("abc123", {}), api_key=False))
    assert no_key.startswith("status_pages[0] (shop) statuspage.page_id is set but statuspage.api_key is missing: "
                             "set WARROOM_STATUSPAGE__API_KEY")
    # a page that is not mirrored needs no key
    assert check(settings_with(world, sqlite_url, shop("", {}), api_key=False)) == []


async def test_check_config_online_finds_the_page_and_its_components(world: World, sqlite_url: str) -> None:
    ids = world.statuspage_components
    good = shop(world.statuspage_page, {"Checkout": ids["Checkout"], "Payments": ids["Payments"]})
    [ok] = statuspage_outcomes(await run_checks(settings_with(world, sqlite_url, good, others=False)))
    assert ok.ok and ok.message == (f"Statuspage (page {world.statuspage_page}): status_pages[0] (shop) statuspage: "
                                    "the page and its 2 mapped components exist.")

    wrong_component = shop(world.statuspage_page, {"Checkout": ids["Checkout"], "Payments": "nosuchcompo"})
    [missing] = statuspage_outcomes(await run_checks(settings_with(world, sqlite_url, wrong_component, others=False)))
    assert (missing.status, missing.key) == ("not_found", "status_pages[0] (shop) statuspage.components")
    assert "maps Payments ('nosuchcompo') to component ids the page does not have" in missing.message
    assert f"Checkout ({ids['Checkout']})" in missing.message

    [unknown] = statuspage_outcomes(await run_checks(settings_with(world, sqlite_url, shop("nosuchpage00", {}), others=False)))
    assert (unknown.status, unknown.key) == ("not_found", "status_pages[0] (shop) statuspage.page_id")
    assert "'nosuchpage00', which the API key's organisation does not have" in unknown.message

    world.statuspage.api_keys = {"another-key"}
    [refused] = statuspage_outcomes(await run_checks(settings_with(world, sqlite_url, good, others=False)))
    assert (refused.status, refused.key) == ("refused", "statuspage.api_key")
    assert "WARROOM_STATUSPAGE__API_KEY" in refused.message


async def test_only_mirrored_pages_are_checked_online(world: World, sqlite_url: str) -> None:
    assert await run_checks(settings_with(world, sqlite_url, shop("", {}), others=False)) == []


async def test_the_client_keeps_the_configured_pace() -> None:
    default = StatuspageClient.from_settings(StatuspageSettings())
    sandbox = StatuspageClient.from_settings(StatuspageSettings(pace_seconds=0.02), max_retries=1)
    try:
        assert default.pacer.interval == 1.0  # Statuspage's 1 request/s per key
        assert (sandbox.pacer.interval, sandbox.max_retries) == (0.02, 1)
    finally:
        await default.aclose()
        await sandbox.aclose()
