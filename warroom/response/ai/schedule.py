"""When the AI responder speaks: the outbox jobs and durable timers that ask it (no I/O here).

- Asked in chat (``summary``, ``ask``, ``rca``, ``postmortem``): one ``ai.answer`` job; the command is answered at
  once and the job posts the result in the war room. A summary, RCA or postmortem already being prepared for the
  incident is not asked for twice.
- On a cadence: a durable periodic timer per incident (``ai-summary:<id>``), started with the war room, every
  ``ai.summary_cadence_minutes[priority]``; moved when the priority changes, cancelled when the incident resolves.
- On significant changes (status, priority, a new role holder): an ``ai.changed`` job, which gathers the changes of
  the next ``ai.change_summary_seconds`` into one status update (``ai.auto_summaries``).
- When the incident resolves: the postmortem draft (``ai.postmortem_on_resolve``).
- The probable causes by themselves (``ai.auto_rca``): ranked when the incident is declared, and again when new
  alerts or changes arrive for it — posted only when the leading causes moved.
"""

from __future__ import annotations

from typing import Any

from warroom.core.jobs import AI_ANSWER, AI_CHANGED, AI_SUMMARY
from warroom.core.model import Incident, Status
from warroom.settings import Settings
from warroom.store.db import Tx

CAPABILITIES = ("summary", "ask", "rca", "postmortem")
#: Changes that deserve a status update of their own.
SIGNIFICANT = frozenset({"status", "priority", "role"})


def timer_key(incident_id: int) -> str:
    return f"ai-summary:{incident_id}"


def cadence_seconds(settings: Settings, priority: str | None) -> int:
    """Seconds between automatic status updates for this priority (30 minutes when it has none set)."""
    return 60 * settings.ai.summary_cadence_minutes.get(priority or "", 30)


async def start_summaries(tx: Tx, incident: Incident, settings: Settings) -> None:
    """Start the incident's periodic status updates (its first one is due a cadence from now)."""
    if not settings.ai.auto_summaries or incident.status is Status.RESOLVED:
        return
    every = cadence_seconds(settings, incident.priority)
    await tx.timers.schedule(
        timer_key(incident.id),
        AI_SUMMARY,
        delay=every,
        interval=every,
        incident_id=incident.id,
        payload={"reason": "cadence"},
    )


#: The automatic ranking of probable causes: one job per incident at a time (new evidence coalesces into it).
def rca_key(incident_id: int) -> str:
    return f"ai-rca-auto:{incident_id}"


async def rank_causes(tx: Tx, incident_id: int, settings: Settings, *, delay: float | None = None) -> None:
    """Rank the incident's probable causes again by themselves (``ai.auto_rca``): at declaration (``delay`` 0 — the
    first hypothesis is posted as soon as the war room exists) and when new evidence arrives (after
    ``ai.auto_rca_seconds``, so a burst of alerts is one ranking). The job posts only when the leading causes differ
    from the ones it posted last."""
    if not settings.ai.auto_rca:
        return
    await tx.outbox.enqueue(
        AI_ANSWER,
        {"capability": "rca", "actor": None, "auto": True},
        incident_id=incident_id,
        dedup_key=rca_key(incident_id),
        delay=settings.ai.auto_rca_seconds if delay is None else delay,
    )


async def ask(
    tx: Tx,
    incident_id: int,
    capability: str,
    *,
    question: str | None = None,
    actor: str | None = None,
    auto: bool = False,
) -> bool:
    """Ask the assistant for one capability; False when the same one is being prepared already (not for ``ask``:
    every question is answered)."""
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}")
    payload: dict[str, Any] = {"capability": capability, "actor": actor, "auto": auto}
    if question is not None:
        payload["question"] = question
    dedup = None if capability == "ask" else f"ai-{capability}:{incident_id}"
    job = await tx.outbox.enqueue(AI_ANSWER, payload, incident_id=incident_id, dedup_key=dedup)
    return job is not None


async def changed(tx: Tx, incident: Incident, fields: set[str]) -> None:
    """Follow-ups of a change to the incident: when it resolves, no more periodic updates (cancelled in this very
    transaction); and an ``ai.changed`` job, which decides on the status update and the postmortem draft."""
    if not fields & SIGNIFICANT:
        return
    if incident.status is Status.RESOLVED:
        await tx.timers.cancel(timer_key(incident.id))
    await tx.outbox.enqueue(AI_CHANGED, incident_id=incident.id, dedup_key=f"ai-changed:{incident.id}")
