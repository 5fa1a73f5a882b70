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
- **Bounds**: at most ``max_series`` series of at most ``max_points`` points each are kept, and an answer over
  ``max_bytes`` is refused.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import httpx

from warroom.settings.model import EvidenceSourceSettings

from .errors import Permanent
from .http import error_reason
from .observe import CallObserver, ignore
from .ports import MetricSeries
from .query_api import SourceHttp, authorization

SYSTEM = "Prometheus"
PATH = "/api/v1/query_range"
#: Prometheus' own ceiling on points per series.
MAX_RESOLUTION = 11_000


def step_for(start: datetime, end: datetime, points: int) -> float:
    """A step (whole seconds, at least 15) giving at most ``points`` points from ``start`` to ``end``."""
    span = max(1.0, (end - start).total_seconds())
    return float(max(15, math.ceil(span / max(1, points))))


class PrometheusClient:
    """The range query API. Build with :meth:`from_settings`; close with :meth:`aclose`."""

    def __init__(
        self,
        *,
        url: str,
        username: str = "",
        password: str = "",
        token: str = "",
        timeout: float = 3.0,
        max_bytes: int = 2_000_000,
        max_series: int = 10,
        max_points: int = 240,
        client: httpx.AsyncClient | None = None,
        observe: CallObserver = ignore,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_series = max_series
        self.max_points = max_points
        self._source = SourceHttp(SYSTEM, url, authorization=authorization("Bearer", token, username, password),
                                  timeout=timeout, client=client, observe=observe, translate=self._translate)
        self.url, self.api = self._source.url, self._source.api

    @classmethod
    def from_settings(
        cls,
        settings: EvidenceSourceSettings,
        *,
        client: httpx.AsyncClient | None = None,
        max_bytes: int = 2_000_000,
        max_series: int = 10,
        max_points: int = 240,
        observe: CallObserver = ignore,
    ) -> PrometheusClient:
        return cls(
            url=settings.url,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else "",
            token=settings.token.get_secret_value() if settings.token else "",
            timeout=settings.timeout,
            max_bytes=max_bytes,
            max_series=max_series,
            max_points=max_points,
            observe=observe,
        )

    async def aclose(self) -> None:
        await self._source.aclose()

    async def range(self, query: str, start: datetime, end: datetime, *, step: float) -> list[MetricSeries]:
        """The expression every ``step`` seconds from ``start`` to ``end``: at most ``max_series`` series (the
        first in the answer's order), each cut to its last ``max_points`` points."""
        if (end - start).total_seconds() / max(step, 1e-3) > MAX_RESOLUTION:
            raise Permanent(SYSTEM, f"a step of {step:g} s gives more than {MAX_RESOLUTION} points: use a larger step")
        params = {"query": query, "start": _secs(start), "end": _secs(end), "step": f"{step:g}"}
        response = await self.api.request("GET", PATH, params=params)
        if len(response.content) > self.max_bytes:
            raise Permanent(SYSTEM, f"the answer is more than the {self.max_bytes} bytes read at most: narrow the "
                                    "query (sum by fewer labels)")
        try:
            body = response.json()
        except ValueError:
            raise Permanent(SYSTEM, f"GET {PATH} answered with a body that is not JSON") from None
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

    async def _translate(self, response: httpx.Response) -> None:
        """httpx response hook: too big an answer refused unread; refusals in Prometheus' own words."""
        if not str(response.request.url).startswith(self.url + "/"):  # this source (a client may be shared)
            return
        size = response.headers.get("Content-Length", "")
        if size.isdigit() and int(size) > self.max_bytes:
            raise Permanent(SYSTEM, f"the answer is {size} bytes, more than the {self.max_bytes} read at most: "
                                    "narrow the query (sum by fewer labels)")
        status = response.status_code
        if status < 400 or status >= 500 or status in (408, 429):
            return
        await response.aread()
        reason = prom_reason(response)
        if status in (401, 403):
            raise Permanent(SYSTEM, f"Prometheus refused the credentials ({reason}): check the source's token or "
                                    "username and password")
        raise Permanent(SYSTEM, f"Prometheus refused the query: {reason}")


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
