"""Status pages in the settings: the linkage's defaults and the cross-field checks (pages, components and priorities
named must exist); the 90-day bars' arithmetic."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from warroom.settings import Settings, check
from warroom.web.statuspages import component_days


def settings(status: dict[str, Any], pages: list[dict[str, Any]] | None = None) -> Settings:
    return Settings(
        slack={"enabled": False}, xurrent={"enabled": False},
        status_pages=pages if pages is not None else [{"name": "shop", "components": [{"name": "Checkout"}]}],
        services=[{"name": "checkout-api", "responders": ["ana@example.com"], "bridge": "none", "status": status}],
    )


def test_defaults_and_a_valid_link() -> None:
    s = settings({"page": "shop", "components": ["Checkout"]})
    link = s.services[0].status
    assert link.priority_status == {"P1": "major_outage", "P2": "partial_outage", "P3": "degraded_performance"}
    assert link.monitoring_minutes == 0 and s.status_pages[0].visibility == "public"
    assert not s.status_pages[0].auto_publish
    assert [p for p in check(s) if "status" in p] == []
    assert Settings().services == [] and Settings().status_pages == []


@pytest.mark.parametrize(("status", "pages", "wanted"), [
    ({"page": "nope", "components": ["Checkout"]}, None, "status.page is 'nope', which is not in status_pages"),
    ({"page": "shop", "components": ["Cart"]}, None, "names 'Cart', which is not a component of status page 'shop'"),
    ({"page": "shop", "components": []}, None, "status.components is empty"),
    ({"components": ["Checkout"]}, None, "status.components is set but status.page is not"),
    ({"page": "shop", "components": ["Checkout"], "priority_status": {"SEV1": "major_outage"}}, None,
     "priority_status names 'SEV1'"),
    ({}, [{"name": "Shop Page"}], "status_pages[0].name is 'Shop Page'"),
    ({}, [{"name": "shop"}, {"name": "shop"}], "status_pages lists 'shop' more than once"),
    ({}, [{"name": "shop", "components": [{"name": "A"}, {"name": "A"}]}], "lists the component 'A' more than once"),
    ({}, [{"name": "shop", "visibility": "scoped"}], "is scoped but has no scopes"),
    ({}, [{"name": "shop", "components": [{"name": "A"}], "scopes": {"ops": ["B"]}}], "scope 'ops' names 'B'"),
])
def test_cross_field_checks_name_the_key(status: dict[str, Any], pages: list[dict[str, Any]] | None,
                                          wanted: str) -> None:
    problems = check(settings(status, pages))
    assert any(wanted in p for p in problems), problems


def test_unknown_statuses_and_visibilities_are_refused() -> None:
    with pytest.raises(ValidationError):
        settings({"page": "shop", "components": ["Checkout"], "priority_status": {"P1": "down"}})
    with pytest.raises(ValidationError):
        settings({}, [{"name": "shop", "visibility": "secret"}])
    with pytest.raises(ValidationError):
        settings({"page": "shop", "components": ["Checkout"], "monitoring_minutes": -1})


def test_day_bars_take_the_worst_status_of_each_day_and_uptime_weights_outages() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    rows = [
        {"status": "degraded_performance", "started_at": now - timedelta(days=2, hours=1), "ended_at": None},
    ]
    rows[0]["ended_at"] = now - timedelta(days=2)
    rows += [
        {"status": "major_outage", "started_at": now - timedelta(days=1, hours=10), "ended_at": now - timedelta(days=1, hours=9)},
        {"status": "partial_outage", "started_at": now - timedelta(hours=1), "ended_at": None},
    ]
    days, uptime = component_days(rows, now)
    assert len(days) == 90 and days[-1] == ("2026-12-06", "partial_outage")
    assert days[-2] == ("2026-12-05", "major_outage") and days[-3] == ("2026-12-04", "degraded_performance")
    assert days[-4][1] == "operational" and days[0] == ("2026-09-08", "operational")
    total = (now - datetime(2026, 9, 8, tzinfo=UTC)).total_seconds()
    assert uptime == pytest.approx(1 - (3600 + 0.3 * 3600) / total)
    assert component_days([], now)[1] == 1.0


def test_the_cli_prints_a_pages_address_and_a_signed_link_for_a_private_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from urllib.parse import parse_qs, urlsplit

    from warroom.cli import main
    from warroom.response import statuspages

    path = tmp_path / "warroom.yaml"
    path.write_text(yaml.safe_dump({
        "server": {"public_url": "https://warroom.example.com"},
        "status_pages": [{"name": "shop", "components": [{"name": "Checkout"}]},
                         {"name": "ops", "visibility": "private", "components": [{"name": "Checkout"}]},
                         {"name": "partners", "visibility": "scoped", "components": [{"name": "Card API"}],
                          "scopes": {"acquirers": ["Card API"]}}],
    }))
    monkeypatch.setenv("WARROOM_SERVER__LINK_SECRET", "s" * 32)
    assert main(["--config", str(path), "statuspage", "url", "shop"]) == 0
    assert capsys.readouterr().out.strip() == "https://warroom.example.com/status/shop"
    assert main(["--config", str(path), "statuspage", "url", "ops", "--hours", "2"]) == 0
    link = urlsplit(capsys.readouterr().out.strip())
    assert link.path == "/status/ops"
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    settings = Settings(server={"link_secret": "s" * 32})
    assert statuspages.link_ok(settings, "ops", query["expires"], query["token"])
    assert not statuspages.link_ok(settings, "ops", query["expires"], query["token"], now=time.time() + 3 * 3600)
    assert main(["--config", str(path), "statuspage", "url", "nope"]) == 1
    assert "no status page 'nope'" in capsys.readouterr().err
    assert main(["--config", str(path), "statuspage", "url", "partners"]) == 1
    assert "--scope (acquirers)" in capsys.readouterr().err
    assert main(["--config", str(path), "statuspage", "url", "partners", "--scope", "acquirers"]) == 0
    query = {k: v[0] for k, v in parse_qs(urlsplit(capsys.readouterr().out.strip()).query).items()}
    assert query["scope"] == "acquirers"
    assert statuspages.link_ok(settings, "partners", query["expires"], query["token"], scope="acquirers")
    assert not statuspages.link_ok(settings, "partners", query["expires"], query["token"], scope="finance")
