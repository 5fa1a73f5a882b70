"""Status pages that keep themselves current: a service's components follow its incidents.

- **Linkage** (``services[].status``): the page and components a service appears as, and priority → component
  status (default P1 ``major_outage``, P2 ``partial_outage``, P3 ``degraded_performance``; priorities not listed
  change nothing).
- **On declaration and priority change** the service's components take the status of the worst open incident that
  touches them (several services may share a component). **On resolve** they become operational again — at once,
  or ``status.monitoring_minutes`` later by a durable timer (``statuspage-recover:<page>:<component>``), cancelled
  when an incident touches the component again. Each change is a row of ``status_component_history``.
- **Updates**: nothing but component status changes by itself. A page with ``auto_publish`` also gets a generic
  update on each state change ("We are investigating an issue affecting Checkout"), never the incident's title or
  anything else of its internals. Written updates are published through :func:`publish_update` — the one way text
  reaches a page (a person's click or ``/incident statuspage <text>``, or the auto-publish setting).

All of it runs in the transaction of the incident's change, so the page changes when that commits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select

from warroom.core.jobs import STATUSPAGE_RECOVER
from warroom.core.model import Incident, Status
from warroom.response import signed_links
from warroom.settings import Settings
from warroom.settings.model import StatusPageSettings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job
from warroom.store.schema import timers

#: Component statuses, best first; the worst of several wins (an incident's status beats a maintenance window's).
STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
OPERATIONAL = STATUSES[0]
#: A status page incident's states (Atlassian's), in order.
UPDATE_STATES = ("investigating", "identified", "monitoring", "resolved")
#: Who auto-published updates are published by.
AUTOMATIC = "warroom (automatic)"
LABELS = {
    "operational": "Operational",
    "under_maintenance": "Under maintenance",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
}
#: The most an update's text may hold (a person's text longer than this is refused, not cut).
MAX_BODY = 10_000


class UpdateRefused(ValueError):
    """An update that cannot be published; the message says why in a sentence."""


def rank(status: str) -> int:
    return STATUSES.index(status) if status in STATUSES else 0


def recover_key(page: str, component: str) -> str:
    return f"statuspage-recover:{page}:{component}"


def resolve_key(page: str, incident_id: int) -> str:
    return f"statuspage-resolve:{page}:{incident_id}"


def _services_of(settings: Settings, page: str, component: str) -> list[str]:
    return [s.name for s in settings.services if s.status.page == page and component in s.status.components]


async def wanted(tx: Tx, settings: Settings, page: str, component: str) -> tuple[str, int | None]:
    """The status the component should have now — the worst its open incidents give it, else under maintenance
    while a window covering it is in progress — and the incident that gives it (None: none)."""
    best: tuple[str, int | None] = (OPERATIONAL, None)
    if await tx.statuspages.in_maintenance(page, component):
        best = ("under_maintenance", None)
    for incident_id, service, priority in await tx.statuspages.open_incidents(_services_of(settings, page, component)):
        svc = settings.service(service)
        status = svc.status.priority_status.get(priority or "", OPERATIONAL) if svc is not None else OPERATIONAL
        if rank(status) > rank(best[0]):
            best = (status, incident_id)
    return best


async def _apply(tx: Tx, settings: Settings, page: str, component: str, *, monitoring_minutes: int = 0) -> None:
    """Bring the component to :func:`wanted` — an improvement that a resolve caused waits ``monitoring_minutes``."""
    await tx.lock_key(f"statuspage:{page}:{component}")  # worst-wins reads every open incident: one at a time
    status, incident_id = await wanted(tx, settings, page, component)
    current = (await tx.statuspages.current(page)).get(component, OPERATIONAL)
    key = recover_key(page, component)
    if rank(status) < rank(current):
        if monitoring_minutes > 0:
            await tx.timers.schedule(key, STATUSPAGE_RECOVER, delay=monitoring_minutes * 60.0,
                                     payload={"page": page, "component": component})
            return
        pending = await tx.conn.execute(select(timers.c.id).where(timers.c.key == key))
        if pending.first() is not None:
            return  # an earlier resolve's monitoring period still runs: its timer brings the component back
    else:
        await tx.timers.cancel(key)
    if await tx.statuspages.set_status(page, component, status, incident_id):
        from . import remote

        await remote.component_changed(tx, settings, page, component, status)


async def incident_changed(tx: Tx, incident: Incident, fields: set[str], settings: Settings) -> None:
    """Follow an incident's declaration (``fields`` {"declared"}), or a change of its priority or status, on its
    service's page: the components' statuses and, with ``auto_publish``, a generic update."""
    svc = settings.service(incident.service)
    if svc is None or not svc.status.page or not fields & {"declared", "priority", "status"}:
        return
    page = settings.status_page(svc.status.page)
    if page is None:
        return
    from . import drafts  # it uses this module's names

    await drafts.incident_changed(tx, incident, fields, settings)  # the AI's written update, for a person to approve
    resolved = incident.status is Status.RESOLVED
    if resolved and "status" not in fields:
        return  # a resolved incident's priority changes nothing on the page (nor a pending monitoring period)
    for component in sorted(set(svc.status.components)):  # one lock order: no deadlock between services
        await _apply(tx, settings, page.name, component,
                     monitoring_minutes=svc.status.monitoring_minutes if resolved and "status" in fields else 0)
    if page.auto_publish and fields & {"declared", "status"}:
        await _auto_publish(tx, incident, page, svc.status.components, svc.status.monitoring_minutes)


def _affecting(components: list[str]) -> str:
    if len(components) <= 1:
        return components[0] if components else "our services"
    return ", ".join(components[:-1]) + " and " + components[-1]


async def _auto_publish(
    tx: Tx, incident: Incident, page: StatusPageSettings, components: list[str], monitoring_minutes: int
) -> None:
    """The generic update of a state change — text made from the component names only."""
    affecting = _affecting(components)
    name = f"Issue affecting {affecting}"
    if incident.status is Status.RESOLVED:
        if incident.merged_into is not None and await tx.statuspages.page_incident(page.name, incident.id) is None:
            return  # a duplicate never shown on the page
        if monitoring_minutes > 0:
            await publish_update(tx, incident.id, page.name, "monitoring",
                                 f"A fix has been implemented and we are monitoring the results for {affecting}.",
                                 AUTOMATIC, settings_page=page, name=name)
            await tx.timers.schedule(resolve_key(page.name, incident.id), STATUSPAGE_RECOVER,
                                     delay=monitoring_minutes * 60.0,
                                     payload={"page": page.name, "incident": incident.id}, incident_id=incident.id)
        else:
            await publish_update(tx, incident.id, page.name, "resolved",
                                 f"This issue affecting {affecting} has been resolved.", AUTOMATIC, settings_page=page,
                                 name=name)
        return
    await tx.timers.cancel(resolve_key(page.name, incident.id))
    found = await tx.statuspages.page_incident(page.name, incident.id)
    if found is not None and found["status"] != "resolved" and found["status"] != "monitoring":
        return  # acknowledged: still being investigated; nothing new to say without a person
    await publish_update(tx, incident.id, page.name, "investigating",
                         f"We are investigating an issue affecting {affecting}.", AUTOMATIC, settings_page=page, name=name)


async def publish_update(
    tx: Tx, incident_id: int, page: str, status: str, body: str, by: str | None, *,
    name: str | None = None, settings: Settings | None = None, settings_page: StatusPageSettings | None = None,
) -> int:
    """Publish an update about ``incident_id`` on status page ``page`` — the one way text reaches a page. ``status``
    is one of :data:`UPDATE_STATES`; ``body`` is shown as plain text (escaped when rendered); ``by`` is who
    published it (an email, or :data:`AUTOMATIC`). The page's incident is created by its first update, named
    ``name`` or "Issue affecting <its service's components>" — never the incident's own title unless a person
    passes it. Returns the update's id; raises :class:`UpdateRefused` for an unknown page or state, an empty or
    overlong text, an unknown incident. Pass ``settings`` (or the page's ``settings_page``) to check the page exists and to name the
    incident from its components."""
    if status not in UPDATE_STATES:
        raise UpdateRefused(f"'{status[:40]}' is not an update state: use one of {', '.join(UPDATE_STATES)}.")
    text = body.strip()
    if not text:
        raise UpdateRefused("The update has no text: write what people reading the status page should know.")
    if len(text) > MAX_BODY:
        raise UpdateRefused(f"The update is {len(text):,} characters: at most {MAX_BODY:,} fit.")
    if settings_page is None and settings is not None:
        settings_page = settings.status_page(page)
        if settings_page is None:
            raise UpdateRefused(f"There is no status page '{page[:63]}': see status_pages in the settings.")
    incident = await tx.incidents.get(incident_id)
    if incident is None:
        raise UpdateRefused(f"There is no incident INC-{incident_id}.")
    if name is None:
        components: list[str] = []
        if settings is not None:
            svc = settings.service(incident.service) if incident is not None else None
            components = list(svc.status.components) if svc is not None and svc.status.page == page else []
        elif settings_page is not None:
            components = [c.name for c in settings_page.components]
        name = f"Issue affecting {_affecting(components)}"
    update_id = await tx.statuspages.add_update(page, incident_id, status, text, by, name=name[:255])
    if settings_page is not None:
        await _published(tx, settings_page, incident_id, update_id)
    return update_id


async def _published(tx: Tx, page: StatusPageSettings, incident_id: int, update_id: int) -> None:
    """What follows a published update, in its transaction: its push to Statuspage (a mirrored page), its
    deliveries to the page's subscribers."""
    from . import remote, subscribers  # they use this module's names

    await remote.update_published(tx, page, incident_id, update_id)
    await subscribers.update_published(tx, page, incident_id, update_id)


# -- private and scoped pages: signed, expiring links ----------------------------------------------------
def _subject(page: str, scope: str, expires: int) -> str:
    return f"status-page:{page}:{scope}:{expires}"


def link_query(
    settings: Settings, page: str, *, scope: str = "", hours: float = 24.0, now: float | None = None
) -> str | None:
    """The query string (``expires=…[&scope=…]&token=…``) that opens a private page — or a scoped page as stakeholder
    group ``scope`` sees it — until ``hours`` from now; None when links cannot be signed (no secret configured)."""
    expires = int((time.time() if now is None else now) + hours * 3600)
    token = signed_links.sign(settings, _subject(page, scope, expires))
    if token is None:
        return None
    return f"expires={expires}" + (f"&scope={scope}" if scope else "") + f"&token={token}"


def link_ok(
    settings: Settings, page: str, expires: str, token: str, *, scope: str = "", now: float | None = None
) -> bool:
    """Whether a page link's ``expires``, ``scope`` and ``token`` are a valid signature that has not expired."""
    if not expires.isdigit() or len(expires) > 12 or len(scope) > 63:
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    return signed_links.verify(settings, _subject(page, scope, int(expires)), token)


@dataclass
class StatusPageJobs:
    """The status pages' timer jobs."""

    settings: Settings
    store: Store

    def handlers(self) -> dict[str, Handler]:
        return {STATUSPAGE_RECOVER: self.recover}

    async def recover(self, job: Job) -> Commit | None:
        page = self.settings.status_page(str(job.payload.get("page") or ""))
        if page is None:
            return None  # the page was removed from the settings since
        component = job.payload.get("component")
        incident_id = job.payload.get("incident")

        async def commit(tx: Tx) -> None:
            if component is not None:
                await _apply(tx, self.settings, page.name, str(component))
                return
            incident = await tx.incidents.get(int(incident_id or 0))
            found = await tx.statuspages.page_incident(page.name, int(incident_id or 0))
            if incident is None or incident.status is not Status.RESOLVED or found is None:
                return
            if found["status"] == "monitoring":
                svc = self.settings.service(incident.service)
                affecting = _affecting(list(svc.status.components) if svc is not None else [])
                await publish_update(tx, incident.id, page.name, "resolved",
                                     f"This issue affecting {affecting} has been resolved.", AUTOMATIC,
                                     settings_page=page)

        return commit
