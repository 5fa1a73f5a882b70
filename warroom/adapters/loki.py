"""Grafana Loki, read for evidence: log lines of a LogQL query over a time window (read-only).

Based on Loki's HTTP API reference (grafana.com/docs/loki/latest/reference/loki-http-api/);
:mod:`warroom.sandbox.loki` emulates the same behaviour.

- **Query**: ``GET /loki/api/v1/query_range`` with ``query`` (LogQL: a stream selector ``{app="checkout"}`` and
  line filters ``|= "error"``), ``start`` and ``end`` (Unix epoch nanoseconds), ``limit`` (lines; Loki's own
  ceiling is ``max_entries_limit_per_query``, 5000 by default) and ``direction`` (``backward``: newest first).
- **Answer**: ``{"status": "success", "data": {"resultType": "streams", "result": [{"stream": {labels},
  "values": [["<ns>", "<line>"], …]}], "stats": {…}}}``. A metric query (``rate(…)``) answers a ``matrix``: it
  is refused here with a sentence saying to give a log query.
- **Errors**: Loki answers a bad query 400 with a plain-text body (``parse error at line 1, col 8: syntax error:
  unexpected IDENTIFIER``), a missing or wrong credential 401 (from Loki's gateway), an unknown tenant 401
  ``no org id``; those become :class:`~warroom.adapters.errors.Permanent` with Loki's own words, 5xx and timeouts
  :class:`~warroom.adapters.errors.Transient`. Evidence is wanted now or not at all: nothing is retried.
- **Auth**: basic (``username``/``password``: Grafana Cloud, a reverse proxy) or a bearer ``token``; ``tenant``
  goes as ``X-Scope-OrgID``.
- **Check** (``check-config --online``, :meth:`~.query_api.SourceClient.ping`): ``GET /loki/api/v1/labels``, the
  label names of the last hours' streams — behind the same credentials and tenant as a query.
- **Bounds**: at most ``limit`` lines are asked for, and an answer over ``max_bytes`` is refused (by its
  ``Content-Length`` before it is read, by its size when it has none).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from typing_extensions import Unpack

from warroom.settings.model import EvidenceSourceSettings

from .errors import Permanent
from .http import error_reason
from .ports import LogLine
from .query_api import SourceClient, SourceOptions

SYSTEM = "Loki"
PATH = "/loki/api/v1/query_range"
#: The label names (of the last hours' streams): ``check-config --online``'s cheap read, behind the same credentials.
LABELS = "/loki/api/v1/labels"
#: Loki's default ``max_entries_limit_per_query``.
MAX_LIMIT = 5000


def ns(at: datetime) -> int:
    """A time as Unix epoch nanoseconds (Loki's own unit)."""
    return int(at.astimezone(UTC).timestamp() * 1_000_000) * 1000


class LokiClient(SourceClient):
    """Loki's query API. Build with :meth:`from_settings`; close with :meth:`aclose`."""

    system = SYSTEM
    narrow = "narrow the query or lower evidence.max_lines"
    credentials = "check the source's username/password, token or tenant"
    ping_path = LABELS

    def __init__(self, *, tenant: str = "", **options: Unpack[SourceOptions]) -> None:
        super().__init__(headers={"X-Scope-OrgID": tenant} if tenant else None, **options)

    @classmethod
    def _options(cls, settings: EvidenceSourceSettings) -> dict[str, Any]:
        return {"tenant": settings.tenant}

    async def lines(
        self, query: str, start: datetime, end: datetime, *, limit: int, index: str = ""
    ) -> list[LogLine]:
        """Lines of a LogQL log query between ``start`` and ``end``, newest first, at most ``limit``."""
        limit = max(1, min(limit, MAX_LIMIT))
        params = {"query": query, "start": str(ns(start)), "end": str(ns(end)), "limit": str(limit),
                  "direction": "backward"}
        response = await self.api.request("GET", PATH, params=params)
        body = self._json(response, f"GET {PATH}")
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or body.get("status") != "success":
            raise Permanent(SYSTEM, f"GET {PATH} answered with a body that is not a query result")
        if data.get("resultType") != "streams":
            raise Permanent(
                SYSTEM,
                f"the query {query!r} is a metric query (Loki answered a {data.get('resultType')}): give a log "
                'query, a stream selector with line filters such as {app="checkout"} |= "error"',
            )
        out: list[LogLine] = []
        for stream in data.get("result") or []:
            if not isinstance(stream, dict):
                continue
            labels = {str(k): str(v) for k, v in (stream.get("stream") or {}).items()}
            for value in stream.get("values") or []:
                line = _entry(value, labels)
                if line is not None:
                    out.append(line)
        out.sort(key=lambda e: e.at, reverse=True)
        return out[:limit]

    def _reason(self, response: httpx.Response) -> str:
        text = response.text.strip().replace("\n", " ")
        if text and not text.startswith("{"):
            return text[:300]
        return error_reason(response)

    def _refused(self, response: httpx.Response, reason: str) -> None:
        raise Permanent(SYSTEM, f"Loki refused the query: {reason}")

    def _about(self, body: Any) -> str:
        if not isinstance(body, dict) or body.get("status") != "success":
            raise Permanent(SYSTEM, f"GET {LABELS} answered with a body that is not Loki's list of label names")
        names = body.get("data") or []
        return f"GET {LABELS} answered with {len(names)} label name{'s' if len(names) != 1 else ''}"


def _entry(value: Any, labels: dict[str, str]) -> LogLine | None:
    """``["<ns>", "<line>"]`` (or with structured metadata as a third element) as a line; None when malformed."""
    if not isinstance(value, list) or len(value) < 2:
        return None
    stamp, line = value[0], value[1]
    try:
        at = datetime.fromtimestamp(int(str(stamp)) / 1e9, UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return LogLine(at=at, line=str(line), labels=labels)
