"""The link engine at work: outbox handlers that carry changes between an incident and its Xurrent request.

- ``itsm.push`` writes the incident's current state to the request: one PATCH with only the fields that do not
  already agree (see sync/plan.py), then the incident's new notes. Coalesced per incident and ordered with the
  incident's other ITSM writes, so a burst of changes is one write.
- ``itsm.pull`` reads the request (a webhook is only a hint) and applies what changed on Xurrent's side: fields
  through the plan and its conflict rule, and notes not written by warroom. It reads only what the hint says
  moved — ``request.note-added`` reads the notes, the other request events read the request — so a synced change
  costs one read; reconciliation (which knows only that ``updated_at`` moved, and adding a note moves it too)
  reads both. Hints of different kinds are separate jobs in the same per-incident order. What each pull saw is
  kept on the link (``updated_at`` for the request, ``synced_at`` for the request and its notes; see
  sync/reconcile.py), so a note whose hint was lost is never hidden behind a read of the request alone.
- ``itsm.reconcile`` lists what Xurrent changed since its cursor and pulls the linked requests that may hold
  something unseen (``>=`` on one-second stamps); unlinked ones that would escalate are considered.
- ``itsm.consider`` reads an unlinked request a hint named and escalates it if it should (sync/escalation.py),
  remembering its service instance for a while so that the desk's updates to requests of services warroom does not
  watch cost no further read (sync/watch.py).

Notes go to the request as internal notes, except a responder's own ``/incident note``, which follows the service's
``itsm.note_visibility`` (sync/mapping.py, ``note_internal``); notes pulled from Xurrent keep their visibility on
the timeline and in the war room's line.

Directions are honoured here: a service linked ITSM → IMR never pushes, IMR → ITSM never pulls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from warroom.adapters.errors import NotFound
from warroom.adapters.ports import ItsmPort
from warroom.core.jobs import (
    CONFIRM_WEBHOOK,
    CONSIDER_REQUEST,
    PULL_REQUEST,
    PUSH_REQUEST,
    RECONCILE,
    TASK_RFC_PULL,
)
from warroom.core.model import Incident, Link, LinkKind, Origin, Urgency
from warroom.core.rules import CHANGEABLE, RuleError, column_changes
from warroom.settings import ServiceSettings, Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job

from .escalation import service_for_request, should_escalate
from .mapping import COMPLETION_REASON, note_internal
from .plan import Codec, Shadow, plan_pull, plan_push, priority_from_impact, request_patch, request_values
from .reconcile import (
    LIST_FIELDS,
    later,
    load_cursor,
    needs_pull,
    newer_mark,
    oldest,
    read_mark,
    save_cursor,
    synced_mark,
)
from .watch import RequestMemo, escalates_from, instance_of

log = logging.getLogger("warroom.sync")

#: Reconciliation keeps watching a resolved incident's request this long (it may be reopened in Xurrent).
RESOLVED_WATCH_DAYS = 7

#: Called in the transaction that changed an incident from Xurrent's side: (tx, incident, changed fields, lines
#: to say in the war room).
Changed = Callable[[Tx, Incident, set[str], list[str]], Awaitable[None]]
#: Called in the transaction that declared an incident escalated from Xurrent: opens its war room and bridge.
Declared = Callable[[Tx, Incident, ServiceSettings], Awaitable[None]]


class EscalationRefused(Exception):
    """A responder's escalation that cannot be done; the message says why."""


def incident_values(incident: Incident) -> dict[str, Any]:
    return {
        "title": incident.title,
        "status": incident.status.value,
        "priority": incident.priority,
        "urgency": incident.urgency.value,
        "assignee": incident.assignee,
    }


def initial_shadow(incident: Incident, request: dict[str, Any]) -> Shadow:
    """The shadow right after the request was created from (or linked to) the incident."""
    member = request.get("member") or None
    theirs = request_values(request, lambda _id: incident.assignee)
    if not member:
        theirs["assignee"] = None
    return Shadow(incident_values(incident), theirs)


def card_facts(request: dict[str, Any]) -> dict[str, Any]:
    """The request's facts the incident card shows."""
    return {
        "status": request.get("status"),
        "impact": request.get("impact"),
        "urgent": request.get("urgent"),
        "subject": request.get("subject"),
        "member_id": (request.get("member") or {}).get("id"),
        "sla": sla_facts(request),
    }


def link_data(request: dict[str, Any], shadow: Shadow, *, read_at: float | None = None, **extra: Any) -> dict[str, Any]:
    """What the incident keeps of its linked request: the card's facts, the shadow, the notes cursor, and what
    warroom has seen of it (sync/reconcile.py): ``updated_at`` as of its last read of the request, made at
    ``read_at`` (epoch seconds, before the call); ``synced_at``/``synced_read_at`` the same for fields and notes
    together — the request's own by default, ``extra`` overrides them when the notes were not read."""
    return {
        **card_facts(request),
        "updated_at": request.get("updated_at"),
        "read_at": read_at,
        "synced_at": request.get("updated_at"),
        "synced_read_at": read_at,
        "shadow": shadow.to_json(),
        **extra,
    }


def sla_facts(request: dict[str, Any]) -> dict[str, Any]:
    """The request's own SLA state, as Xurrent reports it (targets and whether they were missed)."""
    out: dict[str, Any] = {}
    for key in ("response_target_at", "resolution_target_at", "next_target_at"):
        if request.get(key):
            out[key] = request[key]
    for key in ("response_target_missed", "resolution_target_missed", "sla_breached"):
        if key in request:
            out[key] = request[key]
    return out


@dataclass
class SyncEngine:
    settings: Settings
    store: Store
    itsm: ItsmPort
    on_changed: Changed
    on_declared: Declared
    #: Called with the field of each conflict recorded (both sides changed it; the metrics count them).
    on_conflict: Callable[[str], None] | None = None
    #: The service instances of unlinked requests seen lately (sync/watch.py).
    watch: RequestMemo = field(default_factory=RequestMemo)
    #: email → Xurrent person id (None: not a person there); id → email. Refreshed per process.
    _ids: dict[str, int | None] = field(default_factory=dict)
    _emails: dict[int, str | None] = field(default_factory=dict)

    def handlers(self) -> dict[str, Handler]:
        return {
            PUSH_REQUEST: self.push,
            PULL_REQUEST: self.pull,
            CONSIDER_REQUEST: self.consider,
            CONFIRM_WEBHOOK: self.confirm_webhook,
            RECONCILE: self.reconcile,
        }

    # -- reconciliation -----------------------------------------------------------------------------
    async def reconcile(self, job: Job) -> Commit | None:
        """Repair what missed webhooks left behind: list the requests Xurrent changed since the cursor (the newest
        ``updated_at`` the last pass processed, its second read again; without one, the oldest watched link's), pull
        the linked ones that may hold something warroom has not seen (``needs_pull``: a later stamp, or the same
        stamp read before its second was over), and consider the unlinked ones that would escalate by what the
        listing shows. The cursor moves to the newest stamp listed (sync/reconcile.py)."""
        async with self.store.read() as tx:
            linked = await tx.links.live_of_kind(LinkKind.XURRENT_REQUEST, tx.now - timedelta(days=RESOLVED_WATCH_DAYS))
            # the RFCs of post-incident tasks, on the same cursor (sync/rfc.py pulls them)
            rfcs = await tx.task_links.live(tx.now - timedelta(days=RESOLVED_WATCH_DAYS))
            cursor = await load_cursor(tx)
        known = {int(link.remote_id): link for link in linked}
        known_rfcs = {int(link.remote_id): link for link in rfcs}
        since = str(job.payload.get("since") or "") or cursor or oldest(
            [*(synced_mark(link.data)[0] for link in linked), *(synced_mark(link.data)[0] for link in rfcs)])
        if not since:
            return None
        pulls: list[tuple[int, int]] = []
        task_pulls: list[tuple[int, int]] = []
        considers: list[int] = []
        newest: str | None = since
        async for request in self.itsm.requests({"updated_at": f">={since}", "fields": LIST_FIELDS}):
            request_id = int(request["id"])
            newest = later(newest, str(request.get("updated_at") or "") or None)
            link = known.get(request_id)
            if link is not None:
                if needs_pull(request.get("updated_at"), link.data):
                    pulls.append((link.incident_id, request_id))
                continue
            rfc = known_rfcs.get(request_id)
            if rfc is not None:
                if needs_pull(request.get("updated_at"), rfc.data):
                    task_pulls.append((rfc.task_id, request_id))
                continue
            self.watch.remember(request_id, instance_of(request))
            if request.get("source") == self.settings.xurrent.source:
                continue  # warroom's own request (its link is being made, or its incident is no longer watched)
            svc = service_for_request(request, self.settings.services)
            if svc is not None and should_escalate(request, svc, self.settings.priorities)[0]:
                considers.append(request_id)

        async def commit(tx: Tx) -> None:
            for incident_id, request_id in pulls:
                await enqueue_pull(tx, incident_id, {"request_id": request_id, "event": "reconcile"})
            for task_id, request_id in task_pulls:
                await enqueue_task_pull(tx, task_id, {"request_id": request_id, "event": "reconcile"})
            for request_id in considers:
                if await tx.links.find(LinkKind.XURRENT_REQUEST, str(request_id)) is None:
                    await tx.outbox.enqueue(CONSIDER_REQUEST, {"request_id": request_id}, dedup_key=f"consider:{request_id}")
            await save_cursor(tx, newest)
            if pulls or task_pulls or considers:
                log.info("reconciliation: %d linked requests and %d task RFCs to pull, %d unlinked to check",
                         len(pulls), len(task_pulls), len(considers))

        return commit

    def unwatched(self, request_id: int) -> str | None:
        """Why a hint about this unlinked request needs no read — its service instance, remembered from a recent
        read, is one no warroom service escalates from — or None when it may need one (sync/watch.py)."""
        remembered, instance = self.watch.instance(request_id)
        if not remembered or escalates_from(instance, self.settings.services):
            return None
        where = f"service instance {instance}" if instance is not None else "no service instance"
        return (f"Xurrent request #{request_id} is on {where}, which no warroom service escalates from; "
                "nothing to read.")

    async def confirm_webhook(self, job: Job) -> Commit | None:
        await self.itsm.confirm_webhook(str(job.payload["callback"]))
        return None

    # -- escalation from the service desk ----------------------------------------------------------
    async def consider(self, job: Job) -> Commit | None:
        """An unlinked request changed: escalate it to a major incident if it meets its service's threshold. A
        webhook's hint about a request of a service warroom does not watch (remembered from a recent read) costs no
        read; a raised major-incident status is always read."""
        event = str(job.payload.get("event") or "")
        if event and event != "request.major-incident-status-changed":
            reason = self.unwatched(int(job.payload["request_id"]))
            if reason is not None:
                log.info("%s (%s)", reason, event)
                return None
        try:
            return await self.escalation(int(job.payload["request_id"]), actor=job.payload.get("person_name"))
        except NotFound:
            log.info("request %s named by a webhook does not exist (any more); nothing to escalate", job.payload["request_id"])
            return None

    async def escalation(self, request_id: int, *, actor: str | None, asked: bool = False) -> Commit | None:
        """Read the request and decide; returns the commit that declares and links, or None. Raises
        EscalationRefused (with the reason) when a responder asked for one that cannot be."""
        read_at = time.time()
        request = await self.itsm.get_request(request_id)
        self.watch.remember(request_id, instance_of(request))
        if request.get("source") == self.settings.xurrent.source:
            return None  # warroom's own request: linked to its incident, never escalated again
        svc = service_for_request(request, self.settings.services)
        if svc is None:
            if asked:
                raise EscalationRefused(
                    f"Xurrent request #{request_id} is on a service instance no service in warroom's catalog maps to "
                    "(services[].itsm.service_instance_id)."
                )
            return None
        ok, why = should_escalate(request, svc, self.settings.priorities, asked=asked)
        if not ok:
            if asked:
                raise EscalationRefused(f"Xurrent request #{request_id} cannot be escalated: {why}.")
            log.info("request %s not escalated: %s", request_id, why)
            return None
        member = request.get("member") or None
        member_email = await self.email_of(int(member["id"])) if isinstance(member, dict) and member.get("id") else None
        last_note_id = 0
        if svc.itsm.note_sync:
            notes = await self.itsm.list_notes(request_id)
            last_note_id = max((int(n["id"]) for n in notes), default=0)
        url = self.itsm.request_url(request_id)
        priorities = self.settings.priorities

        async def commit(tx: Tx) -> None:
            await tx.lock_key(f"escalate:{request_id}")
            if await tx.links.find(LinkKind.XURRENT_REQUEST, str(request_id)) is not None:
                return  # escalated already (a repeated hint, or a responder and the desk at once)
            priority = priority_from_impact(request.get("impact"), priorities, svc.itsm) or svc.itsm.severity_threshold
            incident = await tx.incidents.create(
                title=str(request.get("subject") or f"Xurrent request {request_id}"),
                service=svc.name,
                priority=priority,
                urgency=Urgency.HIGH if request.get("urgent") else Urgency.LOW,
                details=f"Escalated from Xurrent request #{request_id}: {why}.",
                assignee=member_email or svc.assignee,
                origin=Origin.ITSM,
            )
            theirs = request_values(request, lambda _id: member_email)
            shadow = Shadow(incident_values(incident), theirs)
            await tx.links.put(incident.id, LinkKind.XURRENT_REQUEST, str(request_id), url,
                               link_data(request, shadow, read_at=read_at, last_note_id=last_note_id))
            await tx.timeline.add(
                incident.id, "declared", f"{incident.ref} declared from Xurrent request #{request_id} ({why})",
                actor=actor, data={"request_id": request_id, "origin": "itsm"},
            )
            await self.on_declared(tx, incident, svc)
            if svc.itsm.direction == "bidirectional":
                await tx.outbox.enqueue(PUSH_REQUEST, incident_id=incident.id, ordering_key=f"itsm:{incident.id}",
                                        dedup_key=f"push:{incident.id}")

        return commit

    async def _load(self, job: Job) -> tuple[Incident, Link, ServiceSettings] | None:
        assert job.incident_id is not None
        async with self.store.read() as tx:
            incident = await tx.incidents.get(job.incident_id)
            link = await tx.links.get(job.incident_id, LinkKind.XURRENT_REQUEST)
        if incident is None or link is None:
            return None
        svc = self.settings.service(incident.service)
        if svc is None:
            return None
        return incident, link, svc

    async def member_ids(self, *emails: str | None) -> dict[str, int | None]:
        for email in {e for e in emails if e}:
            if email not in self._ids:
                person = await self.itsm.find_person(email)
                self._ids[email] = person.id if person else None
        return {e: self._ids[e] for e in emails if e}

    async def email_of(self, person_id: int) -> str | None:
        if person_id not in self._emails:
            person = await self.itsm.get_person(person_id)
            self._emails[person_id] = person.email if person else None
            if person is not None:
                self._ids[person.email] = person.id
        return self._emails[person_id]

    def _codec(self, svc: ServiceSettings, member_ids: dict[str, int | None]) -> Codec:
        return Codec(svc.itsm, self.settings.priorities, member_ids)

    # -- IMR → ITSM ---------------------------------------------------------------------------------
    async def push(self, job: Job) -> Commit | None:
        loaded = await self._load(job)
        if loaded is None:
            return None
        incident, link, svc = loaded
        if svc.itsm.direction == "itsm_to_imr":
            return None
        request_id = int(link.remote_id)
        shadow = Shadow.from_json(link.data.get("shadow"))
        ours = incident_values(incident)
        member_ids = await self.member_ids(ours["assignee"])
        writes, new_shadow = plan_push(ours, shadow, self._codec(svc, member_ids))
        request: dict[str, Any] | None = None
        if writes:
            reason = "duplicate" if incident.merged_into is not None else COMPLETION_REASON
            request = await self.itsm.update_request(request_id, request_patch(writes, member_ids, reason))
        pushed_notes: list[tuple[int, int, bool]] = []
        if svc.itsm.note_sync:
            async with self.store.read() as tx:
                pending = await tx.timeline.notes_to_push(incident.id)
                matched = await tx.timeline.itsm_note_ids(incident.id) if (pending and job.is_retry) else set()
            existing = await self.itsm.list_notes(request_id) if (pending and job.is_retry) else []
            me = await self.itsm.api_person_id() if existing else None
            for note in pending:
                internal = note_internal(note.get("data"), svc.itsm)
                # after a crash, a note of ours with the same text and visibility that no incident note claims yet
                # is this one
                taken = matched | {nid for _, nid, _ in pushed_notes}
                adopted = next(
                    (n for n in existing if n.get("text") == note["text"] and (n.get("person") or {}).get("id") == me
                     and bool(n.get("internal")) == internal and int(n["id"]) not in taken),
                    None,
                )
                note_id = (int(adopted["id"]) if adopted
                           else await self.itsm.add_note(request_id, note["text"], internal=internal))
                pushed_notes.append((int(note["id"]), note_id, internal))

        async def commit(tx: Tx) -> None:
            await tx.incidents.get(incident.id, lock=True)
            current = await tx.links.get(incident.id, LinkKind.XURRENT_REQUEST)
            data = dict(current.data if current else link.data)
            data["shadow"] = new_shadow.to_json()
            if request is not None:
                # The card's facts from the answer, but not its updated_at (nor what was seen): a desk change made
                # just before our write, whose webhook was lost, must still look new to reconciliation.
                data.update(card_facts(request))
            await tx.links.put(incident.id, LinkKind.XURRENT_REQUEST, link.remote_id, link.url, data)
            for event_id, note_id, internal in pushed_notes:
                await tx.timeline.merge_data(event_id, {"itsm_note_id": note_id, "itsm_internal": internal})
            if writes:
                shown = ", ".join(f"{k} → {v}" for k, v in request_patch(writes, member_ids).items())
                await tx.timeline.add(incident.id, "itsm_pushed", f"Xurrent request #{request_id} updated: {shown}",
                                      data={"fields": sorted(writes)})
            if request is not None and request.get("status") != link.data.get("status"):
                await self.on_changed(tx, incident, set(), [])

        return commit

    # -- ITSM → IMR ---------------------------------------------------------------------------------
    async def pull(self, job: Job) -> Commit | None:
        loaded = await self._load(job)
        if loaded is None:
            return None
        incident, link, svc = loaded
        if svc.itsm.direction == "imr_to_itsm":
            return None
        reads = pull_reads(str(job.payload.get("event") or ""))
        request_id = int(link.remote_id)
        if "request" not in reads:
            return await self._pull_notes(job, incident, link, svc) if svc.itsm.note_sync else None
        read_at = time.time()
        request = await self.itsm.get_request(request_id)
        member = request.get("member") or None
        theirs = request_values(request)
        if isinstance(member, dict) and member.get("id") is not None:
            theirs["assignee"] = await self.email_of(int(member["id"]))
        shadow = Shadow.from_json(link.data.get("shadow"))
        ours = incident_values(incident)
        member_ids = await self.member_ids(ours["assignee"], theirs["assignee"])
        plan = plan_pull(ours, theirs, shadow, self._codec(svc, member_ids),
                         incident_wins=svc.itsm.direction == "bidirectional")
        written: dict[str, Any] | None = None
        if plan.to_request and svc.itsm.direction == "bidirectional":
            written = await self.itsm.update_request(request_id, request_patch(plan.to_request, member_ids))
        new_notes: list[dict[str, Any]] = []
        last_note_id = int(link.data.get("last_note_id") or 0)
        if svc.itsm.note_sync and "notes" in reads:
            me = await self.itsm.api_person_id()
            for note in await self.itsm.list_notes(request_id):
                if int(note["id"]) > last_note_id and (note.get("person") or {}).get("id") != me:
                    new_notes.append(note)
                last_note_id = max(last_note_id, int(note["id"]))
        who = str(job.payload.get("person_name") or "someone in Xurrent")

        async def commit(tx: Tx) -> None:
            current = await tx.incidents.get(incident.id, lock=True)
            if current is None:
                return
            if current.version != incident.version:
                # the incident changed while we read Xurrent: plan again on the newest state
                await enqueue_pull(tx, incident.id, dict(job.payload))
                return
            lines: list[str] = []
            changed: set[str] = set()
            if plan.to_incident:
                try:
                    columns = column_changes(current, plan.to_incident, tx.now, self.settings.priorities, mirror=True)
                except RuleError as exc:
                    columns = {}
                    await tx.timeline.add(incident.id, "sync_skipped", f"Xurrent change not applied: {exc}")
                if columns:
                    updated = await tx.incidents.update(incident.id, **columns)
                    changed = {k for k in columns if k in CHANGEABLE}
                    for name in sorted(changed):
                        before, after = _show(getattr(current, name)), _show(getattr(updated, name))
                        text = f"{who} changed {name} in Xurrent: {before} → {after}"
                        await tx.timeline.add(incident.id, f"{name}_changed", text, actor=f"xurrent:{who}",
                                              data={"field": name, "from": before, "to": after, "origin": "itsm"})
                        lines.append(f"🔄 {text}")
                    current = updated
            if request.get("status") == "declined" and link.data.get("status") != "declined":
                lines.append(f"🔄 {who} declined Xurrent request #{request_id}; the incident is unchanged.")
            for conflict in plan.conflicts:
                await tx.timeline.add(
                    incident.id, "sync_conflict",
                    f"{conflict.field} was changed on both sides; the incident's {_show(conflict.incident_value)} "
                    f"wins over Xurrent's {_show(conflict.request_value)}",
                    data={"field": conflict.field},
                )
                if self.on_conflict is not None:
                    self.on_conflict(conflict.field)
            lines.extend(await _record_notes(tx, incident.id, new_notes, who))
            fresh = written or request
            data = link_data(fresh, plan.shadow, read_at=read_at, last_note_id=last_note_id)
            # what was read, not what our write-back answered: a desk change between the two is not applied yet
            data["updated_at"] = data["synced_at"] = request.get("updated_at")
            if svc.itsm.note_sync and "notes" not in reads:
                # the request alone was read: its notes are known only as far as before (a note whose hint was
                # lost moved updated_at too, and must still look unseen to reconciliation)
                stored = await tx.links.get(incident.id, LinkKind.XURRENT_REQUEST)
                data["synced_at"], data["synced_read_at"] = synced_mark((stored or link).data)
            await tx.links.put(incident.id, LinkKind.XURRENT_REQUEST, link.remote_id, link.url, data)
            status_moved = fresh.get("status") != link.data.get("status")
            if changed or lines or status_moved:
                await self.on_changed(tx, current, changed, lines)

        return commit


    async def _pull_notes(self, job: Job, incident: Incident, link: Link, svc: ServiceSettings) -> Commit | None:
        """A ``request.note-added`` hint: one read (the notes), the request itself untouched. The notes are now
        known up to the last read of the request (made before this job): ``synced_at`` moves up to it."""
        request_read = read_mark(link.data)
        me = await self.itsm.api_person_id()
        notes = await self.itsm.list_notes(int(link.remote_id))
        who = str(job.payload.get("person_name") or "someone in Xurrent")

        async def commit(tx: Tx) -> None:
            if await tx.incidents.get(incident.id, lock=True) is None:
                return
            current = await tx.links.get(incident.id, LinkKind.XURRENT_REQUEST)
            if current is None or current.remote_id != link.remote_id:
                return
            cursor = int(current.data.get("last_note_id") or 0)
            new_notes = [n for n in notes if int(n["id"]) > cursor and (n.get("person") or {}).get("id") != me]
            last_note_id = max([cursor, *(int(n["id"]) for n in notes)])
            lines = await _record_notes(tx, incident.id, new_notes, who)
            data = {**current.data, "last_note_id": last_note_id}
            data["synced_at"], data["synced_read_at"] = newer_mark(synced_mark(current.data), request_read)
            if data != current.data:
                await tx.links.put(incident.id, LinkKind.XURRENT_REQUEST, current.remote_id, current.url, data)
            if lines:
                fresh = await tx.incidents.get(incident.id)
                assert fresh is not None
                await self.on_changed(tx, fresh, set(), lines)

        return commit


#: What a pull reads, by the hint that asked for it.
_NOTES_ONLY = frozenset({"notes"})
_REQUEST_ONLY = frozenset({"request"})
_BOTH = frozenset({"request", "notes"})


def pull_reads(event: str) -> frozenset[str]:
    """The reads a hint needs: a note event reads the notes, another request event the request; anything else
    (reconciliation, an unknown hint) both."""
    if event == "request.note-added":
        return _NOTES_ONLY
    if event.startswith("request."):
        return _REQUEST_ONLY
    return _BOTH


async def enqueue_pull(tx: Tx, incident_id: int, hint: dict[str, Any]) -> None:
    """Queue a pull for a hint; hints needing the same reads coalesce into one pending job, and every pull of an
    incident runs in order with its other ITSM jobs."""
    reads = "+".join(sorted(pull_reads(str(hint.get("event") or ""))))
    await tx.outbox.enqueue(PULL_REQUEST, hint, incident_id=incident_id, ordering_key=f"itsm:{incident_id}",
                            dedup_key=f"pull:{incident_id}:{reads}")


async def enqueue_task_pull(tx: Tx, task_id: int, hint: dict[str, Any]) -> None:
    """Queue a pull of a task's RFC (sync/rfc.py) for a hint: coalesced as an incident's pulls are, in order with
    the task's other RFC jobs, and carrying the task's incident (a buried job is said in its war room)."""
    reads = "+".join(sorted(pull_reads(str(hint.get("event") or ""))))
    task = await tx.task_links.task(task_id)
    await tx.outbox.enqueue(TASK_RFC_PULL, {**hint, "task": task_id},
                            incident_id=int(task["incident_id"]) if task else None, ordering_key=f"task:{task_id}",
                            dedup_key=f"task-pull:{task_id}:{reads}")


async def _record_notes(tx: Tx, incident_id: int, notes: list[dict[str, Any]], who: str) -> list[str]:
    """Xurrent's new notes on the incident's timeline, with their visibility; returns the war-room lines that tell
    of them — an internal note (agents only) or a public one (the requester reads it too) says which."""
    lines: list[str] = []
    for note in notes:
        author = str((note.get("person") or {}).get("name") or who)
        internal = bool(note.get("internal"))
        await tx.timeline.add(incident_id, "note", str(note.get("text") or ""), actor=f"xurrent:{author}",
                              data={"origin": "itsm", "itsm_note_id": int(note["id"]), "internal": internal})
        kind = "internal note" if internal else "public note"
        lines.append(f"📝 Note from {author} in Xurrent ({kind}): {note.get('text') or ''}")
    return lines


def _show(value: object) -> str:
    if value is None:
        return "none"
    return str(getattr(value, "value", value))
