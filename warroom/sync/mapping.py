"""The seed's incident ↔ request field mapping, as pure functions (see ../shared/seeds/000_…).

| Xurrent request   | warroom incident | here                                                         |
|-------------------|------------------|--------------------------------------------------------------|
| subject           | title            | ``subject`` (cut to Xurrent's 255 characters)                |
| status            | status           | ``STATUS_TO_ITSM``: triggered→assigned, acknowledged→accepted, resolved→completed |
| category          | —                | always ``incident``                                          |
| impact            | priority         | ``impact_for``: custom mapping (≥ 4 priorities) or the default table; default impact without priority |
| urgent            | urgency          | high → true, low → false                                     |
| service_instance  | service          | the catalog's ``itsm.service_instance_id``                   |
| notes             | details + notes  | the details are the first note; visibility per ``note_internal`` |
| member            | assignee         | the person with that email in Xurrent, else left empty       |
| completion_reason | —                | ``solved`` when completing                                   |

Note visibility (Xurrent notes are ``internal``, for agents, or public, which the requester reads too): notes warroom
writes for the responders — the details with the war room's link, role changes, postmortem links, war-room facts,
anything the AI writes — go in as internal notes. Only a responder's own ``/incident note`` (timeline data
``responder: true``) follows the service's ``itsm.note_visibility`` (default internal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from warroom.core.model import Incident, Status, Urgency
from warroom.settings import Impact, ItsmLinkSettings

CATEGORY = "incident"
COMPLETION_REASON = "solved"

STATUS_TO_ITSM: dict[Status, str] = {
    Status.TRIGGERED: "assigned",
    Status.ACKNOWLEDGED: "accepted",
    Status.RESOLVED: "completed",
}

#: The impact for each priority rank when a service has no custom mapping: the highest priority is "top",
#: the next "high", then "medium"; everything below is "low".
DEFAULT_IMPACTS: tuple[Impact, ...] = ("top", "high", "medium")


def impact_for(priority: str | None, priorities: Sequence[str], link: ItsmLinkSettings) -> Impact:
    if priority is None or priority not in priorities:
        return link.default_impact
    if link.impact_mapping and len(priorities) >= 4:
        return link.impact_mapping.get(priority, link.default_impact)
    rank = list(priorities).index(priority)
    return DEFAULT_IMPACTS[rank] if rank < len(DEFAULT_IMPACTS) else "low"


def source_id(incident: Incident) -> str:
    """The request's ``sourceID``: with ``source`` the key that makes creating the request idempotent."""
    return f"incident-{incident.id}"


def note_internal(data: Mapping[str, Any] | None, link: ItsmLinkSettings) -> bool:
    """Whether an incident note (its timeline event's data) goes to the request as an internal note."""
    return not ((data or {}).get("responder") and link.note_visibility == "public")


def first_note(incident: Incident, *, incident_url: str | None = None) -> str:
    lines = [f"Major incident {incident.ref} declared in warroom ({incident.origin.value}).", ""]
    lines.append(incident.details.strip() or incident.title)
    if incident_url:
        lines += ["", f"War room: {incident_url}"]
    return "\n".join(lines)


def request_fields(
    incident: Incident,
    link: ItsmLinkSettings,
    *,
    priorities: Sequence[str],
    source: str,
    member_id: int | None,
    incident_url: str | None = None,
) -> dict[str, Any]:
    """The body of ``POST /requests`` for a new linked request."""
    fields: dict[str, Any] = {
        "subject": incident.title[:255],
        "category": CATEGORY,
        "impact": impact_for(incident.priority, priorities, link),
        "urgent": incident.urgency is Urgency.HIGH,
        "status": STATUS_TO_ITSM[incident.status],
        "internal_note": first_note(incident, incident_url=incident_url),
        "source": source,
        "sourceID": source_id(incident),
    }
    if link.service_instance_id is not None:
        fields["service_instance_id"] = link.service_instance_id
    if member_id is not None:
        fields["member_id"] = member_id
    if incident.status is Status.RESOLVED:
        fields["completion_reason"] = COMPLETION_REASON
    return fields
