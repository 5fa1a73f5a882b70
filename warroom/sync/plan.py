"""What to write where: the sync engine's decisions, as pure functions over plain values.

Each linked request keeps a **shadow**: for every synced field, the value both records agreed on at the last sync,
once in the incident's terms and once in Xurrent's. A side "changed" a field when its value differs from the
shadow. Mappings are not one-to-one (Xurrent's ``in_progress`` and ``accepted`` both mean *acknowledged*; two
priorities may map to one impact), so two values *agree* when either maps onto the other — then nothing is
written, whatever the exact values, which is also what stops echoes: our own write comes back equal to the shadow.

Conflict rule (both sides changed a field since the last sync, to values that do not agree): **the incident
wins.** warroom's incident is the real-time operational record the incident commander works in; the request is
the durable service record. The incident's value is written to the request and both converge on it. When the pull
sees the conflict, the request's losing value is recorded on the incident's timeline; when the incident's push
lands first, it overwrites without reading (one write per change, no read) and the losing value stays in
Xurrent's own audit trail. A service synced ITSM → IMR only has no conflicts: Xurrent's value is applied.

Xurrent statuses without a row in the seed's table (decided here):
- ``in_progress``, ``waiting_for``, ``waiting_for_customer``, ``reservation_pending``, ``workflow_pending``,
  ``project_pending`` → *acknowledged*: somebody owns the work and it is not done.
- ``on_backlog`` → *triggered*: nobody is working on it yet.
- ``declined`` → no change to the incident (a team declining the request says nothing about the outage); the
  war room is told.
- ``completed`` (any completion reason) → *resolved*.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from warroom.core.model import Status, Urgency
from warroom.settings import ItsmLinkSettings

from .mapping import COMPLETION_REASON, STATUS_TO_ITSM, impact_for

#: The synced fields, named from the incident's side, with the request field each maps to.
FIELDS: dict[str, str] = {
    "title": "subject",
    "status": "status",
    "priority": "impact",
    "urgency": "urgent",
    "assignee": "member",
}

ACKNOWLEDGED_LIKE = frozenset(
    {"accepted", "in_progress", "waiting_for", "waiting_for_customer", "reservation_pending", "workflow_pending",
     "project_pending"}
)
DEFAULT_PRIORITY_FOR_IMPACT = {"top": 0, "high": 1, "medium": 2, "low": 3}


def status_from_itsm(status: str) -> Status | None:
    """The incident status a request status means (None: no opinion — ``declined``)."""
    if status == "assigned" or status == "on_backlog":
        return Status.TRIGGERED
    if status in ACKNOWLEDGED_LIKE:
        return Status.ACKNOWLEDGED
    if status == "completed":
        return Status.RESOLVED
    return None


def priority_from_impact(impact: str | None, priorities: Sequence[str], link: ItsmLinkSettings) -> str | None:
    """The highest priority that maps to this impact (custom mapping), or the default table's inverse."""
    if impact is None:
        return None
    if link.impact_mapping and len(priorities) >= 4:
        for priority in priorities:
            if link.impact_mapping.get(priority) == impact:
                return priority
        return None
    rank = DEFAULT_PRIORITY_FOR_IMPACT.get(impact)
    if rank is None or not priorities:
        return None
    return priorities[min(rank, len(priorities) - 1)]


class FieldCodec(Protocol):
    """Both directions of every synced field of one kind of link (an incident's request, a task's RFC)."""

    def to_itsm(self, name: str, value: Any) -> Any: ...

    def to_imr(self, name: str, value: Any) -> Any: ...

    def agree(self, name: str, imr: Any, itsm: Any) -> bool: ...


@dataclass(frozen=True)
class Codec:
    """Both directions of every field for one service's link. Assignees are emails on both sides here: the engine
    resolves Xurrent member ids to emails before planning, and gives ``member_ids`` (email → Xurrent person id,
    None for nobody there) for the emails involved — an assignee who is not a person in Xurrent maps to an empty
    member, as the seed says."""

    link: ItsmLinkSettings
    priorities: Sequence[str]
    member_ids: Mapping[str, int | None] = field(default_factory=dict)

    def to_itsm(self, name: str, value: Any) -> Any:
        if name == "title":
            return str(value)[:255]
        if name == "status":
            return STATUS_TO_ITSM[Status(value)]
        if name == "priority":
            return impact_for(value, self.priorities, self.link)
        if name == "urgency":
            return Urgency(value) is Urgency.HIGH
        if name == "assignee":
            return value if value and self.member_ids.get(value) is not None else None
        raise KeyError(name)

    def to_imr(self, name: str, value: Any) -> Any:
        if name == "title":
            return str(value)
        if name == "status":
            mapped = status_from_itsm(str(value))
            return mapped.value if mapped else None
        if name == "priority":
            return priority_from_impact(value, self.priorities, self.link)
        if name == "urgency":
            return (Urgency.HIGH if value else Urgency.LOW).value
        if name == "assignee":
            return value
        raise KeyError(name)

    def agree(self, name: str, imr: Any, itsm: Any) -> bool:
        """The two values say the same thing (either maps onto the other)."""
        if name == "title":
            return str(imr)[:255] == str(itsm)[:255]
        if name == "status" and status_from_itsm(str(itsm)) is None:
            return True  # declined: no opinion on the incident's status
        return bool(self.to_itsm(name, imr) == itsm or self.to_imr(name, itsm) == imr)


@dataclass(frozen=True)
class Shadow:
    """The values both sides agreed on at the last sync."""

    imr: dict[str, Any] = field(default_factory=dict)
    itsm: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"imr": dict(self.imr), "itsm": dict(self.itsm)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Shadow:
        data = data or {}
        return cls(dict(data.get("imr") or {}), dict(data.get("itsm") or {}))

    def with_field(self, name: str, imr: Any, itsm: Any) -> Shadow:
        return Shadow({**self.imr, name: imr}, {**self.itsm, name: itsm})


@dataclass(frozen=True)
class Conflict:
    field: str
    incident_value: Any
    request_value: Any


@dataclass(frozen=True)
class PullPlan:
    """What a fetched request changes: incident fields to set, request fields to write back, the new shadow."""

    to_incident: dict[str, Any]
    to_request: dict[str, Any]
    shadow: Shadow
    conflicts: list[Conflict]


def plan_push(
    incident: Mapping[str, Any], shadow: Shadow, codec: FieldCodec, fields: Mapping[str, str] = FIELDS
) -> tuple[dict[str, Any], Shadow]:
    """The request fields (in the incident's names, ITSM values) to write for the incident's current values.
    ``fields``/``codec``: the field table and its mapping (the incident's by default; a task's RFC has its own,
    sync/rfc_mapping.py) — the same shadow and rule for both."""
    writes: dict[str, Any] = {}
    new = shadow
    for name in fields:
        value = incident.get(name)
        if name in shadow.itsm and codec.agree(name, value, shadow.itsm[name]):
            new = new.with_field(name, value, shadow.itsm[name])
            continue
        target = codec.to_itsm(name, value)
        writes[name] = target
        new = new.with_field(name, value, target)
    return writes, new


def plan_pull(
    incident: Mapping[str, Any], request: Mapping[str, Any], shadow: Shadow, codec: FieldCodec, *,
    incident_wins: bool = True, fields: Mapping[str, str] = FIELDS,
) -> PullPlan:
    """Compare a freshly fetched request (values keyed by the incident's field names, ITSM values) with the shadow.

    ``incident_wins=False`` for a service synced ITSM → IMR only: warroom never writes the request there, so the
    request's value is applied even to a field the incident changed too."""
    to_incident: dict[str, Any] = {}
    to_request: dict[str, Any] = {}
    conflicts: list[Conflict] = []
    new = shadow
    for name in fields:
        theirs = request.get(name)
        ours = incident.get(name)
        if name in shadow.itsm and theirs == shadow.itsm[name]:
            continue  # unchanged on Xurrent's side (or our own write echoing back)
        if codec.agree(name, ours, theirs):
            new = new.with_field(name, ours, theirs)
            continue
        our_changed = incident_wins and name in shadow.imr and ours != shadow.imr[name]
        if our_changed:
            conflicts.append(Conflict(name, ours, theirs))
            target = codec.to_itsm(name, ours)
            to_request[name] = target
            new = new.with_field(name, ours, target)
            continue
        mapped = codec.to_imr(name, theirs)
        if name == "assignee" or mapped is not None:
            to_incident[name] = mapped
            new = new.with_field(name, mapped, theirs)
        else:
            new = new.with_field(name, ours, theirs)
    return PullPlan(to_incident, to_request, new, conflicts)


def request_values(request: Mapping[str, Any], member_email: Callable[[int], str | None] | None = None) -> dict[str, Any]:
    """A Xurrent request (REST shape) as the synced values keyed by the incident's field names."""
    member = request.get("member") or None
    member_id = member.get("id") if isinstance(member, Mapping) else None
    return {
        "title": request.get("subject"),
        "status": request.get("status"),
        "priority": request.get("impact"),
        "urgency": bool(request.get("urgent")),
        "assignee": member_email(int(member_id)) if (member_email and member_id is not None) else None,
    }


def request_patch(
    writes: Mapping[str, Any], member_ids: Mapping[str, int | None], completion_reason: str = COMPLETION_REASON
) -> dict[str, Any]:
    """Turn planned writes into a PATCH body in Xurrent's names. Completing carries the seed's "Solved", or
    "duplicate" for an incident merged into another."""
    body: dict[str, Any] = {}
    for name, value in writes.items():
        if name == "assignee":
            body["member_id"] = member_ids.get(value) if value else None
        elif name == "status":
            body["status"] = value
            if value == "completed":
                body["completion_reason"] = completion_reason
        else:
            body[FIELDS[name]] = value
    return body
