"""Logs and metrics as evidence (warroom.response.ai.evidence): templates with what varies masked, lines grouped
and redacted before they become records, a metric's inflection point, links back to the source's UI — read over
loopback HTTP from the Loki, Elasticsearch and Prometheus emulators, each within its timeout: a source answering
after 10 s with a 0.5 s timeout is left out and named, and the others' records are there. RCA cites an
inflection point as evidence for a cause that began when it did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from warroom.ai import Assistant, ChangeFact, IncidentContext
from warroom.ai.context import AlertFact, EvidenceFact
from warroom.ai.evidence_scope import asked_since, narrow, unavailable_note
from warroom.ai.rca import rank_causes
from warroom.ai.records import build_records, rank
from warroom.response.ai.context import with_evidence
from warroom.response.ai.evidence import EvidenceReader, alert_expression, inflection, template
from warroom.sandbox.elasticsearch import ElasticsearchEmulator
from warroom.sandbox.loki import LokiEmulator
from warroom.sandbox.prometheus import PrometheusEmulator
from warroom.settings import Settings

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
SECRET = "Bearer abcdef0123456789TOKEN"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_template_masks_what_varies() -> None:
    line = ("2026-12-06T10:02:03.120Z req 3f2a9c1e-1b2c-4d5e-8f90-123456789abc from 10.0.0.7:443 took 3000 ms "
            "trace=deadbeef42 retry2 at 0x7ffe")
    assert template(line) == "<time> req <uuid> from <ip> took <num> ms trace=<hex> retry<num> at <hex>"
    assert template("order 17 failed") == template("order 18 failed") == "order <num> failed"


def test_inflection_point_of_a_series() -> None:
    base = T0.timestamp()
    flat_then_up = [(base + 60 * i, 10.0 + (i % 2) * 0.5 + (90.0 if i >= 32 else 0.0)) for i in range(60)]
    found = inflection(flat_then_up, at(30))
    assert found is not None
    assert found.at == at(32) and found.direction == "rose"
    assert found.baseline == pytest.approx(10.25) and found.peak == pytest.approx(100.5)
    assert found.ratio == pytest.approx(100.5 / 10.25)
    # a single spike is no inflection; nor is noise
    spike = [(base + 60 * i, 10.0 + (50.0 if i == 40 else 0.0)) for i in range(60)]
    assert inflection(spike, at(30)) is None
    assert inflection([(base + 60 * i, 10.0 + (i % 3)) for i in range(60)], at(30)) is None
    down = [(base + 60 * i, 200.0 if i < 35 else 20.0) for i in range(60)]
    fell = inflection(down, at(30))
    assert fell is not None and fell.direction == "fell" and fell.at == at(35)


def test_alert_expression_from_generator_url() -> None:
    url = ("http://prometheus:9090/graph?g0.expr=sum%28rate%28http_requests_total%7Bstatus%3D~%225..%22%7D%5B5m%5D"
           "%29%29+%3E+0.05&g0.tab=1")
    assert alert_expression(url) == 'sum(rate(http_requests_total{status=~"5.."}[5m]))'
    assert alert_expression("https://grafana.example.com/alerting/list") is None
    assert alert_expression(None) is None


@dataclass
class Sources:
    loki: LokiEmulator
    es: ElasticsearchEmulator
    prom: PrometheusEmulator

    def settings(self, *, loki_timeout: float = 3.0, **service: Any) -> Settings:
        return Settings(
            evidence={"sources": {
                "checkout-loki": {"kind": "loki", "url": self.loki.base_url, "token": "loki-token",
                                  "timeout": loki_timeout,
                                  "ui_url": "https://grafana.example.com/explore?left={query}&from={start_ms}"
                                            "&to={end_ms}"},
                "es-logs": {"kind": "elasticsearch", "url": self.es.base_url, "token": "es-key"},
                "prom": {"kind": "prometheus", "url": self.prom.base_url},
            }},
            services=[{"name": "checkout-api", "evidence": {
                "queries": [
                    {"source": "checkout-loki", "query": '{app="checkout"} |= "error"'},
                    {"source": "es-logs", "index": "logs-checkout-*", "query": "level:error"},
                    {"source": "prom", "name": "checkout 5xx rate",
                     "query": 'sum(rate(http_requests_total{service="checkout",status="500"}[2m]))'},
                ],
                **service,
            }}],
        )


@pytest.fixture
async def sources() -> AsyncIterator[Sources]:
    s = Sources(LokiEmulator(token="loki-token"), ElasticsearchEmulator(api_key="es-key"), PrometheusEmulator())
    for emu in (s.loki, s.es, s.prom):
        await emu.start()
    for n, minute in enumerate((1, 2, 4)):
        s.loki.push({"app": "checkout"}, at(minute), f"error: payment gateway timeout after {3000 + n} ms "
                                                     f"order={100 + n} auth {SECRET}")
    s.loki.push({"app": "checkout"}, at(3), "error: card 4111 declined")
    s.loki.push({"app": "checkout"}, at(-60), "error: long before the window")
    for minute in (2, 3):
        s.es.index("logs-checkout-2026.12.06", {"message": f"pool exhausted: 50/50 connections in use, waited "
                                                           f"{minute}000 ms", "level": "error"}, at(minute))
    base = T0.timestamp()
    samples, total = [], 0.0
    for i in range(-40 * 4, 20 * 4):  # every 15 s from 40 min before to 20 min after
        total += 15 * (0.5 if i < 4 else 20.0)  # 0.5/s of 5xx, then 20/s from 10:01
        samples.append((base + 15 * i, total))
    s.prom.add("http_requests_total", {"service": "checkout", "status": "500"}, samples)
    yield s
    for emu in (s.loki, s.es, s.prom):
        await emu.stop()


async def read(settings: Settings, **kwargs: Any) -> list[EvidenceFact]:
    reader = EvidenceReader(settings)
    try:
        return await reader.read("checkout-api", at(0), now=at(20), **kwargs)
    finally:
        await reader.aclose()


async def test_logs_grouped_by_template_redacted_and_linked(sources: Sources) -> None:
    facts = await read(sources.settings())
    logs = [f for f in facts if f.kind == "log"]
    loki = [f for f in logs if f.source == "checkout-loki"]
    assert [f.label for f in loki] == [
        "logs checkout-loki: 3× error: payment gateway timeout after <num> ms order=<num> auth Bearer [REDACTED:bearer]",
        "logs checkout-loki: 1× error: card <num> declined",
    ]
    timeout = loki[0]
    assert timeout.at == at(1) and "3 log lines like this in checkout-loki, 10:01 UTC to 10:04 UTC" in \
        timeout.text
    assert "latest: error: payment gateway timeout after 3002 ms order=102 auth Bearer [REDACTED:bearer]" in timeout.text
    assert all(SECRET.split()[1] not in f.text + f.label for f in facts)  # the token never reaches a record
    assert timeout.url is not None and timeout.url.startswith("https://grafana.example.com/explore?left=%7Bapp")
    assert f"from={int(at(-30).timestamp() * 1000)}&to={int(at(20).timestamp() * 1000)}" in timeout.url
    es = [f for f in logs if f.source == "es-logs"]
    assert [f.label for f in es] == ["logs es-logs (logs-checkout-*): 2× pool exhausted: <num>/<num> connections in "
                                     "use, waited <num> ms"]
    assert es[0].url == f"{sources.es.base_url}/logs-checkout-*/_search?q=level%3Aerror"
    # the window: 30 minutes before the start (the line an hour before is not read), at most 500 lines
    assert "limit=500" in sources.loki.calls_to("query_range")[-1].path
    assert not any("long before" in f.text for f in facts)


async def test_metric_inflection_point(sources: Sources) -> None:
    facts = await read(sources.settings())
    metric = next(f for f in facts if f.kind == "metric")
    assert metric.at is not None and at(1) <= metric.at <= at(3)
    assert metric.label.startswith("metric checkout 5xx rate rose at 10:0")
    assert "Inflection point: checkout 5xx rate rose from a baseline of 0.5 to" in metric.text
    assert metric.change is not None and metric.change == pytest.approx(40, rel=0.05)
    assert metric.url is not None and metric.url.startswith(f"{sources.prom.base_url}/graph?g0.expr=sum%28rate")
    step = sources.prom.calls_to("query_range")[-1].path
    assert "step=15" in step  # 50 minutes in at most 240 points


async def test_a_slow_source_is_named_and_delays_nothing_else(sources: Sources) -> None:
    sources.loki.slow.seconds = 10
    facts = await read(sources.settings(loki_timeout=0.5))
    unavailable = [f for f in facts if f.unavailable]
    assert [(f.ref, f.label) for f in unavailable] == [("log:checkout-loki", "logs source checkout-loki unavailable")]
    assert "did not answer within 0.5 s" in unavailable[0].text
    assert {f.source for f in facts if not f.unavailable} == {"es-logs", "prom"}


async def test_a_failing_source_is_named_with_its_reason(sources: Sources) -> None:
    sources.es.inject("_search", status=400, body={"error": {"root_cause": [{"type": "query_shard_exception",
                                                   "reason": "Failed to parse query [x]"}], "type": "x"}, "status": 400})
    facts = await read(sources.settings())
    down = next(f for f in facts if f.unavailable)
    assert down.source == "es-logs" and "query_shard_exception: Failed to parse query [x]" in down.text
    assert any(f.source == "checkout-loki" for f in facts)


async def test_alert_expressions_read_from_the_named_prometheus(sources: Sources) -> None:
    settings = sources.settings(alert_expressions="prom")
    url = f"{sources.prom.base_url}/graph?g0.expr=sum%28rate%28http_requests_total%5B2m%5D%29%29+%3E+1&g0.tab=1"
    facts = await read(settings, alert_urls=[url, url, None])
    exprs = [f for f in facts if f.kind == "metric" and "the alert's expression" in f.text]
    assert len(exprs) == 1 and "sum(rate(http_requests_total[2m]))" in exprs[0].text


def _ctx(facts: list[EvidenceFact]) -> IncidentContext:
    ctx = IncidentContext(
        ref="INC-7", title="Checkout errors", status="triggered", priority="P1", service="checkout-api",
        created_at=at(3),
        alerts=[AlertFact(id="1", name="CheckoutErrorRate", summary="5xx above 5 %", service="checkout-api",
                          severity="critical", starts_at=at(2))],
        changes=[ChangeFact(id="deploy-9", source="deploy", service="checkout-api", title="Deploy checkout v2.3",
                            at=at(-5), url="https://ci.example.com/9")],
    )
    return with_evidence(ctx, facts)


async def test_records_cite_evidence_and_rca_cites_the_inflection(sources: Sources) -> None:
    sources.loki.slow.seconds = 10
    facts = await read(sources.settings(loki_timeout=0.5))
    ctx = _ctx(facts)
    records = {r.ref: r for r in build_records(ctx)}
    metric = next(f for f in facts if f.kind == "metric")
    assert records[metric.ref].kind == "metric" and ctx.record_urls()[metric.ref] == metric.url
    ranked = [r.ref for r, _ in rank(list(records.values()), "what do the checkout logs say?")]
    # the log records first, the unavailable source among them: a logs question finds it
    assert set(ranked[:2]) == {"log:checkout-loki", next(f.ref for f in facts if f.source == "es-logs")}
    causes = rank_causes(ctx)
    deploy = next(c for c in causes if c.key == "change:deploy-9")
    assert metric.ref in [e.ref for e in deploy.evidence]
    assert "checkout 5xx rate rose at" in deploy.explanation
    # through the assistant (deterministic): the answer cites log records with their links, and names the slow one
    answer = await Assistant().ask(ctx, "what do the checkout logs say?")
    cited = {c.ref: c for c in answer.citations}
    es_ref = next(f.ref for f in facts if f.source == "es-logs")
    assert es_ref in cited and cited[es_ref].url == f"{sources.es.base_url}/logs-checkout-*/_search?q=level%3Aerror"
    assert "checkout-loki unavailable" in answer.render_text()
    rca = await Assistant().rca(ctx)
    assert metric.url in rca.render_text()


def test_evidence_is_not_changed_by_redaction_of_the_context() -> None:
    fact = EvidenceFact(id="x.1", kind="log", source="x", label="logs x: 1× boom", text="boom [REDACTED]")
    ctx = replace(_ctx([fact]))
    assert Assistant().redactor.redact_context(ctx).evidence == [fact]


def test_a_question_narrows_the_evidence_to_the_sources_and_time_it_names() -> None:
    def log(source: str, first: float, last: float) -> EvidenceFact:
        return EvidenceFact(id=f"{source}.1", kind="log", source=source, label=f"logs {source}", text="x",
                            at=at(first), last_at=at(last), system="loki" if "loki" in source else "elasticsearch")

    down = EvidenceFact(id="audit-loki", kind="log", source="audit-loki", unavailable=True, system="loki",
                        label="logs source audit-loki unavailable",
                        text="The loki source audit-loki was unavailable: it did not answer within 0.5 s. Nothing "
                             "from it is included.")
    ctx = _ctx([log("checkout-loki", -20, -10), log("es-logs", 1, 4), down])
    everything = {"log:checkout-loki.1", "log:es-logs.1", "log:audit-loki"}

    def refs(question: str) -> set[str]:
        return {f.ref for f in narrow(ctx, question).evidence}

    assert refs("what do the checkout logs say?") == everything  # the service's name names all of its sources
    assert refs("what does loki say?") == {"log:checkout-loki.1", "log:audit-loki"}
    assert refs("anything in the audit logs?") == {"log:audit-loki"}
    assert refs("what does es-logs show?") == refs("and in kibana?") == {"log:es-logs.1"}
    assert refs("what do the checkout logs say since 10:02?") == {"log:es-logs.1", "log:audit-loki"}
    assert asked_since(ctx, "errors after 9.55 UTC?") == at(-5)
    assert unavailable_note(ctx, "what do the logs say?") == "Not read: audit-loki (it did not answer within 0.5 s)."
    assert unavailable_note(ctx, "what does es-logs show?") is None
    assert unavailable_note(ctx, "who is the commander?") is None


def test_the_querier_answers_from_the_sources_and_time_asked_and_names_the_unread_one() -> None:
    from warroom.ai import querier

    def log(source: str, first: float, text: str) -> EvidenceFact:
        return EvidenceFact(id=f"{source}.1", kind="log", source=source, label=f"logs {source}", text=text,
                            at=at(first), last_at=at(first + 2), system="loki" if "loki" in source else "elasticsearch")

    down = EvidenceFact(id="audit-loki", kind="log", source="audit-loki", unavailable=True, system="loki",
                        label="logs source audit-loki unavailable",
                        text="The loki source audit-loki was unavailable: it did not answer within 0.5 s. Nothing "
                             "from it is included.")
    ctx = _ctx([log("checkout-loki", -20, "error: connection pool exhausted (x40)"),
                log("es-logs", 3, "error: payment gateway timeout (x12)"), down])
    text, cited = querier.draft(ctx, "what do the error logs say since 10:02?")
    assert cited and all(ref != "log:checkout-loki.1" for ref in cited)  # before 10:02: not asked for
    assert "log:es-logs.1" in cited and "payment gateway timeout" in text
    assert text.endswith("Not read: audit-loki (it did not answer within 0.5 s).")
