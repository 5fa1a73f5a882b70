"""The logs and metrics adapters (Loki, Elasticsearch, Prometheus) against their emulators over loopback HTTP: the
real APIs' request and answer shapes, their error bodies turned into warroom's errors in the service's own words,
auth, bounds (lines, points, series, bytes), and the emulators' query subsets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from warroom.adapters.elasticsearch import ElasticsearchClient, search_body
from warroom.adapters.errors import NotFound, Permanent, Transient
from warroom.adapters.loki import LokiClient
from warroom.adapters.prometheus import PrometheusClient, step_for
from warroom.sandbox.elasticsearch import ElasticsearchEmulator
from warroom.sandbox.loki import LokiEmulator
from warroom.sandbox.prometheus import PrometheusEmulator

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def loki() -> AsyncIterator[LokiEmulator]:
    emu = LokiEmulator(token="loki-token", tenant="ops")
    await emu.start()
    emu.push({"app": "checkout", "level": "error"}, at(1), "payment gateway timeout after 3000 ms order=17")
    emu.push({"app": "checkout", "level": "error"}, at(2), "payment gateway timeout after 3100 ms order=18")
    emu.push({"app": "checkout", "level": "info"}, at(3), "order 19 placed")
    emu.push({"app": "search", "level": "error"}, at(4), "index shard failed")
    emu.push({"app": "checkout", "level": "error"}, at(90), "long after the window")
    yield emu
    await emu.stop()


def loki_client(emu: LokiEmulator, **kwargs: object) -> LokiClient:
    args: dict[str, object] = {"url": emu.base_url, "token": "loki-token", "tenant": "ops"}
    args.update(kwargs)
    return LokiClient(**args)  # type: ignore[arg-type]


async def test_loki_query_range_streams_newest_first(loki: LokiEmulator) -> None:
    client = loki_client(loki)
    try:
        lines = await client.lines('{app="checkout"} |= "timeout"', at(0), at(60), limit=100)
        assert [line.line for line in lines] == [
            "payment gateway timeout after 3100 ms order=18",
            "payment gateway timeout after 3000 ms order=17",
        ]
        assert lines[0].at == at(2) and lines[0].labels == {"app": "checkout", "level": "error"}
        call = loki.calls_to("query_range")[-1]
        assert "direction=backward" in call.path and f"start={int(at(0).timestamp()) * 10**9}" in call.path
        # the subset: =, !=, =~ matchers and |=, !=, |~ line filters
        assert [x.line for x in await client.lines('{app=~"check.*", level!="info"} != "3000"', at(0), at(60),
                                                   limit=100)] == ["payment gateway timeout after 3100 ms order=18"]
        assert [x.line for x in await client.lines('{level="error"} |~ "shard|order=17"', at(0), at(60),
                                                   limit=100)] == ["index shard failed",
                                                                   "payment gateway timeout after 3000 ms order=17"]
        # bounded: the limit is sent and kept
        assert len(await client.lines('{app="checkout"}', at(0), at(60), limit=1)) == 1
        assert "limit=1&" in loki.calls_to("query_range")[-1].path + "&"
    finally:
        await client.aclose()


async def test_loki_errors_in_lokis_words(loki: LokiEmulator) -> None:
    client = loki_client(loki)
    try:
        with pytest.raises(Permanent, match="Loki refused the query: parse error at line 1, col 1"):
            await client.lines('app="checkout"', at(0), at(60), limit=10)
        with pytest.raises(Permanent, match="line filters only"):
            await client.lines('{app="checkout"} | json', at(0), at(60), limit=10)
        with pytest.raises(Permanent, match="at least one regexp or equality matcher"):
            await client.lines('{app=~".*"}', at(0), at(60), limit=10)
    finally:
        await client.aclose()
    for bad in (loki_client(loki, token="wrong"), loki_client(loki, tenant="")):
        try:
            with pytest.raises(Permanent, match="Loki refused the credentials") as caught:
                await bad.lines('{app="checkout"}', at(0), at(60), limit=10)
            assert "Unauthorized" in caught.value.reason or "no org id" in caught.value.reason
        finally:
            await bad.aclose()
    loki.inject("query_range", status=500, body={"error": "boom"})
    client = loki_client(loki)
    try:
        with pytest.raises(Transient):
            await client.lines('{app="checkout"}', at(0), at(60), limit=10)
    finally:
        await client.aclose()


async def test_loki_answer_over_the_byte_bound_is_refused(loki: LokiEmulator) -> None:
    for n in range(40):
        loki.push({"app": "big"}, at(5 + n / 10), "x" * 500)
    client = loki_client(loki, max_bytes=10_000)
    try:
        with pytest.raises(Permanent, match=r"more than the 10000 (bytes )?read at most"):
            await client.lines('{app="big"}', at(0), at(60), limit=1000)
        assert len(await client.lines('{app="big"}', at(0), at(60), limit=5)) == 5
    finally:
        await client.aclose()


@pytest.fixture
async def es() -> AsyncIterator[ElasticsearchEmulator]:
    emu = ElasticsearchEmulator(api_key="es-key", username="elastic", password="changeme")
    await emu.start()
    emu.index("logs-checkout-2026.12.06", {"message": "Connection pool exhausted (max 50)", "service": "checkout",
                                           "log": {"level": "error"}}, at(1))
    emu.index("logs-checkout-2026.12.06", {"message": "Connection reset by peer 10.0.0.7", "service": "checkout",
                                           "log": {"level": "error"}}, at(2))
    emu.index("logs-checkout-2026.12.06", {"message": "GET /health 200", "service": "checkout",
                                           "log": {"level": "info"}}, at(3))
    emu.index("logs-search-2026.12.06", {"message": "pool exhausted in search", "service": "search"}, at(4))
    yield emu
    await emu.stop()


async def test_elasticsearch_search_with_query_string_and_range(es: ElasticsearchEmulator) -> None:
    client = ElasticsearchClient(url=es.base_url, api_key="es-key")
    try:
        lines = await client.lines("log.level:error AND service:checkout", at(0), at(60), limit=50,
                                   index="logs-checkout-*")
        assert [x.line for x in lines] == ["Connection reset by peer 10.0.0.7", "Connection pool exhausted (max 50)"]
        assert lines[0].at == at(2) and lines[0].labels["service"] == "checkout"
        sent = es.calls_to("_search")[-1]
        assert sent.method == "POST" and sent.path == "/logs-checkout-*/_search"
        assert '"query_string"' in sent.body and '"@timestamp"' in sent.body
        # phrases, OR, NOT, several indices, and the time range
        assert [x.line for x in await client.lines('"pool exhausted" OR reset', at(0), at(60), limit=50,
                                                   index="logs-*")] == [
            "pool exhausted in search", "Connection reset by peer 10.0.0.7", "Connection pool exhausted (max 50)"]
        assert [x.line for x in await client.lines("pool NOT search", at(0), at(60), limit=50, index="logs-*")] == [
            "Connection pool exhausted (max 50)"]
        assert await client.lines("pool", at(30), at(60), limit=50, index="logs-*") == []
        assert len(await client.lines("*", at(0), at(60), limit=2, index="logs-*")) == 2  # size bounds the read
    finally:
        await client.aclose()
    basic = ElasticsearchClient(url=es.base_url, username="elastic", password="changeme")
    try:
        assert len(await basic.lines("pool", at(0), at(60), limit=10, index="logs-search-2026.12.06")) == 1
    finally:
        await basic.aclose()


async def test_elasticsearch_errors_in_its_words(es: ElasticsearchEmulator) -> None:
    client = ElasticsearchClient(url=es.base_url, api_key="es-key")
    try:
        with pytest.raises(NotFound, match=r"index_not_found_exception: no such index \[nope\]"):
            await client.lines("x", at(0), at(60), limit=10, index="nope")
        with pytest.raises(Permanent, match=r"query_shard_exception: Failed to parse query \[\(pool\]"):
            await client.lines("(pool", at(0), at(60), limit=10, index="logs-*")
        with pytest.raises(Permanent, match="no index to search"):
            await client.lines("pool", at(0), at(60), limit=10)
    finally:
        await client.aclose()
    wrong = ElasticsearchClient(url=es.base_url, api_key="nope")
    try:
        with pytest.raises(Permanent, match="security_exception: unable to authenticate user"):
            await wrong.lines("pool", at(0), at(60), limit=10, index="logs-*")
    finally:
        await wrong.aclose()


def test_search_body_is_the_documented_shape() -> None:
    body = search_body("level:error", at(0), at(30), 100)
    assert body["size"] == 100 and body["sort"] == [{"@timestamp": {"order": "desc"}}]
    assert body["query"]["bool"]["must"] == [{"query_string": {"query": "level:error"}}]
    assert body["query"]["bool"]["filter"][0]["range"]["@timestamp"] == {
        "gte": "2026-12-06T10:00:00.000Z", "lte": "2026-12-06T10:30:00.000Z", "format": "strict_date_optional_time"}


@pytest.fixture
async def prom() -> AsyncIterator[PrometheusEmulator]:
    emu = PrometheusEmulator(token="prom-token")
    await emu.start()
    base = T0.timestamp()
    for instance, per_second in (("a", 1.0), ("b", 3.0)):
        samples = [(base + 15 * i, per_second * 15 * i + (300.0 * (i - 40) * 15 if i > 40 else 0.0))
                   for i in range(0, 121)]
        emu.add("http_requests_total", {"service": "checkout", "status": "500", "instance": instance}, samples)
    emu.add("http_requests_total", {"service": "search", "status": "500", "instance": "c"},
            [(base + 15 * i, 15.0 * i) for i in range(121)])
    yield emu
    await emu.stop()


async def test_prometheus_query_range_matrix(prom: PrometheusEmulator) -> None:
    client = PrometheusClient(url=prom.base_url, token="prom-token")
    try:
        series = await client.range('sum by (service) (rate(http_requests_total{service="checkout"}[1m]))',
                                    at(0), at(30), step=60)
        assert len(series) == 1 and series[0].labels == {"service": "checkout"}
        values = dict(series[0].points)
        assert values[at(5).timestamp()] == pytest.approx(4.0)  # 1/s + 3/s before the jump
        assert values[at(20).timestamp()] == pytest.approx(604.0)  # two instances, +300/s each
        raw = await client.range('http_requests_total{status=~"5..", service!="checkout"}', at(0), at(2), step=60)
        assert [s.labels["instance"] for s in raw] == ["c"] and raw[0].labels["__name__"] == "http_requests_total"
        filtered = await client.range('sum(rate(http_requests_total[1m])) > 100', at(0), at(30), step=60)
        assert all(v > 100 for _, v in filtered[0].points) and len(filtered[0].points) < 31
        call = prom.calls_to("query_range")[-1]
        assert "step=60" in call.path and f"start={at(0).timestamp():.3f}" in call.path
    finally:
        await client.aclose()


async def test_prometheus_bounds_and_errors(prom: PrometheusEmulator) -> None:
    client = PrometheusClient(url=prom.base_url, token="prom-token", max_series=2, max_points=5)
    try:
        series = await client.range("http_requests_total", at(0), at(30), step=15)
        assert len(series) == 2 and all(len(s.points) == 5 for s in series)
        with pytest.raises(Permanent, match=r"bad_data: .*parse error"):
            await client.range("rate(http_requests_total)", at(0), at(30), step=60)
        with pytest.raises(Permanent, match="more than 11000 points"):
            await client.range("up", at(0), at(600), step=1)
    finally:
        await client.aclose()
    assert step_for(at(0), at(90), 240) == 23.0 and step_for(at(0), at(1), 240) == 15.0
    anonymous = PrometheusClient(url=prom.base_url)
    try:
        with pytest.raises(Permanent, match="Prometheus refused the credentials"):
            await anonymous.range("up", at(0), at(30), step=60)
    finally:
        await anonymous.aclose()


async def test_sources_sharing_one_http_client_keep_their_own_errors(
    loki: LokiEmulator, es: ElasticsearchEmulator
) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        logs = loki_client(loki, client=http)
        search = ElasticsearchClient(url=es.base_url, api_key="es-key", client=http)
        try:
            with pytest.raises(NotFound, match="Elasticsearch has no such index"):
                await search.lines("x", at(0), at(60), limit=10, index="nope")
            with pytest.raises(Permanent, match="Loki refused the query"):
                await logs.lines("nope", at(0), at(60), limit=10)
            assert len(await logs.lines('{app="checkout"}', at(0), at(60), limit=10)) == 3
        finally:
            await logs.aclose()
            await search.aclose()
        assert not http.is_closed and http.event_hooks["response"] == []  # hooks taken off, the client left open
