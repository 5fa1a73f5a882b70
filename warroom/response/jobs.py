"""The outbox job kinds of the war-room fan-out and the helpers that enqueue them (no I/O here).

The fan-out as a graph: ``create_channel``, ``itsm.create_request`` and ``bridge.create`` start at once and run in
parallel. A created channel enqueues ``invite``, ``topic``, ``post_card`` and a bookmark per link that exists;
a posted card enqueues ``pin`` (and a card refresh if links arrived meanwhile); a new link (request, bridge)
enqueues a card refresh and its bookmark once the channel exists. Card refreshes are coalesced per incident.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from warroom.core.jobs import (  # re-exported for the handlers (__all__)
    ALERT_DIGEST,
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
    TEAMS_ADD_MEMBERS,
    TEAMS_ALERT_DIGEST,
    TEAMS_ARCHIVE,
    TEAMS_CREATE_ROOM,
    TEAMS_POST_CARD,
    TEAMS_REFRESH_CARD,
    TEAMS_SAY,
    TOPIC,
)
from warroom.core.model import Incident, LinkKind
from warroom.response.ai import schedule as ai_schedule
from warroom.settings import ServiceSettings, Settings
from warroom.store.db import Tx
from warroom.store.schema import outbox

__all__ = [
    "ALERT_DIGEST", "BOOKMARK", "BOOKMARKED", "CREATE_BRIDGE", "CREATE_CHANNEL", "CREATE_REQUEST", "INVITE", "PIN",
    "POST_CARD", "PULL_REQUEST", "PUSH_REQUEST", "REFRESH_CARD", "SAY", "TEAMS_ADD_MEMBERS", "TEAMS_ALERT_DIGEST",
    "TEAMS_ARCHIVE", "TEAMS_CREATE_ROOM", "TEAMS_POST_CARD", "TEAMS_REFRESH_CARD", "TEAMS_SAY", "TOPIC",
    "alert_digest", "enqueue_fanout", "incident_changed", "itsm_changed", "link_added", "no_request_because",
    "push_to_itsm", "refresh_card", "request_if_due", "say", "topic", "wants_request", "war_room_chats",
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
    created now when a raised priority brings the incident to its service's ITSM threshold."""
    await refresh_card(tx, incident.id)
    if fields & {"status", "priority", "title"}:
        await topic(tx, incident.id)
    if not from_itsm:
        if "priority" in fields:
            await request_if_due(tx, incident, settings)
        await push_to_itsm(tx, incident, settings)
    await ai_schedule.changed(tx, incident, fields)


async def itsm_changed(tx: Tx, incident: Incident, fields: set[str], lines: list[str]) -> None:
    """Follow-ups of a change that came from the linked request: the card (it shows the request's status), the
    topic, and a line in the war room saying who changed what."""
    await refresh_card(tx, incident.id)
    if fields & {"status", "priority", "title"}:
        await topic(tx, incident.id)
    for line in lines:
        await say(tx, incident.id, line)
    await ai_schedule.changed(tx, incident, fields)
