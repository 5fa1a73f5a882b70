"""The outbox job kinds of the war-room fan-out and the helpers that enqueue them (no I/O here).

The fan-out as a graph: ``create_channel``, ``itsm.create_request`` and ``bridge.create`` start at once and run in
parallel. A created channel enqueues ``invite``, ``topic``, ``post_card`` and a bookmark per link that exists;
a posted card enqueues ``pin`` (and a card refresh if links arrived meanwhile); a new link (request, bridge)
enqueues a card refresh and its bookmark once the channel exists. Card refreshes are coalesced per incident.

The incidents channel (``slack.announce_channel``, ``teams.announce_channel``): one line per event — an incident
declared, acknowledged, resolved, reopened; a war room that could not be made; an alert for no configured service —
enqueued in the transaction of the event, in one ordering key per chat (``announce:slack``, ``announce:teams``), so
that the lines come in the order their events committed (events of different incidents committing at the same
moment may come in either order). Nothing is enqueued when the setting is unset.

The Slack war room is archived ``slack.archive_after_hours`` after the incident is resolved: a durable timer
(``slack-archive:<id>``) scheduled in the transaction that resolves it, cancelled in the one that reopens it; a
reopened incident whose channel was archived already gets it opened again (``warroom.unarchive``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from warroom.core.jobs import (  # re-exported for the handlers (__all__)
    ALERT_DIGEST,
    ANNOUNCE,
    ARCHIVE,
    BOOKMARK,
    CREATE_BRIDGE,
    CREATE_CHANNEL,
    CREATE_REQUEST,
    INVITE,
    PIN,
    POST_CARD,
    PULL_REQUEST,
    PUSH_REQUEST,
    REFRESH_CARD,
    SAY,
    TASK_CARD,
    TASK_RFC_PUSH,
    TEAMS_ADD_MEMBERS,
    TEAMS_ALERT_DIGEST,
    TEAMS_ANNOUNCE,
    TEAMS_ARCHIVE,
    TEAMS_CREATE_ROOM,
    TEAMS_POST_CARD,
    TEAMS_REFRESH_CARD,
    TEAMS_SAY,
    TEAMS_TASK_CARD,
    TOPIC,
    UNARCHIVE,
)
from warroom.core.markup import escape
from warroom.core.model import AlertIn, Incident, Link, LinkKind, Status
from warroom.response import related, statuspages
from warroom.response.ai import schedule as ai_schedule
from warroom.response.oncall import escalation
from warroom.settings import ServiceSettings, Settings
from warroom.store.db import Tx
from warroom.store.schema import outbox, timeline

__all__ = [
    "ALERT_DIGEST", "ANNOUNCE", "ANNOUNCE_WAIT_ATTEMPTS", "ARCHIVE", "BOOKMARK", "BOOKMARKED", "CREATE_BRIDGE",
    "CREATE_CHANNEL", "CREATE_REQUEST", "INVITE", "PIN", "POST_CARD", "PULL_REQUEST", "PUSH_REQUEST", "REFRESH_CARD",
    "SAY", "TASK_CARD", "TEAMS_ADD_MEMBERS", "TEAMS_ALERT_DIGEST", "TEAMS_ANNOUNCE", "TEAMS_ARCHIVE",
    "TEAMS_CREATE_ROOM", "TEAMS_POST_CARD", "TEAMS_REFRESH_CARD", "TEAMS_SAY", "TEAMS_TASK_CARD", "TOPIC", "UNARCHIVE",
    "alert_digest", "announce", "announced_room", "archive_timer", "duration", "enqueue_fanout", "final_summary",
    "incident_changed", "itsm_changed", "link_added", "no_request_because", "push_to_itsm", "refresh_card",
    "request_if_due", "room_link", "say", "task_card_changed", "topic", "unarchive", "unrouted_alert",
    "wants_request",
    "war_room_chats", "war_room_failed",
]

#: Links that get a bookmark in the war room and a place on the card, with the bookmark's title.
BOOKMARKED: dict[LinkKind, str] = {LinkKind.XURRENT_REQUEST: "ITSM request", LinkKind.BRIDGE: "Join bridge"}


def wants_request(incident: Incident, svc: ServiceSettings, settings: Settings) -> bool:
    link = svc.itsm
    return (
        settings.xurrent.enabled
        and link.enabled
        and link.direction in ("imr_to_itsm", "bidirectional")
        and settings.at_or_above(incident.priority, link.severity_threshold)
    )


def no_request_because(incident: Incident, settings: Settings) -> str | None:
    """Why a new incident gets no linked Xurrent request, in a sentence that says what would make one; None when it
    gets one."""
    svc = settings.service(incident.service)
    if svc is None or not settings.xurrent.enabled:
        return "the Xurrent link is not configured."
    if not svc.itsm.enabled:
        return f"the ITSM link is off for {svc.name} (`services[].itsm.enabled`)."
    if svc.itsm.direction == "itsm_to_imr":
        return f"{svc.name} syncs from Xurrent only (`itsm.direction: itsm_to_imr`)."
    if not settings.at_or_above(incident.priority, svc.itsm.severity_threshold):
        return (f"{incident.priority or 'no priority'} is below {svc.name}'s ITSM threshold "
                f"{svc.itsm.severity_threshold}; raise the priority to {svc.itsm.severity_threshold} or higher and "
                "the request is created then.")
    return None


async def enqueue_fanout(tx: Tx, incident: Incident, svc: ServiceSettings, settings: Settings) -> None:
    if settings.slack.enabled and svc.chat != "teams":
        await tx.outbox.enqueue(CREATE_CHANNEL, incident_id=incident.id)
    if settings.teams.enabled and svc.chat != "slack":
        await tx.outbox.enqueue(TEAMS_CREATE_ROOM, incident_id=incident.id)
    if wants_request(incident, svc, settings):
        await tx.outbox.enqueue(CREATE_REQUEST, incident_id=incident.id, ordering_key=f"itsm:{incident.id}")
    if svc.bridge != "none":
        await tx.outbox.enqueue(CREATE_BRIDGE, {"provider": svc.bridge}, incident_id=incident.id)
    await ai_schedule.start_summaries(tx, incident, settings)
    await ai_schedule.rank_causes(tx, incident.id, settings, delay=0)
    await announce(tx, settings, headline(incident, "declared", "🚨"), incident_id=incident.id, room=True)
    await escalation.start(tx, incident, settings)
    await statuspages.incident_changed(tx, incident, {"declared"}, settings)
    await related.incident_declared(tx, incident, settings)


async def request_if_due(tx: Tx, incident: Incident, settings: Settings) -> None:
    """Create the linked request of an incident that has none and now reaches its service's threshold (once: a
    request that exists or is being created is left alone)."""
    svc = settings.service(incident.service)
    if svc is None or incident.merged_into is not None or not wants_request(incident, svc, settings):
        return
    if await tx.links.get(incident.id, LinkKind.XURRENT_REQUEST) is not None:
        return
    pending = await tx.conn.execute(
        select(outbox.c.id).where(outbox.c.incident_id == incident.id, outbox.c.kind == CREATE_REQUEST).limit(1)
    )
    if pending.first() is None:
        await tx.outbox.enqueue(CREATE_REQUEST, incident_id=incident.id, ordering_key=f"itsm:{incident.id}")


async def war_room_chats(tx: Tx, incident_id: int) -> set[str]:
    """Where the incident's war room is: "slack", "teams" or both — from its links and the jobs that create them
    (empty for an incident that has none, e.g. one declared before Teams support)."""
    links = await tx.links.all(incident_id)
    chats = {"slack"} if LinkKind.SLACK_CHANNEL in links else set()
    if LinkKind.TEAMS_CHANNEL in links:
        chats.add("teams")
    if len(chats) < 2:
        rows = await tx.conn.execute(
            select(outbox.c.kind)
            .where(outbox.c.incident_id == incident_id, outbox.c.kind.in_((CREATE_CHANNEL, TEAMS_CREATE_ROOM)))
            .distinct()
        )
        chats.update("slack" if kind == CREATE_CHANNEL else "teams" for (kind,) in rows)
    return chats


async def say(tx: Tx, incident_id: int, text: str, **extra: Any) -> None:
    """A line in the war room (in order per incident; waits for the channel if it does not exist yet) — in Slack
    unless the war room is in Teams only, and in Teams when it is there."""
    chats = await war_room_chats(tx, incident_id)
    if chats != {"teams"}:
        await tx.outbox.enqueue(SAY, {"text": text, **extra}, incident_id=incident_id, ordering_key=f"say:{incident_id}")
    if "teams" in chats:
        await tx.outbox.enqueue(TEAMS_SAY, {"text": text, **extra}, incident_id=incident_id,
                                ordering_key=f"teams-say:{incident_id}")


async def refresh_card(tx: Tx, incident_id: int) -> None:
    """Edit the card in place — coalesced: one pending refresh per incident renders the newest state."""
    links = await tx.links.all(incident_id)
    # a card not yet posted is rendered from the newest state when it is
    if LinkKind.SLACK_CARD in links:
        await tx.outbox.enqueue(
            REFRESH_CARD, incident_id=incident_id, ordering_key=f"card:{incident_id}", dedup_key=f"card:{incident_id}"
        )
    if LinkKind.TEAMS_CARD in links:
        await tx.outbox.enqueue(
            TEAMS_REFRESH_CARD, incident_id=incident_id, ordering_key=f"teams-card:{incident_id}",
            dedup_key=f"teams-card:{incident_id}",
        )


async def link_added(tx: Tx, incident_id: int, kind: LinkKind) -> None:
    """Follow-ups of a new request or bridge link: refresh the card, bookmark it in the channel."""
    await refresh_card(tx, incident_id)
    if kind in BOOKMARKED and await tx.links.get(incident_id, LinkKind.SLACK_CHANNEL) is not None:
        await tx.outbox.enqueue(BOOKMARK, {"link": kind.value}, incident_id=incident_id)


async def alert_digest(tx: Tx, incident_id: int, *, delay: float = 0.0) -> None:
    """Tell the war room which of its alerts fired or resolved — one line per burst, however many alerts."""
    chats = await war_room_chats(tx, incident_id)
    if chats != {"teams"}:
        await tx.outbox.enqueue(
            ALERT_DIGEST, incident_id=incident_id, ordering_key=f"say:{incident_id}",
            dedup_key=f"digest:{incident_id}", delay=delay,
        )
    if "teams" in chats:
        await tx.outbox.enqueue(
            TEAMS_ALERT_DIGEST, incident_id=incident_id, ordering_key=f"teams-say:{incident_id}",
            dedup_key=f"teams-digest:{incident_id}", delay=delay,
        )


async def push_to_itsm(tx: Tx, incident: Incident, settings: Settings) -> None:
    """Carry the incident's changes to its linked request — coalesced: one pending push per incident writes the
    newest state, in order with the incident's other ITSM writes."""
    svc = settings.service(incident.service)
    if svc is None or svc.itsm.direction == "itsm_to_imr" or not settings.xurrent.enabled:
        return
    if await tx.links.get(incident.id, LinkKind.XURRENT_REQUEST) is None:
        return  # the request is being created; its creation pushes whatever changed meanwhile
    await tx.outbox.enqueue(
        PUSH_REQUEST, incident_id=incident.id, ordering_key=f"itsm:{incident.id}", dedup_key=f"push:{incident.id}"
    )


async def topic(tx: Tx, incident_id: int) -> None:
    """Set the channel topic again (it shows status, priority and title)."""
    if await tx.links.get(incident_id, LinkKind.SLACK_CHANNEL) is not None:
        await tx.outbox.enqueue(TOPIC, incident_id=incident_id, ordering_key=f"topic:{incident_id}", dedup_key=f"topic:{incident_id}")


async def incident_changed(tx: Tx, incident: Incident, fields: set[str], settings: Settings, *, from_itsm: bool = False) -> None:
    """Follow-ups of a change to the incident: the card, the topic, and (unless it came from there) the request —
    created now when a raised priority brings the incident to its service's ITSM threshold; for a status change,
    the incidents channel's line and the Slack war room's archiving (scheduled, cancelled, or undone)."""
    await refresh_card(tx, incident.id)
    if fields & {"status", "priority", "title"}:
        await topic(tx, incident.id)
    if "status" in fields:
        await status_changed(tx, incident, settings)
    if not from_itsm:
        if "priority" in fields:
            await request_if_due(tx, incident, settings)
        await push_to_itsm(tx, incident, settings)
    await statuspages.incident_changed(tx, incident, fields, settings)
    await ai_schedule.changed(tx, incident, fields)


async def itsm_changed(
    tx: Tx, incident: Incident, fields: set[str], lines: list[str], *, settings: Settings | None = None
) -> None:
    """Follow-ups of a change that came from the linked request: the card (it shows the request's status), the
    topic, and a line in the war room saying who changed what; with ``settings``, a status change's follow-ups as
    for :func:`incident_changed`."""
    await refresh_card(tx, incident.id)
    if fields & {"status", "priority", "title"}:
        await topic(tx, incident.id)
    if "status" in fields and settings is not None:
        await status_changed(tx, incident, settings)
    for line in lines:
        await say(tx, incident.id, line)
    if settings is not None:
        await statuspages.incident_changed(tx, incident, fields, settings)
    await ai_schedule.changed(tx, incident, fields)


# -- the incidents channel ------------------------------------------------------------------------------
#: An announcement waits for the war room it links to while that room is being made, for this many attempts
#: (the outbox's backoff: seconds in all) — then it is posted without the link, and the announcements queued
#: behind it go on.
ANNOUNCE_WAIT_ATTEMPTS = 6
#: The jobs that make each chat's war room exist (an announcement about the incident waits for them).
_ROOM_MAKERS = {"slack": (CREATE_CHANNEL, UNARCHIVE), "teams": (TEAMS_CREATE_ROOM,)}
_STATUS_EMOJI = {Status.TRIGGERED: "🔴", Status.ACKNOWLEDGED: "🟠", Status.RESOLVED: "🟢"}


def _announcing(settings: Settings) -> list[tuple[str, str]]:
    """(job kind, ordering key) of each incidents channel configured."""
    out = []
    if settings.slack.enabled and settings.slack.announce_channel.strip():
        out.append((ANNOUNCE, "announce:slack"))
    if settings.teams.enabled and settings.teams.announce_channel.strip():
        out.append((TEAMS_ANNOUNCE, "announce:teams"))
    return out


async def announce(
    tx: Tx, settings: Settings, line: str, *, incident_id: int | None = None, room: bool = False
) -> None:
    """One line in each incidents channel configured (none: nothing is enqueued). ``line`` is in warroom's markup
    (warroom.core.markup: outside text escaped); with ``room``, the handler ends it with a link to the incident's
    war room, waiting a little for a room that is being made."""
    for kind, key in _announcing(settings):
        await tx.outbox.enqueue(
            kind, {"text": line, "escaped": True, "room": room}, incident_id=incident_id, ordering_key=key
        )


def duration(seconds: float) -> str:
    """A duration as people say it: ``42 s``, ``17 min``, ``3 h 05 min``, ``2 d 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _lasted(incident: Incident) -> str:
    end = incident.resolved_at or incident.updated_at
    return duration((end - incident.created_at).total_seconds())


def headline(incident: Incident, event: str, emoji: str) -> str:
    """``🚨 INC-12 declared · P1 · checkout-api · Checkout 5xx`` — the incident's ref, what happened, its priority,
    service and title (escaped)."""
    return (f"{emoji} {incident.ref} {event} · {escape(incident.priority or 'no priority')} · "
            f"{escape(incident.service)} · {escape(incident.title)}")


async def _status_before(tx: Tx, incident_id: int) -> str | None:
    """The status the incident had before the change being applied (its newest ``status_changed`` event, which the
    change has just added)."""
    row = (
        await tx.conn.execute(
            select(timeline.c.data)
            .where(timeline.c.incident_id == incident_id, timeline.c.kind == "status_changed")
            .order_by(timeline.c.id.desc())
            .limit(1)
        )
    ).first()
    data = row[0] if row is not None else None
    return str(data.get("from")) if isinstance(data, dict) and data.get("from") else None


async def status_changed(tx: Tx, incident: Incident, settings: Settings) -> None:
    """A status change's line in the incidents channel, the Slack war room's archive timer, and paging: an
    acknowledged or resolved incident's escalation stops at once; a reopened one pages its policy again."""
    if incident.status is Status.TRIGGERED:
        await escalation.start(tx, incident, settings)
    else:
        await escalation.stop(tx, incident)
    if _announcing(settings):
        before = await _status_before(tx, incident.id)
        if incident.status is Status.RESOLVED:
            event = f"resolved after {_lasted(incident)}"
            if incident.merged_into is not None:
                event += f" (a duplicate of INC-{incident.merged_into})"
        elif before == Status.RESOLVED.value:
            event = "reopened" + (" and acknowledged" if incident.status is Status.ACKNOWLEDGED else "")
        elif incident.status is Status.ACKNOWLEDGED:
            event = "acknowledged"
        else:
            event = "triggered again"
        await announce(tx, settings, headline(incident, event, _STATUS_EMOJI[incident.status]),
                       incident_id=incident.id, room=True)
    await _archive_follow_ups(tx, incident, settings)


async def unrouted_alert(tx: Tx, alert: AlertIn, priority: str, settings: Settings) -> None:
    """An alert for no configured service, whose priority would declare an incident somewhere (at or above the
    lowest declare threshold): told in the incidents channel, since no war room will hear of it."""
    if not _announcing(settings):
        return
    thresholds = [s.declare_threshold for s in settings.services] or settings.priorities[:1]
    lowest = max(thresholds, key=settings.priority_rank)
    if not settings.at_or_above(priority, lowest):
        return
    named = f"service '{escape(alert.service)}'" if alert.service else "no service"
    summary = f": {escape(alert.summary[:300])}" if alert.summary.strip() else ""
    await announce(
        tx, settings,
        f"⚠️ Unrouted alert {escape(alert.name)} ({escape(priority)}, from {escape(alert.source)}){summary} — it "
        f"names {named}, which is not in the catalog, so no incident was declared. Add the service to `services` "
        "or set `intake.fallback_service`.",
    )


async def war_room_failed(tx: Tx, incident_id: int, text: str, settings: Settings) -> None:
    """Something that keeps the incident's war room from existing (``text``: plain, with the reason and the command
    that retries), told in the incidents channel."""
    if not _announcing(settings):
        return
    incident = await tx.incidents.get(incident_id)
    if incident is None:
        return
    await announce(tx, settings, f"{headline(incident, 'war room problem', '⚠️')}: {escape(text)}",
                   incident_id=incident_id, room=True)


def room_link(links: dict[LinkKind, Link], chat: str) -> str | None:
    """A link to the incident's war room in ``chat`` ("slack" or "teams") as warroom markup, None if it has none."""
    if chat == "slack" and (channel := links.get(LinkKind.SLACK_CHANNEL)) is not None:
        name = escape(str(channel.data.get("name") or channel.remote_id))
        return f"<{channel.url}|#{name}>" if channel.url else f"<#{channel.remote_id}>"
    if chat == "teams" and (room := links.get(LinkKind.TEAMS_CHANNEL)) is not None and room.url:
        return f"<{room.url}|{escape(str(room.data.get('name') or 'Teams war room'))} (Teams)>"
    return None


async def announced_room(tx: Tx, incident_id: int, chat: str) -> tuple[str | None, bool]:
    """The war-room link an announcement in ``chat``'s incidents channel ends with — that chat's room, else the
    other's — and whether to wait for it (True while the room it would link is being made or opened again)."""
    rows = await tx.conn.execute(
        select(outbox.c.kind).where(
            outbox.c.incident_id == incident_id,
            outbox.c.kind.in_([k for kinds in _ROOM_MAKERS.values() for k in kinds]),
            outbox.c.status.in_(("pending", "running")),
        )
    )
    making = {kind for (kind,) in rows}
    links = await tx.links.all(incident_id)
    for which in (chat, *(c for c in _ROOM_MAKERS if c != chat)):
        if making & set(_ROOM_MAKERS[which]):
            return None, True
        if (link := room_link(links, which)) is not None:
            return link, False
    return None, False


# -- archiving the Slack war room -----------------------------------------------------------------------
def archive_timer(incident_id: int) -> str:
    return f"slack-archive:{incident_id}"


async def _archive_follow_ups(tx: Tx, incident: Incident, settings: Settings) -> None:
    """Resolved: archive the Slack war room ``slack.archive_after_hours`` after the resolution (a durable timer).
    Not resolved (reopened): no archiving; a room archived already is opened again."""
    if not settings.slack.enabled:
        return
    if incident.status is Status.RESOLVED:
        hours = settings.slack.archive_after_hours
        if hours and "slack" in await war_room_chats(tx, incident.id):
            due = (incident.resolved_at or tx.now) + timedelta(hours=hours) - tx.now
            await tx.timers.schedule(archive_timer(incident.id), ARCHIVE, delay=max(0.0, due.total_seconds()),
                                     incident_id=incident.id)
        return
    await tx.timers.cancel(archive_timer(incident.id))
    channel = await tx.links.get(incident.id, LinkKind.SLACK_CHANNEL)
    if channel is not None and channel.data.get("archived"):
        await unarchive(tx, incident.id)


async def unarchive(tx: Tx, incident_id: int) -> None:
    """Open the archived Slack war room again (coalesced: one pending job per incident)."""
    await tx.outbox.enqueue(UNARCHIVE, incident_id=incident_id, dedup_key=f"unarchive:{incident_id}")


def final_summary(incident: Incident, links: dict[LinkKind, Link], *, now: datetime | None = None) -> str:
    """The line a war room ends with before it is archived: when the incident was resolved, how long it lasted, and
    links to its request and its postmortem when it has them (warroom markup)."""
    resolved = incident.resolved_at or now or incident.updated_at
    parts = [f"📕 {incident.ref} was resolved {resolved:%Y-%m-%d %H:%M} UTC after {_lasted(incident)}"]
    request = links.get(LinkKind.XURRENT_REQUEST)
    if request is not None:
        label = f"ITSM request #{escape(request.remote_id)}"
        parts.append(f"<{request.url}|{label}>" if request.url else label)
    postmortem = links.get(LinkKind.POSTMORTEM)
    if postmortem is not None and postmortem.url:
        parts.append(f"<{postmortem.url}|postmortem>")
    return " · ".join(parts) + ". This channel is archived now; its history stays readable."


async def task_changed(tx: Tx, task_id: int, settings: Settings) -> None:
    """A post-incident task was created or changed in warroom (title, details, status, owner, a note): its RFC is
    created or brought up to date by the ITSM sync — one coalesced job per task, in order per task."""
    if not settings.xurrent.enabled:
        return
    # the job carries the task's incident: a failure that buries it is said in that war room, and
    # `warroom sync retry <incident>` runs it again
    task = await tx.task_links.task(task_id)
    await tx.outbox.enqueue(TASK_RFC_PUSH, {"task": task_id}, incident_id=int(task["incident_id"]) if task else None,
                            ordering_key=f"task:{task_id}", dedup_key=f"task-push:{task_id}")


async def task_card_changed(tx: Tx, task_id: int) -> None:
    """A post-incident task changed — in chat, by a button, or by the RFC sync's pull: what shows it is brought up to
    date (the incident card's count of open tasks, refreshed in place) and its owner's reminders follow its due date
    and status (moved, or cancelled once it is closed)."""
    from warroom.response import tasks as follow_ups  # the task module enqueues through this one

    task = await tx.records.task(task_id)
    if task is None:
        return
    incident_id = int(task["incident_id"])
    await refresh_card(tx, incident_id)
    await follow_ups.reschedule_reminders(tx, task)
    if task["status"] == "proposed":
        return  # a recommendation nobody took yet has its "Create task" button on the postmortem, not a card
    chats = await war_room_chats(tx, incident_id)
    if "slack" in chats:
        await tx.outbox.enqueue(TASK_CARD, {"task": task_id}, incident_id=incident_id,
                                ordering_key=f"task-card:{task_id}", dedup_key=f"task-card:{task_id}")
    if "teams" in chats:  # one at a time per incident: the cards' ids are kept in one link of the incident
        await tx.outbox.enqueue(TEAMS_TASK_CARD, {"task": task_id}, incident_id=incident_id,
                                ordering_key=f"teams-task-cards:{incident_id}", dedup_key=f"teams-task-card:{task_id}")
