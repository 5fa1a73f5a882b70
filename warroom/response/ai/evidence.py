"""Logs and metrics as evidence: bounded, time-windowed excerpts around an incident's start, read from the service's
sources (``services[].evidence``, ``evidence.sources``) and turned into records the AI responder cites.

- **Window**: from ``lookback_minutes`` (default 30) before the trouble began (the first alert, else the
  declaration) to ``after_minutes`` after it, never past now or the resolution.
- **Concurrently, each within its timeout**: every query of every source runs at once; a source that fails or has
  not answered within its ``timeout`` (default 3 s) is left out and named as unavailable (a record saying so), so a
  slow or failing source delays an answer by its timeout at most and never fails it.
- **Logs → templates**: lines are redacted first (the AI responder's :class:`~warroom.ai.safety.Redactor`: tokens,
  keys, passwords, configured patterns), then grouped by template — times, UUIDs, IP addresses, hex ids and numbers
  masked (``<time>``, ``<uuid>``, ``<ip>``, ``<hex>``, ``<num>``) — each template one record: how many lines, first
  and last seen, one example line. Nothing unredacted is kept, so nothing unredacted can reach a model.
- **Metrics → inflection point**: per series, the baseline (the median of the points before the trouble began;
  the first third of the window when there are too few) and the first point from which the series stays away from
  it (two points in a row beyond three robust deviations and 20 % of the baseline): when, from what to what, the
  peak. The series that moved most (relatively) is the record; a series that never moved says so.
- **Citable**: each record carries a link to the same query and window in the source's UI
  (``evidence.sources.<name>.ui_url``; by default the source's own API or graph page).

The firing alerts' own expressions (``generatorURL``'s ``g0.expr``, without its threshold so the baseline shows)
are read from the Prometheus source named by ``services[].evidence.alert_expressions``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from warroom.adapters.elasticsearch import ElasticsearchClient
from warroom.adapters.errors import AdapterError
from warroom.adapters.loki import LokiClient
from warroom.adapters.observe import CallObserver, ignore
from warroom.adapters.ports import LogLine, LogsPort, MetricSeries, MetricsPort
from warroom.adapters.prometheus import PrometheusClient, step_for
from warroom.ai.context import EvidenceFact
from warroom.ai.safety import Redactor
from warroom.ai.text import fmt_time, one_line
from warroom.settings import Settings
from warroom.settings.model import EvidenceSourceSettings, ServiceSettings

log = logging.getLogger("warroom.ai_evidence")

#: Templates kept per log query (the most frequent), and alert expressions read per incident.
MAX_TEMPLATES = 6
MAX_ALERT_EXPRESSIONS = 3
EXAMPLE_CHARS = 300

_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"), "<time>"),
    (re.compile(r"\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>"),
    (re.compile(r"(?i)(?<![\w:])(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}(?![\w:])"), "<ip>"),
    (re.compile(r"(?i)\b0x[0-9a-f]+\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b"), "<hex>"),
    (re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?![\w>])|(?<=[A-Za-z_-])\d+\b"), "<num>"),
)
_THRESHOLD = re.compile(r"\s*(?:>=|<=|==|!=|>|<)\s*(?:bool\s+)?[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?\s*$", re.I)


def template(line: str) -> str:
    """The line with what varies between occurrences masked: times, UUIDs, IPs, hex ids, numbers."""
    out = line.strip()
    for pattern, mask in _MASKS:
        out = pattern.sub(mask, out)
    return re.sub(r"\s+", " ", out)


@dataclass(frozen=True, slots=True)
class Window:
    """The time window read: ``start``–``end``, around ``started`` (when the trouble began)."""

    start: datetime
    end: datetime
    started: datetime


def window_for(service: ServiceSettings, started: datetime, now: datetime, resolved: datetime | None) -> Window:
    ev = service.evidence
    start = started - timedelta(minutes=ev.lookback_minutes)
    end = min([now, started + timedelta(minutes=ev.after_minutes)] + ([resolved] if resolved else []))
    return Window(start, max(end, start + timedelta(minutes=1)), started)


def ui_link(source: EvidenceSourceSettings, query: str, window: Window, *, index: str = "") -> str:
    """A link to the same query and window in the source's UI (``ui_url``), else its own API or graph page."""
    pattern = source.ui_url or {
        "loki": "{url}/loki/api/v1/query_range?query={query}&start={start}&end={end}&limit=100",
        "elasticsearch": "{url}/{index}/_search?q={query}",
        "prometheus": "{url}/graph?g0.expr={query}&g0.tab=0&g0.range_input={range_seconds}s&g0.end_input={end}",
    }[source.kind]

    def iso(at: datetime) -> str:
        return quote(at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), safe="")

    link = pattern.format(
        url=source.url,
        query=quote(query, safe=""),
        index=quote(index, safe="*,"),
        start=iso(window.start),
        end=iso(window.end),
        start_ms=int(window.start.timestamp() * 1000),
        end_ms=int(window.end.timestamp() * 1000),
        range_seconds=int((window.end - window.start).total_seconds()),
    )
    # characters chat link detection stops at (Kibana's rison has quotes and parentheses), percent-encoded: the
    # same URL to the browser and the UI, one link in Slack and Teams
    return re.sub(r"[\s'\"`|<>()]", lambda m: f"%{ord(m.group(0)):02X}", link)


def alert_expression(generator_url: str | None) -> str | None:
    """The PromQL expression of a Prometheus alert's ``generatorURL`` (``…/graph?g0.expr=…``), without its
    threshold comparison, so that the range shows the baseline as well as the breach."""
    if not generator_url:
        return None
    try:
        exprs = parse_qs(urlsplit(generator_url).query).get("g0.expr") or []
    except ValueError:
        return None
    if not exprs or not exprs[0].strip():
        return None
    expr = _THRESHOLD.sub("", exprs[0].strip())
    return expr.strip() or None


# -- logs ---------------------------------------------------------------------------------------------------
@dataclass
class _Group:
    template: str
    count: int
    first: datetime
    last: datetime
    example: str


def group_lines(lines: Iterable[LogLine], redactor: Redactor) -> list[_Group]:
    """Redacted lines grouped by template, most frequent first (then the newest)."""
    groups: dict[str, _Group] = {}
    for entry in lines:
        clean = redactor.redact(entry.line.replace("\x00", ""))
        key = template(clean)
        group = groups.get(key)
        if group is None:
            groups[key] = _Group(key, 1, entry.at, entry.at, one_line(clean, EXAMPLE_CHARS))
            continue
        group.count += 1
        if entry.at < group.first:
            group.first = entry.at
        if entry.at > group.last:
            group.last = entry.at
            group.example = one_line(clean, EXAMPLE_CHARS)
    return sorted(groups.values(), key=lambda g: (-g.count, -g.last.timestamp()))


def log_facts(
    name: str, source: EvidenceSourceSettings, query: str, lines: Sequence[LogLine], window: Window, *,
    limit: int, redactor: Redactor, service: str, index: str = "", first_id: int = 1,
) -> list[EvidenceFact]:
    url = ui_link(source, query, window, index=index)
    where = f"{name} ({index})" if index else name
    shown_query = redactor.redact(query)
    if not lines:
        return [EvidenceFact(
            id=f"{name}.{first_id}", kind="log", source=name, system=source.kind, at=None, url=url, service=service,
            label=f"logs {where}: no lines",
            text=f"No lines match {shown_query} in {where} from {fmt_time(window.start)} to {fmt_time(window.end)}.",
        )]
    capped = " (the newest only: the read limit was reached)" if len(lines) >= limit else ""

    def day(when: datetime) -> str:
        return fmt_time(when, day_of=window.started)

    facts = []
    for n, g in enumerate(group_lines(lines, redactor)[:MAX_TEMPLATES]):
        span = day(g.first) if g.first == g.last else f"{day(g.first)} to {day(g.last)}"
        facts.append(EvidenceFact(
            id=f"{name}.{first_id + n}", kind="log", source=name, system=source.kind, at=g.first, last_at=g.last, url=url, service=service,
            label=f"logs {where}: {g.count}× {one_line(g.template, 90)}",
            text=(
                f"{g.count} log lines like this in {where}, {span}{capped}; query {shown_query}\n"
                f"template: {one_line(g.template, 400)}\n"
                f"latest: {g.example}"
            ),
        ))
    return facts


# -- metrics ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Inflection:
    """Where a series departed from its baseline: at ``at`` with ``value``; ``peak`` its farthest point after."""

    at: datetime
    baseline: float
    value: float
    peak: float

    @property
    def ratio(self) -> float | None:
        return abs(self.peak / self.baseline) if self.baseline else None

    @property
    def direction(self) -> Literal["rose", "fell"]:
        return "rose" if self.peak >= self.baseline else "fell"


def inflection(points: Sequence[tuple[float, float]], started: datetime) -> Inflection | None:
    """The first point from which the series stays beyond its baseline (two points in a row), or None."""
    if len(points) < 4:
        return None
    values = [v for _, v in points]
    before = [v for t, v in points if t < started.timestamp()]
    base_part = before if len(before) >= 3 else values[: max(3, len(values) // 3)]
    base = statistics.median(base_part)
    mad = statistics.median(abs(v - base) for v in base_part)
    threshold = max(3 * 1.4826 * mad, 0.2 * abs(base), 1e-9)
    start_at = len(base_part) if len(before) < 3 else 0
    for i in range(max(1, start_at), len(points)):
        away = abs(values[i] - base) > threshold
        stays = i + 1 >= len(points) or abs(values[i + 1] - base) > threshold
        if away and stays and i + 1 < len(points):
            after = values[i:]
            peak = max(after, key=lambda v: abs(v - base))
            return Inflection(datetime.fromtimestamp(points[i][0], UTC), base, values[i], peak)
    return None


def _series_name(labels: Mapping[str, str]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return labels.get("__name__", "") + (f"{{{inner}}}" if inner else "")


def _num(value: float) -> str:
    return f"{value:.3g}" if math.isfinite(value) else str(value)


def metric_fact(
    name: str, source: EvidenceSourceSettings, query: str, title: str, series: Sequence[MetricSeries],
    window: Window, *, redactor: Redactor, service: str, fact_id: str,
) -> EvidenceFact:
    url = ui_link(source, query, window)
    shown = redactor.redact(title or query)
    found = [(s, f) for s in series if (f := inflection(s.points, window.started)) is not None]
    if not found:
        steady = ", ".join(f"{_series_name(s.labels) or 'the series'} ≈ {_num(statistics.median(v for _, v in s.points))}"
                           for s in series[:3] if s.points)
        return EvidenceFact(
            id=fact_id, kind="metric", source=name, system=source.kind, at=None, url=url, service=service,
            label=f"metric {one_line(shown, 80)}: no inflection",
            text=(f"{shown} ({name}) did not depart from its baseline between {fmt_time(window.start)} and "
                  f"{fmt_time(window.end)}" + (f": {steady}." if steady else ": no data."))
                 + f"\nquery: {redactor.redact(query)}",
        )

    def size(pair: tuple[MetricSeries, Inflection]) -> float:
        f = pair[1]
        return f.ratio if f.ratio is not None else abs(f.peak - f.baseline) + 1e6

    chosen, inf = max(found, key=size)
    when = fmt_time(inf.at, day_of=window.started)
    minutes = (inf.at - window.started).total_seconds() / 60
    relation = (f"{abs(minutes):.0f} min {'before' if minutes < 0 else 'after'} the trouble began"
                if abs(minutes) >= 1 else "as the trouble began")
    by = f" ({inf.ratio:.1f}× the baseline)" if inf.ratio is not None else ""
    series_name = _series_name(chosen.labels)
    return EvidenceFact(
        id=fact_id, kind="metric", source=name, system=source.kind, at=inf.at, url=url, service=service, change=inf.ratio,
        label=f"metric {one_line(shown, 80)} {inf.direction} at {when}",
        text=(
            f"Inflection point: {shown} {inf.direction} from a baseline of {_num(inf.baseline)} to "
            f"{_num(inf.value)} at {when}, {relation}; peak {_num(inf.peak)}{by}."
            + (f"\nseries: {redactor.redact(series_name)}" if series_name else "")
            + f"\nquery: {redactor.redact(query)} ({name})"
        ),
    )


# -- reading ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Read:
    source: str
    kind: Literal["log", "metric"]
    query: str
    index: str = ""
    title: str = ""


class EvidenceReader:
    """Reads a service's evidence. Build in the composition root with :meth:`from_settings` (or per call: it keeps
    one HTTP client per source, opened when first used); close with :meth:`aclose`."""

    def __init__(self, settings: Settings, *, observe: CallObserver = ignore) -> None:
        self.settings = settings
        self.observe = observe
        self.redactor = Redactor.create(emails=settings.ai.redact_emails, extra=settings.ai.redact_patterns)
        self._clients: dict[str, LokiClient | ElasticsearchClient | PrometheusClient] = {}
        #: One HTTP client for every source (one TLS context, made before any read's clock starts).
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def wanted(self, service: str | None) -> bool:
        """Whether the service reads any evidence."""
        svc = self.settings.service(service or "")
        return svc is not None and bool(svc.evidence.queries or svc.evidence.alert_expressions)

    def _client(self, name: str) -> LokiClient | ElasticsearchClient | PrometheusClient:
        if name not in self._clients:
            cfg, ev = self.settings.evidence.sources[name], self.settings.evidence
            if self._http is None:
                slowest = max((s.timeout for s in ev.sources.values()), default=3.0)
                self._http = httpx.AsyncClient(timeout=slowest)
            common: dict[str, Any] = {"max_bytes": ev.max_bytes, "observe": self.observe, "client": self._http}
            if cfg.kind == "loki":
                self._clients[name] = LokiClient.from_settings(cfg, **common)
            elif cfg.kind == "elasticsearch":
                self._clients[name] = ElasticsearchClient.from_settings(cfg, **common)
            else:
                self._clients[name] = PrometheusClient.from_settings(
                    cfg, max_series=ev.max_series, max_points=ev.max_points, **common)
        return self._clients[name]

    def reads(self, service: ServiceSettings, alert_urls: Iterable[str | None]) -> list[_Read]:
        sources = self.settings.evidence.sources
        out = [
            _Read(q.source, "metric" if sources[q.source].kind == "prometheus" else "log", q.query, q.index, q.name)
            for q in service.evidence.queries
        ]
        if service.evidence.alert_expressions:
            exprs = list(dict.fromkeys(e for u in alert_urls if (e := alert_expression(u))))
            out += [_Read(service.evidence.alert_expressions, "metric", e, title=f"the alert's expression {e}")
                    for e in exprs[:MAX_ALERT_EXPRESSIONS]]
        return out

    async def read(
        self,
        service: str,
        started: datetime,
        *,
        now: datetime,
        resolved: datetime | None = None,
        alert_urls: Iterable[str | None] = (),
    ) -> list[EvidenceFact]:
        """The service's evidence around ``started``: every read at once, each within its source's timeout; a
        source that did not answer in time (or refused) is one ``unavailable`` record."""
        svc = self.settings.service(service)
        if svc is None:
            return []
        window = window_for(svc, started, now, resolved)
        reads = self.reads(svc, alert_urls)
        for r in reads:  # clients first: building them is not the sources' time
            self._client(r.source)
        results = await asyncio.gather(*(self._one(r, n, window, svc.name) for n, r in enumerate(reads, 1)))
        facts: list[EvidenceFact] = []
        failed: dict[str, tuple[_Read, str]] = {}
        for read, result in zip(reads, results, strict=True):
            if isinstance(result, str):
                failed.setdefault(read.source, (read, result))
            else:
                facts.extend(result)
        for name, (read, reason) in failed.items():
            cfg = self.settings.evidence.sources[name]
            facts.append(EvidenceFact(
                id=name, kind=read.kind, source=name, system=cfg.kind, service=svc.name, unavailable=True,
                label=f"{'logs' if read.kind == 'log' else 'metrics'} source {name} unavailable",
                text=f"The {cfg.kind} source {name} was unavailable: {reason}. Nothing from it is included.",
            ))
        return facts

    async def _one(self, read: _Read, n: int, window: Window, service: str) -> list[EvidenceFact] | str:
        """One read's records, or why it failed (a sentence)."""
        cfg = self.settings.evidence.sources[read.source]
        try:
            return await asyncio.wait_for(self._fetch(read, n, window, service), timeout=cfg.timeout)
        except TimeoutError:
            return f"it did not answer within {cfg.timeout:g} s"
        except AdapterError as exc:
            reason = one_line(self.redactor.redact(exc.reason), 200)
            log.info("evidence source %s failed: %s", read.source, reason)
            return reason

    async def _fetch(self, read: _Read, n: int, window: Window, service: str) -> list[EvidenceFact]:
        cfg, ev = self.settings.evidence.sources[read.source], self.settings.evidence
        client = self._client(read.source)
        if read.kind == "log":
            assert isinstance(client, LogsClients)
            lines = await client.lines(read.query, window.start, window.end, limit=ev.max_lines, index=read.index)
            return log_facts(read.source, cfg, read.query, lines, window, limit=ev.max_lines, redactor=self.redactor,
                             service=service, index=read.index, first_id=n * 10)
        assert isinstance(client, PrometheusClient)
        step = step_for(window.start, window.end, ev.max_points)
        series = await client.range(read.query, window.start, window.end, step=step)
        return [metric_fact(read.source, cfg, read.query, read.title, series, window, redactor=self.redactor,
                            service=service, fact_id=f"{read.source}.{n * 10}")]


LogsClients = (LokiClient, ElasticsearchClient)


def _ports(logs: LokiClient | ElasticsearchClient, metrics: PrometheusClient) -> tuple[LogsPort, MetricsPort]:
    """The adapters implement the ports (mypy checks it here)."""
    return logs, metrics
