"""State rules of an incident: which transitions are allowed, and what alerts do to incidents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .model import Incident, Status, Urgency

_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.TRIGGERED: frozenset({Status.ACKNOWLEDGED, Status.RESOLVED}),
    Status.ACKNOWLEDGED: frozenset({Status.RESOLVED, Status.TRIGGERED}),
    Status.RESOLVED: frozenset({Status.TRIGGERED}),
}


class RuleError(ValueError):
    """A command that the incident's state does not allow; the message says what to do instead."""


def check_transition(current: Status, target: Status) -> None:
    if current == target:
        raise RuleError(f"The incident is already {current.value}.")
    if target not in _ALLOWED[current]:
        raise RuleError(f"An incident that is {current.value} cannot become {target.value}.")


def priority_rank(priorities: Sequence[str], priority: str | None) -> int:
    """0 for the highest priority; ``len(priorities)`` for none or an unknown one."""
    if priority is not None and priority in priorities:
        return list(priorities).index(priority)
    return len(priorities)


def at_or_above(priorities: Sequence[str], priority: str | None, threshold: str) -> bool:
    return priority is not None and priority_rank(priorities, priority) <= priority_rank(priorities, threshold)


def higher(priorities: Sequence[str], a: str | None, b: str | None) -> str | None:
    """The higher of two priorities (None counts lowest)."""
    return a if priority_rank(priorities, a) <= priority_rank(priorities, b) else b


def severity_to_priority(
    severity: str | None, mapping: dict[str, str], default: str
) -> str:
    """Map an alert's severity label to a priority, case-insensitively; unknown → ``default``.

    ``P1``-style values given directly as severity are taken as they are when known to the mapping's range.
    """
    if severity is None:
        return default
    key = severity.strip().lower()
    lowered = {k.lower(): v for k, v in mapping.items()}
    if key in lowered:
        return lowered[key]
    values = set(mapping.values())
    upper = severity.strip().upper()
    if upper in values:
        return upper
    return default


#: The incident fields commands and the sync engine may change.
CHANGEABLE = ("title", "status", "priority", "urgency", "assignee")


def column_changes(
    current: Incident, changes: dict[str, Any], now: datetime, priorities: Sequence[str], *, mirror: bool = False
) -> dict[str, Any]:
    """The column values that apply ``changes`` (incident field → new value) to ``current``.

    Unchanged fields are left out; a status change is checked against the state rules (unless ``mirror``: the
    sync mirrors whatever the linked record says, e.g. a request reopened straight to accepted) and stamps its time;
    resolving ends the incident's alert group, so that the next alert for the service opens a new incident.
    Raises RuleError with a sentence for a change that is not allowed.
    """
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in CHANGEABLE:
            raise RuleError(f"The field '{name}' cannot be changed.")
        if getattr(current, name) == value or (isinstance(value, str) and getattr(current, name) == value):
            continue
        if name == "title":
            text = str(value).replace("\x00", "").strip()
            if not text:
                raise RuleError("The title cannot be empty.")
            out["title"] = text[:255]
        elif name == "status":
            target = Status(value)
            if not mirror:
                check_transition(current.status, target)
            out["status"] = target.value
            if target is Status.ACKNOWLEDGED:
                out["acknowledged_at"] = now
                out["resolved_at"] = None
            elif target is Status.RESOLVED:
                out["resolved_at"] = now
                out["alert_group"] = None
            elif target is Status.TRIGGERED:
                out["resolved_at"] = None
                out["acknowledged_at"] = None
        elif name == "priority":
            if value is not None and value not in priorities:
                raise RuleError(f"Unknown priority '{value}'. Priorities: {', '.join(priorities)}.")
            out["priority"] = value
        elif name == "urgency":
            out["urgency"] = Urgency(value).value
        elif name == "assignee":
            out["assignee"] = str(value).lower() if value else None
    return out
