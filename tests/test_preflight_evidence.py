"""The online checks of the logs and metrics sources (``evidence.sources``): one cheap read each, with the source's
credentials — Loki's label names, Elasticsearch's ``GET /``, Prometheus' build information — against the emulators
over real HTTP and against a closed port, each outcome one sentence naming the key to fix; and the lines
``warroom check-config --online`` prints for them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from warroom.cli import main
from warroom.preflight import Outcome, run_checks
from warroom.sandbox.elasticsearch import ElasticsearchEmulator
from warroom.sandbox.loki import LokiEmulator
from warroom.sandbox.prometheus import PrometheusEmulator
from warroom.sandbox.world import World

from .test_preflight import config_file, free_port, world_data

PASSWORD = "loki-pw-0123456789"
ES_KEY = "ZXMta2V5OnNlY3JldA=="
PROM_TOKEN = "prom-token-0123456789"


@dataclass
class Sources:
    loki: LokiEmulator
    es: ElasticsearchEmulator
    prom: PrometheusEmulator
    closed: int

    def data(self, world: World, db_url: str, **override: dict[str, Any]) -> dict[str, Any]:
        """The sandbox's settings with only Slack besides the four sources (the last one at a closed port)."""
        data = world_data(world, db_url)
        data["teams"]["enabled"] = False
        data["ai"]["enabled"] = False
        data["xurrent"]["enabled"] = False
        for service in data["services"]:
            service["chat"], service["bridge"] = "slack", "none"
        data["services"] = [s for s in data["services"] if s["name"] != "identity"]
        sources = {
            "app-logs": {"kind": "loki", "url": self.loki.base_url, "username": "grafana", "password": PASSWORD,
                         "tenant": "team-a"},
            "es-logs": {"kind": "elasticsearch", "url": self.es.base_url, "token": ES_KEY},
            "prom": {"kind": "prometheus", "url": self.prom.base_url, "token": PROM_TOKEN},
            "audit-loki": {"kind": "loki", "url": f"http://127.0.0.1:{self.closed}", "timeout": 0.5},
        }
        for name, changes in override.items():
            sources[name].update(changes)
        data["evidence"] = {"sources": sources}
        return data


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = await World.start()
    yield w
    await w.stop()


@pytest.fixture
async def sources() -> AsyncIterator[Sources]:
    s = Sources(LokiEmulator(username="grafana", password=PASSWORD, tenant="team-a"),
                ElasticsearchEmulator(api_key=ES_KEY), PrometheusEmulator(token=PROM_TOKEN), free_port())
    for emu in (s.loki, s.es, s.prom):
        await emu.start()
    s.loki.push({"app": "checkout", "level": "error"}, datetime.now(UTC), "error: upstream timed out")
    yield s
    for emu in (s.loki, s.es, s.prom):
        await emu.stop()


async def evidence_outcomes(data: dict[str, Any]) -> dict[str, Outcome]:
    from warroom.settings import Settings

    outcomes = await run_checks(Settings(**data), probe_timeout=0.5)
    return {o.check.removeprefix("evidence source "): o for o in outcomes if o.check.startswith("evidence source ")}


async def test_each_source_is_read_once_with_its_credentials(world: World, sources: Sources, sqlite_url: str) -> None:
    said = await evidence_outcomes(sources.data(world, sqlite_url))
    assert list(said) == ["app-logs", "es-logs", "prom", "audit-loki"]
    assert [said[n].status for n in said] == ["ok", "ok", "ok", "unreachable"], [o.message for o in said.values()]
    loki, es, prom = sources.loki.base_url, sources.es.base_url, sources.prom.base_url
    assert said["app-logs"].message == (
        f"Loki (evidence source app-logs): {loki}: GET /loki/api/v1/labels answered with 2 label names.")
    assert said["es-logs"].message == (
        f"Elasticsearch (evidence source es-logs): {es}: it is Elasticsearch 8.15.0, cluster sandbox.")
    assert said["prom"].message == f"Prometheus (evidence source prom): {prom}: it is Prometheus 2.53.0."
    closed = said["audit-loki"]
    assert closed.key == "evidence.sources.audit-loki.url"
    assert closed.message == (
        f"Loki (evidence source audit-loki): http://127.0.0.1:{sources.closed} could not be reached (connection "
        "refused): check evidence.sources.audit-loki.url and that this host can reach it (DNS, firewall, proxy).")
    # one cheap read each that the credentials let through (Elasticsearch's / is also where the host was tried,
    # without them), nothing queried
    for emulator, read, query in ((sources.loki, "labels", "query_range"), (sources.es, "info", "_search"),
                                  (sources.prom, "buildinfo", "query_range")):
        assert [c.status for c in emulator.calls_to(read) if c.status == 200] == [200]
        assert emulator.calls_to(query) == []


async def test_refused_credentials_and_wrong_urls_name_the_key(
    world: World, sources: Sources, sqlite_url: str
) -> None:
    data = sources.data(
        world, sqlite_url,
        **{"app-logs": {"password": "not-the-password"}, "es-logs": {"token": "not-the-key"},
           # Prometheus' URL where Loki answers: no such API there
           "prom": {"url": sources.loki.base_url}},
    )
    said = await evidence_outcomes(data)
    loki, es, prom = said["app-logs"], said["es-logs"], said["prom"]
    assert (loki.status, loki.key) == ("refused", "evidence.sources.app-logs.token")
    assert loki.message.startswith(
        "Loki (evidence source app-logs): Loki refused the source's credentials: set evidence.sources.app-logs.username "
        "with WARROOM_EVIDENCE__SOURCES__app-logs__PASSWORD (basic), or WARROOM_EVIDENCE__SOURCES__app-logs__TOKEN "
        "(bearer), and evidence.sources.app-logs.tenant to the tenant (X-Scope-OrgID) the logs are in (")
    assert "Unauthorized" in loki.message
    assert (es.status, es.key) == ("refused", "evidence.sources.es-logs.token")
    assert "security_exception: unable to authenticate user for REST request [/]" in es.message
    assert (prom.status, prom.key) == ("not_found", "evidence.sources.prom.url")
    assert prom.message.startswith(
        f"Prometheus (evidence source prom): evidence.sources.prom.url is {sources.loki.base_url}, where no Prometheus "
        "API answers GET /api/v1/status/buildinfo: give the URL its API starts at (e.g. http://prometheus:9090) (")
    for outcome in (loki, es, prom):
        assert "not-the" not in outcome.message and outcome.message.endswith(".")

    # Loki without the tenant it keeps the logs under: Loki's own "no org id"
    said = await evidence_outcomes(sources.data(world, sqlite_url, **{"app-logs": {"tenant": ""}}))
    assert said["app-logs"].status == "refused" and "(Loki refused the credentials (no org id)" in \
        said["app-logs"].message


async def test_an_elasticsearch_key_made_for_searching_only_passes(
    world: World, sources: Sources, sqlite_url: str
) -> None:
    sources.es.monitor = False  # GET / needs the monitor cluster privilege; a search needs read on the indices
    said = await evidence_outcomes(sources.data(world, sqlite_url))
    assert said["es-logs"].ok, said["es-logs"]
    assert said["es-logs"].message == (
        f"Elasticsearch (evidence source es-logs): {sources.es.base_url}: it accepted the credentials (they may not "
        "read GET /, which needs the monitor cluster privilege; searching needs only read on the indices).")


async def test_a_source_slower_than_its_timeout(world: World, sources: Sources, sqlite_url: str) -> None:
    sources.prom.slow.seconds = 5
    said = await evidence_outcomes(sources.data(world, sqlite_url, prom={"timeout": 0.3}))
    prom = said["prom"]
    assert (prom.status, prom.key) == ("unreachable", "evidence.sources.prom.timeout")
    assert prom.message == (
        f"Prometheus (evidence source prom): {sources.prom.base_url} did not answer GET /api/v1/status/buildinfo "
        "within 0.3 s: check the source's load and the network path from this host, or raise "
        "evidence.sources.prom.timeout (a source slower than it is left out of every answer).")


async def test_check_config_online_prints_a_line_per_source(
    world: World,
    sources: Sources,
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = sources.data(world, sqlite_url)
    # the operator's way: the sources' secrets in the environment, not in the file
    del data["evidence"]["sources"]["prom"]["token"]
    del data["console"]  # the evidence sources' lines alone
    monkeypatch.setenv("WARROOM_EVIDENCE__SOURCES__prom__TOKEN", PROM_TOKEN)
    path = config_file(tmp_path, data, monkeypatch)
    assert await asyncio.to_thread(main, ["--config", path, "check-config", "--online"]) == 1
    captured = capsys.readouterr()
    out = captured.out
    assert "Online checks (5):" in out
    assert f"  ok    Loki (evidence source app-logs): {sources.loki.base_url}: GET /loki/api/v1/labels answered" in out
    assert f"  ok    Elasticsearch (evidence source es-logs): {sources.es.base_url}: it is Elasticsearch 8.15.0" in out
    assert f"  ok    Prometheus (evidence source prom): {sources.prom.base_url}: it is Prometheus 2.53.0." in out
    assert "  FAIL  Loki (evidence source audit-loki): " in out and "(connection refused)" in out
    assert "1 of 5 online check(s) failed." in captured.err
    assert PROM_TOKEN not in out + captured.err and PASSWORD not in out + captured.err
