"""The web console's reads (warroom.web.console.pages): a page of the incident list with its filters, the open
incidents counted by priority, who took part in incidents (for the private ones), and an incident's status page
entries with their published updates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from warroom.core.model import Incident, RoleHolder

from .repos import incident_from_row
from .schema import (
    incident_roles,
    incidents,
    pages,
    stakeholders,
    status_page_incidents,
    status_page_updates,
    timeline,
)


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What the list shows: ``status`` open | resolved | all; ``service``, ``priority`` (None: any), ``text`` (words
    the title contains, each anywhere, case-insensitively); ``offset``/``limit`` the page."""

    status: str = "all"
    service: str | None = None
    priority: str | None = None
    text: str = ""
    offset: int = 0
    limit: int = 50


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it anywhere, its ``%``, ``_`` and ``\\`` taken literally."""
    return "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _member(email: str) -> Any:
    """SQL: ``email`` holds a role on the incident, is its assignee, was paged into it, is a stakeholder of it, or
    is the actor of one of its timeline entries."""
    me = email.lower()
    iid = incidents.c.id
    return or_(
        func.lower(incidents.c.assignee) == me,
        exists().where(incident_roles.c.incident_id == iid, func.lower(incident_roles.c.email) == me),
        exists().where(pages.c.incident_id == iid, func.lower(pages.c.email) == me),
        exists().where(stakeholders.c.incident_id == iid, func.lower(stakeholders.c.ref) == me),
        exists().where(timeline.c.incident_id == iid, func.lower(timeline.c.actor) == me),
    )


async def incident_page(conn: AsyncConnection, query: ListQuery, priorities: Sequence[str], *,
                        private_services: Iterable[str] = (), email: str = "") -> tuple[list[Incident], int]:
    """One page of the list and how many match in all: the open incidents first (the highest priority first, then
    the newest), then the resolved ones (the newest first). With a text or service filter, the incidents of
    ``private_services`` that ``email`` took no part in do not match (their title and service are not theirs to
    search)."""
    where: list[Any] = []
    if query.status == "open":
        where.append(incidents.c.status != "resolved")
    elif query.status == "resolved":
        where.append(incidents.c.status == "resolved")
    if query.service is not None:
        where.append(incidents.c.service == query.service)
    if query.priority is not None:
        where.append(incidents.c.priority == query.priority)
    for word in query.text.split():
        where.append(func.lower(incidents.c.title).like(_like(word), escape="\\"))
    hidden = sorted(set(private_services))
    if hidden and (query.text or query.service is not None):
        where.append(or_(incidents.c.service.not_in(hidden), _member(email) if email else false()))
    condition = and_(*where) if where else None
    total_q = select(func.count()).select_from(incidents)
    rows_q = select(incidents)
    if condition is not None:
        total_q, rows_q = total_q.where(condition), rows_q.where(condition)
    total = int((await conn.execute(total_q)).scalar_one())
    resolved = case((incidents.c.status == "resolved", 1), else_=0)
    rank: Any = (case(*[(incidents.c.priority == p, i) for i, p in enumerate(priorities)], else_=len(priorities))
                 if priorities else literal(0))
    open_rank = case((incidents.c.status == "resolved", 0), else_=rank)
    rows = await conn.execute(rows_q.order_by(resolved, open_rank, incidents.c.id.desc())
                              .offset(query.offset).limit(query.limit))
    return [incident_from_row(r) for r in rows.mappings()], total


async def open_by_priority(conn: AsyncConnection) -> dict[str | None, int]:
    """The open incidents (duplicates merged away left out) counted by priority (None: without one)."""
    rows = await conn.execute(
        select(incidents.c.priority, func.count())
        .where(incidents.c.status != "resolved", incidents.c.merged_into.is_(None))
        .group_by(incidents.c.priority)
    )
    return {p: int(n) for p, n in rows}


async def roles_of(conn: AsyncConnection, incident_ids: Sequence[int]) -> dict[int, dict[str, RoleHolder]]:
    """Each incident's role holders (role key → holder), for many incidents in one read."""
    if not incident_ids:
        return {}
    rows = await conn.execute(
        select(incident_roles).where(incident_roles.c.incident_id.in_(list(incident_ids))).order_by(incident_roles.c.id)
    )
    found: dict[int, dict[str, RoleHolder]] = {}
    for r in rows.mappings():
        found.setdefault(int(r["incident_id"]), {})[r["role"]] = RoleHolder(r["role"], r["display"], r["email"],
                                                                            r["chat_user"])
    return found


async def participants(conn: AsyncConnection, incident_ids: Sequence[int]) -> dict[int, set[str]]:
    """Who took part in each incident, as lower-cased emails: its assignee, role holders, the people paged into it,
    its stakeholders named by email, and the timeline's actors that are emails."""
    ids = list(incident_ids)
    found: dict[int, set[str]] = {i: set() for i in ids}
    if not ids:
        return found
    reads = (
        select(incidents.c.id, incidents.c.assignee).where(incidents.c.id.in_(ids)),
        select(incident_roles.c.incident_id, incident_roles.c.email).where(incident_roles.c.incident_id.in_(ids)),
        select(pages.c.incident_id, pages.c.email).where(pages.c.incident_id.in_(ids)),
        select(stakeholders.c.incident_id, stakeholders.c.ref).where(stakeholders.c.incident_id.in_(ids)),
        select(timeline.c.incident_id, timeline.c.actor).where(timeline.c.incident_id.in_(ids)).distinct(),
    )
    for read in reads:
        for incident_id, who in await conn.execute(read):
            if who and "@" in str(who):
                found[int(incident_id)].add(str(who).strip().lower())
    return found


async def status_entries(conn: AsyncConnection, incident_id: int) -> list[dict[str, Any]]:
    """The incident's entries on status pages (page, name, status), each with its published updates, oldest
    first."""
    entries = [dict(r) for r in (await conn.execute(
        select(status_page_incidents).where(status_page_incidents.c.incident_id == incident_id)
        .order_by(status_page_incidents.c.id))).mappings()]
    if not entries:
        return []
    updates = await conn.execute(
        select(status_page_updates)
        .where(status_page_updates.c.page_incident_id.in_([int(e["id"]) for e in entries]))
        .order_by(status_page_updates.c.id)
    )
    by_entry: dict[int, list[dict[str, Any]]] = {}
    for u in updates.mappings():
        by_entry.setdefault(int(u["page_incident_id"]), []).append(dict(u))
    for e in entries:
        e["updates"] = by_entry.get(int(e["id"]), [])
    return entries
