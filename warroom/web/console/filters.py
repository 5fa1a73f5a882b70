"""The incident list's query parameters (``GET /console?status=open&service=payments&priority=P1&q=db&page=2``),
read into the store's :class:`~warroom.store.console.ListQuery`, or a sentence saying what is wrong and what to do."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from warroom.store.console import ListQuery

#: Incidents a page of the list shows.
PAGE_SIZE = 50
#: The longest title search taken, and the last page number (a bigger one is a mistake, not a page).
MAX_TEXT = 200
MAX_PAGE = 10_000
STATUSES = ("open", "resolved", "all")


@dataclass(frozen=True, slots=True)
class Filters:
    """The list's filters as asked for (the form shows them again) and the page number, 1-based."""

    status: str = "all"
    service: str = ""
    priority: str = ""
    text: str = ""
    page: int = 1

    def query(self, size: int = PAGE_SIZE) -> ListQuery:
        return ListQuery(status=self.status, service=self.service or None, priority=self.priority or None,
                         text=self.text, offset=(self.page - 1) * size, limit=size)

    def params(self, **changes: str | int) -> dict[str, str]:
        """The query parameters that ask for these filters (with ``changes``), the defaults left out."""
        values = {"status": self.status, "service": self.service, "priority": self.priority, "q": self.text,
                  "page": str(self.page), **{k: str(v) for k, v in changes.items()}}
        defaults = {"status": "all", "page": "1"}
        return {k: v for k, v in values.items() if v and defaults.get(k) != v}

    def link(self, page: int) -> str:
        """The list's address for page ``page`` with these filters."""
        query = urlencode(self.params(page=page))
        return f"/console?{query}" if query else "/console"

    def pager(self, total: int, size: int = PAGE_SIZE) -> dict[str, Any] | None:
        """The links to the pages before and after this one (``total`` incidents match), or None when all of them
        fit on the first page."""
        if total <= size and self.page == 1:
            return None
        pages = max(1, math.ceil(total / size))
        return {"page": self.page, "pages": pages,
                "previous": self.link(min(self.page - 1, pages)) if self.page > 1 else None,
                "next": self.link(self.page + 1) if self.page < pages else None}


def shown(value: str) -> str:
    """``value`` as a sentence quotes it: its first 40 characters."""
    return value if len(value) <= 40 else value[:40] + "…"


def parse(params: Mapping[str, str], services: Sequence[str], priorities: Sequence[str]) -> Filters | str:
    """The filters ``params`` ask for, or a sentence saying what is wrong and what to do; absent and empty
    parameters mean any, unknown ones are ignored."""
    status = (params.get("status") or "all").strip().lower()
    if status not in STATUSES:
        return f"Unknown status '{shown(status)}'. Choose open, resolved or all."
    service = (params.get("service") or "").strip()
    if service and service not in services:
        known = ", ".join(services) or "none are configured"
        return f"No service is called '{shown(service)}'. Choose one of the services ({known}), or any."
    priority = (params.get("priority") or "").strip()
    if priority and priority not in priorities:
        return f"Unknown priority '{shown(priority)}'. Choose one of {', '.join(priorities)}, or any."
    text = " ".join((params.get("q") or "").split())
    if len(text) > MAX_TEXT:
        return f"The title search is {len(text)} characters long; search for at most {MAX_TEXT}."
    raw_page = (params.get("page") or "1").strip()
    if not (raw_page.isascii() and raw_page.isdigit() and len(raw_page) <= 6 and 1 <= int(raw_page) <= MAX_PAGE):
        return f"Page '{shown(raw_page)}' is not a page number: give a whole number from 1 to {MAX_PAGE}."
    return Filters(status=status, service=service, priority=priority, text=text, page=int(raw_page))
