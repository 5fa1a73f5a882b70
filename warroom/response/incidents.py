"""Applies commands to incidents: one transaction changes the incident, appends to its timeline and enqueues
the outbox jobs for every outside effect (the war-room fan-out, the ITSM request, the bridge, war-room lines)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError, IntegrityError

from warroom.core import intake
from warroom.core.intake import AlertAction
from warroom.core.model import AlertIn, AlertStatus, Incident, Link, LinkKind, Origin, Status, Urgency
from warroom.core.rules import CHANGEABLE, RuleError, check_transition, column_changes, severity_to_priority
from warroom.response import jobs, related
from warroom.settings import ServiceSettings, Settings
from warroom.store.db import Store, Tx

log = logging.getLogger("warroom.incidents")

#: Alerts applied per transaction.
CHUNK = 100


def _retryable(exc: DBAPIError) -> bool:
    """A lost race worth applying again: a unique rule, a deadlock, a serialisation failure."""
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in ("40P01", "40001")


@dataclass
class AlertOutcome:
    fingerprint: str
    result: str
    incident: int | None = None
    note: str | None = None


@dataclass
class IntakeResult:
    outcomes: list[AlertOutcome] = field(default_factory=list)

    @property
    def incidents(self) -> list[int]:
        return sorted({o.incident for o in self.outcomes if o.incident is not None})


class IncidentService:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    # -- declaring ----------------------------------------------------------------------------------
    async def declare(
        self,
        *,
        service: str,
        title: str,
        priority: str | None,
        details: str = "",
        origin: Origin = Origin.CHAT,
        actor: str | None = None,
        urgency: Urgency | None = None,
    ) -> Incident:
        svc = self._service(service)
        async with self.store.tx() as tx:
            return await self._declare(
                tx, svc, title=title, priority=priority, details=details, origin=origin, actor=actor, urgency=urgency
            )

    async def _declare(
        self,
        tx: Tx,
        svc: ServiceSettings,
        *,
        title: str,
        priority: str | None,
        details: str,
        origin: Origin,
        actor: str | None,
        urgency: Urgency | None = None,
        alert_group: str | None = None,
    ) -> Incident:
        prios = self.settings.priorities
        incident = await tx.incidents.create(
            title=title,
            service=svc.name,
            priority=priority,
            urgency=urgency or intake.urgency_for(priority, prios),
            details=details,
            assignee=svc.assignee,
            origin=origin,
            alert_group=alert_group,
        )
        who = actor or origin.value
        await tx.timeline.add(
            incident.id,
            "declared",
            f"{incident.ref} declared by {who}: {incident.title} ({priority or 'no priority'})",
            actor=actor,
            data={"priority": priority, "service": svc.name, "origin": origin.value},
        )
        await jobs.enqueue_fanout(tx, incident, svc, self.settings)
        return incident

    async def links(self, incident_id: int) -> dict[LinkKind, Link]:
        async with self.store.read() as tx:
            return await tx.links.all(incident_id)

    async def listing(
        self, *, open_only: bool = False, service: str | None = None, limit: int = 100
    ) -> list[tuple[Incident, dict[LinkKind, Link]]]:
        """Incidents, the newest first, each with its links (read in one transaction): ``open_only``, those not
        resolved; ``service``, those of one service."""
        async with self.store.read() as tx:
            found = await tx.incidents.list(limit=limit, open_only=open_only, service=service)
            return [(incident, await tx.links.all(incident.id)) for incident in found]

    async def incident_for_link(self, kind: LinkKind, remote_id: str) -> Incident | None:
        """The incident an outside record (e.g. a war-room channel) belongs to."""
        async with self.store.read() as tx:
            link = await tx.links.find(kind, remote_id)
            return await tx.incidents.get(link.incident_id) if link else None

    # -- changing -----------------------------------------------------------------------------------
    async def change(
        self, incident_id: int, *, actor: str | None, strict: bool = False, note: str | None = None, **changes: object
    ) -> Incident:
        """Change fields of an incident (title, status, priority, urgency, assignee) in one transaction: the
        incident, its timeline, and the outbox (card, topic, the linked request). Raises RuleError with a sentence
        when the change is not allowed — with ``strict``, also when the status is that already (decided under the
        incident's lock, so that two clicks at once apply once and the second is told). A ``note`` is added in the
        same transaction, after the checks: a refused change adds nothing."""
        note = _note_text(note) if note is not None else None
        async with self.store.tx() as tx:
            incident = await tx.incidents.get(incident_id, lock=True)
            if incident is None:
                raise RuleError(f"There is no incident {incident_id}.")
            if strict and "status" in changes:
                target = Status(str(changes["status"]))
                if target is Status.TRIGGERED and incident.status is not Status.RESOLVED:
                    raise RuleError(
                        f"{incident.ref} is {incident.status.value}, not resolved: only a resolved incident can be reopened."
                    )
                check_transition(incident.status, target)
            columns = column_changes(incident, dict(changes), tx.now, self.settings.priorities)
            if note:
                await self._note(tx, incident, note, actor)
            if not columns:
                return incident
            updated = await tx.incidents.update(incident_id, **columns)
            fields = {k for k in columns if k in CHANGEABLE}
            for name in sorted(fields):
                before, after = getattr(incident, name), getattr(updated, name)
                await tx.timeline.add(
                    incident_id, f"{name}_changed", f"{name.capitalize()} changed from {_show(before)} to {_show(after)}",
                    actor=actor, data={"field": name, "from": _show(before), "to": _show(after), "origin": "imr"},
                )
            await jobs.incident_changed(tx, updated, fields, self.settings)
            return updated

    async def acknowledge(self, incident_id: int, *, actor: str | None) -> Incident:
        return await self._move(incident_id, Status.ACKNOWLEDGED, actor)

    async def resolve(self, incident_id: int, *, actor: str | None, note: str | None = None) -> Incident:
        return await self._move(incident_id, Status.RESOLVED, actor, note=note)

    async def reopen(self, incident_id: int, *, actor: str | None) -> Incident:
        return await self._move(incident_id, Status.TRIGGERED, actor)

    async def _move(self, incident_id: int, target: Status, actor: str | None, *, note: str | None = None) -> Incident:
        """A status command: says so when it does not apply (e.g. acknowledging twice) instead of doing nothing —
        checked under the incident's lock, in the transaction that applies it."""
        return await self.change(incident_id, actor=actor, strict=True, note=note, status=target)

    async def add_note(self, incident_id: int, text: str, *, actor: str | None) -> None:
        """A note on the incident; with note sync on, it is added to the linked request too."""
        text = _note_text(text)
        async with self.store.tx() as tx:
            incident = await tx.incidents.get(incident_id, lock=True)
            if incident is None:
                raise RuleError(f"There is no incident {incident_id}.")
            await self._note(tx, incident, text, actor)

    async def _note(self, tx: Tx, incident: Incident, text: str, actor: str | None) -> None:
        # "responder": a responder's own note, the one kind whose Xurrent visibility follows itsm.note_visibility
        await tx.timeline.add(incident.id, "note", text, actor=actor, data={"origin": "imr", "responder": True})
        svc = self.settings.service(incident.service)
        if svc is not None and svc.itsm.note_sync:
            await jobs.push_to_itsm(tx, incident, self.settings)

    def _service(self, name: str) -> ServiceSettings:
        svc = self.settings.service(name)
        if svc is None:
            known = ", ".join(s.name for s in self.settings.services) or "none configured"
            raise ValueError(f"Unknown service '{name}'. Services: {known}.")
        return svc

    # -- alerts -------------------------------------------------------------------------------------
    def route(self, alert: AlertIn) -> ServiceSettings | None:
        if alert.service and (svc := self.settings.service(alert.service)) is not None:
            return svc
        fallback = self.settings.intake.fallback_service
        return self.settings.service(fallback) if fallback else None

    async def ingest_alerts(self, alerts: Sequence[AlertIn]) -> IntakeResult:
        """Record a batch of alerts: deduplicate, group, declare, and tell the war rooms.

        Applied in transactions of ``CHUNK`` alerts (so that a huge batch does not hold SQLite's write lock for
        seconds), each in a fixed order (service, source, fingerprint) so that concurrent batches cannot deadlock,
        and retried when a concurrent transaction won a race (unique alert group, deadlock, serialisation).
        Each alert is recorded exactly once whichever chunk it is in: a repeated delivery deduplicates.
        """
        ordered = sorted(alerts, key=lambda a: (a.service or "", a.source, a.fingerprint))
        result = IntakeResult()
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            for attempt in range(5):
                try:
                    async with self.store.tx() as tx:
                        part = await self._ingest(tx, chunk)
                    break
                except DBAPIError as exc:
                    if attempt == 4 or not _retryable(exc):
                        raise
                    log.info("alert batch raced a concurrent one (%s); applying it again", type(exc.orig).__name__)
            result.outcomes.extend(part.outcomes)
        by_fingerprint = {id(a): i for i, a in enumerate(alerts)}
        order = sorted(range(len(ordered)), key=lambda i: by_fingerprint[id(ordered[i])])
        result.outcomes = [result.outcomes[i] for i in order]
        return result

    async def _ingest(self, tx: Tx, alerts: Sequence[AlertIn]) -> IntakeResult:
        s = self.settings
        result = IntakeResult()
        # One grouping decision at a time per service: take every service's lock first, in name order, before
        # any row is written — so that two batches can never wait on each other in opposite orders.
        for name in sorted({svc.name for a in alerts if (svc := self.route(a)) is not None}):
            await tx.lock_key(f"alert-group:{name}")
        touched: set[int] = set()  # incidents whose war room hears of changed alerts (one digest each)
        fresh: set[int] = set()  # incidents with a newly firing alert: their probable causes are ranked again
        fired: set[str] = set()  # services with a newly firing alert: their neighbours' open incidents are too
        for alert in alerts:
            svc = self.route(alert)
            priority = severity_to_priority(alert.severity, s.intake.severity_priorities, s.intake.default_priority)
            if svc is not None and alert.service != svc.name:
                alert = _with_service(alert, svc.name)
            alert_id, happened, incident_id = await tx.alerts.record(alert, priority)
            outcome = AlertOutcome(alert.fingerprint, happened, incident_id)
            result.outcomes.append(outcome)
            if happened in ("repeat", "stale"):
                continue
            if happened == "resolved":
                if incident_id is not None:
                    await tx.timeline.add(incident_id, "alert_resolved", f"Alert resolved: {alert.name}", data={"alert_id": alert_id})
                    touched.add(incident_id)
                continue
            # a newly firing alert (new, or refired)
            if svc is not None:
                fired.add(svc.name)
            if incident_id is not None:  # refired within its incident
                await tx.timeline.add(incident_id, "alert_firing", f"Alert firing again: {alert.name}", data={"alert_id": alert_id})
                touched.add(incident_id)
                fresh.add(incident_id)
                continue
            open_incident = await tx.incidents.open_for_alert_group(svc.name, lock=True) if svc else None
            decision = intake.decide(
                priority=priority,
                priorities=s.priorities,
                open_incident=open_incident,
                declare_threshold=svc.declare_threshold if svc else s.priorities[0],
                routed=svc is not None,
            )
            if decision.action is AlertAction.UNROUTED:
                outcome.result = "unrouted"
                outcome.note = (
                    f"service '{alert.service}' is not in the catalog: add it to services or set intake.fallback_service"
                )
                await jobs.unrouted_alert(tx, alert, priority, s)
            elif decision.action is AlertAction.RECORD:
                assert svc is not None
                outcome.result = "recorded"
                outcome.note = f"{priority} is below {svc.name}'s declare threshold {svc.declare_threshold}"
            elif decision.action is AlertAction.ATTACH:
                assert open_incident is not None
                await tx.alerts.attach([alert_id], open_incident.id)
                outcome.result, outcome.incident = "grouped", open_incident.id
                await tx.timeline.add(
                    open_incident.id, "alert_firing", f"Alert firing: {alert.name}", data={"alert_id": alert_id}
                )
                touched.add(open_incident.id)
                fresh.add(open_incident.id)
                if decision.raise_priority_to:
                    await self._raise_priority(tx, open_incident, decision.raise_priority_to, alert.name)
            else:
                assert svc is not None
                incident = await self._declare(
                    tx,
                    svc,
                    title=intake.incident_title(alert),
                    priority=priority,
                    details=intake.incident_details(alert),
                    origin=Origin.ALERT,
                    actor=None,
                    alert_group=svc.name,
                )
                earlier = [a["id"] for a in await tx.alerts.unattached_firing(svc.name)]
                await tx.alerts.attach(earlier, incident.id)
                # the declaring alert is on the card; earlier ones are told in the first digest
                await tx.alerts.mark_announced([(alert_id, AlertStatus.FIRING.value)])
                outcome.result, outcome.incident = "declared", incident.id
                await tx.timeline.add(
                    incident.id,
                    "alert_firing",
                    f"Alert firing: {alert.name}" + (f" (and {len(earlier) - 1} earlier alerts)" if len(earlier) > 1 else ""),
                    data={"alert_ids": earlier},
                )
                if len(earlier) > 1:
                    touched.add(incident.id)
        for incident_id in sorted(touched):
            await jobs.alert_digest(tx, incident_id, delay=s.intake.digest_seconds)
        # wherever each alert went (its incident, another, none): the open incidents of the services next to its
        # own weigh it as a related alert (warroom.response.related), and rank their causes again
        await related.rank_near(tx, s, sorted(fired), itself=False, also=fresh)
        return result

    async def _raise_priority(self, tx: Tx, incident: Incident, priority: str, because: str) -> None:
        updated = await tx.incidents.update(
            incident.id, priority=priority, urgency=intake.urgency_for(priority, self.settings.priorities)
        )
        text = f"Priority raised from {incident.priority} to {priority}: alert {because} is firing."
        await tx.timeline.add(incident.id, "priority_changed", text,
                              data={"field": "priority", "from": incident.priority, "to": priority, "origin": "imr"})
        await jobs.say(tx, incident.id, f"⬆️ {text}")
        # the card, the topic and the linked request follow, as for a responder's change
        await jobs.incident_changed(tx, updated, {"priority", "urgency"}, self.settings)

def _note_text(text: str) -> str:
    text = text.replace("\x00", "").strip()  # NUL cannot be stored (PostgreSQL) nor shown
    if not text:
        raise RuleError("The note is empty: say what to note.")
    return text


def _show(value: object) -> str:
    if value is None:
        return "none"
    return str(getattr(value, "value", value))


def _with_service(alert: AlertIn, service: str) -> AlertIn:
    from dataclasses import replace

    return replace(alert, service=service)
