"""Escalation from the service desk: which Xurrent requests become major incidents (pure decisions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from warroom.core.rules import at_or_above
from warroom.settings import ServiceSettings

from .plan import priority_from_impact

#: ``major_incident_status`` values that mean the service desk raised a major incident.
MAJOR = frozenset({"proposed", "accepted"})


def service_for_request(request: Mapping[str, Any], services: Sequence[ServiceSettings]) -> ServiceSettings | None:
    """The catalog service whose linked service instance is the request's."""
    instance = request.get("service_instance") or {}
    instance_id = instance.get("id") if isinstance(instance, Mapping) else None
    for svc in services:
        if svc.itsm.enabled and instance_id is not None and svc.itsm.service_instance_id == instance_id:
            return svc
    return None


def should_escalate(
    request: Mapping[str, Any], svc: ServiceSettings, priorities: Sequence[str], *, asked: bool = False
) -> tuple[bool, str]:
    """(escalate?, why) for an unlinked request of a catalog service. ``asked``: a responder asked for it in chat,
    so the severity threshold does not apply (the direction and an open request still do)."""
    if svc.itsm.direction == "imr_to_itsm":
        return False, f"{svc.name} syncs only from warroom to Xurrent (itsm.direction imr_to_itsm)"
    if request.get("status") == "completed":
        return False, "the request is completed"
    if request.get("category") not in (None, "incident"):
        return False, f"the request is a {request.get('category')}, not an incident"
    if asked:
        return True, "a responder escalated it"
    if request.get("major_incident_status") in MAJOR:
        return True, f"its major incident status is {request.get('major_incident_status')}"
    priority = priority_from_impact(request.get("impact"), priorities, svc.itsm)
    if at_or_above(priorities, priority, svc.itsm.severity_threshold):
        return True, f"its impact {request.get('impact')} maps to {priority}, at or above {svc.itsm.severity_threshold}"
    return False, f"its impact {request.get('impact')} is below {svc.name}'s threshold {svc.itsm.severity_threshold}"
