"""Xurrent's collections: filters (``?f=v``, ``a,b``, ``!a``, empty, present, ranges), ``sort``, ``fields`` and
pages (``per_page``/``page``, the X-Pagination-* headers and the ``Link`` header). A bad parameter raises
:class:`_BadParameter`, answered 400 with its message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from .records import TRUTHY, parse_time

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


class _BadParameter(Exception):
    pass


Getter = Callable[[dict[str, Any]], Any]


def _condition(name: str, raw: str, kind: str) -> Callable[[Any], bool]:
    """One filter condition over a stored value (int, str, bool, epoch int, or None)."""

    def convert(text: str) -> Any:
        if kind == "time":
            return parse_time(text)
        if kind == "int":
            return int(text)
        if kind == "bool":
            return text.strip().lower() in TRUTHY
        if kind == "istr":
            return text.lower()
        return text

    try:
        if raw == "":
            return lambda v: v is None
        if raw == "!":
            return lambda v: v is not None
        if raw[0] in "<>":
            bounds: list[tuple[str, Any]] = []
            rest = raw
            while rest:
                op = rest[:2] if rest[:2] in (">=", "<=") else rest[:1]
                rest = rest[len(op) :]
                cut = min([i for i in (rest.find("<"), rest.find(">")) if i >= 0], default=len(rest))
                bounds.append((op, convert(rest[:cut])))
                rest = rest[cut:]
            checks = {
                ">=": lambda v, b: v >= b,
                ">": lambda v, b: v > b,
                "<=": lambda v, b: v <= b,
                "<": lambda v, b: v < b,
            }
            return lambda v: v is not None and all(checks[op](v, b) for op, b in bounds)
        negate = raw.startswith("!")
        values = {convert(part) for part in (raw[1:] if negate else raw).split(",")}
        return (lambda v: v not in values) if negate else (lambda v: v in values)
    except (ValueError, IndexError):
        raise _BadParameter(f"Invalid value '{raw}' for filter '{name}'") from None


class CollectionPages:
    """Answers a collection request from a list of stored records."""

    def _page(
        self,
        request: web.Request,
        items: list[dict[str, Any]],
        filters: Mapping[str, tuple[str, Getter]],
        present: Callable[[dict[str, Any]], dict[str, Any]],
        default_fields: Iterable[str] | None,
        default_sort: str,
    ) -> web.Response:
        query = request.query
        for name, (kind, getter) in filters.items():
            if name in query:
                check = _condition(name, query[name], kind)
                items = [item for item in items if check(getter(item))]
        sort = query.get("sort", default_sort)
        descending = sort.startswith("-")
        sort_key = sort.lstrip("-")
        if sort_key not in filters:
            raise _BadParameter(f"Parameter 'sort' does not accept '{sort_key}'")
        getter = filters[sort_key][1]
        items = sorted(items, key=lambda item: self._sort_key(getter(item)), reverse=descending)
        per_page, page = self._int_param(query, "per_page", DEFAULT_PER_PAGE), self._int_param(query, "page", 1)
        per_page = min(per_page, MAX_PER_PAGE)
        total = len(items)
        pages = max(1, math.ceil(total / per_page))
        chosen = items[(page - 1) * per_page : page * per_page]
        fields = [f for f in query["fields"].split(",") if f] if "fields" in query else None
        wanted = ["id", *fields] if fields is not None else (list(default_fields) if default_fields else None)
        body = []
        for item in chosen:
            shown = present(item)
            body.append({k: shown.get(k) for k in wanted} if wanted is not None else shown)
        headers = {
            "X-Pagination-Per-Page": str(per_page),
            "X-Pagination-Current-Page": str(page),
            "X-Pagination-Total-Pages": str(pages),
            "X-Pagination-Total-Entries": str(total),
            "Link": self._links(request, page, pages, per_page),
        }
        return web.json_response(body, headers=headers)

    @staticmethod
    def _sort_key(value: Any) -> tuple[bool, Any]:
        return (value is None, value if value is not None else 0)

    @staticmethod
    def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
        if name not in query:
            return default
        try:
            value = int(query[name])
        except ValueError:
            raise _BadParameter(f"Parameter '{name}' must be a number") from None
        if value < 1:
            raise _BadParameter(f"Parameter '{name}' cannot be less than 1")
        return value

    @staticmethod
    def _links(request: web.Request, page: int, pages: int, per_page: int) -> str:
        base = f"{request.scheme}://{request.host}{request.path}"
        params = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}

        def url(n: int) -> str:
            return f"{base}?{urlencode({**params, 'page': n, 'per_page': per_page})}"

        rels = [("first", 1)]
        if page > 1:
            rels.append(("prev", min(page - 1, pages)))
        if page < pages:
            rels.append(("next", page + 1))
        rels.append(("last", pages))
        return ", ".join(f'<{url(n)}>; rel="{rel}"' for rel, n in rels)
