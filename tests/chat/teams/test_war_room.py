"""The war room in Teams form, end to end over HTTP: the real server against the Graph and Bot Connector emulators
(and Xurrent, Slack, Zoom, Webex) — channel, card, meeting bridge and ITSM link, never duplicated under Graph and
Connector faults or a crash at a job boundary; the card edited in place; lines and digests; group chats and
private channels; the channel archived after the incident is resolved."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

from tests.e2e.helpers import critical_alert
from warroom.chat.teams.cards import card_facts
from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness
from warroom.sandbox.teams.tenant import Message
from warroom.sandbox.world import World
from warroom.store.outbox import Job

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "adaptive-card-1.5.json").read_text())
VALIDATOR = jsonschema.Draft6Validator(SCHEMA, format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER)
CREATE_CHANNEL = "POST /teams/{team-id}/channels"
START_THREAD = "POST /v3/conversations"
CREATE_OR_GET = "POST /users/{user-id}/onlineMeetings/createOrGet"
EDIT_CARD = "PUT /v3/conversations/{id}/activities/{activityId}"


def in_teams(
    war_room: str = "standard",
    *,
    chat: str = "teams",
    bridge: str = "teams",
    hours: float = 72.0,
    service: int = 0,
) -> Callable[[dict[str, Any]], None]:
    def tweak(data: dict[str, Any]) -> None:
        data["teams"].update({"enabled": True, "archive_after_hours": hours})
        svc = data["services"][service]
        svc.update({"chat": chat, "bridge": bridge})
        svc["teams"]["war_room"] = war_room

    return tweak


@dataclass
class TeamsRoom:
    channels: list[dict[str, Any]]
    chats: list[dict[str, Any]]
    messages: list[Message]
    meetings: list[dict[str, Any]]
    requests: list[dict[str, Any]]

    @property
    def root(self) -> dict[str, Any]:
        rooms = self.channels + self.chats
        assert len(rooms) == 1, rooms
        return rooms[0]

    @property
    def cards(self) -> list[Message]:
        return [
            m
            for m in self.messages
            if any(a.get("contentType", "").endswith("adaptive") for a in m.activity.get("attachments") or [])
        ]

    @property
    def card(self) -> Message:
        assert len(self.cards) == 1, [m.activity for m in self.cards]
        return self.cards[0]

    @property
    def card_text(self) -> str:
        return card_facts(self.card.activity["attachments"][0]["content"])

    @property
    def lines(self) -> list[str]:
        return [str(m.activity.get("text", "")) for m in self.messages if m not in self.cards]


def teams_room(h: Harness, incident: int) -> TeamsRoom:
    tenant = h.world.teams.tenant
    mark = f"war room of INC-{incident} (opened by warroom)"
    channels = [c for c in tenant.channels.values() if mark in (c["description"] or "")]
    chats = [c for c in tenant.chats.values() if (c["topic"] or "").startswith(f"INC-{incident} ")]
    messages = [m for r in channels + chats for m in tenant.messages.get(r["id"], [])]
    meetings = [m for m in tenant.meetings.values() if m["subject"].startswith(f"INC-{incident} ")]
    requests = [r for r in h.world.xurrent.requests.values() if r.get("sourceID") == f"incident-{incident}"]
    return TeamsRoom(channels, chats, messages, meetings, requests)


def schema_errors(message: Message) -> list[str]:
    """Every version of a card message the bot sent, checked against the Adaptive Cards schema."""
    return [
        e.message
        for v in message.versions
        for a in v.get("attachments") or []
        for e in VALIDATOR.iter_errors(a["content"])
    ]


async def until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_an_alert_opens_a_complete_teams_war_room(db_url: str) -> None:
    h = await Harness.start(db_url, tweak=in_teams())
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        assert await h.wait_complete(incident) == []
        await h.runtime.worker.run_until_idle()
        room = teams_room(h, incident)
        tw = h.world.teams
        channel = room.root
        assert channel["displayName"] == f"INC-{incident} CheckoutErrorRate 5xx above 12"
        assert channel["teamId"] == tw.team_ids["checkout-api"] and channel["membershipType"] == "standard"
        # the responders are @mentioned in the first post; the contractor has no Teams account
        first = room.card.versions[0]
        mentioned = {e["mentioned"]["id"] for e in first["entities"]}
        assert mentioned == {
            tw.user_ids[e]
            for e in ("ana@example.com", "ben@example.com", "chen@example.com", "dana@example.com")
        }
        # the card: one message, its last version carrying the request and the meeting, every version valid
        request, meeting = room.requests[0], room.meetings[0]
        assert f"#{request['id']}" in room.card_text and meeting["joinWebUrl"] in room.card_text
        assert schema_errors(room.card) == []
        assert len(room.requests) == 1 and len(room.meetings) == 1
        assert (
            meeting["participants"]["organizer"]["identity"]["user"]["id"]
            == tw.user_ids["bridges@example.com"]
        )
        assert not h.world.slack.channels  # the service's war room is in Teams only
        async with h.runtime.store.read() as tx:
            links = await tx.links.all(incident)
            texts = [e.text for e in await tx.timeline.for_incident(incident)]
        assert links[LinkKind.TEAMS_CHANNEL].remote_id == channel["id"]
        assert links[LinkKind.TEAMS_CARD].remote_id == room.card.id
        assert links[LinkKind.BRIDGE].url == meeting["joinWebUrl"]
        assert any("not in Teams: fay@contractor.example" in t for t in texts)
    finally:
        await h.stop()


async def test_graph_and_connector_faults_never_duplicate_the_war_room(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=in_teams())
    graph, connector = h.world.teams.graph, h.world.teams.connector
    graph.inject(CREATE_CHANNEL, "ratelimit", retry_after=1)
    graph.inject(CREATE_CHANNEL, "after", status=500)  # created, but the answer is lost
    graph.inject("GET /users", "status", status=503)
    graph.inject(CREATE_OR_GET, "after", status=502)
    graph.inject(CREATE_OR_GET, "status", status=500)
    connector.inject(
        START_THREAD, "after", status=502
    )  # the card is posted, the answer lost: found, not reposted
    connector.inject(EDIT_CARD, "ratelimit", retry_after=1)
    try:
        declared = await h.runtime.incidents.declare(
            service="checkout-api", title="Checkout is down", priority="P1", actor="ana@example.com"
        )
        assert await h.wait_complete(declared.id, timeout=40) == []
        await h.runtime.worker.run_until_idle()
        room = teams_room(h, declared.id)
        assert len(room.channels) == 1 and len(room.cards) == 1 and len(room.meetings) == 1
        assert len(room.requests) == 1
        assert (
            room.meetings[0]["joinWebUrl"] in room.card_text
            and f"#{room.requests[0]['id']}" in room.card_text
        )
        assert not graph.faults and not connector.faults  # every fault was met
        assert len(connector.calls_to(START_THREAD)) == 1
    finally:
        await h.stop()


async def crash_after(database_url: str, kind: str, op: str) -> None:
    """Run the fan-out until ``op`` had its effect in job ``kind``, kill the process before the job's result is
    recorded, start a new one on the same database: the war room is completed with one of everything."""
    world = await World.start()
    h = await Harness.start(database_url, world=world, tweak=in_teams())

    async def die(job: Job) -> None:
        if job.kind == kind:
            raise asyncio.CancelledError  # the process dies: the effect happened, its result is not recorded

    def effect_done() -> bool:
        calls = world.teams.graph.calls if op == CREATE_CHANNEL else world.teams.connector.calls
        return any(c.op == op and c.status == 201 for c in calls)

    h.runtime.worker.before_commit = die
    incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
    await until(effect_done)
    await h.runtime.worker.stop()
    await h.stop(world=False)
    again = await Harness.start(database_url, world=world, tweak=in_teams())
    try:
        assert await again.wait_complete(incident, timeout=30) == []
        await again.runtime.worker.run_until_idle()
        room = teams_room(again, incident)
        assert len(room.channels) == 1 and len(room.cards) == 1 and len(room.meetings) == 1, kind
    finally:
        await again.stop()


async def test_a_crash_after_a_teams_effect_adopts_instead_of_repeating(sqlite_url: str) -> None:
    await crash_after(sqlite_url, "teams.create_room", CREATE_CHANNEL)
    await crash_after(sqlite_url.replace(".db", "-card.db"), "teams.post_card", START_THREAD)


async def test_the_card_is_edited_in_place_and_a_resolved_room_archived(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=in_teams(hours=0.0003))  # about a second
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        assert await h.wait_complete(incident) == []
        await h.runtime.incidents.acknowledge(incident, actor="ana@example.com")
        await h.runtime.worker.run_until_idle()
        room = teams_room(h, incident)
        content = room.card.activity["attachments"][0]["content"]
        assert "Acknowledged" in room.card_text and [a["title"] for a in content["actions"]][:2] == [
            "Resolve",
            "Take Incident Commander",
        ]
        assert len(room.card.versions) >= 2 and schema_errors(room.card) == []
        await h.runtime.incidents.resolve(incident, actor="ana@example.com")
        await h.runtime.worker.run_until_idle()
        assert "Reopen" in teams_room(h, incident).card_text
        tenant = h.world.teams.tenant
        await until(lambda: tenant.channels[room.root["id"]]["isArchived"])
        await h.runtime.worker.run_until_idle()
        async with h.runtime.store.read() as tx:
            texts = [e.text for e in await tx.timeline.for_incident(incident)]
            link = await tx.links.get(incident, LinkKind.TEAMS_CHANNEL)
        assert any("archived" in t for t in texts) and link is not None and link.data["archived"] is True
        # reopened: the room is opened again and its card offers Acknowledge again
        await h.runtime.incidents.reopen(incident, actor="ana@example.com")
        await h.runtime.worker.run_until_idle()
        assert tenant.channels[room.root["id"]]["isArchived"] is False
        assert "Acknowledge" in teams_room(h, incident).card_text
    finally:
        await h.stop()


async def test_a_reopened_incident_keeps_its_room(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=in_teams(hours=1))
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        assert await h.wait_complete(incident) == []

        async def archive_timers() -> list[dict[str, Any]]:
            async with h.runtime.store.read() as tx:
                return [t for t in await tx.timers.all() if t["key"] == f"teams-archive:{incident}"]

        await h.runtime.incidents.resolve(incident, actor="ana@example.com")
        await h.runtime.worker.run_until_idle()
        [timer] = await archive_timers()
        assert (
            3500 < (timer["fire_at"] - datetime.now(UTC)).total_seconds() <= 3600
        )  # an hour after resolving
        await h.runtime.incidents.reopen(incident, actor="ana@example.com")
        await h.runtime.worker.run_until_idle()
        assert await archive_timers() == []
        assert h.world.teams.tenant.channels[teams_room(h, incident).root["id"]]["isArchived"] is False
    finally:
        await h.stop()


async def test_lines_and_alert_digests_reach_the_teams_room_once(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=in_teams())
    try:
        alert = critical_alert()
        incident = (await h.post_alerts(alert)).json()["incidents"][0]
        assert await h.wait_complete(incident) == []
        other = critical_alert(name="CheckoutLatency", severity="warning")
        assert (await h.post_alerts(other)).json()["alerts"][0]["result"] == "grouped"
        await h.runtime.worker.run_until_idle()
        resolved = json.loads(json.dumps(alert))
        resolved["status"] = resolved["alerts"][0]["status"] = "resolved"
        resolved["alerts"][0]["endsAt"] = "2030-01-01T00:00:00Z"
        await h.post_alerts(resolved)
        await h.runtime.worker.run_until_idle()
        lines = teams_room(h, incident).lines
        assert sum("CheckoutLatency" in line for line in lines) == 1
        assert sum("resolved: CheckoutErrorRate" in line and "still firing" in line for line in lines) == 1
        assert not h.world.slack.channels
    finally:
        await h.stop()


async def test_private_incidents_get_a_group_chat_and_private_services_a_private_channel(
    sqlite_url: str,
) -> None:
    def tweak(data: dict[str, Any]) -> None:
        in_teams("chat")(data)
        in_teams("private", bridge="webex", service=1)(data)

    h = await Harness.start(sqlite_url, tweak=tweak)
    try:
        tw = h.world.teams
        secret = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        private = (await h.post_alerts(critical_alert(name="PaymentsDown", service="payments"))).json()[
            "incidents"
        ][0]
        assert await h.wait_complete(secret) == [] and await h.wait_complete(private) == []
        await h.runtime.worker.run_until_idle()
        chat = teams_room(h, secret)
        assert not chat.channels and chat.root["chatType"] == "group"
        assert chat.root["members"] == {
            tw.user_ids[e]
            for e in ("ana@example.com", "ben@example.com", "chen@example.com", "dana@example.com")
        }
        assert chat.root["apps"] == {tw.tenant.catalog_app_id}
        assert (
            schema_errors(chat.card) == [] and "entities" not in chat.card.versions[0]
        )  # members, not mentions
        room = teams_room(h, private)
        channel = room.root
        assert channel["membershipType"] == "private" and channel["teamId"] == tw.team_ids["payments"]
        assert channel["members"] == {
            tw.user_ids[e] for e in ("eli@example.com", "ana@example.com", "dana@example.com")
        }
        assert channel["owners"] == {tw.user_ids["eli@example.com"]}  # the on-call
        assert len(room.cards) == 1 and room.requests and "Join bridge" in room.card_text
    finally:
        await h.stop()


async def test_a_service_on_both_chats_gets_both_war_rooms(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=in_teams(chat="both", bridge="zoom"))
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        assert await h.wait_complete(incident) == []
        await h.post_alerts(critical_alert(name="CheckoutLatency", severity="warning"))
        await h.runtime.worker.run_until_idle()
        room = teams_room(h, incident)
        slack = [c for c in h.world.slack.channels.values() if c["name"].startswith(f"inc-{incident}-")]
        assert len(slack) == 1 and len(room.cards) == 1
        assert any("CheckoutLatency" in m["text"] for m in h.world.slack.messages(slack[0]["id"]))
        assert any("CheckoutLatency" in line for line in room.lines)
        zoom = [m for m in h.world.zoom.meetings.values() if m["topic"].startswith(f"INC-{incident} ")]
        assert len(zoom) == 1 and zoom[0]["join_url"] in room.card_text
    finally:
        await h.stop()
