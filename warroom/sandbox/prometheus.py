"""A local Prometheus: ``/api/v1/query_range`` (and ``/api/v1/status/buildinfo``) on a loopback server, over
samples tests seed.

What it is based on (Prometheus' HTTP API reference, prometheus.io/docs/prometheus/latest/querying/api/):

- ``GET`` (or form ``POST``) ``/api/v1/query_range`` with ``query``, ``start`` and ``end`` (Unix seconds or RFC
  3339) and ``step`` (seconds, or a duration such as ``30s``). Missing or bad parameters are 400 ``bad_data``
  (``invalid parameter "start": cannot parse "" to a valid timestamp``), ``end`` before ``start`` is 400 ``end
  timestamp must not be before start time``, more than 11 000 points per series is 400 ``exceeded maximum
  resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)``.
- Answer: ``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {labels}, "values":
  [[<unix seconds>, "<value>"], …]}]}}``; errors ``{"status": "error", "errorType": "bad_data", "error": "…"}``.
- ``GET /api/v1/status/buildinfo``: ``{"status": "success", "data": {"version", "revision", "branch",
  "buildUser", "buildDate", "goVersion"}}`` (operation ``buildinfo``), behind the same credentials.
- Auth (when the emulator is given credentials, as Prometheus' web config or a proxy in front does): bearer or
  basic; else 401 ``Unauthorized``.

The PromQL subset, exactly: a vector selector ``name``, ``name{l="v", l!="v", l=~"re", l!~"re"}`` or
``{__name__="name", …}``; ``rate(selector[5m])`` and ``increase(selector[5m])`` (counter resets handled, **no
extrapolation** to the window's edges: the increase between the first and last sample in the window, and for
``rate`` divided by the seconds between them); ``sum``, ``avg``, ``min``, ``max`` and ``count`` of any of those,
with ``by (l, …)`` or ``without (l, …)`` before or after the parentheses; and a trailing comparison with a number
(``… > 0.05``), which keeps the points where it holds, as PromQL's filter does. An instant selector takes the
newest sample within the 5-minute lookback. Anything else (binary operators between vectors, other functions,
offsets, subqueries) is 400 ``bad_data`` ``parse error``.

Slowness and errors: :attr:`slow` (see :class:`warroom.sandbox.loki.Slowness`), and the base class' faults
(operation ``query_range``).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .base import Emulator, EmulatorConfig
from .loki import Matcher, Slowness, check_credentials

OP = "query_range"
LOOKBACK = 300.0
MAX_POINTS = 11_000
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
AGGREGATIONS = ("sum", "avg", "min", "max", "count")
COMPARISONS = (">=", "<=", "==", "!=", ">", "<")

Labels = tuple[tuple[str, str], ...]


class PromQLError(ValueError):
    pass


def duration(text: str) -> float:
    if not text or _DURATION.sub("", text):
        raise PromQLError(f'bad duration "{text}"')
    return sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(text))


@dataclass(frozen=True)
class Selector:
    matchers: tuple[Matcher, ...]


@dataclass(frozen=True)
class RangeFn:
    fn: str
    selector: Selector
    window: float


@dataclass(frozen=True)
class Aggregate:
    op: str
    by: tuple[str, ...] | None
    without: tuple[str, ...] | None
    inner: Expr


@dataclass(frozen=True)
class Compare:
    inner: Expr
    op: str
    value: float


Expr = Selector | RangeFn | Aggregate | Compare

_TOKEN = re.compile(
    r'\s*(?:(?P<num>[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?![\w:])|(?P<dur>\d+(?:ms|s|m|h|d|w|y))+|'
    r'(?P<str>"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`)|(?P<id>[A-Za-z_:][\w:]*)|'
    r"(?P<op>=~|!~|!=|==|>=|<=|[{}()\[\],=<>]))"
)


def _tokens(query: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos, text = 0, query.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise PromQLError(f"1:{pos + 1}: parse error: unexpected character: {text[pos]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, query: str) -> None:
        self.toks = _tokens(query)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            got = tok[1] if tok else "end of input"
            raise PromQLError(f"parse error: unexpected {got!r}" + (f", expected {value!r}" if value else ""))
        self.i += 1
        return tok

    def parse(self) -> Expr:
        expr = self.expr()
        tok = self.peek()
        if tok is not None and tok[1] in COMPARISONS:
            self.i += 1
            kind, number = self.take()
            if kind != "num":
                raise PromQLError("parse error: this Prometheus compares with a number only")
            expr = Compare(expr, tok[1], float(number))
        if self.peek() is not None:
            raise PromQLError(f"parse error: unexpected {self.peek()[1]!r}")  # type: ignore[index]
        return expr

    def expr(self) -> Expr:
        kind, value = self.take()
        if kind == "id" and value in AGGREGATIONS:
            grouping = self._grouping()
            self.take("(")
            inner = self.expr()
            self.take(")")
            grouping = grouping or self._grouping()
            by = grouping[1] if grouping and grouping[0] == "by" else None
            without = grouping[1] if grouping and grouping[0] == "without" else None
            return Aggregate(value, by, without, inner)
        if kind == "id" and value in ("rate", "increase"):
            self.take("(")
            sel = self.selector(None)
            self.take("[")
            dkind, dur = self.take()
            if dkind not in ("dur",):
                raise PromQLError(f"parse error: bad duration {dur!r}")
            self.take("]")
            self.take(")")
            return RangeFn(value, sel, duration(dur))
        if kind == "id" and self.peek() is not None and self.peek()[1] == "(":  # type: ignore[index]
            raise PromQLError(f"parse error: unknown function {value!r} (outside this emulator's PromQL subset)")
        if kind == "id":
            return self.selector(value)
        if value == "{":
            self.i -= 1
            return self.selector(None)
        raise PromQLError(f"parse error: unexpected {value!r}")

    def _grouping(self) -> tuple[str, tuple[str, ...]] | None:
        tok = self.peek()
        if tok is None or tok[1] not in ("by", "without"):
            return None
        self.i += 1
        self.take("(")
        names: list[str] = []
        while self.peek() is not None and self.peek()[1] != ")":  # type: ignore[index]
            names.append(self.take()[1])
            if self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                self.i += 1
        self.take(")")
        return tok[1], tuple(names)

    def selector(self, name: str | None) -> Selector:
        if name is None and (self.peek() is None or self.peek()[1] != "{"):  # type: ignore[index]
            kind, name = self.take()
            if kind != "id":
                raise PromQLError(f"parse error: unexpected {name!r}")
        matchers: list[Matcher] = [Matcher("__name__", "=", name)] if name else []
        if self.peek() is not None and self.peek()[1] == "{":  # type: ignore[index]
            self.take("{")
            while self.peek() is not None and self.peek()[1] != "}":  # type: ignore[index]
                label = self.take()[1]
                op = self.take()[1]
                skind, raw = self.take()
                if op not in ("=", "!=", "=~", "!~") or skind != "str":
                    raise PromQLError(f"parse error: unexpected {raw!r} in label matching")
                value = raw[1:-1] if raw[0] == "`" else re.sub(r"\\(.)", r"\1", raw[1:-1])
                if op in ("=~", "!~"):
                    try:
                        re.compile(value)
                    except re.error as exc:
                        raise PromQLError(f"parse error: invalid regular expression {value!r}: {exc}") from None
                matchers.append(Matcher(label, op, value))
                if self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                    self.i += 1
            self.take("}")
        if not any(m.op in ("=", "=~") and not re.fullmatch(m.value if m.op == "=~" else re.escape(m.value), "")
                   for m in matchers):
            raise PromQLError("parse error: vector selector must contain at least one non-empty matcher")
        return Selector(tuple(matchers))


def parse_promql(query: str) -> Expr:
    return _Parser(query).parse()


def _timestamp(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PromQLError(f'invalid parameter "{name}": cannot parse "{value}" to a valid timestamp') from None
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at).timestamp()


#: The version ``/api/v1/status/buildinfo`` says.
VERSION = "2.53.0"


class PrometheusEmulator(Emulator):
    name = "prometheus"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(config)
        self.token, self.username, self.password = token, username, password
        #: labels (``__name__`` included) → samples ``(unix seconds, value)``, oldest first.
        self.series: dict[Labels, list[tuple[float, float]]] = {}
        self.slow = Slowness()
        self.route("GET", "/api/v1/query_range", OP, self._query_range)
        self.route("POST", "/api/v1/query_range", OP, self._query_range)
        self.route("GET", "/api/v1/status/buildinfo", "buildinfo", self._buildinfo)
        #: What ``/api/v1/status/buildinfo`` says.
        self.version = VERSION

    async def stop(self) -> None:
        self.slow.release()
        await super().stop()

    # -- helpers for tests --------------------------------------------------------------------------
    def add(self, name: str, labels: dict[str, str], samples: list[tuple[float, float]]) -> None:
        """Seed samples of the series ``name{labels}`` (Unix seconds, value)."""
        key = tuple(sorted({**labels, "__name__": name}.items()))
        merged = self.series.setdefault(key, []) + list(samples)
        self.series[key] = sorted(merged)

    # -- evaluation ---------------------------------------------------------------------------------
    def _select(self, sel: Selector) -> list[tuple[Labels, list[tuple[float, float]]]]:
        return [(k, v) for k, v in self.series.items() if all(m.matches(dict(k)) for m in sel.matchers)]

    def _eval(self, expr: Expr, t: float) -> dict[Labels, float]:
        if isinstance(expr, Selector):
            out: dict[Labels, float] = {}
            for labels, samples in self._select(expr):
                recent = [v for at, v in samples if t - LOOKBACK < at <= t]
                if recent:
                    out[labels] = recent[-1]
            return out
        if isinstance(expr, RangeFn):
            out = {}
            for labels, samples in self._select(expr.selector):
                window = [(at, v) for at, v in samples if t - expr.window < at <= t]
                if len(window) < 2:
                    continue
                increase = 0.0
                for (_, a), (_, b) in itertools.pairwise(window):
                    increase += b - a if b >= a else b  # a counter reset starts from zero
                span = window[-1][0] - window[0][0]
                value = increase / span if expr.fn == "rate" else increase
                out[tuple((k, v) for k, v in labels if k != "__name__")] = value
            return out
        if isinstance(expr, Aggregate):
            groups: dict[Labels, list[float]] = {}
            for labels, value in self._eval(expr.inner, t).items():
                if expr.by is not None:
                    key = tuple((k, v) for k, v in labels if k in expr.by)
                else:
                    drop = set(expr.without or ()) | {"__name__"}
                    key = tuple((k, v) for k, v in labels if k not in drop) if expr.without is not None else ()
                groups.setdefault(key, []).append(value)
            fns: dict[str, Callable[[list[float]], float]] = {
                "sum": sum, "avg": lambda v: sum(v) / len(v), "min": min, "max": max, "count": lambda v: float(len(v)),
            }
            return {k: fns[expr.op](v) for k, v in groups.items()}
        tests: dict[str, Callable[[float, float], bool]] = {
            ">": lambda a, b: a > b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b,
            "<=": lambda a, b: a <= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
        }
        return {k: v for k, v in self._eval(expr.inner, t).items() if tests[expr.op](v, expr.value)}

    # -- serving ------------------------------------------------------------------------------------
    @staticmethod
    def _bad(message: str, status: int = 400, kind: str = "bad_data") -> web.Response:
        return web.json_response({"status": "error", "errorType": kind, "error": message}, status=status)

    async def _buildinfo(self, request: web.Request) -> web.StreamResponse:
        await self.slow.wait()
        if not check_credentials(request.headers.get("Authorization", ""), token=self.token,
                                 username=self.username, password=self.password):
            return web.Response(status=401, text="Unauthorized\n")
        return web.json_response({"status": "success", "data": {
            "version": self.version, "revision": "7f8e3ae8ff0d7d4f1d5d0e3bc8e6b4c3a1b2c3d4", "branch": "HEAD",
            "buildUser": "root@sandbox", "buildDate": "20240618-10:29:34", "goVersion": "go1.22.4"}})

    async def _query_range(self, request: web.Request) -> web.StreamResponse:
        await self.slow.wait()
        if not check_credentials(request.headers.get("Authorization", ""), token=self.token,
                                 username=self.username, password=self.password):
            return web.Response(status=401, text="Unauthorized\n")
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            params.update(await request.post())
        try:
            start = _timestamp("start", str(params.get("start") or ""))
            end = _timestamp("end", str(params.get("end") or ""))
            raw_step = str(params.get("step") or "")
            try:
                step = float(raw_step)
            except ValueError:
                try:
                    step = duration(raw_step)
                except PromQLError:
                    raise PromQLError(f'invalid parameter "step": cannot parse "{raw_step}" to a valid duration') \
                        from None
        except PromQLError as exc:
            return self._bad(str(exc))
        if end < start:
            return self._bad('invalid parameter "end": end timestamp must not be before start time')
        if step <= 0:
            return self._bad('invalid parameter "step": zero or negative query resolution step widths are not '
                             "accepted. Try a positive integer")
        if (end - start) / step > MAX_POINTS:
            return self._bad("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query "
                             "resolution (?step=XX)")
        try:
            expr = parse_promql(str(params.get("query") or ""))
        except PromQLError as exc:
            return self._bad(str(exc) if str(exc).startswith("1:") else f"1:1: {exc}")
        series: dict[Labels, list[list[Any]]] = {}
        n = 0
        while start + n * step <= end + 1e-9:
            t = start + n * step
            for labels, value in self._eval(expr, t).items():
                if math.isfinite(value) or math.isnan(value):
                    series.setdefault(labels, []).append([round(t, 3), _fmt(value)])
            n += 1
        result = [{"metric": dict(k), "values": v} for k, v in sorted(series.items())]
        return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": result}})


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) else str(int(value))
