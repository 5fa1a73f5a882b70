"""Logs and metrics as evidence, end to end: the real server (SQLite and PostgreSQL) with the Loki, Elasticsearch and
Prometheus emulators as the checkout service's sources. ``/incident ask what do the checkout logs say?`` is answered
(by the deterministic engine: no model is configured) with cited log lines from Loki and Elasticsearch, each with
its link back to the source; ``/incident rca`` cites the error rate's inflection point from Prometheus as evidence
for the deploy that began just before it; a source that answers after 10 s (its timeout 0.5 s) is named as
unavailable in the answer, and the others' lines are there — by the model's answer too (the sentence added by
warroom, neutralised like the rest)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from warroom.sandbox.elasticsearch import ElasticsearchEmulator
from warroom.sandbox.harness import Harness
from warroom.sandbox.llm import ChatRequest, Reply
from warroom.sandbox.loki import LokiEmulator
from warroom.sandbox.prometheus import PrometheusEmulator
from warroom.sandbox.world import INTAKE_TOKEN

from .helpers import critical_alert, open_room, settle

AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}
EXPR = 'sum(rate(http_requests_total{service="checkout",status="500"}[2m]))'
TOKEN = "sk-live-0123456789abcdefghijklmnop"


@dataclass
class Sources:
    loki: LokiEmulator
    es: ElasticsearchEmulator
    prom: PrometheusEmulator
    slow: LokiEmulator

    def tweak(self, data: dict[str, Any]) -> None:
        data["evidence"] = {"sources": {
            "checkout-loki": {"kind": "loki", "url": self.loki.base_url, "username": "grafana", "password": "pw"},
            "es-logs": {"kind": "elasticsearch", "url": self.es.base_url, "token": "es-key",
                        "ui_url": "https://kibana.example.com/app/discover#/?_a=(index:'{index}',query:{query})"},
            "prom": {"kind": "prometheus", "url": self.prom.base_url, "token": "prom-token"},
            "audit-loki": {"kind": "loki", "url": self.slow.base_url, "timeout": 0.5},
        }}
        checkout = next(s for s in data["services"] if s["name"] == "checkout-api")
        checkout["evidence"] = {
            "queries": [
                {"source": "checkout-loki", "query": '{app="checkout"} |= "error"'},
                {"source": "es-logs", "index": "logs-checkout-*", "query": "level:error AND service:checkout"},
                {"source": "audit-loki", "query": '{app="audit"}'},
            ],
            "alert_expressions": "prom",
        }


@pytest.fixture
async def sources() -> AsyncIterator[Sources]:
    s = Sources(LokiEmulator(username="grafana", password="pw"), ElasticsearchEmulator(api_key="es-key"),
                PrometheusEmulator(token="prom-token"), LokiEmulator())
    for emu in (s.loki, s.es, s.prom, s.slow):
        await emu.start()
    s.slow.slow.seconds = 10
    now = datetime.now(UTC)
    for n in range(3):
        s.loki.push({"app": "checkout"}, now - timedelta(minutes=6 - n),
                    f"error: upstream payments timed out after {5000 + n} ms (api_key={TOKEN})")
    for n in range(2):
        s.es.index("logs-checkout-2026", {"message": f"pool exhausted: {50 - n}/50 connections busy",
                                          "level": "error", "service": "checkout"}, now - timedelta(minutes=5 - n))
    base = now.timestamp()
    total, samples = 0.0, []
    for i in range(-40 * 4, 1):  # every 15 s for the last 40 minutes: 0.2/s of 5xx, then 15/s for the last 6
        total += 15 * (15.0 if i > -6 * 4 else 0.2)
        samples.append((base + 15 * i, total))
    s.prom.add("http_requests_total", {"service": "checkout", "status": "500"}, samples)
    yield s
    for emu in (s.loki, s.es, s.prom, s.slow):
        await emu.stop()


@pytest.fixture
async def harness(db_url: str, sources: Sources) -> AsyncIterator[Harness]:
    h = await Harness.start(db_url, tweak=sources.tweak)
    h.world.slack.config.rate_limits = False
    yield h
    await h.stop()


def ai_lines(h: Harness, channel: str) -> list[str]:
    return [
        str(m["text"]) for m in h.world.slack.messages(channel)
        if str(((m.get("metadata") or {}).get("event_payload") or {}).get("key", "")).startswith("ai-")
    ]


async def ask(h: Harness, channel: str, text: str) -> str:
    before = len(ai_lines(h, channel))
    reply = await h.slack.command(text, channel=channel, user="U0ANA")
    assert reply.status_code == 200 and "Working on it" in reply.json()["text"], reply.text
    await settle(h)
    lines = ai_lines(h, channel)
    assert len(lines) == before + 1, lines[before:]
    return lines[-1]


async def test_ask_about_logs_and_rca_with_a_metric_inflection(harness: Harness, sources: Sources) -> None:
    h = harness
    now = datetime.now(UTC)
    generator = f"http://prometheus.example:9090/graph?g0.expr={quote(EXPR + ' > 1')}&g0.tab=1"
    incident, channel, _ = await open_room(h, critical_alert(
        startsAt=(now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"), generatorURL=generator))
    deploy = {"id": "deploy-88", "service": "checkout-api", "url": "https://ci.example.com/runs/88",
              "at": (now - timedelta(minutes=8)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "title": "checkout-api 7.4.0: payments client timeout 30 s → 5 s"}
    assert (await h.http.post("/events/changes", json=deploy, headers=AUTH)).status_code in (200, 201, 202)

    answer = await ask(h, channel, "ask what do the checkout logs say?")
    assert "log:checkout-loki." in answer and "log:es-logs." in answer, answer
    assert "error: upstream payments timed out after 5002 ms" in answer  # the newest example line, quoted
    assert "3× error: upstream payments timed out after &lt;num&gt; ms" in answer or \
        "3× error: upstream payments timed out after <num> ms" in answer
    assert "pool exhausted" in answer
    assert TOKEN not in answer and "[REDACTED" in answer  # the key in the log line never left warroom
    # each cited excerpt links back to its source: Loki's query, Kibana's Discover (the source's ui_url)
    assert f"<{sources.loki.base_url}/loki/api/v1/query_range?query=%7Bapp%3D%22checkout%22%7D" in answer
    kibana = "https://kibana.example.com/app/discover#/?_a=%28index:%27logs-checkout-*%27,query:level%3Aerror%20AND%20"
    assert f"<{kibana}service%3Acheckout%29>" in answer  # one whole link in Slack
    # the slow source is named (it holds its answers 10 s; its timeout is 0.5 s), and the others' lines are there
    assert "audit-loki unavailable" in answer
    assert "did not answer within 0.5 s" in answer
    # Loki was asked (with basic auth: the emulator refuses anything else), Prometheus with the alert's own expression (its threshold dropped)
    assert sources.loki.calls_to("query_range")
    assert parse_qs(urlsplit(sources.prom.calls_to("query_range")[-1].path).query)["query"] == [EXPR]

    causes = await ask(h, channel, "rca")
    assert "deploy-88" in causes, causes
    assert "metric:prom." in causes and "rose at" in causes, causes
    assert f"{sources.prom.base_url}/graph?g0.expr=" in causes
    async with h.runtime.store.read() as tx:
        answers = [e for e in await tx.timeline.for_incident(incident) if e.kind == "ai_answer"]
    assert any(ref.startswith("log:es-logs.") for ref in answers[-1].data["cited"])


@pytest.fixture
async def model_harness(sqlite_url: str, sources: Sources) -> AsyncIterator[Harness]:
    """The same sources, and the model on (the LLM emulator answers)."""

    def tweak(data: dict[str, Any]) -> None:
        sources.tweak(data)
        data["ai"]["enabled"] = True

    h = await Harness.start(sqlite_url, tweak=tweak)
    h.world.slack.config.rate_limits = False
    yield h
    await h.stop()


def model_answer(request: ChatRequest) -> Reply:
    """The model answers from the log records put in its prompt, citing the first; it says nothing of the sources
    it could not be given."""
    prompt = "\n".join(str(m.get("content") or "") for m in request.messages)
    cited = re.findall(r"\blog:[\w-]+(?:\.\d+)?", prompt)[:1]
    return Reply(content={"answer": "Checkout timed out calling payments for about six minutes.", "cited": cited})


async def test_the_model_answer_names_the_sources_not_read(model_harness: Harness, sources: Sources) -> None:
    h = model_harness
    h.world.llm.responder = model_answer
    now = datetime.now(UTC)
    _, channel, _ = await open_room(h, critical_alert(startsAt=(now - timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")))

    answer = await ask(h, channel, "ask what do the checkout logs say?")
    assert "Checkout timed out calling payments for about six minutes." in answer, answer
    assert "(AI-generated by" in answer  # the model's answer, not the deterministic one
    assert "Not read: audit-loki (it did not answer within 0.5 s)." in answer
    prompt = "\n".join(str(m.get("content") or "") for m in h.world.llm.requests[-1].messages)
    assert "Not read:" not in prompt  # warroom says it; the model is not asked to

    # a source that refuses in words of its own: they are neutralised and escaped as the rest of the answer
    sources.slow.inject("query_range", status=400, body="<!channel> parse error: *drop* <https://evil.example|x>")
    answer = await ask(h, channel, "ask what do the audit logs say?")
    assert "(AI-generated by" in answer and "Not read: audit-loki (Loki refused the query: " in answer, answer
    assert "<!channel>" not in answer and "<https://evil.example" not in answer
