"""The console's pages, each for a signed-in person (:func:`.auth.user_of`; otherwise the sign-in page):

- ``GET /console``: the incident list — the open incidents counted by priority; the open incidents first (the
  highest priority, then the newest), then the resolved ones (the newest first), :data:`.filters.PAGE_SIZE` a page,
  filtered by status, service, priority and words of the title (:mod:`.filters`; a bad value is answered, 400, with a
  sentence saying what to do);
- ``GET /console/incidents/{id}``: one incident's record — its facts and times, roles, links (war room, ITSM
  request, bridge, postmortem, status pages and their updates, post-incident tasks and their RFCs), the latest AI
  status summary and the whole timeline; an unknown incident is a 404 page;
- ``GET /console/oncall``: who is on call now in each schedule and the next handover, and each escalation policy's
  steps with who they would reach now.

Private incidents are shown only to the people who took part in them (:mod:`.visibility`). Server-rendered HTML
(:mod:`.templates`: Jinja2, autoescaped), no script (the status pages' CSP), ``Cache-Control: no-store``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from warroom.core.model import Incident, LinkKind, RoleHolder, Status
from warroom.oncall import next_change
from warroom.response import jobs, postmortem_link
from warroom.response.actions import status_links
from warroom.response.commands import configured_roles
from warroom.response.oncall.schedules import effective_many
from warroom.settings import Settings
from warroom.store import console as reads

from . import auth, filters, visibility
from .templates import env

if TYPE_CHECKING:
    from warroom.web.app import Runtime

_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'self'",
}
#: Characters of a text shown whole; a longer one (or one of many lines) is folded in ``<details>``.
FOLD = 600
_STATUS_LABELS = {"triggered": "Triggered", "acknowledged": "Acknowledged", "resolved": "Resolved"}
_UPDATE_LABELS = {"investigating": "Investigating", "identified": "Identified", "monitoring": "Monitoring",
                  "resolved": "Resolved"}
_BRIDGES = {"zoom": "Zoom", "webex": "Webex", "teams": "Teams"}
#: A page: what it answers a signed-in person.
Page = Callable[["Runtime", web.Request, auth.ConsoleUser], Awaitable[web.Response]]


# ---------------------------------------------------------------------------------------------- words


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def when(value: datetime) -> str:
    return f"{_utc(value):%Y-%m-%d %H:%M}"


def duration(delta: timedelta) -> str:
    """A span as people say it: ``42 s``, ``17 min``, ``3 h 05 min``, ``2 d 4 h``."""
    return jobs.duration(delta.total_seconds())


def ago(value: datetime, now: datetime) -> str:
    return f"{duration(now - _utc(value))} ago"


def _between(start: datetime, end: datetime | None) -> str:
    return duration(_utc(end) - _utc(start)) if end is not None else "—"


def _web_url(url: str | None) -> str | None:
    """``url`` when it is an http(s) address (a link out), else None."""
    if not url:
        return None
    try:
        return url if urlsplit(url).scheme in ("http", "https") else None
    except ValueError:
        return None


def _person(settings: Settings, email: str | None, fallback: str = "") -> str:
    """A person as the console names them: ``Ana Ops (ana@example.com)`` when oncall.people names them."""
    if not email:
        return fallback
    known = settings.oncall.person(email)
    return f"{known.name} ({email})" if known is not None and known.name else email


def _holder(settings: Settings, holder: RoleHolder, names: dict[str, str]) -> str:
    # the names cache's (what the chat last called them), else what the role was given to
    name = (names.get(holder.chat_user or "") or holder.display or "").strip()
    if holder.email and name and name.lower() != holder.email.lower():
        return f"{name} ({holder.email})"
    return name or _person(settings, holder.email, "someone")


# ---------------------------------------------------------------------------------------------- responses


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8", headers=_HEADERS)


def message(status: int, title: str, text: str, user: auth.ConsoleUser | None) -> web.Response:
    return _html(env.get_template("message.html").render(title=title, text=text, user=user), status)


def _not_found(number: str, user: auth.ConsoleUser) -> web.Response:
    # a private incident one may not see gets the very same page as one that does not exist
    return message(404, "No such incident", f"There is no incident {number} that you can see. Check the number, or "
                   "find the incident in the list.", user)


# ---------------------------------------------------------------------------------------------- the list


def _counts(settings: Settings, found: dict[str | None, int]) -> list[dict[str, Any]]:
    order = [*settings.priorities, *sorted(p for p in found if p and p not in settings.priorities)]
    counts = [{"priority": p, "count": found[p]} for p in order if found.get(p)]
    if found.get(None):
        counts.append({"priority": "No priority", "count": found[None]})
    return counts


async def list_page(rt: Runtime, request: web.Request, user: auth.ConsoleUser) -> web.Response:
    settings = rt.settings
    services = [s.name for s in settings.services]
    parsed = filters.parse(request.query, services, settings.priorities)
    chosen = parsed if isinstance(parsed, filters.Filters) else filters.Filters()
    hidden = visibility.private_services(settings)
    async with rt.store.read() as tx:
        counts = await reads.open_by_priority(tx.conn)
        rows: list[Incident] = []
        total = 0
        if isinstance(parsed, filters.Filters):
            rows, total = await reads.incident_page(tx.conn, parsed.query(), settings.priorities,
                                                    private_services=hidden, email=user.email)
        ids = [i.id for i in rows]
        roles = await reads.roles_of(tx.conn, ids)
        private = [i.id for i in rows if i.service in hidden]
        took_part = await reads.participants(tx.conn, private)
        names = await tx.people.names(h.chat_user for r in roles.values() for h in r.values() if h.chat_user)
        now = tx.now
    shown = []
    for i in rows:
        row: dict[str, Any] = {"id": i.id, "status": i.status.value, "status_label": _STATUS_LABELS[i.status.value],
                               "priority": i.priority or "None"}
        if not visibility.may_see(settings, i.service, user.email, took_part.get(i.id, set())):
            shown.append({**row, "hidden": True})
            continue
        commander = roles.get(i.id, {}).get("commander")
        row.update(
            hidden=False, ref=i.ref, title=i.title, service=i.service,
            commander=_holder(settings, commander, names) if commander else "nobody",
            declared=when(i.created_at), declared_iso=_utc(i.created_at).isoformat(),
            declared_ago=ago(i.created_at, now),
            tta=_between(i.created_at, i.acknowledged_at) if i.acknowledged_at else
            ("never acknowledged" if i.status is Status.RESOLVED else "not yet"),
        )
        shown.append(row)
    pager = chosen.pager(total)
    if total == 0:
        summary = "No incident matches these filters." if chosen.params(page=1) else "No incidents yet."
    else:
        first = (chosen.page - 1) * filters.PAGE_SIZE + 1
        last_page = max(1, math.ceil(total / filters.PAGE_SIZE))
        summary = (f"{total} incident{'s' if total != 1 else ''} match{'es' if total == 1 else ''}; showing "
                   f"{first}–{first + len(shown) - 1}." if shown else
                   f"{total} incidents match, but page {chosen.page} is past the last page ({last_page}).")
    body = env.get_template("list.html").render(
        title="Incidents", user=user, counts=_counts(settings, counts), filters=chosen, services=services,
        priorities=settings.priorities, rows=shown, pager=pager, summary=summary,
        error=parsed if isinstance(parsed, str) else None)
    return _html(body, 400 if isinstance(parsed, str) else 200)


# ---------------------------------------------------------------------------------------------- one incident


def _links(settings: Settings, incident: Incident, links: dict[LinkKind, Any], has_postmortem: bool
           ) -> list[tuple[str, str]]:
    shown: list[tuple[str, str]] = []
    for label, url in status_links(links, [LinkKind.SLACK_CHANNEL, LinkKind.TEAMS_CHANNEL, LinkKind.XURRENT_REQUEST,
                                           LinkKind.BRIDGE]):
        safe = _web_url(url)
        if safe is None:
            continue
        if label == "ITSM request":
            label = f"Xurrent request #{links[LinkKind.XURRENT_REQUEST].remote_id}"
        elif label == "Bridge":
            provider = str(links[LinkKind.BRIDGE].data.get("provider") or "")
            label = f"Bridge ({_BRIDGES[provider]})" if provider in _BRIDGES else "Bridge"
        shown.append((label, safe))
    if has_postmortem or LinkKind.POSTMORTEM in links:
        postmortem = postmortem_link.url(settings, incident.id)
        if postmortem is not None:
            shown.append(("Postmortem", postmortem))
    return shown


async def incident_page(rt: Runtime, request: web.Request, user: auth.ConsoleUser) -> web.Response:
    settings = rt.settings
    raw = request.match_info["id"]
    number = raw.upper().removeprefix("INC-")
    if not (number.isascii() and number.isdigit() and len(number) <= 12):
        return _not_found(raw[:40], user)
    incident_id = int(number)
    async with rt.store.read() as tx:
        incident = await tx.incidents.get(incident_id)
        if incident is None:
            return _not_found(f"INC-{incident_id}", user)
        took_part = (await reads.participants(tx.conn, [incident_id]))[incident_id]
        if not visibility.may_see(settings, incident.service, user.email, took_part):
            return _not_found(incident.ref, user)
        roles = await tx.roles.all(incident_id)
        links = await tx.links.all(incident_id)
        events = await tx.timeline.for_incident(incident_id)
        tasks = await tx.records.tasks(incident_id)
        task_links = await tx.task_links.for_incident(incident_id)
        entries = await reads.status_entries(tx.conn, incident_id)
        has_postmortem = await tx.records.postmortem(incident_id) is not None
        names = await tx.people.names([*(e.actor for e in events if e.actor),
                                       *(h.chat_user for h in roles.values() if h.chat_user)])
        now = tx.now
    labels = {r.key: r.label for r in configured_roles(settings)}
    role_rows = [{"label": labels.get(k, k), "who": _holder(settings, roles[k], names) if k in roles else "nobody"}
                 for k in [*labels, *(k for k in roles if k not in labels)]]
    base = settings.server.public_url.rstrip("/")
    status_rows = []
    for e in entries:
        page = settings.status_page(str(e["page"]))
        status_rows.append({
            "page": e["page"], "title": (page.title if page is not None and page.title else e["page"]),
            "url": f"{base}/status/{e['page']}", "name": e["name"],
            "label": _UPDATE_LABELS.get(str(e["status"]), str(e["status"])),
            "updates": [{"label": _UPDATE_LABELS.get(str(u["status"]), str(u["status"])), "body": str(u["body"]),
                         "at": when(u["published_at"]), "iso": _utc(u["published_at"]).isoformat(),
                         "by": _person(settings, u["published_by"])} for u in e["updates"]],
        })
    task_rows = []
    for t in tasks:
        link = task_links.get(int(t["id"]))
        task_rows.append({
            "title": str(t["title"]), "status": str(t["status"]).replace("_", " "),
            "owner": _person(settings, t.get("owner")), "due": when(t["due_at"]) if t.get("due_at") else "",
            "rfc": link.remote_id if link else "", "rfc_url": _web_url(link.url) if link else None,
            "rfc_status": str(link.data.get("status") or "") if link else "",
        })
    summaries = [e for e in events if e.kind == "summary"]
    ai = None
    if summaries:
        last = summaries[-1]
        ai = {"text": last.text, "at": when(last.at), "iso": _utc(last.at).isoformat(), "ago": ago(last.at, now)}
    timeline = [{"at": f"{_utc(e.at):%Y-%m-%d %H:%M:%S}", "iso": _utc(e.at).isoformat(), "kind": e.kind, "text": e.text,
                 "who": (names.get(e.actor) or e.actor) if e.actor else ""} for e in events]
    inc = {
        "ref": incident.ref, "title": incident.title, "status": incident.status.value,
        "status_label": _STATUS_LABELS[incident.status.value], "merged_into": incident.merged_into,
        "priority": incident.priority or "no priority", "urgency": incident.urgency.value,
        "service": incident.service, "details": incident.details, "origin": incident.origin.value,
        "assignee": _person(settings, incident.assignee, "nobody"),
        "declared": when(incident.created_at), "declared_ago": ago(incident.created_at, now),
        "acknowledged": when(incident.acknowledged_at) if incident.acknowledged_at else None,
        "acknowledged_ago": ago(incident.acknowledged_at, now) if incident.acknowledged_at else None,
        "resolved": when(incident.resolved_at) if incident.resolved_at else None,
        "resolved_ago": ago(incident.resolved_at, now) if incident.resolved_at else None,
        "tta": _between(incident.created_at, incident.acknowledged_at) if incident.acknowledged_at else "not yet",
        "ttr": _between(incident.created_at, incident.resolved_at) if incident.resolved_at else "not yet",
    }
    body = env.get_template("incident.html").render(
        title=f"{incident.ref}: {incident.title}", user=user, inc=inc, roles=role_rows,
        links=_links(settings, incident, links, has_postmortem), status_entries=status_rows, tasks=task_rows,
        ai=ai, timeline=timeline, fold=FOLD)
    return _html(body)


# ---------------------------------------------------------------------------------------------- on call


async def oncall_page(rt: Runtime, request: web.Request, user: auth.ConsoleUser) -> web.Response:
    settings = rt.settings
    oncall = settings.oncall
    async with rt.store.read() as tx:
        now = tx.now.astimezone(UTC).replace(microsecond=0)
        schedules = await effective_many(tx, settings, list(oncall.schedules), since=now)
    current: dict[str, str | None] = {}
    rows = []
    for schedule in schedules:
        change = next_change(schedule, now)
        current[schedule.name] = change.now
        if change.at is None:
            handover = "no change within the next year"
        else:
            to = change.next if change.next is not None else None
            handover = f"{when(change.at)} UTC ({duration(change.at - now)} from now) to " + (
                _person(settings, to) if to else "nobody")
            if to is None and change.next_shift is not None:
                handover += (f", then {_person(settings, change.next_shift.user)} from "
                             f"{when(change.next_shift.start)} UTC")
        rows.append({"name": schedule.name, "team": schedule.team,
                     "now": _person(settings, change.now) if change.now else "nobody", "next": handover})
    policies = []
    for policy in oncall.escalation_policies:
        steps = []
        for step in policy.steps:
            who: list[str] = []
            for name in step.notify.schedules:
                person = current.get(name)
                who.append(f"schedule {name}: " + (_person(settings, person) if person else "nobody on call now"))
            who += [_person(settings, u) for u in step.notify.users]
            who += [f"group {g}" for g in step.notify.groups]
            who += [f"Slack group {g}" for g in step.notify.slack_groups]
            who += [f"Teams group {g}" for g in step.notify.teams_groups]
            round_robin = " (one of them, in turn)" if step.round_robin else ""
            steps.append({"who": "; ".join(who) + round_robin,
                          "wait": duration(timedelta(minutes=step.wait_minutes)) + " without an acknowledgement"})
        policies.append({"name": policy.name, "steps": steps, "repeat": policy.repeat})
    body = env.get_template("oncall.html").render(title="On call", user=user, now=when(now), now_iso=now.isoformat(),
                                                  schedules=rows, policies=policies)
    return _html(body)


# ---------------------------------------------------------------------------------------------- routes

#: Characters at most of any one query parameter or path part (the title search takes fewer: filters.MAX_TEXT).
MAX_PARAM = 1000


def _bad_input(request: web.Request) -> str | None:
    """A sentence when the address carries what no page takes (control characters such as NUL, which PostgreSQL
    refuses in text, or an over-long value); else None."""
    for name, value in [*request.query.items(), *request.match_info.items()]:
        if auth.has_control(name) or auth.has_control(value):
            return (f"The address's {filters.shown(name)} holds a control character (such as NUL or a line break): "
                    "remove it, or start again from the incident list.")
        if len(name) > MAX_PARAM or len(value) > MAX_PARAM:
            return (f"The address's {filters.shown(name)} is {max(len(name), len(value))} characters long: give at "
                    f"most {MAX_PARAM}, or start again from the incident list.")
    return None



def mount(app: web.Application, rt: Runtime) -> None:
    """The console's pages (sign-in and sign-out are :mod:`.auth`'s)."""

    def signed_in(page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            user = auth.user_of(request)
            if user is None:
                raise auth.signin_redirect(request)
            if (refused := _bad_input(request)) is not None:
                return message(400, "Not a question the console understands", refused, user)
            return await page(rt, request, user)

        return handler

    app.router.add_get("/console", signed_in(list_page))
    app.router.add_get("/console/incidents/{id}", signed_in(incident_page))
    app.router.add_get("/console/oncall", signed_in(oncall_page))
