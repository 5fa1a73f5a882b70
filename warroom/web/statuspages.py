"""The built-in status pages (``status_pages`` in the settings; warroom.response.statuspages keeps them current):

- ``GET /status/{page}``: server-rendered HTML (Jinja2, autoescaped; inline CSS, no script, nothing loaded from
  anywhere): the overall status, each component's status, the active incidents with their published updates,
  scheduled maintenance (in progress, and upcoming within :data:`UPCOMING`), the last 90 days as one bar per day per
  component with its uptime, and recent past incidents;
- ``GET /status/{page}/index.json``: the same as JSON (``scheduled_maintenances``: every window scheduled or in
  progress); ``/feed.atom`` and ``/feed.rss``: the published updates, and an entry when a maintenance window is
  scheduled, starts, completes or is cancelled.

A public page is open. A private page is served only with a signed, expiring link (``?expires=…&token=…``, made by
:func:`warroom.response.statuspages.link_query`); a scoped page likewise, per stakeholder group (``&scope=…``,
signed too), showing only that group's components (``status_pages[].scopes``) and the incidents of the services on
them. Without a valid link, 403. An unknown page is a 404 page.

Renders are cached per page and kind (:class:`PageCache`), and thrown away when the page changes — at once for a
change made in this process (the store's ``status_generation``), within :data:`RECHECK` seconds for one made by
another (a newer history row or update: two indexed ``max(id)`` reads) — when the day turns, or after :data:`TTL`
seconds (the day bar of a current outage grows). Requests that miss the cache together share one render, and each
render is kept gzipped too: a client that takes gzip (every browser) gets those bytes as they are.

Uptime: the share of the time a component was not in an outage — a major outage counts fully, a partial outage 30 %
(as Atlassian's Statuspage counts it), degraded performance and maintenance not at all.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from aiohttp import web
from jinja2 import Environment
from markupsafe import Markup, escape

from warroom.response import statuspages as sp
from warroom.settings import Settings
from warroom.settings.model import StatusPageSettings
from warroom.store.db import Tx

from .console import auth as console_auth

if TYPE_CHECKING:
    from .app import Runtime

DAYS = 90
#: Seconds a cached render is kept at most.
TTL = 30.0
#: Seconds a render is served before the database's version is read again (changes by other processes).
RECHECK = 1.0
#: How much of the time each status counts as down, for the uptime figure.
DOWN = {"major_outage": 1.0, "partial_outage": 0.3}
#: Past (resolved) incidents shown on the page and in the feeds.
RECENT = 20
#: How far ahead the page lists scheduled maintenance (the JSON lists every window scheduled).
UPCOMING = timedelta(days=14)

_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

_TEMPLATE = """{% macro incident(inc) %}
<article class="{{ inc.status }}" aria-labelledby="incident-{{ inc.id }}">
<h3 id="incident-{{ inc.id }}">{{ inc.name }}</h3>
<p class="meta">{{ inc.label }} · since {{ inc.created }} UTC</p>
{% for u in inc.updates %}
<div class="update"><p><strong>{{ u.label }}</strong> — {{ u.body }}</p>
<p class="meta"><time datetime="{{ u.iso }}">{{ u.at }} UTC</time></p></div>
{% endfor %}
</article>
{% endmacro %}
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} status</title>
{% if feeds %}<link rel="alternate" type="application/atom+xml" title="{{ title }} updates (Atom)" href="{{ feeds.atom }}">
<link rel="alternate" type="application/rss+xml" title="{{ title }} updates (RSS)" href="{{ feeds.rss }}">{% endif %}
<style>
:root{color-scheme:light}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1a1a1a;background:#fff;margin:0}
header,main,footer{max-width:52rem;margin:0 auto;padding:1rem 1.25rem}
header{border-bottom:1px solid #d0d0d0}
h1{font-size:1.6rem;margin:.25rem 0}
h2{font-size:1.25rem;margin:1.75rem 0 .5rem}
h3{font-size:1.05rem;margin:1rem 0 .25rem}
a{color:#0645ad}
a:focus,a:hover{outline:3px solid #0645ad;outline-offset:2px}
.overall{padding:.75rem 1rem;border-radius:.4rem;font-weight:600;color:#fff}
.overall.operational{background:#1e6b34}.overall.degraded_performance{background:#7a5200}
.overall.partial_outage{background:#a33d00}.overall.major_outage{background:#a4161a}
.overall.under_maintenance{background:#1f5fa8}
ul.components{list-style:none;padding:0;margin:0}
ul.components>li{border:1px solid #d0d0d0;border-radius:.4rem;padding:.6rem .8rem;margin:.5rem 0}
.row{display:flex;justify-content:space-between;gap:1rem;flex-wrap:wrap}
.name{font-weight:600}
.status.operational{color:#1e6b34}.status.degraded_performance{color:#7a5200}
.status.partial_outage{color:#a33d00}.status.major_outage{color:#a4161a}
.status.under_maintenance{color:#1f5fa8}
.status{font-weight:600}
ol.bars{display:flex;gap:1px;list-style:none;padding:0;margin:.5rem 0 .25rem;height:2rem}
ol.bars>li{flex:1;border-radius:1px}
ol.bars>li.operational{background:#2e7d32}ol.bars>li.degraded_performance{background:#b7791f}
ol.bars>li.partial_outage{background:#d35400}ol.bars>li.major_outage{background:#b71c1c}
ol.bars>li.under_maintenance{background:#2f6fbf}
.scale{display:flex;justify-content:space-between;font-size:.85rem;color:#4a4a4a}
article{border-left:4px solid #a4161a;padding:.25rem 0 .25rem 1rem;margin:1rem 0}
article.resolved{border-color:#1e6b34}
article.maintenance{border-color:#1f5fa8}
.maintenance .body{white-space:pre-wrap;overflow-wrap:anywhere}
.update{margin:.5rem 0}
.update p{margin:.1rem 0;white-space:pre-wrap;overflow-wrap:anywhere}
.meta{font-size:.9rem;color:#4a4a4a}
footer{font-size:.9rem;color:#4a4a4a;border-top:1px solid #d0d0d0;margin-top:2rem}
</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
<p class="overall {{ overall.status }}" role="status">{{ overall.text }}</p>
</header>
<main>
{% if active %}
<section aria-labelledby="active-heading">
<h2 id="active-heading">Active incidents</h2>
{% for inc in active %}{{ incident(inc) }}{% endfor %}
</section>
{% endif %}
{% if maintenances %}
<section aria-labelledby="maintenance-heading">
<h2 id="maintenance-heading">Scheduled maintenance</h2>
{% for m in maintenances %}
<article class="maintenance {{ m.status }}" id="maintenance-{{ m.id }}" aria-labelledby="maintenance-{{ m.id }}-title">
<h3 id="maintenance-{{ m.id }}-title">{{ m.name }}</h3>
<p class="meta"><strong>{{ m.label }}</strong> · <time datetime="{{ m.scheduled_for }}">{{ m.starts }} UTC</time>
to <time datetime="{{ m.scheduled_until }}">{{ m.ends }} UTC</time></p>
<p class="meta">Affects {{ m.components|join(", ") }}</p>
{% if m.body %}<p class="body">{{ m.body }}</p>{% endif %}
</article>
{% endfor %}
</section>
{% endif %}
<section aria-labelledby="components-heading">
<h2 id="components-heading">Components</h2>
{% for group in groups %}
{% if group.name %}<h3>{{ group.name }}</h3>{% endif %}
<ul class="components">
{% for c in group.components %}
<li>
<div class="row"><span class="name">{{ c.name }}</span>
<span class="status {{ c.status }}">{{ c.label }}</span></div>
<ol class="bars" aria-label="{{ c.name }}: the last {{ days }} days, {{ c.uptime }} uptime">
{{ c.bars }}
</ol>
<div class="scale"><span>{{ days }} days ago</span><span>{{ c.uptime }} uptime</span><span>Today</span></div>
</li>
{% endfor %}
</ul>
{% endfor %}
</section>
<section aria-labelledby="past-heading">
<h2 id="past-heading">Past incidents</h2>
{% for inc in past %}{{ incident(inc) }}{% else %}<p>No incidents reported recently.</p>{% endfor %}
</section>
{# email subscribers (warroom.web.status_subscribers): the form posts with the page's own query (a signed link) #}
{% if feeds and subscribable %}
<section aria-labelledby="subscribe-heading">
<h2 id="subscribe-heading">Get updates by email</h2>
<form method="post" action="{{ feeds.json.replace('/index.json', '/subscribe', 1) }}">
<label for="subscribe-email" style="display:block;font-weight:600;margin-bottom:.25rem">Email address</label>
<input id="subscribe-email" name="email" type="email" autocomplete="email" required maxlength="254"
style="font:inherit;padding:.45rem;border:1px solid #595959;border-radius:.3rem;max-width:100%">
<button type="submit" style="font:inherit;font-weight:600;padding:.45rem 1rem;color:#fff;background:#0645ad;border:0;border-radius:.3rem">Subscribe</button>
</form>
<p class="meta">We email you a link to confirm first. Every email has a link to unsubscribe.</p>
</section>
{% endif %}
</main>
<footer>
<p>Updated {{ generated }} UTC.{% if feeds %} Follow the updates: <a href="{{ feeds.atom }}">Atom</a>,
<a href="{{ feeds.rss }}">RSS</a>, <a href="{{ feeds.json }}">JSON</a>.{% endif %}</p>
</footer>
</body>
</html>
"""

_NOT_FOUND = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ heading }}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;max-width:40rem;margin:3rem auto;padding:0 1rem}</style>
</head><body><header><h1>{{ heading }}</h1></header><main><p>{{ text }}</p>
{% if link %}<p><a href="{{ link.href }}">{{ link.text }}</a></p>{% endif %}</main></body></html>
"""

_env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_page = _env.from_string(_TEMPLATE)
_plain_page = _env.from_string(_NOT_FOUND)


def _label(status: str) -> str:
    return sp.LABELS.get(status, status.replace("_", " ").capitalize())


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def component_days(
    rows: list[dict[str, Any]], now: datetime, days: int = DAYS
) -> tuple[list[tuple[str, str]], float]:
    """One component's last ``days`` days, oldest first, as (ISO date, worst status that day), and its uptime (0–1)
    over them; ``rows``: its history rows (status, started_at, ended_at)."""
    today = datetime(now.year, now.month, now.day, tzinfo=UTC)
    start = today - timedelta(days=days - 1)
    spans = [(str(r["status"]), _utc(r["started_at"]), _utc(r["ended_at"]) if r["ended_at"] else now) for r in rows]
    worst = [sp.OPERATIONAL] * days
    one = timedelta(days=1)
    for status, s, e in spans:  # each span marks the days it overlaps (day n: [start + n, min(start + n + 1, now)))
        if s >= now:
            continue
        for n in range(max(0, math.floor((s - start) / one)), min(days, math.ceil((e - start) / one))):
            if sp.rank(status) > sp.rank(worst[n]):
                worst[n] = status
    out = [((start + one * n).date().isoformat(), worst[n]) for n in range(days)]
    total = max((now - start).total_seconds(), 1.0)
    down = sum(DOWN.get(status, 0.0) * max(0.0, (min(e, now) - max(s, start)).total_seconds())
               for status, s, e in spans)
    return out, max(0.0, 1.0 - down / total)


def _uptime(share: float) -> str:
    return "100%" if share >= 1.0 else f"{min(share * 100, 99.99):.2f}%"


def _when(value: datetime) -> str:
    return f"{_utc(value):%Y-%m-%d %H:%M}"


def _incident(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(row["id"]), "name": str(row["name"]), "status": str(row["status"]),
        "label": _label(str(row["status"])), "created": _when(row["created_at"]),
        "created_at": _utc(row["created_at"]).isoformat(), "updated_at": _utc(row["updated_at"]).isoformat(),
        "resolved_at": _utc(row["resolved_at"]).isoformat() if row["resolved_at"] else None,
        "updates": [
            {"id": int(u["id"]), "status": str(u["status"]), "label": _label(str(u["status"])), "body": str(u["body"]),
             "at": _when(u["published_at"]), "iso": _utc(u["published_at"]).isoformat()}
            for u in row["updates"]
        ],
    }


def _maintenance(row: dict[str, Any], only: set[str] | None) -> dict[str, Any] | None:
    """A maintenance window as the page shows it — with ``only`` (a scoped page), None when it touches none of those
    components, and only those named."""
    components = [str(c) for c in row["components"] or []]
    if only is not None:
        components = [c for c in components if c in only]
        if not components:
            return None
    state = str(row["state"])
    return {
        "id": int(row["id"]), "name": str(row["title"]), "status": state, "label": _label(state),
        "body": str(row["body"] or ""), "components": components,
        "starts": _when(row["starts_at"]), "ends": _when(row["ends_at"]),
        "scheduled_for": _utc(row["starts_at"]).isoformat(), "scheduled_until": _utc(row["ends_at"]).isoformat(),
        "created_at": _utc(row["created_at"]).isoformat(), "updated_at": _utc(row["updated_at"]).isoformat(),
    }


async def _maintenances(tx: Tx, page: str, only: set[str] | None) -> dict[str, list[dict[str, Any]]]:
    """The page's maintenance windows: ``scheduled_maintenances`` (in progress, then scheduled, the soonest first),
    ``maintenances`` (those the HTML lists: in progress, and scheduled to start within :data:`UPCOMING`) and
    ``maintenance_log`` (the latest windows of any state, for the feeds)."""
    live = [m for m in (_maintenance(r, only) for r in await tx.statuspages.maintenances(
        page, states=("scheduled", "in_progress"), limit=200)) if m is not None]
    live.sort(key=lambda m: (m["status"] != "in_progress", m["scheduled_for"], m["id"]))
    horizon = (tx.now + UPCOMING).isoformat()
    recent = [m for m in (_maintenance(r, only) for r in await tx.statuspages.maintenances(page, limit=RECENT))
              if m is not None]
    return {
        "scheduled_maintenances": live,
        "maintenances": [m for m in live if m["status"] == "in_progress" or m["scheduled_for"] <= horizon],
        "maintenance_log": recent,
    }


async def snapshot(tx: Tx, page: StatusPageSettings, settings: Settings, scope: str = "") -> dict[str, Any]:
    """Everything a page shows, as plain data (the HTML, the JSON and the feeds are made from it); with ``scope``
    (a scoped page), only that stakeholder group's components and the incidents of services on them."""
    only = set(page.scopes.get(scope, [])) if scope else None
    now = tx.now
    current = await tx.statuspages.current(page.name)
    since = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=DAYS - 1)
    rows = await tx.statuspages.history(page.name, since)
    by_component: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_component.setdefault(str(r["component"]), []).append(r)
    components: list[dict[str, Any]] = []
    for c in page.components:
        if only is not None and c.name not in only:
            continue
        days, uptime = component_days(by_component.get(c.name, []), now)
        status = current.get(c.name, sp.OPERATIONAL)
        components.append({
            "name": c.name, "group": c.group, "status": status, "label": _label(status), "uptime": _uptime(uptime),
            "days": [{"date": d, "status": s, "label": _label(s)} for d, s in days],
        })
    worst = max((str(c["status"]) for c in components), key=sp.rank, default=sp.OPERATIONAL)
    text = {"operational": "All systems operational", "under_maintenance": "Service under maintenance",
            "degraded_performance": "Degraded performance", "partial_outage": "Partial outage",
            "major_outage": "Major outage"}.get(worst, _label(worst))
    listed = await tx.statuspages.incidents(page.name, limit=RECENT + 50)
    if only is not None:
        def seen(service: str) -> bool:
            svc = settings.service(service)
            return svc is not None and svc.status.page == page.name and bool(only & set(svc.status.components))

        listed = [r for r in listed if seen(str(r["service"]))]
    return {
        "name": page.name, "title": page.title or page.name, "generated": _when(now), "now": now.isoformat(),
        "overall": {"status": worst, "text": text},
        "components": components,
        "active": [_incident(r) for r in listed if r["status"] != "resolved"],
        "past": [_incident(r) for r in listed if r["status"] == "resolved"][:RECENT],
        **await _maintenances(tx, page.name, only),
        # the email subscription form only where email can be sent
        "subscribable": bool(settings.smtp.host),
    }


def _bars(days: list[dict[str, Any]]) -> Markup:
    """A component's day bars, ``<li class="status" title="date: label" aria-label="date: label">`` each, joined
    here rather than in the template: 90 bars × 50 components made Jinja's attribute lookups most of a render."""
    return Markup("".join(
        f'<li class="{escape(d["status"])}" title="{label}" aria-label="{label}"></li>'
        for d in days for label in (escape(f"{d['date']}: {d['label']}"),)))


def render_html(snap: dict[str, Any], query: str = "", *, feeds: bool = True) -> str:
    groups: list[dict[str, Any]] = []
    for c in snap["components"]:
        if not groups or groups[-1]["name"] != c["group"]:
            groups.append({"name": c["group"], "components": []})
        groups[-1]["components"].append({**c, "bars": _bars(c["days"])})
    suffix = f"?{query}" if query else ""
    base = f"/status/{snap['name']}"
    links = {"atom": f"{base}/feed.atom{suffix}", "rss": f"{base}/feed.rss{suffix}", "json": f"{base}/index.json{suffix}"}
    # without the signed link (a signed-in reader of the console) there are no feed links to give
    return _page.render(**snap, groups=groups, days=DAYS, feeds=links if feeds else None)


def render_json(snap: dict[str, Any]) -> str:
    def incident(i: dict[str, Any]) -> dict[str, Any]:
        return {"id": i["id"], "name": i["name"], "status": i["status"], "created_at": i["created_at"],
                "updated_at": i["updated_at"], "resolved_at": i["resolved_at"],
                "updates": [{"id": u["id"], "status": u["status"], "body": u["body"], "published_at": u["iso"]}
                            for u in i["updates"]]}

    return json.dumps({
        "page": {"name": snap["name"], "title": snap["title"], "updated_at": snap["now"]},
        "status": {"indicator": snap["overall"]["status"], "description": snap["overall"]["text"]},
        "components": [{"name": c["name"], "group": c["group"], "status": c["status"], "uptime": c["uptime"],
                        "history": [{"date": d["date"], "status": d["status"]} for d in c["days"]]}
                       for c in snap["components"]],
        "incidents": [incident(i) for i in snap["active"]],
        "past_incidents": [incident(i) for i in snap["past"]],
        "scheduled_maintenances": [
            {k: m[k] for k in ("id", "name", "status", "scheduled_for", "scheduled_until", "created_at", "updated_at",
                               "body", "components")}
            for m in snap["scheduled_maintenances"]
        ],
    }, ensure_ascii=False)


def _maintenance_entries(m: dict[str, Any]) -> list[dict[str, Any]]:
    """A window's feed entries: scheduled, then started and completed (or cancelled) once they happened."""
    affecting = ", ".join(m["components"])
    announced = f"Scheduled from {m['starts']} UTC to {m['ends']} UTC, affecting {affecting}."
    said = [("scheduled", "Scheduled", m["created_at"], announced + (f"\n\n{m['body']}" if m["body"] else ""))]
    if m["status"] in ("in_progress", "completed"):
        said.append(("started", "In progress", max(m["scheduled_for"], m["created_at"], key=datetime.fromisoformat),
                     "The scheduled maintenance is in progress."))
    if m["status"] == "completed":
        said.append(("completed", "Completed", m["scheduled_until"], "The scheduled maintenance has been completed."))
    if m["status"] == "cancelled":
        said.append(("cancelled", "Cancelled", m["updated_at"], "This scheduled maintenance has been cancelled."))
    return [{"title": f"Maintenance: {m['name']}: {label}", "key": f"maintenance-{m['id']}-{kind}", "iso": iso,
             "anchor": f"maintenance-{m['id']}", "body": body, "order": (step, m["id"])}
            for step, (kind, label, iso, body) in enumerate(said)]


def _entries(snap: dict[str, Any]) -> list[dict[str, Any]]:
    """Every update shown and every maintenance window's steps, as feed entries (title, key, iso, anchor, body),
    newest first."""
    updates = sorted(((i, u) for i in [*snap["active"], *snap["past"]] for u in i["updates"]),
                     key=lambda p: p[1]["id"], reverse=True)[:50]
    entries = [{"title": f"{i['name']}: {u['label']}", "key": f"update-{u['id']}", "iso": u["iso"],
                "anchor": f"incident-{i['id']}", "body": u["body"], "order": (0, u["id"])} for i, u in updates]
    entries += [e for m in snap["maintenance_log"] for e in _maintenance_entries(m)]
    # newest first; at the same moment, a window's later step first
    return sorted(entries, key=lambda e: (datetime.fromisoformat(e["iso"]), e["order"]), reverse=True)[:50]


def render_atom(snap: dict[str, Any], base: str) -> str:
    ns = "http://www.w3.org/2005/Atom"
    feed = ET.Element("feed", xmlns=ns)
    ET.SubElement(feed, "title").text = f"{snap['title']} status"
    ET.SubElement(feed, "id").text = f"{base}/status/{snap['name']}"
    ET.SubElement(feed, "link", href=f"{base}/status/{snap['name']}")
    entries = _entries(snap)
    ET.SubElement(feed, "updated").text = entries[0]["iso"] if entries else snap["now"]
    for e in entries:
        entry = ET.SubElement(feed, "entry")
        ET.SubElement(entry, "title").text = e["title"]
        ET.SubElement(entry, "id").text = f"{base}/status/{snap['name']}#{e['key']}"
        ET.SubElement(entry, "updated").text = e["iso"]
        ET.SubElement(entry, "link", href=f"{base}/status/{snap['name']}#{e['anchor']}")
        ET.SubElement(entry, "content", type="text").text = e["body"]
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")


def render_rss(snap: dict[str, Any], base: str) -> str:
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = f"{snap['title']} status"
    ET.SubElement(channel, "link").text = f"{base}/status/{snap['name']}"
    ET.SubElement(channel, "description").text = f"Updates about {snap['title']}"
    for e in _entries(snap):
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = e["title"]
        ET.SubElement(item, "description").text = e["body"]
        ET.SubElement(item, "link").text = f"{base}/status/{snap['name']}#{e['anchor']}"
        ET.SubElement(item, "guid", isPermaLink="false").text = f"{snap['name']}-{e['key']}"
        ET.SubElement(item, "pubDate").text = f"{datetime.fromisoformat(e['iso']):%a, %d %b %Y %H:%M:%S} +0000"
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(rss, encoding="unicode")


@dataclass
class _Cached:
    version: tuple[int, ...]
    generation: int
    day: str
    made: float
    checked: float
    body: str
    #: The body as sent: UTF-8, and gzipped once here (a page's 90-day bars compress about 40:1), so that a cached
    #: answer costs no encoding at all.
    data: bytes = field(init=False, repr=False)
    gzipped: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.data = self.body.encode()
        self.gzipped = gzip.compress(self.data, compresslevel=6, mtime=0)


class PageCache:
    """Renders per (page, kind, query). A render is served without touching the database while nothing changed a
    page in this process (the store's ``status_generation``), the day is the same, it was checked against the
    database's version (changes made by other processes) less than :data:`RECHECK` seconds ago, and it is younger
    than :data:`TTL`; otherwise the version is read, and the render kept if it is unchanged — and only while nothing
    changed in this process since it was made: the version (newest ids) cannot tell on PostgreSQL, where a
    transaction that took a lower id can commit after one that took a higher id (concurrent declarations do)."""

    def __init__(self) -> None:
        self._renders: dict[tuple[str, str, str], _Cached] = {}

    def fresh(self, key: tuple[str, str, str], generation: int, day: str) -> _Cached | None:
        found = self._renders.get(key)
        now = time.monotonic()
        if (found is None or found.generation != generation or found.day != day or now - found.made > TTL
                or now - found.checked > RECHECK):
            return None
        return found

    def same_version(self, key: tuple[str, str, str], version: tuple[int, ...], generation: int,
                     day: str) -> _Cached | None:
        found = self._renders.get(key)
        if (found is None or found.version != version or found.generation != generation or found.day != day
                or time.monotonic() - found.made > TTL):
            return None
        found.checked = time.monotonic()
        return found

    def put(self, key: tuple[str, str, str], version: tuple[int, ...], generation: int, day: str,
            body: str) -> _Cached:
        if len(self._renders) > 1000:
            self._renders.clear()
        now = time.monotonic()
        self._renders[key] = found = _Cached(version, generation, day, now, now, body)
        return found


def _gzip_ok(accept: str) -> bool:
    """Whether an ``Accept-Encoding`` header takes gzip (and not with ``q=0``)."""
    for part in accept.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


_TYPES = {"html": "text/html", "json": "application/json", "atom": "application/atom+xml",
          "rss": "application/rss+xml"}


def _plain(status: int, heading: str, text: str, link: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=_plain_page.render(heading=heading, text=text, link=link),
                        content_type="text/html",
                        charset="utf-8", headers={**_COMMON, "Content-Security-Policy": _CSP,
                                                  "Cache-Control": "no-store"})


#: The cache's query key of a private or scoped page read by a person signed in to the console (never a link's).
SIGNED_IN = "console"


def _refused(request: web.Request, kind: str) -> web.Response:
    """A private or scoped page without a valid link: the page offers signing in to the console (feeds are read by
    feed readers, which carry no cookie: they need the signed link)."""
    text = "Open it with the link you were given; links expire — ask for a new one."
    settings: Settings | None = request.app.get(console_auth.SETTINGS)
    if kind == "html" and settings is not None and console_auth.configured(settings):
        return _plain(403, "This status page is not public",
                      text[:-1] + ", or sign in to the warroom console with your work account.",
                      link={"href": console_auth.signin_path(request.path), "text": "Sign in"})
    return _plain(403, "This status page is not public", text)


def mount(app: web.Application, rt: Runtime) -> None:
    settings: Settings = rt.settings
    cache = PageCache()
    #: Renders under way, per key with the generation they started at: requests that miss the cache together wait
    #: for one render instead of each making its own (right after a change, every reader misses at once).
    rendering: dict[tuple[str, str, str], tuple[int, asyncio.Future[_Cached]]] = {}

    async def render(page: StatusPageSettings, kind: str, key: tuple[str, str, str], generation: int,
                     query: str, scope: str) -> _Cached:
        async with rt.store.read() as tx:
            version = await tx.statuspages.version(page.name)
            day = tx.now.date().isoformat()
            found = cache.same_version(key, version, generation, day)
            if found is None:
                snap = await snapshot(tx, page, settings, scope)
                base = settings.server.public_url.rstrip("/")
                if kind == "html":
                    body = render_html(snap, query, feeds=query != SIGNED_IN)
                elif kind == "json":
                    body = render_json(snap)
                elif kind == "atom":
                    body = render_atom(snap, base)
                else:
                    body = render_rss(snap, base)
                found = cache.put(key, version, generation, day, body)
            return found

    async def shared_render(page: StatusPageSettings, kind: str, key: tuple[str, str, str], generation: int,
                            query: str, scope: str) -> _Cached:
        """:func:`render`, joined by the requests for the same key that come while it runs (a render that started
        at this generation or later shows every change this process committed before it)."""
        running = rendering.get(key)
        if running is None or running[0] < generation:
            task = asyncio.ensure_future(render(page, kind, key, generation, query, scope))
            rendering[key] = running = (generation, task)

            def finished(done: asyncio.Future[_Cached]) -> None:
                if key in rendering and rendering[key][1] is done:
                    del rendering[key]

            task.add_done_callback(finished)
        return await asyncio.shield(running[1])  # a client that goes away does not cancel the others' render

    async def serve(request: web.Request, kind: str) -> web.Response:
        name = request.match_info["page"]
        page = settings.status_page(name)
        if page is None:
            return _plain(404, "No such status page", f"There is no status page called '{name[:63]}'.")
        query, scope = "", ""
        if page.visibility != "public":
            expires, token = request.query.get("expires", ""), request.query.get("token", "")
            scope = request.query.get("scope", "") if page.visibility == "scoped" else ""
            if (page.visibility == "scoped" and scope not in page.scopes) or not sp.link_ok(
                    settings, page.name, expires, token, scope=scope):
                if kind != "html" or console_auth.user_of(request) is None:
                    return _refused(request, kind)
                # a person signed in to the console reads the page in full (every scope) without a link
                query, scope = SIGNED_IN, ""
            else:
                query = f"expires={expires}" + (f"&scope={scope}" if scope else "") + f"&token={token}"
        key = (page.name, kind, query)
        generation = rt.store.status_generation  # read before the database: a change committing meanwhile re-renders
        found = cache.fresh(key, generation, datetime.now(UTC).date().isoformat())
        if found is None:
            found = await shared_render(page, kind, key, generation, query, scope)
        headers = {**_COMMON, "Cache-Control": "public, max-age=15" if page.visibility == "public" else "no-store",
                   "Vary": "Accept-Encoding"}
        if kind == "html":
            headers["Content-Security-Policy"] = _CSP
        data = found.data
        if _gzip_ok(request.headers.get("Accept-Encoding", "")):
            data, headers["Content-Encoding"] = found.gzipped, "gzip"
        return web.Response(body=data, content_type=_TYPES[kind], charset="utf-8", headers=headers)

    async def html(request: web.Request) -> web.Response:
        return await serve(request, "html")

    async def as_json(request: web.Request) -> web.Response:
        return await serve(request, "json")

    async def atom(request: web.Request) -> web.Response:
        return await serve(request, "atom")

    async def rss(request: web.Request) -> web.Response:
        return await serve(request, "rss")

    app.router.add_get("/status/{page}", html)
    app.router.add_get("/status/{page}/index.json", as_json)
    app.router.add_get("/status/{page}/feed.atom", atom)
    app.router.add_get("/status/{page}/feed.rss", rss)
