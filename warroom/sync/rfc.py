"""Post-incident tasks as Xurrent RFCs: the outbox handlers that create a task's RFC and carry changes both ways.

The same engine as the incident's request (sync/engine.py), with the RFC's field table (sync/rfc_mapping.py):
- the same **shadow** and conflict rule (sync/plan.py's ``plan_push``/``plan_pull`` over ``RFC_FIELDS``): the
  task wins a conflict, as the incident does;
- the same **echo suppression**: the webhook edge drops deliveries made by warroom's API user before routing
  (web/itsm_webhook.py), notes written by it are never pulled back, and our writes come back equal to the shadow;
- **one read / one write per change**: ``itsm.task_push`` (coalesced per task) PATCHes only fields that do not
  agree, then the task's new notes; ``itsm.task_pull`` reads what its hint says moved (``pull_reads``);
- the same **reconciliation** pass and cursor (``SyncEngine.reconcile`` lists the task RFCs' links too and queues
  ``itsm.task_pull`` with the marks of sync/reconcile.py), the same person caches and the same idempotent create
  (``source``/``sourceID`` = ``task-<id>``, looked up before creating again on a retry).

What the task's change means to people is said through ``on_changed`` (the composition root's: lines in the
incident's war room, the card) — the sync imports no chat or response code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from warroom.adapters.errors import Permanent
from warroom.core.jobs import TASK_RFC_PULL, TASK_RFC_PUSH
from warroom.core.model import LinkKind
from warroom.core.tasks import TaskStatus, label
from warroom.settings import ServiceSettings, Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job
from warroom.store.tasks import TaskLink

from .engine import SyncEngine, enqueue_task_pull, link_data, pull_reads
from .plan import Shadow, plan_pull, plan_push
from .reconcile import newer_mark, read_mark, synced_mark
from .rfc_mapping import (
    RFC_FIELDS,
    Origin,
    RfcCodec,
    first_note,
    rfc_direction,
    rfc_fields,
    rfc_note_sync,
    rfc_patch,
    rfc_values,
    task_note_internal,
    task_source_id,
    task_values,
)

log = logging.getLogger("warroom.sync.rfc")

#: Called in the transaction that changed a task from Xurrent's side (or linked its RFC): (tx, incident id,
#: task id, lines to say in the incident's war room).
TaskChanged = Callable[[Tx, int, int, list[str]], Awaitable[None]]

CODEC = RfcCodec()


@dataclass
class RfcSync:
    engine: SyncEngine
    on_changed: TaskChanged

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    @property
    def store(self) -> Store:
        return self.engine.store

    def handlers(self) -> dict[str, Handler]:
        return {TASK_RFC_PUSH: self.push, TASK_RFC_PULL: self.pull}

    async def _load(self, job: Job) -> tuple[dict[str, Any], TaskLink | None, ServiceSettings] | None:
        task_id = int(job.payload["task"])
        async with self.store.read() as tx:
            task = await tx.task_links.task(task_id)
            link = await tx.task_links.get(task_id)
            incident = await tx.incidents.get(int(task["incident_id"])) if task else None
        if task is None or incident is None:
            return None
        svc = self.settings.service(incident.service)
        if svc is None or not svc.itsm.enabled:
            return None
        return task, link, svc

    # -- IMR → ITSM ---------------------------------------------------------------------------------
    async def push(self, job: Job) -> Commit | None:
        loaded = await self._load(job)
        if loaded is None:
            return None
        task, link, svc = loaded
        if rfc_direction(svc.itsm) == "itsm_to_imr":
            return None
        if link is None:
            if task["status"] == TaskStatus.PROPOSED:
                return None  # a recommendation nobody took: no RFC
            return await self._create(job, task, svc)
        request_id = int(link.remote_id)
        shadow = Shadow.from_json(link.data.get("shadow"))
        writes, new_shadow = plan_push(task_values(task), shadow, CODEC, RFC_FIELDS)
        request: dict[str, Any] | None = None
        if writes:
            request = await self.engine.itsm.update_request(request_id, rfc_patch(writes, str(task["status"])))
        pushed: list[tuple[int, int]] = []
        if rfc_note_sync(svc.itsm):
            internal = task_note_internal(svc.itsm)
            async with self.store.read() as tx:
                pending = await tx.task_notes.to_push(int(task["id"]))
                claimed = {int(n["remote_id"]) for n in await tx.task_notes.of_task(int(task["id"]))
                           if n["origin"] == "imr" and n["remote_id"]} if (pending and job.is_retry) else set()
            existing = await self.engine.itsm.list_notes(request_id) if (pending and job.is_retry) else []
            me = await self.engine.itsm.api_person_id() if existing else None
            for note in pending:
                # after a crash, a note of ours with the same text that no task note claims yet is this one
                taken = claimed | {nid for _, nid in pushed}
                adopted = next((n for n in existing if n.get("text") == note["text"] and int(n["id"]) not in taken
                                and (n.get("person") or {}).get("id") == me), None)
                note_id = (int(adopted["id"]) if adopted
                           else await self.engine.itsm.add_note(request_id, str(note["text"]), internal=internal))
                pushed.append((int(note["id"]), note_id))
        task_id = int(task["id"])

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(int(task["incident_id"]))  # the incident's lock first, as every task change takes
            current = await tx.task_links.get(task_id)
            data = dict(current.data if current else link.data)
            data["shadow"] = new_shadow.to_json()
            if request is not None:
                data["status"] = request.get("status")
            await tx.task_links.put(task_id, link.remote_id, link.url, data)
            for note_id, remote in pushed:
                await tx.task_notes.pushed(note_id, str(remote))
            if writes:
                shown = ", ".join(f"{k} → {v}" for k, v in rfc_patch(writes, str(task["status"])).items())
                await tx.timeline.add(int(task["incident_id"]), "task_rfc_pushed",
                                      f"Xurrent RFC #{request_id} of task {task_id} updated: {shown}",
                                      data={"task": task_id, "fields": sorted(writes)})

        return commit

    async def _create(self, job: Job, task: dict[str, Any], svc: ServiceSettings) -> Commit | None:
        itsm = self.engine.itsm
        task_id = int(task["id"])
        request: dict[str, Any] | None = None
        if job.is_retry:
            request = await itsm.find_request_by_source(self.settings.xurrent.source, task_source_id(task_id))
        read_at = time.time()
        member_id: int | None = None
        if request is None:
            owner = task.get("owner")
            if owner:
                member_id = (await self.engine.member_ids(owner)).get(owner)
            async with self.store.read() as tx:
                incident = await tx.incidents.get(int(task["incident_id"]))
                links = await tx.links.all(int(task["incident_id"]))
            assert incident is not None
            inc_request = links.get(LinkKind.XURRENT_REQUEST)
            room = links.get(LinkKind.SLACK_CHANNEL) or links.get(LinkKind.TEAMS_CHANNEL)
            origin = Origin(incident.ref, incident.title, inc_request.remote_id if inc_request else None,
                            inc_request.url if inc_request else None, room.url if room else None)
            fields = rfc_fields(task, svc.itsm, source=self.settings.xurrent.source, member_id=member_id,
                                note=first_note(task, origin))
            try:
                request = await itsm.create_request(fields)
            except Permanent as exc:
                return self._refused(task, str(exc))
        request_id = int(request["id"])
        url = itsm.request_url(request_id)
        shadow = Shadow(task_values(task), rfc_values(request))
        data = link_data(request, shadow, read_at=read_at, last_note_id=0)
        incident_id = int(task["incident_id"])
        owner = task.get("owner")
        member = ""
        if owner and not (request.get("member") or member_id):
            member = f"; {owner} is not a person in Xurrent, so the RFC has no member"

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(incident_id)
            current = await tx.task_links.task(task_id, lock=True)
            if current is None:
                return
            await tx.task_links.put(task_id, str(request_id), url, data)
            title = str(task["title"])
            await tx.timeline.add(incident_id, "task_rfc_linked",
                                  f"Xurrent RFC #{request_id} created for the task “{title}”{member}",
                                  data={"task": task_id, "request_id": request_id})
            await self.on_changed(tx, incident_id, task_id,
                                  [f"📋 Xurrent RFC #{request_id} created for the post-incident task “{title}”{member}."])
            pending = await tx.task_notes.to_push(task_id)
            if int(current["version"]) != int(task["version"]) or pending:
                await tx.outbox.enqueue(TASK_RFC_PUSH, {"task": task_id}, incident_id=incident_id,
                                        ordering_key=f"task:{task_id}", dedup_key=f"task-push:{task_id}")

        return commit

    def _refused(self, task: dict[str, Any], reason: str) -> Commit:
        """Xurrent refused the RFC (a 422: e.g. no service instance that takes changes). The task stays as it is,
        without an RFC; its owner and the war room are told why, and the next change to the task tries again."""
        task_id, incident_id = int(task["id"]), int(task["incident_id"])
        owner = task.get("owner")
        text = (f"Xurrent refused the RFC for the task “{task['title']}”: {reason.rstrip('.')}. The task is kept; "
                "fix the cause (the service's `itsm.service_instance_id` must take changes), then change the task "
                "(its status, owner or a note) and warroom tries again.")

        async def commit(tx: Tx) -> None:
            await tx.timeline.add(incident_id, "task_rfc_refused", text, data={"task": task_id})
            await self.on_changed(tx, incident_id, task_id, [f"⚠️ {owner + ': ' if owner else ''}{text}"])

        return commit

    # -- ITSM → IMR ---------------------------------------------------------------------------------
    async def pull(self, job: Job) -> Commit | None:
        loaded = await self._load(job)
        if loaded is None:
            return None
        task, link, svc = loaded
        direction = rfc_direction(svc.itsm)
        if link is None or direction == "imr_to_itsm":
            return None
        itsm = self.engine.itsm
        request_id = int(link.remote_id)
        note_sync = rfc_note_sync(svc.itsm)
        reads = pull_reads(str(job.payload.get("event") or ""))
        if "request" not in reads and not note_sync:
            return None
        read_at = time.time()
        request: dict[str, Any] | None = None
        plan = None
        written: dict[str, Any] | None = None
        shadow = Shadow.from_json(link.data.get("shadow"))
        if "request" in reads:
            request = await itsm.get_request(request_id)
            plan = plan_pull(task_values(task), rfc_values(request), shadow, CODEC,
                             incident_wins=direction == "bidirectional", fields=RFC_FIELDS)
            if plan.to_request and direction == "bidirectional":
                written = await itsm.update_request(request_id, rfc_patch(plan.to_request, str(task["status"])))
        notes: list[dict[str, Any]] | None = None
        me: int | None = None
        if note_sync and "notes" in reads:
            me = await itsm.api_person_id()
            notes = await itsm.list_notes(request_id)
        who = str(job.payload.get("person_name") or "someone in Xurrent")
        task_id, incident_id = int(task["id"]), int(task["incident_id"])

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(incident_id)
            current = await tx.task_links.task(task_id, lock=True)
            stored = await tx.task_links.get(task_id)
            if current is None or stored is None or stored.remote_id != link.remote_id:
                return
            if int(current["version"]) != int(task["version"]):
                # the task changed while we read Xurrent: plan again on the newest state
                await enqueue_task_pull(tx, task_id, dict(job.payload))
                return
            data = dict(stored.data)
            lines: list[str] = []
            title = str(current["title"])
            if request is not None and plan is not None:
                values = {k: v for k, v in plan.to_incident.items() if v is not None and v != current.get(k)}
                if values:
                    updated = await tx.task_links.apply(task_id, values)
                    assert updated is not None
                    for name, value in sorted(values.items()):
                        if name == "status":
                            text = (f"{who} moved RFC #{request_id} in Xurrent: the task “{title}” is "
                                    f"{label(str(value))} (was {label(str(current['status']))})")
                        else:
                            text = f"{who} renamed RFC #{request_id} in Xurrent: the task “{title}” is now “{value}”"
                        await tx.timeline.add(incident_id, "task_changed", text, actor=f"xurrent:{who}",
                                              data={"task": task_id, "field": name, "to": value, "origin": "itsm"})
                        lines.append(f"🔄 {text}")
                    title = str(updated["title"])
                if request.get("status") == "declined" and stored.data.get("status") != "declined":
                    owner = current.get("owner")
                    text = (f"{who} declined RFC #{request_id} in Xurrent; the task “{title}” stays "
                            f"{label(str(current['status']))}.")
                    await tx.timeline.add(incident_id, "task_rfc_declined", text, actor=f"xurrent:{who}",
                                          data={"task": task_id, "owner": owner})
                    lines.append(f"🔄 {owner + ': ' if owner else ''}{text}")
                for conflict in plan.conflicts:
                    await tx.timeline.add(
                        incident_id, "sync_conflict",
                        f"The task “{title}” and its RFC #{request_id} both changed {conflict.field}; the task's "
                        f"{conflict.incident_value} wins over Xurrent's {conflict.request_value}",
                        data={"task": task_id, "field": conflict.field},
                    )
                fresh = written or request
                data.update(link_data(fresh, plan.shadow, read_at=read_at))
                data["updated_at"] = data["synced_at"] = request.get("updated_at")
                if note_sync and notes is None:
                    # the request alone was read: its notes are known only as far as before
                    data["synced_at"], data["synced_read_at"] = synced_mark(stored.data)
            elif notes is not None:
                data["synced_at"], data["synced_read_at"] = newer_mark(synced_mark(stored.data), read_mark(stored.data))
            if notes is not None:
                cursor = int(stored.data.get("last_note_id") or 0)
                for note in notes:
                    if int(note["id"]) <= cursor or (note.get("person") or {}).get("id") == me:
                        continue
                    author = str((note.get("person") or {}).get("name") or who)
                    text = str(note.get("text") or "")
                    if await tx.task_notes.add(task_id, text, f"xurrent:{author}", "itsm", str(note["id"])) is None:
                        continue  # there already
                    kind = "internal note" if note.get("internal") else "public note"
                    lines.append(f"📝 Note from {author} on RFC #{request_id} of the task “{title}” ({kind}): {text}")
                data["last_note_id"] = max([cursor, *(int(n["id"]) for n in notes)])
            await tx.task_links.put(task_id, stored.remote_id, stored.url, data)
            if lines:
                await self.on_changed(tx, incident_id, task_id, lines)

        return commit
