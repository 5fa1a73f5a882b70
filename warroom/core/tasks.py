"""Post-incident tasks: their statuses, and the seed's RFC status table (shared/seeds/000…, "Post-Incident Tasks as
RFCs") with the documented mapping of the RFC statuses outside it. Pure code."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    #: A postmortem's recommended action nobody has taken yet (not a task in the ITSM).
    PROPOSED = "proposed"
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    #: Closed by a person, with a reason, without doing it.
    WONT_DO = "wont_do"


LABELS: dict[TaskStatus, str] = {
    TaskStatus.PROPOSED: "Proposed",
    TaskStatus.TODO: "To Do",
    TaskStatus.IN_PROGRESS: "In Progress",
    TaskStatus.DONE: "Done",
    TaskStatus.WONT_DO: "Won't do",
}

#: Open: still to be done (the postmortem is not complete while any is).
OPEN = frozenset({TaskStatus.TODO, TaskStatus.IN_PROGRESS})

#: Task status → RFC status (the seed's table; won't-do closes the RFC as withdrawn).
TO_RFC: dict[TaskStatus, str] = {
    TaskStatus.TODO: "assigned",
    TaskStatus.IN_PROGRESS: "in_progress",
    TaskStatus.DONE: "completed",
    TaskStatus.WONT_DO: "completed",
}

#: RFC status → task status: the seed's table, and where the RFC's status is outside it, the nearest task status
#: (accepted and the waiting states are work under way; on_backlog is still to do). ``declined`` maps to nothing:
#: the task keeps its status and its owner is told.
FROM_RFC: dict[str, TaskStatus] = {
    "assigned": TaskStatus.TODO,
    "on_backlog": TaskStatus.TODO,
    "accepted": TaskStatus.IN_PROGRESS,
    "in_progress": TaskStatus.IN_PROGRESS,
    "waiting_for": TaskStatus.IN_PROGRESS,
    "waiting_for_customer": TaskStatus.IN_PROGRESS,
    "reservation_pending": TaskStatus.IN_PROGRESS,
    "workflow_pending": TaskStatus.IN_PROGRESS,
    "project_pending": TaskStatus.IN_PROGRESS,
    "completed": TaskStatus.DONE,
}


def label(status: str) -> str:
    """How people read a task status: "To Do" for ``todo``; an unknown value as it is."""
    try:
        return LABELS[TaskStatus(status)]
    except ValueError:
        return status
