"""A local Elasticsearch (or OpenSearch): ``POST /<index>/_search`` (and ``GET /``) on a loopback server, over
documents tests seed.

What it is based on (Elasticsearch's Search API and query DSL reference):

- ``POST`` (or ``GET``) ``/<index>/_search``: ``index`` a name, a comma list, or a pattern with ``*``; a name
  that matches nothing (and is no pattern) is 404 ``index_not_found_exception`` "no such index [x]".
- Body: ``size`` (default 10; above 10 000 refused like ``index.max_result_window``), ``from``, ``sort`` (on
  ``@timestamp``, ``asc``/``desc``; ``"@timestamp"``, ``{"@timestamp": "desc"}`` or ``{"@timestamp": {"order":
  …}}``), ``query``: ``match_all``, ``query_string`` (``query``, ``default_field``), ``range`` on ``@timestamp``
  (``gte``, ``gt``, ``lte``, ``lt``; RFC 3339 or epoch milliseconds) and ``bool`` with ``must``/``filter``/
  ``must_not``/``should`` of those. Other query kinds are 400 ``parsing_exception`` "unknown query [x]".
- Answer: ``{"took", "timed_out": false, "_shards": {…}, "hits": {"total": {"value", "relation": "eq"},
  "max_score": null, "hits": [{"_index", "_id", "_score": null, "_source", "sort": [<epoch ms>]}]}}``.
- ``GET /``: ``{"name", "cluster_name", "cluster_uuid", "version": {"number", "build_flavor", …, "lucene_version",
  …}, "tagline": "You Know, for Search"}`` (operation ``info``); with security on it needs the ``monitor`` cluster
  privilege, so credentials made for searching only (:attr:`ElasticsearchEmulator.monitor` False) are answered 403
  ``security_exception`` "action [cluster:monitor/main] is unauthorized for …".
- Errors: ``{"error": {"root_cause": [{"type", "reason", …}], "type", "reason", …}, "status": n}``; a query string
  outside the subset is 400 ``search_phase_execution_exception`` with root cause ``query_shard_exception``
  "Failed to parse query [...]". Auth (when the emulator is given credentials): ``Authorization: ApiKey <key>`` or
  basic; else 401 ``security_exception`` "missing authentication credentials for REST request [...]".

The query_string subset, exactly: terms (``timeout``), ``field:value``, quoted phrases (``"connection reset"``,
``message:"pool exhausted"``), ``AND``, ``OR``, ``NOT`` (and ``&&``, ``||``, ``!``), parentheses; terms next to
each other are ORed (Elasticsearch's default operator), and a ``NOT`` among ORed clauses excludes, as in Lucene's
boolean query (``pool NOT search``: pool, but not search). A term matches when all its words (lower-cased, split on
non-word characters, as the standard analyser) are among a field's words; a phrase when its words come in order;
without a field, any string field of the document counts. A trailing ``*`` matches a word's prefix, and ``*`` alone every document. No fuzzy,
ranges, boosts or regular expressions: those are 400 like any parse failure.

Slowness and errors: :attr:`slow` (see :class:`warroom.sandbox.loki.Slowness`), and the base class' faults
(operation ``_search``).
"""

from __future__ import annotations

import fnmatch
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .base import Emulator, EmulatorConfig
from .loki import Slowness, check_credentials

OP = "_search"
MAX_WINDOW = 10_000


class QueryStringError(ValueError):
    pass


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


# -- query_string ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    field: str | None
    text: str
    phrase: bool

    def matches(self, doc: dict[str, Any]) -> bool:
        if self.text == "*" and not self.phrase:  # everything (with the field, when one is named)
            return self.field is None or bool(_values(doc, self.field))
        wanted = words(self.text)
        prefix = self.text.endswith("*") and not self.phrase
        if not wanted:
            return False
        for value in _values(doc, self.field):
            have = words(value)
            if self.phrase:
                n = len(wanted)
                if any(have[i:i + n] == wanted for i in range(len(have) - n + 1)):
                    return True
            elif prefix:
                head, last = wanted[:-1], wanted[-1]
                if all(w in have for w in head) and any(h.startswith(last) for h in have):
                    return True
            elif all(w in have for w in wanted):
                return True
        return False


Node = tuple[str, Any]

_TOKEN = re.compile(r'\s*(\(|\)|&&|\|\||!(?!=)|"(?:[^"\\]|\\.)*"|[^\s()"]+(?:"(?:[^"\\]|\\.)*")?)')


def parse_query_string(query: str) -> Node:
    tokens: list[str] = []
    pos = 0
    text = query.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or not m.group(1):
            raise QueryStringError(f"Cannot parse '{query}': unexpected character at {pos}")
        tokens.append(m.group(1))
        pos = m.end()
    if not tokens:
        raise QueryStringError(f"Cannot parse '{query}': Encountered \"<EOF>\"")
    parser = _Parser(tokens, query)
    node = parser.or_()
    if parser.i != len(tokens):
        raise QueryStringError(f"Cannot parse '{query}': Encountered \" {tokens[parser.i]} \"")
    return node


class _Parser:
    def __init__(self, tokens: list[str], query: str) -> None:
        self.tokens, self.query, self.i = tokens, query, 0

    def _peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _fail(self, what: str) -> QueryStringError:
        return QueryStringError(f"Cannot parse '{self.query}': Encountered \" {what} \"")

    def or_(self) -> Node:
        parts = [self.and_()]
        while (tok := self._peek()) is not None and tok != ")":
            if tok in ("OR", "||"):
                self.i += 1
            parts.append(self.and_())  # adjacency is OR too (the default operator)
        return parts[0] if len(parts) == 1 else ("or", parts)

    def and_(self) -> Node:
        parts = [self.not_()]
        while self._peek() in ("AND", "&&"):
            self.i += 1
            parts.append(self.not_())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def not_(self) -> Node:
        if self._peek() in ("NOT", "!"):
            self.i += 1
            return ("not", self.not_())
        return self.atom()

    def atom(self) -> Node:
        tok = self._peek()
        if tok is None:
            raise self._fail("<EOF>")
        self.i += 1
        if tok == "(":
            node = self.or_()
            if self._peek() != ")":
                raise self._fail(self._peek() or "<EOF>")
            self.i += 1
            return node
        if tok in (")", "AND", "OR", "&&", "||"):
            raise self._fail(tok)
        field: str | None = None
        body = tok
        m = re.match(r'^([A-Za-z_@][\w.@-]*):(.*)$', tok, re.S)
        if m:
            field, body = m.group(1), m.group(2)
            if not body:
                raise self._fail(tok)
        if re.search(r"[~^\[\]{}/]|^[<>]", body) or body.endswith("?"):
            raise QueryStringError(f"Cannot parse '{self.query}': {body!r} is outside this emulator's query_string "
                                   "subset")
        if body.startswith('"'):
            return ("term", Term(field, re.sub(r"\\(.)", r"\1", body[1:-1]), True))
        return ("term", Term(field, body, False))


def evaluate(node: Node, doc: dict[str, Any]) -> bool:
    kind, value = node
    if kind == "term":
        return bool(value.matches(doc))
    if kind == "not":
        return not evaluate(value, doc)
    if kind == "and":
        return all(evaluate(n, doc) for n in value)
    # Lucene's boolean query: a NOT among ORed clauses excludes (must_not) rather than adding what lacks it
    negated = [n[1] for n in value if n[0] == "not"]
    positive = [n for n in value if n[0] != "not"]
    return (not positive or any(evaluate(n, doc) for n in positive)) and not any(evaluate(n, doc) for n in negated)


def _values(doc: dict[str, Any], field: str | None) -> list[str]:
    if field is None or field == "*":
        out: list[str] = []
        _strings({k: v for k, v in doc.items() if k not in ("_id", "@timestamp")}, out)
        return out
    value: Any = doc
    for part in field.split("."):
        if not isinstance(value, dict) or part not in value:
            value = doc.get(field)  # a dotted name kept flat
            break
        value = value[part]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [] if value is None or isinstance(value, dict) else [str(value)]


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    elif isinstance(value, str):
        out.append(value)


# -- the emulator ---------------------------------------------------------------------------------------------
def _error(status: int, kind: str, reason: str, *, outer: str | None = None, **extra: Any) -> web.Response:
    cause = {"type": kind, "reason": reason, **extra}
    error = {"root_cause": [cause], "type": outer or kind, "reason": reason if outer is None else "all shards failed",
             **extra}
    headers = {"WWW-Authenticate": 'Basic realm="security" charset="UTF-8", ApiKey'} if status == 401 else None
    return web.json_response({"error": error, "status": status}, status=status, headers=headers)


def _millis(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value.isdigit():
            return float(value)
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (at.replace(tzinfo=UTC) if at.tzinfo is None else at).timestamp() * 1000
    raise ValueError(f"failed to parse date field [{value}]")


#: The version ``GET /`` says.
VERSION = "8.15.0"


class ElasticsearchEmulator(Emulator):
    name = "elasticsearch"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        super().__init__(config)
        self.api_key, self.username, self.password = api_key, username, password
        #: index → documents (``_source`` with ``@timestamp``), in the order indexed.
        self.indices: dict[str, list[dict[str, Any]]] = {}
        self.slow = Slowness()
        self._next_id = 0
        self.route("POST", "/{index}/_search", OP, self._search)
        self.route("GET", "/{index}/_search", OP, self._search)
        self.route("GET", "/", "info", self._info)
        #: Whether the credentials may read ``GET /`` (Elasticsearch's ``monitor`` cluster privilege): a key made
        #: for searching only (``read`` on the indices) may not, and is answered 403.
        self.monitor = True

    async def stop(self) -> None:
        self.slow.release()
        await super().stop()

    # -- helpers for tests --------------------------------------------------------------------------
    def index(self, index: str, doc: dict[str, Any], at: datetime | None = None) -> str:
        """Index a document (``@timestamp`` set from ``at`` when given); its id."""
        source = dict(doc)
        if at is not None:
            source["@timestamp"] = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
        self._next_id += 1
        doc_id = f"doc{self._next_id}"
        source["_id"] = doc_id
        self.indices.setdefault(index, []).append(source)
        return doc_id

    # -- serving ------------------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.api_key is None and self.username is None:
            return True
        if self.api_key is not None and header.startswith("ApiKey ") and secrets.compare_digest(
            header[7:].strip(), self.api_key
        ):
            return True
        return self.username is not None and check_credentials(
            header, token=None, username=self.username, password=self.password
        )

    async def _info(self, request: web.Request) -> web.StreamResponse:
        """``GET /``: the node's name, the cluster's, and the version (the ``monitor`` cluster privilege needed)."""
        await self.slow.wait()
        if not self._authorised(request):
            kind = "unable to authenticate user" if request.headers.get("Authorization") else \
                "missing authentication credentials"
            return _error(401, "security_exception", f"{kind} for REST request [/]")
        if not self.monitor:
            who = "API key id [sandbox-key] of user [warroom]" if self.api_key is not None else \
                f"user [{self.username}]"
            return _error(403, "security_exception", f"action [cluster:monitor/main] is unauthorized for {who}, this "
                                                     "action is granted by the cluster privileges [monitor,manage,all]")
        return web.json_response({
            "name": "sandbox-node-1", "cluster_name": "sandbox", "cluster_uuid": "Zq1f1bXkT0uM6Yk5cVq2oA",
            "version": {"number": VERSION, "build_flavor": "default", "build_type": "docker",
                        "build_hash": "c8f3e4f1a0b2d3c4e5f60718293a4b5c6d7e8f90", "build_date": "2024-08-05T10:05:34Z",
                        "build_snapshot": False, "lucene_version": "9.11.1",
                        "minimum_wire_compatibility_version": "7.17.0",
                        "minimum_index_compatibility_version": "7.0.0"},
            "tagline": "You Know, for Search",
        })

    async def _search(self, request: web.Request) -> web.StreamResponse:
        await self.slow.wait()
        path = request.path
        if not self._authorised(request):
            kind = "unable to authenticate user" if request.headers.get("Authorization") else \
                "missing authentication credentials"
            return _error(401, "security_exception", f"{kind} for REST request [{path}]")
        names = request.match_info["index"].split(",")
        chosen: list[str] = []
        for name in names:
            matched = [i for i in self.indices if fnmatch.fnmatchcase(i, name)]
            if not matched and "*" not in name:
                return _error(404, "index_not_found_exception", f"no such index [{name}]", index=name,
                              **{"resource.type": "index_or_alias", "resource.id": name})
            chosen.extend(m for m in matched if m not in chosen)
        try:
            body = await request.json() if request.body_exists else {}
        except ValueError:
            return _error(400, "parsing_exception", "request body is required or is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "parsing_exception", "Expected [START_OBJECT] but found another token")
        size = body.get("size", 10)
        start = body.get("from", 0)
        if not isinstance(size, int) or not isinstance(start, int) or size < 0 or start < 0:
            return _error(400, "illegal_argument_exception", "[size] and [from] must be non-negative integers")
        if size + start > MAX_WINDOW:
            return _error(400, "illegal_argument_exception",
                          f"Result window is too large, from + size must be less than or equal to: [{MAX_WINDOW}] "
                          f"but was [{size + start}]. See the scroll api for a more efficient way to request large "
                          "data sets.", outer="search_phase_execution_exception")
        try:
            test = self._query(body.get("query") or {"match_all": {}})
            descending = self._descending(body.get("sort"))
        except QueryStringError as exc:
            return _error(400, "query_shard_exception", f"Failed to parse query [{_query_text(body)}]: {exc}",
                          outer="search_phase_execution_exception")
        except (KeyError, TypeError, ValueError) as exc:
            return _error(400, "parsing_exception", str(exc).strip("'\""))
        docs = [(name, d) for name in chosen for d in self.indices[name] if test(d)]
        docs.sort(key=lambda item: _millis(item[1].get("@timestamp", 0)), reverse=descending)
        page = docs[start:start + size]
        hits = [
            {"_index": name, "_id": d["_id"], "_score": None,
             "_source": {k: v for k, v in d.items() if k != "_id"}, "sort": [int(_millis(d.get("@timestamp", 0)))]}
            for name, d in page
        ]
        total = body.get("track_total_hits", True)
        result: dict[str, Any] = {"max_score": None, "hits": hits}
        if total is not False:
            result = {"total": {"value": len(docs), "relation": "eq"}, **result}
        return web.json_response({
            "took": 1, "timed_out": False,
            "_shards": {"total": max(1, len(chosen)), "successful": max(1, len(chosen)), "skipped": 0, "failed": 0},
            "hits": result,
        })

    @staticmethod
    def _descending(sort: Any) -> bool:
        if sort is None:
            return True  # by _score, which is constant here: newest first is as good as any
        items = sort if isinstance(sort, list) else [sort]
        for item in items:
            if item == "@timestamp":
                return False
            if isinstance(item, dict) and "@timestamp" in item:
                spec = item["@timestamp"]
                order = spec.get("order", "asc") if isinstance(spec, dict) else spec
                if order not in ("asc", "desc"):
                    raise ValueError(f"[sort] unknown order [{order}]")
                return bool(order == "desc")
            raise ValueError(f"[sort] this emulator sorts by @timestamp only, not {item!r}")
        return True

    def _query(self, query: Any) -> Callable[[dict[str, Any]], bool]:
        if not isinstance(query, dict) or len(query) != 1:
            raise ValueError("[query] malformed query, expected [END_OBJECT] but found [FIELD_NAME]")
        (kind, spec), = query.items()
        if kind == "match_all":
            return lambda d: True
        if kind == "query_string":
            node = parse_query_string(str(spec["query"]))
            field = spec.get("default_field")
            if field and field != "*":
                node = _default_field(node, str(field))
            return lambda d: evaluate(node, d)
        if kind == "range":
            (field, bounds), = spec.items()
            tests: list[Callable[[float], bool]] = []
            for op, raw in bounds.items():
                if op in ("format", "time_zone"):
                    continue
                edge = _millis(raw)
                tests.append({"gte": lambda v, e=edge: v >= e, "gt": lambda v, e=edge: v > e,
                              "lte": lambda v, e=edge: v <= e, "lt": lambda v, e=edge: v < e}[op])
            return lambda d: field in d and all(t(_millis(d[field])) for t in tests)
        if kind == "bool":
            must = [self._query(q) for key in ("must", "filter") for q in _list(spec.get(key))]
            must_not = [self._query(q) for q in _list(spec.get("must_not"))]
            should = [self._query(q) for q in _list(spec.get("should"))]
            return lambda d: (all(t(d) for t in must) and not any(t(d) for t in must_not)
                              and (not should or any(t(d) for t in should)))
        raise ValueError(f"unknown query [{kind}]")


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _default_field(node: Node, field: str) -> Node:
    kind, value = node
    if kind == "term":
        return ("term", Term(value.field or field, value.text, value.phrase))
    if kind == "not":
        return ("not", _default_field(value, field))
    return (kind, [_default_field(n, field) for n in value])


def _query_text(body: dict[str, Any]) -> str:
    """The query string of a body, for the error message."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("query_string"), dict):
                found.append(str(value["query_string"].get("query")))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(body.get("query"))
    return found[0] if found else ""
