"""The evidence clients' shared construction and their cheap read (``ping``, what ``check-config --online`` asks),
against the Loki, Elasticsearch and Prometheus emulators over real HTTP: built from a source's settings (secrets,
tenant, the shared HTTP client — Prometheus' too), the read answered with what the source says of itself, refused
credentials a :class:`~warroom.adapters.query_api.CredentialsRefused` in the source's words, and a path where no such
API answers a plain not-found (not a query's refusal)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from warroom.adapters.elasticsearch import ElasticsearchClient
from warroom.adapters.errors import NotFound
from warroom.adapters.loki import LokiClient
from warroom.adapters.prometheus import PrometheusClient
from warroom.adapters.query_api import CredentialsRefused
from warroom.sandbox.elasticsearch import ElasticsearchEmulator
from warroom.sandbox.loki import LokiEmulator
from warroom.sandbox.prometheus import PrometheusEmulator
from warroom.settings.model import EvidenceSourceSettings


async def test_built_from_settings_and_read_cheaply() -> None:
    async with LokiEmulator(token="t0k", tenant="team-a") as loki, PrometheusEmulator(token="p0k") as prom, \
            ElasticsearchEmulator(username="elastic", password="pw") as es:
        assert isinstance(loki, LokiEmulator) and isinstance(prom, PrometheusEmulator)
        assert isinstance(es, ElasticsearchEmulator)
        loki.push({"app": "checkout"}, datetime.now(UTC), "error")
        async with httpx.AsyncClient(timeout=3) as http:
            clients = [
                LokiClient.from_settings(EvidenceSourceSettings(kind="loki", url=loki.base_url, token="t0k",
                                                                tenant="team-a"), client=http),
                PrometheusClient.from_settings(EvidenceSourceSettings(kind="prometheus", url=prom.base_url,
                                                                      token="p0k"), client=http, max_series=3),
                ElasticsearchClient.from_settings(EvidenceSourceSettings(
                    kind="elasticsearch", url=es.base_url, username="elastic", password="pw"), client=http),
            ]
            assert all(c.http is http for c in clients)  # one HTTP client for every source, Prometheus' too
            assert [await c.ping() for c in clients] == [
                "GET /loki/api/v1/labels answered with 1 label name",
                "it is Prometheus 2.53.0",
                "it is Elasticsearch 8.15.0, cluster sandbox",
            ]
            assert isinstance(clients[1], PrometheusClient) and clients[1].max_series == 3
            for c in clients:
                await c.aclose()
            assert http.event_hooks["response"] == []  # each took its hook off the shared client
        assert loki.calls_to("labels")[0].status == 200


async def test_refusals_of_the_cheap_read() -> None:
    async with PrometheusEmulator(token="p0k") as prom, LokiEmulator(token="t0k", tenant="team-a") as loki:
        assert isinstance(prom, PrometheusEmulator) and isinstance(loki, LokiEmulator)
        wrong = PrometheusClient(url=prom.base_url, token="nope")
        with pytest.raises(CredentialsRefused) as refused:
            await wrong.ping()
        assert refused.value.status == 401
        assert refused.value.reason == ("Prometheus refused the credentials (HTTP 401: Unauthorized): check the "
                                        "source's token or username and password")
        await wrong.aclose()
        untenanted = LokiClient(url=loki.base_url, token="t0k")
        with pytest.raises(CredentialsRefused, match=r"\(no org id\)"):
            await untenanted.ping()
        await untenanted.aclose()
        # Prometheus asked where Loki answers: not found, said as such (not "Loki refused the query")
        elsewhere = PrometheusClient(url=loki.base_url)
        with pytest.raises(NotFound, match=r"^Prometheus: GET /api/v1/status/buildinfo: HTTP 404"):
            await elsewhere.ping()
        await elsewhere.aclose()
