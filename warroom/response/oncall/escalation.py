"""Escalations: an incident's policy run step by step on durable outbox jobs until someone acknowledges.

- :func:`start` (in the transaction that declares the incident, or pages a policy) keeps the policy's snapshot on
  the incident and queues step 0.
- :class:`Escalations` ``.step`` runs one step: resolves its targets at that instant, plans each person's
  notifications by their rules (each a job due ``after_minutes`` later), pages them into the war room, and queues
  the next step ``wait_minutes`` ahead — all in one transaction that also moves the escalation on, so a step job
  that runs again (after a crash, or on two processes) finds the escalation elsewhere and does nothing.
- :func:`stop` (in the transaction that acknowledges or resolves the incident) ends it and cancels what has not
  gone out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from warroom.core import markup
from warroom.core.jobs import ONCALL_NOTIFY, ONCALL_STEP
from warroom.core.model import Incident, Status
from warroom.oncall.policy import METHODS, EscalationPolicy, Method, Person, Step, round_robin_pick, rules_for
from warroom.response import jobs
from warroom.response.oncall import schedules
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job

log = logging.getLogger("warroom.oncall")

#: Looks up the members of a chat's user group: ("slack" | "teams", group id or handle) → (email, name) pairs, or
#: None when the group cannot be read. Given by the composition root (the response layer imports no chat).
GroupMembers = Callable[[str, str], Awaitable[list[tuple[str, str]] | None]]


async def start(tx: Tx, incident: Incident, settings: Settings, *, policy_name: str | None = None,
                actor: str | None = None) -> bool:
    """Start paging the incident's escalation policy (its service's, or ``policy_name``); False when there is none,
    or the incident has a running escalation already. A resolved-then-reopened incident starts again at step 1."""
    svc = settings.service(incident.service)
    name = policy_name or (svc.escalation_policy if svc is not None else None)
    policy = settings.oncall.policy(name) if name else None
    if policy is None or incident.status is not Status.TRIGGERED:
        return False
    esc_id = await tx.escalations.restart(incident.id, policy.name, policy.snapshot(), incident.urgency.value)
    if esc_id is None:
        return False
    row = await tx.escalations.by_id(esc_id)
    assert row is not None
    await tx.timeline.add(incident.id, "escalation_started",
                          f"Paging escalation policy {policy.name} ({incident.urgency.value} urgency)",
                          actor=actor, data={"policy": policy.name, "urgency": incident.urgency.value})
    first = policy.steps[0]
    if first.notify.slack_groups or first.notify.teams_groups:  # reading a chat's group is I/O: a job does it
        await tx.outbox.enqueue(ONCALL_STEP, {"escalation": esc_id, "round": int(row["round"]), "step": 0},
                                incident_id=incident.id)
    else:  # the first pages are planned in the transaction that declares: no trip through the queue
        await Escalations(settings, None, methods=available_methods(settings)).apply(
            tx, esc_id, int(row["round"]), 0, policy, {})
    return True


def available_methods(settings: Settings) -> frozenset[str]:
    """The methods pages can go by with this configuration: chat (Slack or Teams), email (``smtp.host``), SMS and
    calls (``twilio.enabled``)."""
    methods = set()
    if (settings.slack.enabled and settings.slack.bot_token is not None) or settings.teams.enabled:
        methods.add("chat")
    if settings.smtp.host:
        methods.add("email")
    if settings.twilio.enabled:
        methods |= {"sms", "voice"}
    return frozenset(methods)


async def stop(tx: Tx, incident: Incident, *, by: str | None = None) -> bool:
    """End the incident's escalation (acknowledged, or resolved) and cancel its notifications not yet sent."""
    state = "resolved" if incident.status is Status.RESOLVED else "acknowledged"
    ended = await tx.escalations.end(incident.id, state, by=by)
    await tx.notifications.cancel_pending(incident.id)
    return ended


@dataclass(frozen=True, slots=True)
class Target:
    email: str
    name: str


@dataclass
class Escalations:
    """The step job's handler."""

    settings: Settings
    store: Store | None
    group_members: GroupMembers | None = None
    #: Methods that can send (transports configured); the others are left out of every plan.
    methods: frozenset[str] = field(default_factory=lambda: frozenset(METHODS))

    def handlers(self) -> dict[str, Handler]:
        return {ONCALL_STEP: self.step}

    async def step(self, job: Job) -> Commit | None:
        esc_id, round_, step_i = int(job.payload["escalation"]), int(job.payload["round"]), int(job.payload["step"])
        assert self.store is not None
        async with self.store.read() as tx:
            esc = await tx.escalations.by_id(esc_id)
        if esc is None or esc["state"] != "active" or (esc["round"], esc["step"]) != (round_, step_i):
            return None  # stale: the escalation ended or moved on (a step run twice)
        policy = EscalationPolicy.from_snapshot(esc["snapshot"])
        if step_i >= len(policy.steps):
            return self._exhausted(esc, policy)
        step = policy.steps[step_i]
        # chat groups are read before the transaction (I/O); everything else is decided inside it
        from_groups = await self._chat_groups(step)

        async def commit(tx: Tx) -> None:
            await self.apply(tx, esc_id, round_, step_i, policy, from_groups)

        return commit

    async def apply(self, tx: Tx, esc_id: int, round_: int, step_i: int, policy: EscalationPolicy,
                    from_groups: dict[str, list[tuple[str, str]] | None]) -> None:
        """Run one step in ``tx``: plan its pages, say so, and queue the next step — unless the escalation has
        ended or moved on (checked under its row's lock), so that a step run twice does nothing the second time."""
        step = policy.steps[step_i]
        row = await tx.escalations.by_id(esc_id, lock=True)
        if row is None or row["state"] != "active" or (row["round"], row["step"]) != (round_, step_i):
            return
        incident = await tx.incidents.get(int(row["incident_id"]), lock=True)
        if incident is None or incident.status is not Status.TRIGGERED:
            if incident is not None:
                await stop(tx, incident)
            return
        people = await self._targets(tx, policy, step_i, step, from_groups)
        planned = 0
        for target in people:
            planned += await self._plan(tx, incident, esc_id, round_, step_i, target, str(row["urgency"]))
        await self._paged_line(tx, incident, policy, round_, step_i, people, planned)
        next_step, next_round = step_i + 1, round_
        if next_step >= len(policy.steps) and round_ < _last_round(row, policy):
            next_step, next_round = 0, round_ + 1
        await tx.escalations.move(esc_id, step=next_step, round=next_round)
        await tx.outbox.enqueue(ONCALL_STEP, {"escalation": esc_id, "round": next_round, "step": next_step},
                                incident_id=incident.id, delay=step.wait_minutes * 60)

    def _exhausted(self, esc: dict[str, Any], policy: EscalationPolicy) -> Commit:
        async def commit(tx: Tx) -> None:
            incident_id = int(esc["incident_id"])
            if not await tx.escalations.end(incident_id, "exhausted", reason="nobody acknowledged"):
                return
            incident = await tx.incidents.get(incident_id)
            ref = incident.ref if incident else f"INC-{incident_id}"
            rounds = policy.repeat + 1
            line = (f"🚨 Nobody acknowledged {ref}: escalation policy {markup.escape(policy.name)} ran "
                    f"{rounds} time{'s' if rounds > 1 else ''} through its {len(policy.steps)} "
                    f"step{'s' if len(policy.steps) > 1 else ''}. Page someone with `page`, or acknowledge it.")
            await tx.timeline.add(incident_id, "escalation_exhausted", f"Escalation policy {policy.name} exhausted",
                                  data={"policy": policy.name})
            await jobs.say(tx, incident_id, line, escaped=True)  # in warroom's markup
            await jobs.announce(tx, self.settings, line, incident_id=incident_id, room=True)

        return commit

    async def _chat_groups(self, step: Step) -> dict[str, list[tuple[str, str]] | None]:
        found: dict[str, list[tuple[str, str]] | None] = {}
        for chat, groups in (("slack", step.notify.slack_groups), ("teams", step.notify.teams_groups)):
            for group in groups:
                members = None
                if self.group_members is not None:
                    members = await self.group_members(chat, group)
                found[f"{chat}:{group}"] = members
        return found

    async def _targets(self, tx: Tx, policy: EscalationPolicy, step_i: int, step: Step,
                       from_groups: dict[str, list[tuple[str, str]] | None]) -> list[Target]:
        """The step's people at this instant, each once, in the order the step names them."""
        found: dict[str, str] = {}
        for email in step.notify.users:
            found.setdefault(email, self._name(email))
        for name in step.notify.schedules:
            on_call = await schedules.on_call(tx, self.settings, name, tx.now)
            if on_call:
                found.setdefault(on_call, self._name(on_call))
        for group in step.notify.groups:
            for email in self.settings.response.groups.get(group.strip().lower(), []):
                found.setdefault(email, self._name(email))
        for members in from_groups.values():
            for email, name in members or []:
                found.setdefault(email.lower(), name or self._name(email))
        emails = list(found)
        if step.round_robin and emails:
            emails = round_robin_pick(emails, await tx.turns.take(f"{policy.name}:{step_i}"))
        return [Target(e, found[e]) for e in emails]

    def _name(self, email: str) -> str:
        person = self.settings.oncall.person(email)
        return person.name if person is not None and person.name else email

    async def _plan(self, tx: Tx, incident: Incident, esc_id: int, round_: int, step_i: int, target: Target,
                    urgency: str) -> int:
        """Each of the person's rules for the urgency becomes a notification job due at its time; the number
        planned (0: this person cannot be reached by any configured method)."""
        person = self.settings.oncall.person(target.email) or Person(email=target.email)
        rules = rules_for(person, "high" if urgency == "high" else "low", self.settings.oncall.default_rules)
        usable: list[tuple[Method, str, float]] = []
        for rule in rules:
            address = person.address(rule.method)
            if rule.method in self.methods and address:
                usable.append((rule.method, address, rule.after_minutes))
        if not usable and "chat" in self.methods:
            usable = [("chat", person.email, 0.0)]  # nobody goes unpaged for want of rules: chat, at once
        await tx.pages.add(incident.id, target.email, target.name, by="escalation")
        planned = 0
        for method, address, minutes in usable:
            nid = await tx.notifications.plan(
                incident_id=incident.id, escalation_id=esc_id, round=round_, step=step_i, email=target.email,
                method=method, address=address, due_at=tx.now + timedelta(minutes=minutes))
            if nid is not None:
                planned += 1
                await tx.outbox.enqueue(ONCALL_NOTIFY, {"notification": nid}, incident_id=incident.id,
                                        delay=minutes * 60)
        return planned

    async def _paged_line(self, tx: Tx, incident: Incident, policy: EscalationPolicy, round_: int, step_i: int,
                          people: list[Target], planned: int) -> None:
        where = f"step {step_i + 1} of {markup.escape(policy.name)}" + (f", round {round_ + 1}" if round_ else "")
        if not people or not planned:
            line = (f"⚠️ Escalation {where} found nobody to page (an empty schedule or group, or no way to reach "
                    "them). It moves on to the next step; page someone with `page` meanwhile.")
            await tx.timeline.add(incident.id, "escalation_unreachable", f"Escalation {where}: nobody to page",
                                  data={"policy": policy.name, "step": step_i, "round": round_})
            await jobs.say(tx, incident.id, line, escaped=True)
            await jobs.announce(tx, self.settings, f"⚠️ {incident.ref}: escalation {where} found nobody to page.",
                                incident_id=incident.id, room=True)
            return
        names = ", ".join(markup.escape(p.name) for p in people)
        await tx.timeline.add(incident.id, "paged", f"Paged {', '.join(p.name for p in people)} ({where})",
                              actor="escalation", data={"emails": [p.email for p in people], "step": step_i,
                                                        "round": round_, "policy": policy.name})
        await jobs.say(tx, incident.id, f"📟 Paging {names} ({where}) until someone acknowledges.", escaped=True)


def _last_round(row: dict[str, Any], policy: EscalationPolicy) -> int:
    """The last round this escalation runs: rounds count on across restarts of a reopened incident."""
    return int(row["first_round"]) + policy.repeat
