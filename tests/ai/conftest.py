"""Fixtures for the AI responder's tests: the LLM emulator on loopback, settings pointing at it, and a sample
incident (a deploy that exhausted the database's connection pool)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from warroom.ai import AlertFact, ChangeFact, EventFact, IncidentContext
from warroom.sandbox.llm import LlmEmulator
from warroom.settings import AiSettings

KEY = "sk-test-key-0123456789"
MODEL = "sandbox-model"
T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def llm() -> AsyncIterator[LlmEmulator]:
    emu = LlmEmulator(api_keys=(KEY,), models=(MODEL,))
    await emu.start()
    yield emu
    await emu.stop()


def ai_settings(emu: LlmEmulator, **overrides: Any) -> AiSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "base_url": f"{emu.base_url}/v1",
        "model": MODEL,
        "api_key": KEY,
        "timeout": 5.0,
        "max_retries": 0,
    }
    values.update(overrides)
    return AiSettings(**values)


def incident(**overrides: Any) -> IncidentContext:
    """INC-42: checkout failing after a deploy shrank the DB pool; a decoy deploy elsewhere."""
    values: dict[str, Any] = {
        "ref": "INC-42",
        "title": "Checkout failing with HTTP 500",
        "status": "acknowledged",
        "priority": "P1",
        "service": "checkout-api",
        "details": "Customers cannot pay; about 20% of checkouts fail.",
        "assignee": "ana@example.com",
        "created_at": at(5),
        "acknowledged_at": at(7),
        "roles": {"commander": "dana@example.com"},
        "dependencies": ["orders-db"],
        "links": {
            "war_room": "https://acme.slack.com/archives/C042",
            "itsm": "https://acme.xurrent.com/requests/42",
        },
        "alerts": [
            AlertFact(
                id="a1",
                name="PostgresTooManyConnections",
                severity="critical",
                service="orders-db",
                summary="orders-db refuses connections: remaining connection slots are reserved",
                starts_at=at(0),
                generator_url="https://grafana.acme.example/alerting/a1",
            ),
            AlertFact(
                id="a2",
                name="CheckoutHigh5xxRate",
                severity="critical",
                service="checkout-api",
                summary="21% of POST /checkout return 500",
                starts_at=at(1),
                annotations={"runbook_url": "https://runbooks.acme.example/checkout"},
            ),
        ],
        "events": [
            EventFact(
                id="1",
                at=at(8),
                kind="discussion",
                actor="ben@example.com",
                text="Pods log 'could not obtain connection from pool' since the 09:52 deploy.",
            ),
            EventFact(
                id="2",
                at=at(12),
                kind="note",
                actor="dana@example.com",
                text="Rolling back checkout-api deploy-77 to restore the old pool size.",
            ),
        ],
        "changes": [
            ChangeFact(
                id="deploy-77",
                source="deploy",
                service="checkout-api",
                at=at(-8),
                title="checkout-api 7.3.0: lower DB pool timeout, new connection pool settings",
                url="https://deploy.acme.example/runs/77",
            ),
            ChangeFact(
                id="deploy-70",
                source="deploy",
                service="search-api",
                at=at(-5),
                title="search-api 2.1.0: synonyms refresh",
            ),
        ],
    }
    values.update(overrides)
    return IncidentContext(**values)
