"""What an incoming alert does to incidents: pure decisions, applied by the incident service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .model import AlertIn, Incident, Urgency
from .rules import at_or_above, priority_rank


class AlertAction(StrEnum):
    DECLARE = "declare"  # open a new major incident for the service
    ATTACH = "attach"  # join the service's open incident
    RECORD = "record"  # keep it, below the threshold: no incident
    UNROUTED = "unrouted"  # no service in the catalog matches


@dataclass(frozen=True, slots=True)
class Decision:
    action: AlertAction
    raise_priority_to: str | None = None


def decide(
    *,
    priority: str,
    priorities: Sequence[str],
    open_incident: Incident | None,
    declare_threshold: str,
    routed: bool,
) -> Decision:
    """For a newly firing alert."""
    if not routed:
        return Decision(AlertAction.UNROUTED)
    if open_incident is not None:
        raise_to = None
        if priority_rank(priorities, priority) < priority_rank(priorities, open_incident.priority):
            raise_to = priority
        return Decision(AlertAction.ATTACH, raise_to)
    if at_or_above(priorities, priority, declare_threshold):
        return Decision(AlertAction.DECLARE)
    return Decision(AlertAction.RECORD)


def urgency_for(priority: str | None, priorities: Sequence[str]) -> Urgency:
    """The two highest priorities are urgent."""
    return Urgency.HIGH if priority_rank(priorities, priority) <= 1 else Urgency.LOW


def incident_title(alert: AlertIn) -> str:
    summary = alert.summary.strip().splitlines()[0] if alert.summary.strip() else ""
    if summary and summary.lower() != alert.name.lower():
        title = f"{alert.name}: {summary}"
    else:
        title = alert.name
    return title[:255]


def incident_details(alert: AlertIn) -> str:
    lines = [f"Declared from alert '{alert.name}' (source {alert.source}, severity {alert.severity or 'none'})."]
    if alert.summary:
        lines.append(alert.summary)
    description = alert.annotations.get("description", "").strip()
    if description and description not in alert.summary:
        lines.append(description)
    if alert.labels:
        lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items())))
    if alert.generator_url:
        lines.append(f"Source: {alert.generator_url}")
    return "\n".join(lines)


def digest_line(changed: Sequence[tuple[str, str]], still_firing: int) -> str:
    """One war-room line for a burst of alert changes: [(alert name, new status)] → text."""

    def names(items: list[str]) -> str:
        shown = ", ".join(items[:5])
        return shown + (f" and {len(items) - 5} more" if len(items) > 5 else "")

    firing = [name for name, status in changed if status == "firing"]
    resolved = [name for name, status in changed if status == "resolved"]
    parts = []
    if firing:
        parts.append(f"🔔 {'Alert' if len(firing) == 1 else f'{len(firing)} alerts'} firing: {names(firing)}.")
    if resolved:
        parts.append(f"✅ {'Alert' if len(resolved) == 1 else f'{len(resolved)} alerts'} resolved: {names(resolved)}.")
    if resolved and still_firing == 0:
        parts.append("All alerts of this incident have resolved; the incident stays open until a responder resolves it.")
    elif resolved:
        parts.append(f"{still_firing} still firing.")
    return " ".join(parts)
