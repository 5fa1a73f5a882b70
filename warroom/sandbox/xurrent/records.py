"""What the sandbox's requests are made of: the enumerations and text limits of their fields, the labels in
validation messages, the 422 error (:class:`ValidationFailed`), the audit line each change leaves
(:class:`AuditLine`), and Xurrent's timestamp format (:func:`stamp`, :func:`parse_time`).
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass, field
from typing import Any

CATEGORIES = ("incident", "rfc", "rfi", "reservation", "order", "fulfillment", "complaint", "compliment", "other")
IMPACTS = ("low", "medium", "high", "top")
STATUSES = (
    "declined",
    "on_backlog",
    "assigned",
    "accepted",
    "in_progress",
    "waiting_for",
    "waiting_for_customer",
    "reservation_pending",
    "workflow_pending",
    "project_pending",
    "completed",
)
COMPLETION_REASONS = (
    "solved",
    "workaround",
    "gone",
    "duplicate",
    "withdrawn",
    "no_reply",
    "rejected",
    "conflict",
    "declined",
    "unsolvable",
)
MAJOR_INCIDENT_STATUSES = ("proposed", "rejected", "accepted", "resolved", "canceled")
ENUMS: dict[str, tuple[str, ...]] = {
    "category": CATEGORIES,
    "impact": IMPACTS,
    "status": STATUSES,
    "completion_reason": COMPLETION_REASONS,
    "major_incident_status": MAJOR_INCIDENT_STATUSES,
}
#: Body field → (stored key, maximum length).
TEXTS: dict[str, int] = {"subject": 255, "source": 30, "sourceID": 128, "note": 65_535, "internal_note": 65_535}
#: Reference fields in bodies (``<name>_id``) and the collection each points into.
REFERENCES: dict[str, str] = {
    "service_instance": "service_instances",
    "team": "teams",
    "member": "people",
    "requested_for": "people",
    "requested_by": "people",
}
LABELS = {
    "subject": "Subject",
    "category": "Category",
    "impact": "Impact",
    "status": "Status",
    "completion_reason": "Completion reason",
    "major_incident_status": "Major incident status",
    "source": "Source",
    "sourceID": "Source ID",
    "note": "Note",
    "internal_note": "Internal note",
    "urgent": "Urgent",
    "service_instance": "Service instance",
    "team": "Team",
    "member": "Member",
    "requested_for": "Requested for",
    "requested_by": "Requested by",
    "text": "Text",
}
TRUTHY = {"1", "t", "y", "true", "yes", "on"}


class ValidationFailed(Exception):
    """A change Xurrent would refuse with 422; ``errors`` are its [field, message] tuples."""

    def __init__(self, errors: list[list[str]]) -> None:
        super().__init__("; ".join(message for _, message in errors))
        self.errors = errors


@dataclass
class AuditLine:
    """One change to a request, as Xurrent's audit trail records it, with the webhook events it triggers."""

    id: int
    request_id: int
    at: str
    person: dict[str, Any]
    #: Field → [old, new], in the API's terms (``member`` is a {id, name} reference or None).
    changes: dict[str, list[Any]] = field(default_factory=dict)
    note_id: int | None = None
    events: list[str] = field(default_factory=list)


def stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_time(value: str) -> int:
    """Xurrent's timestamp (``…T23:00:00Z``) or datetime (``…T23:00``) input, as epoch seconds (UTC)."""
    text = value.strip().replace("Z", "").replace("z", "")
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return calendar.timegm(time.strptime(text, fmt))
        except ValueError:
            continue
    raise ValueError(value)
