"""The Loki, Elasticsearch and Prometheus emulators over raw HTTP: the real APIs' shapes and error bodies, the query
subsets each documents (and the refusals outside them), and the switch that holds answers — released when the
emulator stops, so that nothing waits for a held request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from warroom.sandbox.elasticsearch import ElasticsearchEmulator, QueryStringError, parse_query_string
from warroom.sandbox.loki import LogQLError, LokiEmulator, parse_logql
from warroom.sandbox.prometheus import PrometheusEmulator, PromQLError, parse_promql

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_logql_subset() -> None:
    matchers, filters = parse_logql('{app="checkout", env!="dev", pod=~"web-.*", ns!~`kube.*`} |= "err" != "debug" '
                                    '|~ "time(d )?out" !~ `health`')
    assert [(m.label, m.op, m.value) for m in matchers] == [
        ("app", "=", "checkout"), ("env", "!=", "dev"), ("pod", "=~", "web-.*"), ("ns", "!~", "kube.*")]
    assert [(f.op, f.value) for f in filters] == [("|=", "err"), ("!=", "debug"), ("|~", "time(d )?out"),
                                                  ("!~", "health")]
    for bad in ('rate({app="a"}[5m])', '{app="a"} | json', "{}", '{app="a"', '{app=~"("}', '{app!="a"}'):
        with pytest.raises(LogQLError, match="parse error"):
            parse_logql(bad)


def test_query_string_subset() -> None:
    doc = {"message": "Connection pool exhausted", "service": "checkout", "log": {"level": "error"}}
    from warroom.sandbox.elasticsearch import evaluate

    def hit(query: str) -> bool:
        return evaluate(parse_query_string(query), doc)

    assert hit("pool") and hit("POOL exhausted") and hit('"pool exhausted"') and not hit('"exhausted pool"')
    assert hit("log.level:error AND service:checkout") and not hit("service:search")
    assert hit("nothing OR exhaust*") and hit("(a OR pool) AND NOT search") and not hit("pool NOT checkout")
    assert hit("pool && !timeout") and hit("x || pool") and hit("*")
    for bad in ("(pool", "pool AND", "pool~2", "count:[1 TO 5]", "pool^2", "/reg.x/"):
        with pytest.raises(QueryStringError):
            parse_query_string(bad)


def test_promql_subset() -> None:
    for good in ("up", 'up{job="api"}', '{__name__="up"}', "rate(x[5m])", "increase(x{a=~\"b.*\"}[1h])",
                 "sum(rate(x[5m]))", "sum by (service) (rate(x[5m]))", "sum(rate(x[5m])) by (service)",
                 "avg without (instance) (x)", "max(x) > 0.5"):
        parse_promql(good)
    for bad in ("rate(x)", "x / y", "histogram_quantile(0.9, x)", "x offset 5m", '{job!="a"}', "sum(x"):
        with pytest.raises(PromQLError, match="parse error"):
            parse_promql(bad)


async def test_loki_shapes_and_errors() -> None:
    async with LokiEmulator() as emu:
        assert isinstance(emu, LokiEmulator)
        emu.push({"app": "a", "pod": "1"}, at(1), "one")
        emu.push({"app": "a", "pod": "2"}, at(2), "two")
        emu.push({"app": "a", "pod": "1"}, at(3), "three")
        async with httpx.AsyncClient(base_url=emu.base_url) as http:
            ns = int(at(0).timestamp()) * 10**9, int(at(10).timestamp()) * 10**9
            got = (await http.get("/loki/api/v1/query_range", params={
                "query": '{app="a"}', "start": ns[0], "end": ns[1], "limit": 2, "direction": "forward"})).json()
            assert got["status"] == "success" and got["data"]["resultType"] == "streams"
            streams = {s["stream"]["pod"]: s["values"] for s in got["data"]["result"]}
            assert streams == {"1": [[str(int(at(1).timestamp()) * 10**9), "one"]],
                               "2": [[str(int(at(2).timestamp()) * 10**9), "two"]]}
            rfc = (await http.get("/loki/api/v1/query_range", params={
                "query": '{app="a"}', "start": "2026-12-06T10:02:30Z", "end": "2026-12-06T10:10:00Z"})).json()
            assert [v[1] for s in rfc["data"]["result"] for v in s["values"]] == ["three"]
            too_many = await http.get("/loki/api/v1/query_range", params={"query": '{app="a"}', "limit": 6000})
            assert too_many.status_code == 400 and too_many.headers["Content-Type"].startswith("text/plain")
            assert "max entries limit per query exceeded, limit > max_entries_limit (6000 > 5000)" in too_many.text
            backwards = await http.get("/loki/api/v1/query_range", params={"query": '{app="a"}', "start": ns[1],
                                                                           "end": ns[0]})
            assert backwards.status_code == 400


async def test_elasticsearch_shapes_and_errors() -> None:
    async with ElasticsearchEmulator() as emu:
        assert isinstance(emu, ElasticsearchEmulator)
        for n in range(3):
            emu.index("logs-a", {"message": f"line {n}", "level": "error"}, at(n))
        async with httpx.AsyncClient(base_url=emu.base_url) as http:
            body = {"size": 2, "sort": [{"@timestamp": "asc"}],
                    "query": {"bool": {"must": [{"query_string": {"query": "line"}}],
                                       "filter": [{"range": {"@timestamp": {"gte": "2026-12-06T10:01:00Z"}}}]}}}
            got = (await http.post("/logs-a/_search", json=body)).json()
            assert got["timed_out"] is False and got["hits"]["total"] == {"value": 2, "relation": "eq"}
            assert [h["_source"]["message"] for h in got["hits"]["hits"]] == ["line 1", "line 2"]
            assert got["hits"]["hits"][0]["sort"] == [int(at(1).timestamp() * 1000)] and got["hits"]["max_score"] is None
            missing = await http.post("/nope/_search", json={})
            assert missing.status_code == 404
            assert missing.json()["error"]["root_cause"][0] == {
                "type": "index_not_found_exception", "reason": "no such index [nope]", "index": "nope",
                "resource.type": "index_or_alias", "resource.id": "nope"}
            window = await http.post("/logs-a/_search", json={"size": 10001})
            assert window.status_code == 400 and "Result window is too large" in window.text
            unknown = await http.post("/logs-a/_search", json={"query": {"fuzzy": {"message": "lin"}}})
            assert unknown.status_code == 400 and unknown.json()["error"]["type"] == "parsing_exception"
            assert (await http.post("/logs-*/_search", json={"query": {"match_all": {}}})).json()["hits"]["total"][
                "value"] == 3


async def test_prometheus_evaluation_and_errors() -> None:
    async with PrometheusEmulator() as emu:
        assert isinstance(emu, PrometheusEmulator)
        base = T0.timestamp()
        # a counter that resets to zero at 10:05
        emu.add("c_total", {"job": "api", "instance": "1"},
                [(base + 60 * i, float(10 * i if i < 5 else 10 * (i - 5))) for i in range(11)])
        emu.add("c_total", {"job": "api", "instance": "2"}, [(base + 60 * i, float(i)) for i in range(11)])
        async with httpx.AsyncClient(base_url=emu.base_url) as http:
            async def query(q: str, start: float = base + 600, end: float = base + 600, step: str = "60") -> list:
                answer = await http.get("/api/v1/query_range", params={"query": q, "start": start, "end": end,
                                                                       "step": step})
                assert answer.status_code == 200, answer.text
                return list(answer.json()["data"]["result"])

            assert await query("increase(c_total{instance=\"1\"}[3m])") == [
                {"metric": {"instance": "1", "job": "api"}, "values": [[base + 600, "20"]]}]
            reset = await query('increase(c_total{instance="1"}[3m])', base + 360, base + 360)
            assert reset[0]["values"] == [[base + 360, "10"]]  # 40 → 0 (reset) → 10: an increase of 10
            assert (await query("sum without (instance) (c_total)"))[0] == {
                "metric": {"job": "api"}, "values": [[base + 600, "60"]]}
            assert [r["values"][0][1] for r in await query("count(c_total) by (job)")] == ["2"]
            assert await query("c_total > 30") == [
                {"metric": {"__name__": "c_total", "instance": "1", "job": "api"}, "values": [[base + 600, "50"]]}]
            assert len((await query("c_total", base, base + 600, "2m"))[0]["values"]) == 6
            for params, error in (
                ({"query": "up", "end": base, "step": 60}, 'invalid parameter "start"'),
                ({"query": "up", "start": base, "end": base - 1, "step": 60}, "end timestamp must not be before"),
                ({"query": "up", "start": base, "end": base + 20000, "step": 1}, "exceeded maximum resolution"),
                ({"query": "x / y", "start": base, "end": base, "step": 60}, "parse error"),
            ):
                refused = await http.get("/api/v1/query_range", params=params)
                assert refused.status_code == 400
                assert refused.json()["status"] == "error" and refused.json()["errorType"] == "bad_data"
                assert error in refused.json()["error"]


async def test_held_answers_are_released_when_the_emulator_stops() -> None:
    emu = LokiEmulator()
    await emu.start()
    emu.slow.seconds = 600
    async with httpx.AsyncClient(base_url=emu.base_url) as http:
        held = asyncio.create_task(http.get("/loki/api/v1/query_range", params={"query": '{app="a"}'}))
        await asyncio.wait_for(emu.slow.holding.wait(), 10)
        assert not held.done()
        await emu.stop()  # does not wait ten minutes
        answer = await held
        assert answer.status_code == 200 and answer.json()["data"]["result"] == []
