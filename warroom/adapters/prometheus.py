"""Prometheus, read for evidence: a PromQL expression over a time window (read-only).

Based on Prometheus' HTTP API reference (prometheus.io/docs/prometheus/latest/querying/api/);
:mod:`warroom.sandbox.prometheus` emulates the same behaviour.

- **Query**: ``GET /api/v1/query_range`` with ``query`` (PromQL), ``start`` and ``end`` (Unix seconds) and
  ``step`` (seconds). Prometheus refuses more than 11 000 points per series; the step is chosen by the caller so
  that far fewer come back.
- **Answer**: ``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {labels}, "values":
  [[<unix seconds>, "<value>"], …]}]}}`` (values are strings, ``"NaN"`` and ``"+Inf"`` among them: dropped).
- **Errors**: ``{"status": "error", "errorType": "bad_data" | "execution" | "timeout" | …, "error": "…"}`` with
  400 (a bad expression or parameter), 422 (it cannot be executed), 503 (timed out or cancelled); 401/403 come
  from a proxy in front. 4xx become :class:`~warroom.adapters.errors.Permanent` in Prometheus' own words, 5xx and
  timeouts :class:`~warroom.adapters.errors.Transient`; nothing is retried (evidence is wanted now or not at all).
- **Auth**: a bearer ``token`` or basic (``username``/``password``), as a proxy in front of Prometheus wants.
- **Check** (``check-config --online``, :meth:`~.query_api.SourceClient.ping`): ``GET /api/v1/status/buildinfo``,
  the server's version — behind the same credentials (a proxy's) as a query.
- **Bounds**: at most ``max_series`` series of at most ``max_points`` points each are kept, and an answer over
  ``max_bytes`` is refused.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import httpx
from typing_extensions import Unpack

from .errors import Permanent
from .http import error_reason
from .ports import MetricSeries
from .query_api import SourceClient, SourceOptions, one_word

SYSTEM = "Prometheus"
PATH = "/api/v1/query_range"
#: The server's version: ``check-config --online``'s cheap read, behind the same credentials (a proxy's).
BUILDINFO = "/api/v1/status/buildinfo"
#: Prometheus' own ceiling on points per series.
MAX_RESOLUTION = 11_000


def step_for(start: datetime, end: datetime, points: int) -> float:
    """A step (whole seconds, at least 15) giving at most ``points`` points from ``start`` to ``end``."""
    span = max(1.0, (end - start).total_seconds())
    return float(max(15, math.ceil(span / max(1, points))))


class PrometheusClient(SourceClient):
    """The range query API. Build with :meth:`from_settings`; close with :meth:`aclose`."""

    system = SYSTEM
    narrow = "narrow the query (sum by fewer labels)"
    credentials = "check the source's token or username and password"
    ping_path = BUILDINFO

    def __init__(self, *, max_series: int = 10, max_points: int = 240, **options: Unpack[SourceOptions]) -> None:
        super().__init__(**options)
        self.max_series = max_series
        self.max_points = max_points

    async def range(self, query: str, start: datetime, end: datetime, *, step: float) -> list[MetricSeries]:
        """The expression every ``step`` seconds from ``start`` to ``end``: at most ``max_series`` series (the
        first in the answer's order), each cut to its last ``max_points`` points."""
        if (end - start).total_seconds() / max(step, 1e-3) > MAX_RESOLUTION:
            raise Permanent(SYSTEM, f"a step of {step:g} s gives more than {MAX_RESOLUTION} points: use a larger step")
        params = {"query": query, "start": _secs(start), "end": _secs(end), "step": f"{step:g}"}
        response = await self.api.request("GET", PATH, params=params)
        body = self._json(response, f"GET {PATH}", self.narrow)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or body.get("status") != "success":
            raise Permanent(SYSTEM, f"GET {PATH} answered with a body that is not a query result")
        if data.get("resultType") != "matrix":
            raise Permanent(SYSTEM, f"the query {query!r} answered a {data.get('resultType')}, not a range of values")
        out: list[MetricSeries] = []
        for item in data.get("result") or []:
            if len(out) >= self.max_series:
                break
            if not isinstance(item, dict):
                continue
            labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
            points = [p for v in item.get("values") or [] if (p := _point(v)) is not None]
            out.append(MetricSeries(labels=labels, points=points[-self.max_points:]))
        return out

    def _reason(self, response: httpx.Response) -> str:
        return prom_reason(response)

    def _refused(self, response: httpx.Response, reason: str) -> None:
        raise Permanent(SYSTEM, f"Prometheus refused the query: {reason}")

    def _about(self, body: Any) -> str:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or body.get("status") != "success":
            raise Permanent(SYSTEM, f"GET {BUILDINFO} answered with a body that is not Prometheus' build information")
        return f"it is Prometheus {one_word(data.get('version'))}"


def prom_reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return error_reason(response)
    if isinstance(body, dict) and body.get("error"):
        kind = body.get("errorType")
        return f"HTTP {response.status_code}: " + (f"{kind}: " if kind else "") + str(body["error"])[:300]
    return error_reason(response)


def _secs(at: datetime) -> str:
    return f"{at.astimezone(UTC).timestamp():.3f}"


def _point(value: Any) -> tuple[float, float] | None:
    if not isinstance(value, list) or len(value) != 2:
        return None
    try:
        t, v = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        return None
    return (t, v) if math.isfinite(v) else None
