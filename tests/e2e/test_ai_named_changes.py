"""A change by another team is weighed once the responders name its service in the war room: the incident's
context (read from the database) holds the changes on its own service, its dependencies and the services that
alerted, and those on any other service somebody named in a note or the discussion or whose title they quote (with
that service's alerts around the start) — not the rest of the estate's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from warroom.ai import Assistant
from warroom.response.ai.context import load_context
from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.world import INTAKE_TOKEN
from warroom.settings import AiSettings

from .helpers import critical_alert, open_room, settle

AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


def _at(minutes_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def changes_seen(h: Harness, incident: int) -> set[str]:
    ctx = await load_context(h.runtime.store, h.settings, incident, evidence=False)
    assert ctx is not None
    return {c.id for c in ctx.changes}


async def test_a_change_on_a_service_the_responders_name_joins_the_context(harness: Harness) -> None:
    h = harness
    events = [
        {"id": "deploy-b1", "service": "billing-api", "at": _at(20), "kind": "database",
         "title": "billing-api 12.1.0 with migration 0412 (ALTER TABLE accounts)"},
        {"id": "deploy-m1", "service": "marketing-site", "at": _at(15), "title": "marketing-site spring banner"},
        {"id": "deploy-c1", "service": "checkout-api", "at": _at(10), "title": "checkout-api 7.3.1"},
    ]
    assert (await h.http.post("/events/changes", json=events, headers=AUTH)).status_code == 202
    incident, channel, _ = await open_room(h)
    assert await changes_seen(h, incident) == {"deploy-c1"}  # nobody has named another service yet

    ana = h.world.slack.add_user("ana@example.com", "Ana Lopez")
    # a service named inside another word is no mention of it
    await h.slack.event({"type": "message", "channel": channel, "user": ana, "ts": "1700000300.000100",
                         "text": "is the pre-marketing-site-check job running?"})
    await settle(h)
    assert await changes_seen(h, incident) == {"deploy-c1"}

    await h.slack.event({"type": "message", "channel": channel, "user": ana, "ts": "1700000301.000100",
                         "text": "Locks on the accounts table, held by a migration from Billing-API"})
    await settle(h)
    assert await changes_seen(h, incident) == {"deploy-c1", "deploy-b1"}


@pytest.fixture
async def with_network(db_url: str) -> AsyncIterator[Harness]:
    """The sandbox's services and network-core (which checkout-api is not configured to depend on)."""

    def tweak(data: dict[str, Any]) -> None:
        data["services"].append({"name": "network-core", "chat": "slack", "bridge": "none", "itsm": {"enabled": False}})

    h = await Harness.start(db_url, tweak=tweak)
    yield h
    await h.stop()


async def test_a_change_whose_title_the_responders_quote_joins_with_its_services_alerts(with_network: Harness) -> None:
    """The network's maintenance on a service nobody configured as a dependency: once the responders quote what it
    did, the change and the network's own alert (no incident of its own: below the declare threshold) are weighed,
    and the change is ranked first."""
    h = with_network
    events = [
        {"id": "RFC-9110", "service": "network-core", "at": _at(25), "kind": "infrastructure",
         "title": "Firmware upgrade of core switches cs-b1 and cs-b2 (az-b)"},
        {"id": "deploy-n2", "service": "network-core", "at": _at(30), "title": "Rotate the NOC dashboard banner"},
    ]
    assert (await h.http.post("/events/changes", json=events, headers=AUTH)).status_code == 202
    started = (datetime.now(UTC) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    network = alertmanager_payload([{
        "labels": {"alertname": "NodeNetworkTCPRetransmitsHigh", "service": "network-core", "severity": "warning"},
        "annotations": {"summary": "TCP retransmits 6% on nodes in az-b"}, "startsAt": started}])
    assert (await h.post_alerts(network)).status_code == 202
    incident, channel, _ = await open_room(h, critical_alert(startsAt=started))
    assert await changes_seen(h, incident) == set()

    eli = h.world.slack.add_user("eli@example.com", "Eli Network")
    await h.slack.event({"type": "message", "channel": channel, "user": eli, "ts": "1700000400.000100",
                         "text": "Packet loss in az-b since the switch maintenance; asking network to pause the "
                                 "firmware upgrade"})
    await settle(h)
    ctx = await load_context(h.runtime.store, h.settings, incident, evidence=False)
    assert ctx is not None
    assert {c.id for c in ctx.changes} == {"RFC-9110"}  # the banner's title is not what they said
    assert [a.name for a in ctx.related_alerts] == ["NodeNetworkTCPRetransmitsHigh"]
    rca = await Assistant(AiSettings()).rca(ctx)
    assert rca.causes[0].key == "change:RFC-9110", [c.key for c in rca.causes]
