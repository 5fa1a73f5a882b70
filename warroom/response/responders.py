"""Working an incident together: roles, paging, stakeholders, merging duplicates, who may do what, and the
war-room conversation on the timeline. Each action is one transaction: the incident's records, its timeline,
and the outbox jobs for every outside effect (war-room line, card edit, notifications, the ITSM request)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from warroom.core import markup
from warroom.core.jobs import PAGE_NOTIFY, PAGE_REMIND, STAKEHOLDER_NOTIFY
from warroom.core.model import Incident, LinkKind, RoleHolder, Stakeholder, Status
from warroom.core.permissions import Asker, refusal
from warroom.core.rules import RuleError
from warroom.response import jobs
from warroom.response.ai import schedule as ai_schedule
from warroom.response.oncall import escalation, schedules
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.schema import tasks


@dataclass(frozen=True, slots=True)
class TaskAccepted:
    """The outcome of a click on "Create task": the task (None if there is none) and whether this click made it."""

    task: dict[str, Any] | None
    created: bool
    incident: Incident | None = None


@dataclass(frozen=True, slots=True)
class Merged:
    duplicate: Incident
    alerts: int
    notes: int


class ResponseService:
    def __init__(self, settings: Settings, store: Store, *, command: str = "/incident") -> None:
        self.settings = settings
        self.store = store
        self.command = command

    # -- who may do what ----------------------------------------------------------------------------
    async def check(self, verb: str, incident: Incident, asker: Asker) -> None:
        """Raise RuleError with the reason when ``asker`` may not run ``verb`` on the incident."""
        rules = self.settings.response.permissions
        if verb not in rules:
            return
        async with self.store.read() as tx:
            roles = await tx.roles.all(incident.id)
        reason = refusal(verb, asker, incident, roles, rules, self.settings.response.groups, command=self.command)
        if reason:
            raise RuleError(reason)

    async def roles(self, incident_id: int) -> dict[str, RoleHolder]:
        async with self.store.read() as tx:
            return await tx.roles.all(incident_id)

    # -- roles --------------------------------------------------------------------------------------
    async def assign_role(self, incident_id: int, holder: RoleHolder, label: str, *, actor: str) -> RoleHolder | None:
        """Give a role; the war room hears it, the card shows it, and the linked request gets it as a note."""
        async with self.store.tx() as tx:
            incident = await _locked(tx, incident_id)
            before = await tx.roles.assign(incident.id, holder, by=actor)
            if before is not None and before.display == holder.display and before.email == holder.email:
                return before
            who = f"{holder.display} ({holder.email})" if holder.email and holder.email != holder.display else holder.display
            text = f"{label}: {who}" + (f", taking over from {before.display}" if before else "")
            # kind "role" with origin imr: pushed to the linked request as a note, like the incident's notes
            await tx.timeline.add(incident.id, "role", text, actor=actor,
                                  data={"role": holder.role, "email": holder.email, "origin": "imr", "push": True})
            await jobs.say(tx, incident.id, f"🎖️ {text}")
            await jobs.refresh_card(tx, incident.id)
            await jobs.topic(tx, incident.id)
            await self._push_note(tx, incident)
            await ai_schedule.changed(tx, incident, {"role"})
            return before

    # -- paging -------------------------------------------------------------------------------------
    async def page(self, incident_id: int, people: list[tuple[str, str]], what: str, *, actor: str) -> list[str]:
        """Page people (email, display name) into the incident: they are invited to the war room and notified,
        and notified again every few minutes until the incident is acknowledged. Returns the newly paged emails."""
        if not people:
            raise RuleError(f"Nobody to page in {what}: it has no people configured.")
        async with self.store.tx() as tx:
            incident = await _locked(tx, incident_id)
            if incident.status is Status.RESOLVED:
                raise RuleError(f"{incident.ref} is resolved: reopen it before paging anyone.")
            new = [email for email, name in people if await tx.pages.add(incident.id, email, name, by=actor)]
            if not new:
                return []
            names = ", ".join(name for email, name in people if email in new)
            await tx.timeline.add(incident.id, "paged", f"Paged {names} ({what})", actor=actor,
                                  data={"emails": new})
            await jobs.say(tx, incident.id, f"📟 Paged {names} ({what}).")
            if self.settings.slack.enabled:  # Slack DMs them; in a Teams-only war room the line mentions them
                await tx.outbox.enqueue(PAGE_NOTIFY, {"emails": new}, incident_id=incident.id)
            if incident.status is Status.TRIGGERED and self.settings.slack.enabled:
                every = max(1, round(self.settings.response.page_repeat_minutes * 60))  # timers count in seconds
                await tx.timers.schedule(f"page:{incident.id}", PAGE_REMIND, delay=every, interval=every,
                                         incident_id=incident.id)
            return new

    async def page_policy(self, incident_id: int, policy: str, *, actor: str) -> bool:
        """Start paging an escalation policy for the incident; False when one is running or it is not triggered."""
        async with self.store.tx() as tx:
            incident = await _locked(tx, incident_id)
            return await escalation.start(tx, incident, self.settings, policy_name=policy, actor=actor)

    async def on_call_now(self, schedule: str) -> tuple[str, str] | None:
        """(email, name) of whoever is on call in the schedule now, or None."""
        async with self.store.read() as tx:
            email = await schedules.on_call(tx, self.settings, schedule, tx.now)
        if email is None:
            return None
        person = self.settings.oncall.person(email)
        return email, (person.name if person is not None and person.name else email)

    # -- stakeholders -------------------------------------------------------------------------------
    async def add_stakeholder(self, incident_id: int, who: Stakeholder, *, actor: str) -> bool:
        async with self.store.tx() as tx:
            incident = await _locked(tx, incident_id)
            if not await tx.stakeholders.add(incident.id, who, by=actor):
                return False
            await tx.timeline.add(incident.id, "stakeholder", f"{who.display} is kept informed", actor=actor,
                                  data={"kind": who.kind, "ref": who.ref})
            await jobs.say(tx, incident.id, f"📣 {who.display} will be kept informed of {incident.ref}.")
            if self.settings.slack.enabled:
                await tx.outbox.enqueue(STAKEHOLDER_NOTIFY, {"kind": who.kind, "ref": who.ref}, incident_id=incident.id)
            await jobs.refresh_card(tx, incident.id)
            return True

    # -- merging ------------------------------------------------------------------------------------
    async def merge(self, into_id: int, duplicate_id: int, *, actor: str) -> Merged:
        """Fold a duplicate into this incident: its alerts, notes, roles and stakeholders move here; it is resolved
        as merged, and its linked request is completed as a duplicate."""
        if into_id == duplicate_id:
            raise RuleError(f"INC-{into_id} cannot be merged into itself: name the duplicate incident's number.")
        async with self.store.tx() as tx:
            first, second = sorted((into_id, duplicate_id))  # lock in id order: no deadlock between two merges
            locked = {first: await tx.incidents.get(first, lock=True), second: await tx.incidents.get(second, lock=True)}
            into, dup = locked[into_id], locked[duplicate_id]
            if dup is None:
                raise RuleError(f"There is no incident {duplicate_id}: check the number (`{self.command} merge <number>`).")
            if into is None:
                raise RuleError(f"There is no incident {into_id}.")
            if into.merged_into is not None:
                raise RuleError(f"{into.ref} was merged into INC-{into.merged_into}: merge into that one instead.")
            if dup.merged_into is not None:
                raise RuleError(f"{dup.ref} was already merged into INC-{dup.merged_into}.")
            alert_ids = [a["id"] for a in await tx.alerts.for_incident(dup.id)]
            await tx.alerts.attach(alert_ids, into.id)
            notes = [e for e in await tx.timeline.for_incident(dup.id) if e.kind == "note"]
            for note in notes:
                await tx.timeline.add(into.id, "note", f"[{dup.ref}] {note.text}", actor=note.actor,
                                      data={"origin": "imr", "merged_from": dup.id})
            await tx.roles.move(dup.id, into.id)
            await tx.stakeholders.move(dup.id, into.id)
            before = dup
            dup = await tx.incidents.update(dup.id, merged_into=into.id, alert_group=None, status=Status.RESOLVED.value,
                                            resolved_at=dup.resolved_at or tx.now)
            request = await tx.links.get(dup.id, LinkKind.XURRENT_REQUEST)
            shown = f" (its Xurrent request #{request.remote_id} is completed as a duplicate)" if request else ""
            await tx.timeline.add(into.id, "merged", f"{dup.ref} merged into this incident{shown}: {dup.title}",
                                  actor=actor, data={"incident": dup.id, "request": request.remote_id if request else None,
                                                     "request_url": request.url if request else None})
            await tx.timeline.add(dup.id, "merged_into", f"Merged into {into.ref} as a duplicate", actor=actor,
                                  data={"incident": into.id})
            await tx.timeline.add(dup.id, "note", f"Duplicate of {into.ref}: {into.title}", actor=actor,
                                  data={"origin": "imr"})
            await tx.timers.cancel(f"page:{dup.id}")
            await jobs.say(tx, dup.id, f"🔀 {dup.ref} was merged into {into.ref} as a duplicate: continue there.")
            await jobs.say(tx, into.id, f"🔀 {dup.ref} merged into {into.ref}: {len(alert_ids)} alerts and "
                                        f"{len(notes)} notes moved{shown}.")
            fields = {"status"} if before.status is not Status.RESOLVED else set()
            await jobs.incident_changed(tx, dup, fields | {"merged"}, self.settings)
            await jobs.refresh_card(tx, into.id)
            await self._push_note(tx, into)
            return Merged(dup, len(alert_ids), len(notes))

    # -- post-incident tasks ------------------------------------------------------------------------
    async def accept_task(self, task_id: int, *, actor: str, mention: str) -> TaskAccepted:
        """A recommended follow-up action becomes a post-incident task (proposed → To Do) — once, however many
        clicks: decided under the incident's lock."""
        async with self.store.tx() as tx:
            row = (await tx.conn.execute(select(tasks).where(tasks.c.id == task_id))).mappings().first()
            if row is None:
                return TaskAccepted(None, False)
            incident = await _locked(tx, int(row["incident_id"]))
            task = dict((await tx.conn.execute(select(tasks).where(tasks.c.id == task_id))).mappings().one())
            if task["status"] != "proposed":
                return TaskAccepted(task, False, incident)
            task = await tx.records.update_task(task_id, status="todo") or task
            await tx.timeline.add(incident.id, "task", f"Post-incident task created: {task['title']}", actor=actor,
                                  data={"task": task_id})
            await jobs.task_changed(tx, task_id, self.settings)
            await jobs.task_card_changed(tx, task_id)
            await jobs.say(tx, incident.id, f"✅ {mention} created the post-incident task “{markup.escape(task['title'])}”.",
                           escaped=True)
            return TaskAccepted(task, True, incident)

    async def announce(self, incident_id: int, text: str, *, keep: Sequence[str] = ()) -> None:
        """A line in the war room, through the outbox (in order, within the chat's posting limits). The text is
        escaped, all but the markup in ``keep`` (the mention of the person who acted, which warroom wrote)."""
        safe = markup.escape(text)
        for kept in keep:
            safe = safe.replace(markup.escape(kept), kept)
        async with self.store.tx() as tx:
            await jobs.say(tx, incident_id, safe, escaped=True)

    # -- the war-room conversation ------------------------------------------------------------------
    async def record_message(self, incident_id: int, source_key: str, text: str, *, actor: str) -> bool:
        """A war-room message as discussion on the timeline (what the AI and the postmortem read); once per key."""
        text = text.replace("\x00", "").strip()
        if not text:
            return False
        async with self.store.tx() as tx:
            return await tx.timeline.record_message(incident_id, source_key, text[:40_000], actor=actor)

    async def edit_message(self, source_key: str, text: str) -> bool:
        async with self.store.tx() as tx:
            return await tx.timeline.edit_message(source_key, text.replace("\x00", "").strip()[:40_000])

    async def delete_message(self, source_key: str) -> bool:
        async with self.store.tx() as tx:
            return await tx.timeline.delete_message(source_key)

    async def _push_note(self, tx: Tx, incident: Incident) -> None:
        svc = self.settings.service(incident.service)
        if svc is not None and svc.itsm.note_sync:
            await jobs.push_to_itsm(tx, incident, self.settings)


async def _locked(tx: Tx, incident_id: int) -> Incident:
    incident = await tx.incidents.get(incident_id, lock=True)
    if incident is None:
        raise RuleError(f"There is no incident {incident_id}.")
    return incident
