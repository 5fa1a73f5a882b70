"""A local Grafana Loki: ``/loki/api/v1/query_range`` (and ``/loki/api/v1/labels``) on a loopback server, over log
lines tests seed.

What it is based on (Loki's HTTP API reference, grafana.com/docs/loki/latest/reference/loki-http-api/):

- ``GET`` (or form ``POST``) ``/loki/api/v1/query_range`` with ``query``, ``start`` and ``end`` (Unix epoch
  nanoseconds, or RFC 3339; default the last hour), ``limit`` (default 100; above 5000 refused like Loki's
  ``max_entries_limit_per_query``: 400 ``max entries limit per query exceeded, limit > max_entries_limit (N >
  5000)``) and ``direction`` (``backward``, the default: newest first; or ``forward``).
- Answer: ``{"status": "success", "data": {"resultType": "streams", "result": [{"stream": {labels}, "values":
  [["<ns>", "<line>"], …]}], "stats": {"summary": {…}}}}``; ``limit`` counts lines across all streams.
- ``GET`` (or form ``POST``) ``/loki/api/v1/labels`` with ``start`` and ``end`` (default the last 6 hours): the
  label names of the streams with entries in that time, sorted — ``{"status": "success", "data": ["app", …]}``;
  behind the same credentials and tenant as the queries (operation ``labels``).
- Errors are plain text, as Loki sends them: 400 ``parse error at line 1, col N: …`` for a query outside the
  subset, 400 for bad times; 401 ``no org id`` without ``X-Scope-OrgID`` when :attr:`tenant` is set, 401
  ``Unauthorized`` for a wrong credential (basic or bearer, when the emulator is given one — Loki itself has none;
  a gateway in front does this).

The LogQL subset, exactly: one stream selector ``{label="v", label!="v", label=~"re", label!~"re"}`` (at least
one matcher; regular expressions fully anchored, as Loki's), followed by any number of line filters ``|= "text"``,
``!= "text"``, ``|~ "re"``, ``!~ "re"`` (strings in double quotes or backticks). No parsers (``| json``), no
label filters after the selector, no metric queries (``rate(…)``): those are answered 400 like a parse error.

Slowness and errors: every answer can be held :attr:`slow_seconds` (released at once when the emulator stops, so a
test that leaves a request hanging does not wait for it), and the base class' faults apply (operation
``query_range``).
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .base import Emulator, EmulatorConfig

MAX_ENTRIES = 5000
OP = "query_range"


class Slowness:
    """Hold answers ``seconds`` (0: answer at once); :meth:`release` lets every held answer go at once."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._released = asyncio.Event()
        #: Set once an answer is being held (tests wait for it).
        self.holding = asyncio.Event()

    async def wait(self) -> None:
        if self.seconds > 0:
            self.holding.set()
            try:
                await asyncio.wait_for(self._released.wait(), self.seconds)
            except TimeoutError:
                pass

    def release(self) -> None:
        self._released.set()


def check_credentials(
    header: str, *, token: str | None, username: str | None, password: str | None
) -> bool:
    """Whether an ``Authorization`` header carries the configured bearer token or basic credentials (True when
    none is configured)."""
    if token is None and username is None:
        return True
    if token is not None and header.startswith("Bearer ") and secrets.compare_digest(header[7:].strip(), token):
        return True
    if username is not None and header.startswith("Basic "):
        try:
            user, _, pwd = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, username) and secrets.compare_digest(pwd, password or "")
    return False


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        have = labels.get(self.label, "")
        if self.op == "=":
            return have == self.value
        if self.op == "!=":
            return have != self.value
        found = re.fullmatch(self.value, have) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True)
class LineFilter:
    op: str
    value: str

    def keeps(self, line: str) -> bool:
        if self.op == "|=":
            return self.value in line
        if self.op == "!=":
            return self.value not in line
        found = re.search(self.value, line) is not None
        return found if self.op == "|~" else not found


class LogQLError(ValueError):
    """A query outside the subset, with Loki's wording (``parse error at line 1, col N: …``)."""


_STRING = r'"(?:[^"\\]|\\.)*"|`[^`]*`'
_MATCHER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(" + _STRING + r")\s*")
_FILTER = re.compile(r"\s*(\|=|!=|\|~|!~)\s*(" + _STRING + r")\s*")


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text[1:-1])


def parse_logql(query: str) -> tuple[list[Matcher], list[LineFilter]]:
    """The selector's matchers and the line filters; :class:`LogQLError` for anything outside the subset."""
    text = query.strip()
    if not text.startswith("{"):
        raise LogQLError(f"parse error at line 1, col 1: syntax error: unexpected {text[:1] or 'end of input'!r}, "
                         "expecting {")
    pos, matchers = 1, []
    while True:
        m = _MATCHER.match(text, pos)
        if m is None:
            raise LogQLError(f"parse error at line 1, col {pos + 1}: syntax error: unexpected "
                             f"{text[pos:pos + 10]!r}, expecting a label matcher")
        value = _unquote(m.group(3))
        if m.group(2) in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise LogQLError(f"parse error at line 1, col {m.start(3) + 1}: invalid regex {value!r}: {exc}") from None
        matchers.append(Matcher(m.group(1), m.group(2), value))
        pos = m.end()
        if text[pos:pos + 1] == ",":
            pos += 1
            continue
        if text[pos:pos + 1] == "}":
            pos += 1
            break
        raise LogQLError(f"parse error at line 1, col {pos + 1}: syntax error: unexpected {text[pos:pos + 10]!r}")
    if all(m.op in ("!=", "!~") or (m.op == "=~" and re.fullmatch(m.value, "")) for m in matchers):
        raise LogQLError("parse error : queries require at least one regexp or equality matcher that does not have "
                         "an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but "
                         "app=~\".+\" will")
    filters = []
    while pos < len(text):
        f = _FILTER.match(text, pos)
        if f is None:
            if not text[pos:].strip():
                break
            raise LogQLError(f"parse error at line 1, col {pos + 1}: syntax error: unexpected "
                             f"{text[pos:pos + 10].strip()!r} (this Loki understands line filters only)")
        value = _unquote(f.group(2))
        if f.group(1) in ("|~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise LogQLError(f"parse error at line 1, col {f.start(2) + 1}: invalid regex {value!r}: {exc}") from None
        filters.append(LineFilter(f.group(1), value))
        pos = f.end()
    return matchers, filters


def _ns(value: str, default: int) -> int:
    if not value:
        return default
    if re.fullmatch(r"\d+(\.\d+)?", value):
        number = float(value)
        # Loki takes nanoseconds; a number small enough to be seconds is read as seconds, as Loki does
        return int(number * 1e9) if number < 1e12 else int(value.split(".")[0])
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"invalid parameter: cannot parse {value!r} to a valid timestamp") from None
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return int(at.timestamp() * 1e9)


class LokiEmulator(Emulator):
    name = "loki"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tenant: str | None = None,
    ) -> None:
        super().__init__(config)
        self.token, self.username, self.password, self.tenant = token, username, password, tenant
        #: (labels, ns, line), in the order pushed.
        self.entries: list[tuple[dict[str, str], int, str]] = []
        self.slow = Slowness()
        self.clock: Callable[[], float] = time.time
        self.route("GET", "/loki/api/v1/query_range", OP, self._query_range)
        self.route("POST", "/loki/api/v1/query_range", OP, self._query_range)
        self.route("GET", "/loki/api/v1/labels", "labels", self._labels)
        self.route("POST", "/loki/api/v1/labels", "labels", self._labels)

    async def stop(self) -> None:
        self.slow.release()
        await super().stop()

    # -- helpers for tests --------------------------------------------------------------------------
    def push(self, labels: dict[str, str], at: datetime | float, line: str) -> None:
        """Seed a line of the stream ``labels`` at ``at`` (a datetime or Unix seconds)."""
        seconds = at.timestamp() if isinstance(at, datetime) else float(at)
        self.entries.append((dict(labels), int(seconds * 1_000_000) * 1000, line))

    # -- serving ------------------------------------------------------------------------------------
    async def _admit(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        """After :attr:`slow`: the request's parameters (query string and form), and the gateway's 401 for a wrong
        credential or Loki's own for a missing tenant (None when let in)."""
        await self.slow.wait()
        header = request.headers.get("Authorization", "")
        if not check_credentials(header, token=self.token, username=self.username, password=self.password):
            return {}, web.Response(status=401, text="Unauthorized\n")
        if self.tenant is not None and request.headers.get("X-Scope-OrgID") != self.tenant:
            return {}, web.Response(status=401, text="no org id\n")
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            params.update(await request.post())
        return params, None

    async def _labels(self, request: web.Request) -> web.StreamResponse:
        """``/loki/api/v1/labels``: the label names of the streams with entries between ``start`` and ``end``
        (default: the last 6 hours), sorted — ``{"status": "success", "data": [...]}``."""
        params, refused = await self._admit(request)
        if refused is not None:
            return refused
        try:
            end = _ns(str(params.get("end") or ""), int(self.clock() * 1e9))
            start = _ns(str(params.get("start") or ""), end - 6 * 3600 * 10**9)
        except ValueError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        names = sorted({k for labels, at, _ in self.entries if start <= at < end for k in labels})
        return web.json_response({"status": "success", "data": names})

    async def _query_range(self, request: web.Request) -> web.StreamResponse:
        params, refused = await self._admit(request)
        if refused is not None:
            return refused
        query = str(params.get("query") or "")
        now = int(self.clock() * 1e9)
        try:
            end = _ns(str(params.get("end") or ""), now)
            start = _ns(str(params.get("start") or ""), end - 3600 * 10**9)
            limit = int(str(params.get("limit") or "100"))
        except ValueError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        if end < start:
            return web.Response(status=400, text="end timestamp must not be before or equal to start time\n")
        if limit > MAX_ENTRIES:
            return web.Response(status=400, text=f"max entries limit per query exceeded, limit > max_entries_limit "
                                                 f"({limit} > {MAX_ENTRIES})\n")
        if limit <= 0:
            return web.Response(status=400, text="limit must be a positive value\n")
        direction = str(params.get("direction") or "backward")
        if direction not in ("backward", "forward"):
            return web.Response(status=400, text=f"invalid direction {direction!r}\n")
        try:
            matchers, filters = parse_logql(query)
        except LogQLError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        found = [
            (labels, at, line) for labels, at, line in self.entries
            if start <= at < end and all(m.matches(labels) for m in matchers) and all(f.keeps(line) for f in filters)
        ]
        found.sort(key=lambda e: e[1], reverse=direction == "backward")
        found = found[:limit]
        streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for labels, at, line in found:
            streams.setdefault(tuple(sorted(labels.items())), []).append([str(at), line])
        result = [{"stream": dict(key), "values": values} for key, values in streams.items()]
        size = sum(len(line) for _, _, line in found)
        return web.json_response({
            "status": "success",
            "data": {
                "resultType": "streams",
                "result": result,
                "stats": {"summary": {"totalLinesProcessed": len(self.entries), "totalEntriesReturned": len(found),
                                      "totalBytesProcessed": size}},
            },
        })
