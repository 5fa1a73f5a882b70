"""Elasticsearch and OpenSearch, read for evidence: documents of a query string over a time window (read-only).

Based on Elasticsearch's Search API reference (``POST /<index>/_search``; OpenSearch keeps the same API);
:mod:`warroom.sandbox.elasticsearch` emulates the same behaviour.

- **Query**: ``POST /<index>/_search`` (an index, a comma list or a pattern such as ``logs-checkout-*``) with
  ``{"size": n, "sort": [{"@timestamp": {"order": "desc"}}], "track_total_hits": false, "query": {"bool":
  {"must": [{"query_string": {"query": …}}], "filter": [{"range": {"@timestamp": {"gte": …, "lte": …,
  "format": "strict_date_optional_time"}}}]}}}``. ``size`` is at most 10 000 (``index.max_result_window``).
- **Answer**: ``{"took", "timed_out", "_shards", "hits": {"total", "max_score", "hits": [{"_index", "_id",
  "_score", "_source": {…}, "sort": […]}]}}``. The line is the document's ``message`` (ECS), else ``log``, else
  ``msg``, else the whole ``_source`` as JSON; ``@timestamp`` is when.
- **Errors**: ``{"error": {"root_cause": [{"type", "reason"}], "type", "reason"}, "status": n}`` — 400
  (``query_shard_exception`` "Failed to parse query [...]", ``parsing_exception``), 401 (``security_exception``),
  403, 404 (``index_not_found_exception`` "no such index [x]"); the root cause's type and reason become the
  :class:`~warroom.adapters.errors.Permanent`'s sentence. 5xx and timeouts are
  :class:`~warroom.adapters.errors.Transient`; nothing is retried (evidence is wanted now or not at all).
- **Auth**: ``Authorization: ApiKey <base64 id:key>`` (``token``) or basic (``username``/``password``).
- **Check** (``check-config --online``, :meth:`~.query_api.SourceClient.ping`): ``GET /``, the cluster's name and
  version. It needs the ``monitor`` cluster privilege, which a key made for searching (``read`` on the indices) may
  lack: its 403 ``security_exception`` is said as credentials accepted, not refused.
- **Bounds**: ``size`` lines, and an answer over ``max_bytes`` is refused.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from typing_extensions import Unpack

from .errors import NotFound, Permanent
from .http import error_reason
from .ports import LogLine
from .query_api import CredentialsRefused, SourceClient, SourceOptions, one_word

SYSTEM = "Elasticsearch"
#: ``index.max_result_window``'s default: ``size`` beyond it is refused.
MAX_SIZE = 10_000
#: Fields that hold the line, in the order they are looked for.
MESSAGE_FIELDS = ("message", "log", "msg")


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def search_body(query: str, start: datetime, end: datetime, size: int) -> dict[str, Any]:
    """The ``_search`` body: the query string within the window, newest first."""
    return {
        "size": size,
        "sort": [{"@timestamp": {"order": "desc"}}],
        "track_total_hits": False,
        "query": {
            "bool": {
                "must": [{"query_string": {"query": query}}],
                "filter": [
                    {
                        "range": {
                            "@timestamp": {
                                "gte": rfc3339(start),
                                "lte": rfc3339(end),
                                "format": "strict_date_optional_time",
                            }
                        }
                    }
                ],
            }
        },
    }


class ElasticsearchClient(SourceClient):
    """The Search API. Build with :meth:`from_settings`; close with :meth:`aclose`."""

    system = SYSTEM
    scheme = "ApiKey"
    narrow = "narrow the query or lower evidence.max_lines"
    credentials = "check the source's API key (token) or username and password, and that it may read the index"
    ping_path = "/"

    def __init__(self, *, api_key: str = "", **options: Unpack[SourceOptions]) -> None:
        """``api_key`` is the ``token`` (the base64 ``id:key`` Elasticsearch hands out)."""
        if api_key:
            options["token"] = api_key
        super().__init__(**options)

    async def lines(
        self, query: str, start: datetime, end: datetime, *, limit: int, index: str = ""
    ) -> list[LogLine]:
        """Documents matching the query string in ``index`` between ``start`` and ``end``, newest first."""
        if not index.strip():
            raise Permanent(SYSTEM, "no index to search: give the source's query an index (e.g. logs-checkout-*)")
        size = max(1, min(limit, MAX_SIZE))
        path = f"{quote(index.strip(), safe='*,-_.')}/_search"
        # a search changes nothing: retrying it is safe (JsonApi retries none here anyway: max_retries=0)
        response = await self.api.request("POST", path, json=search_body(query, start, end, size), idempotent=True)
        body = self._json(response, f"POST /{path}")
        hits = ((body or {}).get("hits") or {}).get("hits") if isinstance(body, dict) else None
        if not isinstance(hits, list):
            raise Permanent(SYSTEM, f"POST /{path} answered with a body that is not a search result")
        out = [line for hit in hits if (line := _line(hit)) is not None]
        out.sort(key=lambda e: e.at, reverse=True)
        return out[:size]

    def _reason(self, response: httpx.Response) -> str:
        return es_reason(response)

    def _refused(self, response: httpx.Response, reason: str) -> None:
        if response.status_code == 404:
            raise NotFound(SYSTEM, f"Elasticsearch has no such index ({reason})")
        raise Permanent(SYSTEM, f"Elasticsearch refused the search: {reason}")

    async def ping(self) -> str:
        """``GET /``; credentials it accepts but that may not read the cluster's information (``GET /`` needs the
        ``monitor`` cluster privilege, a search only ``read`` on the indices) are said so, not refused."""
        try:
            return await super().ping()
        except CredentialsRefused as exc:
            if exc.status == 403 and "security_exception" in exc.reason:
                return ("it accepted the credentials (they may not read GET /, which needs the monitor cluster "
                        "privilege; searching needs only read on the indices)")
            raise

    def _about(self, body: Any) -> str:
        version = body.get("version") if isinstance(body, dict) else None
        if not isinstance(version, dict):
            raise Permanent(SYSTEM, "GET / answered with a body that is not Elasticsearch's information")
        product = "OpenSearch" if version.get("distribution") == "opensearch" else "Elasticsearch"
        return f"it is {product} {one_word(version.get('number'))}, cluster {one_word(body.get('cluster_name'), '?')}"


def es_reason(response: httpx.Response) -> str:
    """``type: reason`` of the error's first root cause (the error's own when it lists none)."""
    try:
        body = response.json()
    except ValueError:
        return error_reason(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        causes = error.get("root_cause")
        cause = causes[0] if isinstance(causes, list) and causes and isinstance(causes[0], dict) else error
        kind, reason = cause.get("type") or error.get("type"), cause.get("reason") or error.get("reason")
        return f"HTTP {response.status_code}: {kind}: {str(reason)[:300]}"
    return error_reason(response)


def _line(hit: Any) -> LogLine | None:
    if not isinstance(hit, dict) or not isinstance(hit.get("_source"), dict):
        return None
    source: dict[str, Any] = hit["_source"]
    at = _time(source.get("@timestamp"))
    if at is None:
        return None
    text = next((str(source[k]) for k in MESSAGE_FIELDS if isinstance(source.get(k), str)), None)
    if text is None:
        text = json.dumps({k: v for k, v in source.items() if k != "@timestamp"}, sort_keys=True)[:2000]
    labels = {k: str(v) for k, v in source.items() if isinstance(v, str | int | float | bool)
              and k not in MESSAGE_FIELDS and k != "@timestamp"}
    labels["_index"] = str(hit.get("_index") or "")
    return LogLine(at=at, line=text, labels=labels)


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
