"""Pages mirrored to Atlassian Statuspage: what a built-in page shows is pushed to a page a team runs there.

A ``status_pages`` entry with ``statuspage.page_id`` is mirrored; ``statuspage.components`` maps our component names
to Statuspage component ids (components not mapped stay ours only).

- **In the change's transaction** (the two hooks :mod:`warroom.response.statuspages` calls): a published update gets
  a ``status_update_pushes`` row (``pending``) and a durable timer (``statuspage-late:<push>``, job
  :data:`~warroom.core.jobs.STATUSPAGE_PUSH_LATE`, :data:`LATE_MINUTES` or the page's ``statuspage.late_minutes``);
  a changed mapped component or a published update enqueues :data:`~warroom.core.jobs.STATUSPAGE_PUSH` for the page —
  coalesced (one pending job per page) and in one ordering key per page, because the job brings the whole page up to
  date from the database when it runs.
- **The push** (:meth:`StatuspageMirror.push`): first the component statuses — one ``components()`` call, then a
  ``PATCH`` only for those that differ from ours (a component someone put under maintenance on Statuspage is left
  so while ours is operational); then the pending updates, oldest first, one at a time, each committed before the
  next is sent, so updates of one page never overtake each other. The first update of a page incident creates the
  remote incident, keyed by ``<page>/INC-<id>`` in its metadata (found again after a crash; its id is kept in
  ``status_page_remote``); later ones update it, ``resolved`` resolves it; the incident's affected components (its
  service's components on the page, as mapped) are sent with each, at their statuses now.
- **Exactly once** (claim, then send — as the on-call pages do): a push is marked ``sending`` in its own transaction
  before its call; a push found ``sending`` (a call cut off: a crash, a timeout, a 5xx after Statuspage took it) is
  looked up first — the remote incident by its key, then its newest update — and sent again only when it is not
  there.
- **Failures**: a 429 (Retry-After honoured), a 5xx or a refused connection goes back to the outbox, which retries
  the job with backoff; the push stays where it was, so nothing after it goes first. A job that would be given up
  hands over to a fresh one, so warroom keeps trying while Statuspage is down. A permanent refusal (a 422, a deleted
  component or incident, a refused key) marks that push ``failed`` and says so in the war room; the next ones go.
- **Late**: a push still not sent when its timer fires is said once in the war room ("… has not reached Statuspage
  for 5 minutes: … — warroom keeps trying."); the timer is cancelled when the push is sent or fails.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import insert, select, update

from warroom.adapters.errors import AdapterError, Permanent, RateLimited, Transient
from warroom.core.jobs import STATUSPAGE_PUSH, STATUSPAGE_PUSH_LATE
from warroom.settings import Settings
from warroom.settings.model import StatusPageSettings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job
from warroom.store.schema import (
    status_page_incidents,
    status_page_remote,
    status_page_updates,
    status_update_pushes,
)

if TYPE_CHECKING:
    from warroom.adapters.statuspage import ComponentStatus, Incident, IncidentStatus, StatuspageClient

log = logging.getLogger("warroom.statuspage")
#: How far back our own maintenance windows are remembered when Statuspage shows a component under maintenance.
MAINTENANCE_MEMORY = timedelta(days=7)

#: Minutes after which the war room hears that an update has not reached Statuspage (a page's
#: ``statuspage.late_minutes`` overrides it).
LATE_MINUTES = 5.0
#: Push states: waiting, claimed by a call that may have reached Statuspage, there, refused for good.
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
OPERATIONAL = "operational"

pushes = status_update_pushes
upd = status_page_updates
pinc = status_page_incidents
remote_t = status_page_remote


def mirrored(page: StatusPageSettings | None) -> bool:
    return page is not None and bool(page.statuspage.page_id.strip())


def late_key(push_id: int) -> str:
    return f"statuspage-late:{push_id}"


def push_key(page: str) -> str:
    """The pending push job of a page (coalesced) and the ordering key of its jobs."""
    return f"statuspage-push:{page}"


def incident_key(page: str, incident_id: int) -> str:
    """The key in the metadata of the remote incident of an incident on a page."""
    return f"{page}/INC-{incident_id}"


def late_minutes(page: StatusPageSettings) -> float:
    return page.statuspage.late_minutes or LATE_MINUTES


# -- in the change's transaction ----------------------------------------------------------------------------------
async def component_changed(tx: Tx, settings: Settings, page: str, component: str, status: str) -> None:
    """A component of ``page`` took ``status`` (in the transaction that changed it): a mapped component of a mirrored
    page is brought up to date on Statuspage by the page's push."""
    found = settings.status_page(page)
    if found is not None and mirrored(found) and component in found.statuspage.components:
        await _enqueue(tx, page)


async def update_published(tx: Tx, page: StatusPageSettings, incident_id: int, update_id: int) -> None:
    """An update was published on ``page`` (in the transaction that published it): on a mirrored page, its push
    (pending), its lateness timer, and the page's push job."""
    if not mirrored(page):
        return
    result = await tx.conn.execute(
        insert(pushes).values(update_id=update_id, page=page.name, state=PENDING, attempts=0, created_at=tx.now)
    )
    push_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    await tx.timers.schedule(late_key(push_id), STATUSPAGE_PUSH_LATE, delay=late_minutes(page) * 60.0,
                             payload={"push": push_id}, incident_id=incident_id)
    await _enqueue(tx, page.name)


async def _enqueue(tx: Tx, page: str) -> None:
    await tx.outbox.enqueue(STATUSPAGE_PUSH, {"page": page}, ordering_key=push_key(page), dedup_key=push_key(page))


# -- reading pushes ----------------------------------------------------------------------------------------------
def _push_query() -> Any:
    return (
        select(pushes.c.id, pushes.c.update_id, pushes.c.page, pushes.c.state, pushes.c.attempts,
               pushes.c.last_error, pushes.c.warned_at, upd.c.status, upd.c.body, upd.c.published_at,
               upd.c.page_incident_id, pinc.c.incident_id, pinc.c.name)
        .select_from(pushes.join(upd, pushes.c.update_id == upd.c.id).join(pinc, upd.c.page_incident_id == pinc.c.id))
    )


async def _next_push(tx: Tx, page: str) -> dict[str, Any] | None:
    """The page's oldest push not yet sent nor failed."""
    row = (
        await tx.conn.execute(
            _push_query().where(pushes.c.page == page, pushes.c.state.in_((PENDING, SENDING)))
            .order_by(pushes.c.update_id).limit(1)
        )
    ).mappings().first()
    return dict(row) if row is not None else None


async def _push(tx: Tx, push_id: int) -> dict[str, Any] | None:
    row = (await tx.conn.execute(_push_query().where(pushes.c.id == push_id))).mappings().first()
    return dict(row) if row is not None else None


async def _locked_state(tx: Tx, push_id: int) -> tuple[str, int] | None:
    query = select(pushes.c.state, pushes.c.attempts).where(pushes.c.id == push_id)
    if tx.dialect == "postgresql":
        query = query.with_for_update()
    row = (await tx.conn.execute(query)).first()
    return (str(row[0]), int(row[1])) if row is not None else None


async def pushes_of(tx: Tx, page: str) -> list[dict[str, Any]]:
    """A page's pushes, oldest first, with their updates' status and body (for the CLI, tests and benches)."""
    rows = await tx.conn.execute(_push_query().where(pushes.c.page == page).order_by(pushes.c.update_id))
    return [dict(r) for r in rows.mappings()]


def described(row: dict[str, Any]) -> str:
    """``investigating, 10:02 UTC``: an update as the war room knows it."""
    at = row["published_at"]
    return f"{row['status']}, {at:%H:%M} UTC" if isinstance(at, datetime) else str(row["status"])


def why(exc: AdapterError) -> str:
    """What a failed call says of Statuspage, in a few words fit for the war room (escaped where it is said)."""
    if isinstance(exc, RateLimited):
        status = "420" if "HTTP 420" in exc.reason else "429"
        return f"Statuspage answers {status} (too many requests: {exc.reason}; it asks to wait {exc.retry_after:g} s)"
    if "could not connect" in exc.reason:
        return f"Statuspage cannot be reached ({exc.reason})"
    return f"Statuspage answers {exc.reason}"


# -- the jobs ------------------------------------------------------------------------------------------------------
@dataclass
class StatuspageMirror:
    """The jobs that keep mirrored pages current on Statuspage (``client`` None: no page is mirrored)."""

    settings: Settings
    store: Store
    client: StatuspageClient | None

    def handlers(self) -> dict[str, Handler]:
        return {STATUSPAGE_PUSH: self.push, STATUSPAGE_PUSH_LATE: self.late}

    async def push(self, job: Job) -> Commit | None:
        """Bring a mirrored page up to date on Statuspage: component statuses, then the pending updates in order."""
        page = self.settings.status_page(str(job.payload.get("page") or ""))
        if page is None or not mirrored(page):
            return None  # the page is no longer mirrored (settings changed since)
        if self.client is None:
            log.warning("status page %s is mirrored but Statuspage is not configured (statuspage.api_key)", page.name)
            return None
        try:
            await self._components(self.client, page)
            while True:
                async with self.store.read() as tx:
                    row = await _next_push(tx, page.name)
                if row is None or not await self._send(self.client, page, row):
                    return None
        except Transient as exc:
            await self._noted(page.name, why(exc))
            if job.attempts < self.settings.worker.max_attempts:
                raise  # the outbox retries the job with backoff, honouring Retry-After
            # the outbox would give the job up now: a fresh one carries on later, so warroom keeps trying
            delay = exc.retry_after if isinstance(exc, RateLimited) else self.settings.worker.backoff_max
            log.warning("pushing status page %s to Statuspage keeps failing (%s); trying again in %.0f s",
                        page.name, exc.reason, delay)

            async def again(tx: Tx) -> None:
                await tx.outbox.enqueue(STATUSPAGE_PUSH, {"page": page.name}, ordering_key=push_key(page.name),
                                        dedup_key=push_key(page.name), delay=delay)

            return again

    async def _components(self, client: StatuspageClient, page: StatusPageSettings) -> None:
        """The mapped components' statuses as ours are now — one read, a write for each one that differs."""
        mapping = page.statuspage.components
        if not mapping:
            return
        async with self.store.read() as tx:
            ours = await tx.statuspages.current(page.name)
            # components our own scheduled maintenance had lately: their "under maintenance" on Statuspage is ours
            # to end (someone else's, set on Statuspage itself, is left alone)
            maintained = {
                str(row["component"])
                for row in await tx.statuspages.history(page.name, tx.now - MAINTENANCE_MEMORY)
                if row["status"] == "under_maintenance"
            }
        try:
            theirs = {c.id: c.status for c in await client.components(page.statuspage.page_id)}
        except Permanent as exc:  # a wrong page id or key: each update's push fails and says so
            log.warning("Statuspage refused the components of page %s (status page %s): %s",
                        page.statuspage.page_id, page.name, exc.reason)
            return
        for name, component_id in sorted(mapping.items()):
            status = ours.get(name, OPERATIONAL)
            have = theirs.get(component_id)
            if have is None:
                log.warning("Statuspage page %s has no component %s (%s of status page %s): not updated",
                            page.statuspage.page_id, component_id, name, page.name)
                continue
            if have == status or (have == "under_maintenance" and status == OPERATIONAL and name not in maintained):
                continue
            try:
                await client.set_component_status(page.statuspage.page_id, component_id,
                                                  cast("ComponentStatus", status))
            except Permanent as exc:
                log.warning("Statuspage refused the status of component %s (%s of status page %s): %s",
                            component_id, name, page.name, exc.reason)

    async def _send(self, client: StatuspageClient, page: StatusPageSettings, row: dict[str, Any]) -> bool:
        """Push one update, exactly once; False when another job has it in hand (this one stops)."""
        page_id = page.statuspage.page_id
        key = incident_key(page.name, int(row["incident_id"]))
        async with self.store.read() as tx:
            remote_id = await _remote_id(tx, int(row["page_incident_id"]))
        arrived: Incident | None = None
        if row["state"] == SENDING:  # an earlier call was cut off: did Statuspage take it?
            if remote_id is None:
                adopted = await client.find_incident(page_id, key, resolved_too=True)
                remote_id = adopted.id if adopted is not None else None
            if remote_id is not None:
                current = await client.incident(page_id, remote_id)
                newest = current.updates[0] if current.updates else None
                if newest is not None and (newest.status, newest.body) == (row["status"], row["body"]):
                    arrived = current
        if arrived is None:
            if not await self._claim(row):
                return False
            components = await self._affected(page, row)
            status = cast("IncidentStatus", row["status"])
            try:
                if remote_id is None:
                    arrived = await client.create_incident(page_id, str(row["name"]), key=key, status=status,
                                                           body=str(row["body"]), components=components)
                else:
                    arrived = await client.update_incident(page_id, remote_id, status=status, body=str(row["body"]),
                                                           components=components)
            except Permanent as exc:
                await self._failed(row, remote_id, exc)
                return True
        await self._sent(row, arrived.id)
        log.info("status page %s: update %s (%s) pushed to Statuspage incident %s", page.name, row["update_id"],
                 row["status"], arrived.id)
        return True

    async def _claim(self, row: dict[str, Any]) -> bool:
        """Mark the push ``sending`` before its call — only as it was read (else another job has it)."""
        async with self.store.tx(background=True) as tx:
            if await _locked_state(tx, int(row["id"])) != (row["state"], int(row["attempts"])):
                return False
            await tx.conn.execute(
                update(pushes).where(pushes.c.id == row["id"])
                .values(state=SENDING, attempts=int(row["attempts"]) + 1)
            )
        row["state"], row["attempts"] = SENDING, int(row["attempts"]) + 1
        return True

    async def _affected(self, page: StatusPageSettings, row: dict[str, Any]) -> dict[str, ComponentStatus]:
        """The incident's components on the page (its service's, as mapped) → their statuses now."""
        async with self.store.read() as tx:
            incident = await tx.incidents.get(int(row["incident_id"]))
            ours = await tx.statuspages.current(page.name)
        svc = self.settings.service(incident.service) if incident is not None else None
        names = svc.status.components if svc is not None and svc.status.page == page.name else []
        mapping = page.statuspage.components
        return {mapping[n]: cast("ComponentStatus", ours.get(n, OPERATIONAL)) for n in names if n in mapping}

    async def _sent(self, row: dict[str, Any], remote_id: str) -> None:
        async with self.store.tx(background=True) as tx:
            await _keep_remote(tx, int(row["page_incident_id"]), remote_id)
            await tx.conn.execute(
                update(pushes).where(pushes.c.id == row["id"], pushes.c.state.in_((PENDING, SENDING)))
                .values(state=SENT, sent_at=tx.now, last_error=None)
            )
            await tx.timers.cancel(late_key(int(row["id"])))

    async def _failed(self, row: dict[str, Any], remote_id: str | None, exc: Permanent) -> None:
        """Statuspage refused the update for good: the push is failed, the war room told; the next ones go."""
        from warroom.response import jobs

        log.warning("status page %s: Statuspage refused update %s: %s", row["page"], row["update_id"], exc.reason)
        async with self.store.tx(background=True) as tx:
            if remote_id is not None:
                await _keep_remote(tx, int(row["page_incident_id"]), remote_id)
            result = await tx.conn.execute(
                update(pushes).where(pushes.c.id == row["id"], pushes.c.state.in_((PENDING, SENDING)))
                .values(state=FAILED, last_error=exc.reason[:2000])
            )
            await tx.timers.cancel(late_key(int(row["id"])))
            if result.rowcount:
                # (a line is escaped for its chat where it is posted: the reason is Statuspage's own text)
                await jobs.say(tx, int(row["incident_id"]),
                               f"⚠️ The status page update ({described(row)}) could not be published on Statuspage: "
                               f"{exc.reason[:300].rstrip('.')}. It is on warroom's page '{row['page']}'; fix the "
                               "cause and publish it on Statuspage by hand if it matters — later updates still go.")

    async def _noted(self, page: str, reason: str) -> None:
        """Why the page's waiting pushes are not there yet (what the lateness line says)."""
        async with self.store.tx(background=True) as tx:
            await tx.conn.execute(
                update(pushes).where(pushes.c.page == page, pushes.c.state.in_((PENDING, SENDING)))
                .values(last_error=reason[:2000])
            )

    async def late(self, job: Job) -> Commit | None:
        """A push not sent within its page's ``late_minutes``: the war room hears it, once."""
        from warroom.response import jobs

        push_id = int(job.payload.get("push") or 0)
        async with self.store.read() as tx:
            row = await _push(tx, push_id)
        if row is None or row["state"] not in (PENDING, SENDING) or row["warned_at"] is not None:
            return None
        page = self.settings.status_page(str(row["page"]))
        minutes = late_minutes(page) if page is not None else LATE_MINUTES
        reason = str(row["last_error"] or "Statuspage has not answered yet")

        async def commit(tx: Tx) -> None:
            result = await tx.conn.execute(
                update(pushes)
                .where(pushes.c.id == push_id, pushes.c.state.in_((PENDING, SENDING)), pushes.c.warned_at.is_(None))
                .values(warned_at=tx.now)
            )
            if result.rowcount:
                await jobs.say(tx, int(row["incident_id"]),
                               f"⏳ The status page update ({described(row)}) has not reached Statuspage for "
                               f"{minutes:g} minute{'' if minutes == 1 else 's'}: {reason[:300]} — warroom keeps "
                               "trying.")

        return commit


async def _remote_id(tx: Tx, page_incident_id: int) -> str | None:
    found = (
        await tx.conn.execute(select(remote_t.c.remote_id).where(remote_t.c.page_incident_id == page_incident_id))
    ).scalar()
    return str(found) if found else None


async def _keep_remote(tx: Tx, page_incident_id: int, remote_id: str) -> None:
    """Record (or correct) the remote incident of a page incident."""
    found = (
        await tx.conn.execute(select(remote_t.c.id).where(remote_t.c.page_incident_id == page_incident_id))
    ).scalar()
    if found is None:
        await tx.conn.execute(insert(remote_t).values(page_incident_id=page_incident_id, remote_id=remote_id,
                                                      created_at=tx.now))
    else:
        await tx.conn.execute(update(remote_t).where(remote_t.c.id == found).values(remote_id=remote_id))
