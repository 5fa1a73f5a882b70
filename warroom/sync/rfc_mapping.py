"""The seed's post-incident task ↔ RFC mapping (shared/seeds/000…, "Post-Incident Tasks as RFCs"), as pure
functions — the RFC's field table for the same shadow and conflict rule as the incident's (sync/plan.py).

| Xurrent RFC       | warroom task     | here                                                                   |
|-------------------|------------------|------------------------------------------------------------------------|
| subject           | title            | both ways (cut to Xurrent's 255 characters)                            |
| category          | —                | always ``rfc``                                                         |
| status            | status           | both ways by ``core.tasks.TO_RFC`` / ``FROM_RFC``: assigned ↔ To Do, in_progress ↔ In Progress, completed ↔ Done |
| notes             | notes + comments | both ways; the task's details and its incident's reference are the first note |
| service_instance  | —                | the task's incident's service: ``services[].itsm.service_instance_id`` |
| member            | owner            | the owner when that person exists in Xurrent (on creation)             |
| source/sourceID   | —                | ``xurrent.source`` / ``task-<id>``: creating the RFC is idempotent     |

RFC statuses outside the seed's table: ``accepted``, ``waiting_for*`` and ``*_pending`` → In Progress,
``on_backlog`` → To Do; ``declined`` → no change to the task (its owner is told in the war room; from then on the
RFC's status agrees with any task status — the change board said no, and warroom does not argue). Completing an
RFC carries ``solved`` for a done task and ``withdrawn`` for one closed as won't-do. A proposed task (a postmortem's
recommendation nobody took) has no RFC and is never pushed.

Directions: ``itsm.rfc_direction`` and ``itsm.rfc_note_sync``, defaulting to the service's ``itsm.direction`` and
``itsm.note_sync``. IMR → ITSM creates and updates RFCs and never reads them back; ITSM → IMR creates none (an RFC
made earlier is still read). Task notes written in warroom land as internal notes unless ``itsm.note_visibility`` is
``public``, like a responder's ``/incident note``.

Outcomes decided here: a task **deleted** while its RFC exists takes its link with it; the RFC stays in Xurrent and
its later changes are ignored (it carries warroom's ``source``, so it is never escalated either). An incident
**merged** into another or **reopened** leaves its tasks and their RFCs as they are: a task belongs to the incident
it came from, and its RFC follows the task alone. A title longer than Xurrent's 255-character subject is cut there
and given whole in the first note. Xurrent **refusing** the RFC (a ``422``: no service instance that takes
changes) is said in the war room with the reason; the task is kept, and its next change tries again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from warroom.core.tasks import FROM_RFC, TO_RFC, TaskStatus
from warroom.settings import Direction, ItsmLinkSettings

CATEGORY = "rfc"

#: The synced fields, named from the task's side, with the RFC field each maps to.
RFC_FIELDS: dict[str, str] = {"title": "subject", "status": "status"}


def rfc_direction(link: ItsmLinkSettings) -> Direction:
    return link.rfc_direction or link.direction


def rfc_note_sync(link: ItsmLinkSettings) -> bool:
    return link.note_sync if link.rfc_note_sync is None else link.rfc_note_sync


def task_note_internal(link: ItsmLinkSettings) -> bool:
    """Whether a task note written in warroom goes to the RFC as an internal note."""
    return link.note_visibility != "public"


def task_source_id(task_id: int) -> str:
    """The RFC's ``sourceID``: with ``source`` the key that makes creating it idempotent."""
    return f"task-{task_id}"


def completion_reason(status: str) -> str:
    return "withdrawn" if status == TaskStatus.WONT_DO else "solved"


def _task_status(value: Any) -> TaskStatus | None:
    try:
        return TaskStatus(str(value))
    except ValueError:
        return None


def subject(title: Any) -> str:
    """A task's title as the RFC's subject: whole, or cut visibly ("…") to Xurrent's 255 characters (the whole
    title is in the RFC's first note)."""
    text = str(title)
    return text if len(text) <= 255 else text[:254] + "…"


@dataclass(frozen=True)
class RfcCodec:
    """Both directions of the RFC's fields (sync/plan.py's FieldCodec)."""

    def to_itsm(self, name: str, value: Any) -> Any:
        if name == "title":
            return subject(value)
        if name == "status":
            status = _task_status(value)
            return TO_RFC.get(status) if status is not None else None
        raise KeyError(name)

    def to_imr(self, name: str, value: Any) -> Any:
        if name == "title":
            return str(value)
        if name == "status":
            mapped = FROM_RFC.get(str(value))
            return mapped.value if mapped else None
        raise KeyError(name)

    def agree(self, name: str, imr: Any, itsm: Any) -> bool:
        if name == "title":
            return subject(imr) == str(itsm) or str(imr) == str(itsm)
        if name == "status":
            status = _task_status(imr)
            if str(itsm) not in FROM_RFC or status is None or status not in TO_RFC:
                return True  # declined (no opinion on the task), or a proposed task (no opinion on the RFC)
            return TO_RFC[status] == itsm or FROM_RFC[str(itsm)] is status
        raise KeyError(name)


def task_values(task: Mapping[str, Any]) -> dict[str, Any]:
    return {"title": task["title"], "status": task["status"]}


def rfc_values(request: Mapping[str, Any]) -> dict[str, Any]:
    return {"title": request.get("subject"), "status": request.get("status")}


def rfc_patch(writes: Mapping[str, Any], task_status: str) -> dict[str, Any]:
    """Planned writes as a PATCH body in Xurrent's names."""
    body: dict[str, Any] = {}
    for name, value in writes.items():
        body[RFC_FIELDS[name]] = value
        if name == "status" and value == "completed":
            body["completion_reason"] = completion_reason(task_status)
    return body


@dataclass(frozen=True)
class Origin:
    """The originating incident's reference, for the RFC's first note."""

    ref: str
    title: str
    request_id: str | None = None
    request_url: str | None = None
    war_room_url: str | None = None


def first_note(task: Mapping[str, Any], origin: Origin) -> str:
    """The task's details and its originating incident's reference: the RFC's first (internal) note."""
    lines = [f"Post-incident task from {origin.ref} ({origin.title}), created in warroom.", ""]
    details = str(task.get("details") or "").strip()
    lines.append(details or str(task["title"]))
    if len(str(task["title"])) > 255:
        lines += ["", f"Full title: {task['title']}"]
    lines += ["", f"Originating incident: {origin.ref} — {origin.title}"]
    if origin.request_id:
        lines.append(f"Incident request: #{origin.request_id}" + (f" {origin.request_url}" if origin.request_url else ""))
    if origin.war_room_url:
        lines.append(f"War room: {origin.war_room_url}")
    if task.get("owner"):
        lines.append(f"Owner: {task['owner']}")
    return "\n".join(lines)


def rfc_fields(
    task: Mapping[str, Any], link: ItsmLinkSettings, *, source: str, member_id: int | None, note: str
) -> dict[str, Any]:
    """The body of ``POST /requests`` for a task's new RFC."""
    status = str(TO_RFC.get(TaskStatus(str(task["status"])), "assigned"))
    fields: dict[str, Any] = {
        "subject": subject(task["title"]),
        "category": CATEGORY,
        "status": status,
        "internal_note": note,
        "source": source,
        "sourceID": task_source_id(int(task["id"])),
    }
    if status == "completed":
        fields["completion_reason"] = completion_reason(str(task["status"]))
    if link.service_instance_id is not None:
        fields["service_instance_id"] = link.service_instance_id
    if member_id is not None:
        fields["member_id"] = member_id
    return fields
