"""Outbox job handlers of the war room in Microsoft Teams, as :mod:`warroom.chat.slack.fanout` is Slack's: the room (a
standard or private channel in the service's team, or a group chat for private incidents), the incident card posted
proactively and edited in place, war-room lines, alert digests, and the channel archived some hours after the
incident is resolved (a durable timer). The bridge is the shared ``bridge.create`` job; with ``bridge: teams`` it is
a Teams meeting (:class:`~warroom.adapters.microsoft.graph.TeamsMeetings`). Also the lines of the incidents channel
(``teams.announce_channel`` in ``teams.announce_team_id``), through the same line path as the war room's.

Each handler does its outside calls, then returns the function that records the result in the transaction that
completes the job. Creates are idempotent across crashes: on a retry (``job.is_retry``) the handler first looks for
what an earlier attempt may have made — the channel by name and the marker in its description, the group chat by
its topic, the card by the id its first element carries, a line by its text — and adopts it.

Links: ``teams_channel`` (remote id: the channel or chat id; data: kind, team, name, people found and not found,
the alerts the room was told of) and ``teams_card`` (remote id: the card's activity id; data: its conversation and
service URL, and who it mentions).
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from warroom.adapters.errors import Permanent
from warroom.adapters.microsoft.connector import BotConnector, Posted
from warroom.adapters.microsoft.graph import TeamsGraph, TeamsUser, channel_display_name
from warroom.chat.grammar import GrammarContext
from warroom.chat.teams import cards
from warroom.core import jobs as kinds
from warroom.core.intake import digest_line
from warroom.core.model import Incident, Link, LinkKind, RoleHolder, Status
from warroom.response import jobs
from warroom.settings import ServiceSettings, Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job, NotReady

log = logging.getLogger("warroom.teams")

SYSTEM = "warroom"
#: Members a private channel is created with; the rest are added by a follow-up job.
PRIVATE_AT_CREATION = 200


def archive_timer(incident_id: int) -> str:
    return f"teams-archive:{incident_id}"


@dataclass
class RoomState:
    incident: Incident
    links: dict[LinkKind, Link]
    roles: dict[str, RoleHolder] = field(default_factory=dict)
    stakeholders: int = 0
    #: The incident's post-incident tasks still to be done.
    open_tasks: int = 0

    def card(self, labels: Mapping[str, str]) -> dict[str, Any]:
        """The Adaptive Card of this state; roles in the configured order (``labels``: key → label), each holder
        once — as on the Slack card."""
        seen: dict[str, tuple[str, RoleHolder]] = {}
        for key in [*labels, *self.roles]:
            if key in self.roles:
                seen.setdefault(self.roles[key].role, (labels.get(key, key), self.roles[key]))
        return cards.card(
            self.incident, self.links, roles=list(seen.values()), stakeholders=self.stakeholders,
            open_tasks=self.open_tasks,
        )


@dataclass
class TeamsFanOut:
    settings: Settings
    store: Store
    graph: TeamsGraph
    connector: BotConnector

    @property
    def role_labels(self) -> dict[str, str]:
        return GrammarContext.from_settings(self.settings).role_labels

    def handlers(self) -> dict[str, Handler]:
        return {
            kinds.TEAMS_CREATE_ROOM: self.create_room,
            kinds.TEAMS_ADD_MEMBERS: self.add_members,
            kinds.TEAMS_POST_CARD: self.post_card,
            kinds.TEAMS_REFRESH_CARD: self.refresh_card,
            kinds.TEAMS_SAY: self.say,
            kinds.TEAMS_ALERT_DIGEST: self.alert_digest,
            kinds.TEAMS_ARCHIVE: self.archive,
            kinds.TEAMS_ANNOUNCE: self.announce,
        }

    async def state(self, incident_id: int) -> RoomState:
        async with self.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
            if incident is None:
                raise LookupError(f"incident {incident_id} does not exist")
            return RoomState(
                incident,
                await tx.links.all(incident_id),
                await tx.roles.all(incident_id),
                len(await tx.stakeholders.all(incident_id)),
                await tx.records.open_task_count(incident_id),
            )

    async def _room(self, job: Job) -> tuple[RoomState, Link]:
        state = await self.state(job.incident)
        room = state.links.get(LinkKind.TEAMS_CHANNEL)
        if room is None:
            raise NotReady(SYSTEM, "the Teams war room does not exist yet")
        return state, room

    def _service(self, incident: Incident) -> ServiceSettings:
        svc = self.settings.service(incident.service)
        if svc is None:
            raise Permanent(
                SYSTEM,
                f"the service '{incident.service}' is not in the configuration any more: add it back "
                "to services to give its incidents a Teams war room",
            )
        return svc

    # -- the room -----------------------------------------------------------------------------------
    async def create_room(self, job: Job) -> Commit | None:
        state = await self.state(job.incident)
        if LinkKind.TEAMS_CHANNEL in state.links:
            return None
        inc = state.incident
        svc = self._service(inc)
        emails = list(svc.war_room_people)
        if inc.assignee and inc.assignee not in emails:
            emails.insert(0, inc.assignee)
        async with self.store.read() as tx:  # people paged before the room existed (the escalation's first step)
            emails += [str(p["email"]) for p in await tx.pages.all(inc.id) if p["email"] not in emails]
        users = await self.graph.lookup_users(emails) if emails else {}
        not_found = [e for e in emails if e not in users]
        kind = "chat" if job.payload.get("private") else svc.teams.war_room
        extra_members: list[str] = []
        not_in_team: list[str] = []
        if kind == "chat":
            room_id, url, name, data = await self._open_chat(job, inc, svc, users)
        else:
            team_id = svc.teams.team_id
            if not team_id:
                raise Permanent(
                    SYSTEM,
                    f"services ({svc.name}).teams.team_id is not set: give the team that holds "
                    "its war-room channels",
                )
            name = self._channel_name(inc, svc)
            owners: list[str] = []
            members: list[str] = []
            if kind == "private":
                in_team = await self.graph.team_member_ids(team_id)
                found = [u for u in users.values() if u.id in in_team]
                not_in_team = [u.email for u in users.values() if u.id not in in_team]
                if not found:
                    raise Permanent(
                        SYSTEM,
                        f"nobody of {svc.name}'s war-room people is a member of its team: add them "
                        "to the team, or use teams.war_room: standard",
                    )
                owner = next((u for u in found if u.email == inc.assignee), found[0])
                owners = [owner.id]
                members = [u.id for u in found]
                extra_members = members[PRIVATE_AT_CREATION:]
                members = members[:PRIVATE_AT_CREATION]
            channel = await self.graph.open_channel(
                team_id,
                name,
                marker=_marker(inc),
                description=_description(inc),
                private=kind == "private",
                owner_ids=owners,
                member_ids=members,
                look_first=job.is_retry,
            )
            room_id, url, name = channel.id, channel.url, channel.name
            data = {"kind": "channel", "team_id": team_id, "membership": channel.membership}
        data.update(
            {
                "name": name,
                "service_url": self.connector.service_url,
                "people": [[u.id, u.name, u.email] for u in users.values() if u.email not in not_in_team],
                "not_found": not_found,
                "not_in_team": not_in_team,
            }
        )

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(inc.id)
            if await tx.links.get(inc.id, LinkKind.TEAMS_CHANNEL) is not None:
                return  # another run of this job got there first
            # the alerts the declaring line already told of (as for Slack): the first digest tells the rest
            told = {
                str(a["id"]): a["announced"]
                for a in await tx.alerts.for_incident(inc.id)
                if a.get("announced")
            }
            await tx.links.put(inc.id, LinkKind.TEAMS_CHANNEL, room_id, url, {**data, "announced": told})
            where = (
                "group chat" if data["kind"] == "chat" else f"{data.get('membership', 'standard')} channel"
            )
            await tx.timeline.add(inc.id, "war_room", f"Teams war room '{name}' ({where}) created")
            people = len(data["people"])
            verb = "Mentioning" if where == "standard channel" else "Added"
            text = f"{verb} {people} people in the Teams war room"
            if not_found:
                text += f"; not in Teams: {', '.join(not_found)}"
            if not_in_team:
                text += f"; not members of the team: {', '.join(not_in_team)}"
            await tx.timeline.add(
                inc.id,
                "invited",
                text,
                data={"teams": True, "not_found": not_found, "not_in_team": not_in_team},
            )
            await tx.outbox.enqueue(
                kinds.TEAMS_POST_CARD, incident_id=inc.id, ordering_key=f"teams-card:{inc.id}"
            )
            if extra_members:
                await tx.outbox.enqueue(kinds.TEAMS_ADD_MEMBERS, {"users": extra_members}, incident_id=inc.id)

        return commit

    def _channel_name(self, inc: Incident, svc: ServiceSettings) -> str:
        try:
            return channel_display_name(
                svc.teams.name_pattern,
                number=inc.number,
                title=inc.title,
                service=inc.service,
                priority=inc.priority,
            )
        except (KeyError, IndexError, ValueError):
            raise Permanent(
                SYSTEM,
                f"services ({svc.name}).teams.name_pattern uses an unknown placeholder: use "
                "{number}, {title}, {slug}, {service}, {priority}",
            ) from None

    async def _open_chat(
        self, job: Job, inc: Incident, svc: ServiceSettings, users: dict[str, TeamsUser]
    ) -> tuple[str, str | None, str, dict[str, Any]]:
        catalog = self.settings.teams.catalog_app_id
        if not catalog:
            raise Permanent(
                SYSTEM,
                "teams.catalog_app_id is not set: warroom cannot join the group chats of private "
                "incidents without the app's id in your Teams app catalog",
            )
        assignee = users.get(inc.assignee or "")
        ordered = ([assignee] if assignee else []) + [u for u in users.values() if u is not assignee]
        if len(ordered) < 2:
            raise Permanent(
                SYSTEM,
                f"a group chat needs two people in Teams, and {svc.name} has "
                f"{len(ordered)} of its war-room people there: add responders who are in Teams",
            )
        topic = f"{inc.ref} {inc.title}"[:250]
        chat = await self.graph.open_group_chat(topic, [u.id for u in ordered], look_first=job.is_retry)
        await self.graph.install_app_in_chat(chat.id, catalog)
        return chat.id, chat.url, chat.topic, {"kind": "chat"}

    async def add_members(self, job: Job) -> Commit | None:
        state, room = await self._room(job)
        users = [str(u) for u in job.payload.get("users", [])]
        refused = await self.graph.add_channel_members(str(room.data["team_id"]), room.remote_id, users)

        async def commit(tx: Tx) -> None:
            text = f"Added {len(users) - len(refused)} more people to the Teams war room"
            if refused:
                text += f"; {len(refused)} could not be added ({'; '.join(sorted(set(refused.values())))})"
            await tx.timeline.add(
                state.incident.id, "invited", text, data={"teams": True, "refused": sorted(refused)}
            )

        return commit

    # -- the card -----------------------------------------------------------------------------------
    async def post_card(self, job: Job) -> Commit | None:
        state, room = await self._room(job)
        if LinkKind.TEAMS_CARD in state.links:
            return None
        inc = state.incident
        mentions = _mentions(room)
        posted = await self._find_card(room, cards.card_key(inc)) if job.is_retry else None
        rendered = {k for k in jobs.BOOKMARKED if k in state.links}
        if posted is None:
            activity = cards.card_message(state.card(self.role_labels), mentions=mentions, intro=_intro(inc))
            if room.data.get("kind") == "channel":
                posted = await self.connector.start_thread(
                    room.remote_id, activity, service_url=_service_url(room)
                )
            else:
                posted = await self.connector.send(room.remote_id, activity, service_url=_service_url(room))
        else:
            rendered = set()  # an adopted card may be older than the links: refresh it

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(inc.id)
            await tx.links.put(
                inc.id,
                LinkKind.TEAMS_CARD,
                posted.activity_id,
                None,
                {
                    "conversation": posted.conversation_id,
                    "service_url": posted.service_url,
                    "room": room.remote_id,
                    "mentions": [list(m) for m in mentions],
                },
            )
            links = await tx.links.all(inc.id)
            current = await tx.incidents.get(inc.id)
            if {k for k in jobs.BOOKMARKED if k in links} != rendered or (
                current and current.version != inc.version
            ):
                await jobs.refresh_card(tx, inc.id)

        return commit

    async def _find_card(self, room: Link, key: str) -> Posted | None:
        for message in await self._recent(room):
            for attachment in message.attachments:
                content = attachment.get("content")
                body = content.get("body") if isinstance(content, dict) else None
                if isinstance(body, list) and body and isinstance(body[0], dict) and body[0].get("id") == key:
                    conversation = (
                        f"{room.remote_id};messageid={message.id}"
                        if room.data.get("kind") == "channel"
                        else room.remote_id
                    )
                    return Posted(_service_url(room) or self.connector.service_url, conversation, message.id)
        return None

    async def _recent(self, room: Link) -> list[Any]:
        team = str(room.data["team_id"]) if room.data.get("kind") == "channel" else None
        messages = await self.graph.recent_messages(room.remote_id, team_id=team)
        return [m for m in messages if m.app_id == self.settings.teams.app_id]

    async def refresh_card(self, job: Job) -> Commit | None:
        state, room = await self._room(job)
        card = state.links.get(LinkKind.TEAMS_CARD)
        if card is None:
            return None
        inc = state.incident
        reopened = bool(room.data.get("archived")) and inc.status is not Status.RESOLVED
        if room.data.get("archived") and not reopened:
            return None  # an archived channel is read-only; its card stays as it was when the room closed
        if reopened:
            await self.graph.unarchive_channel(str(room.data["team_id"]), room.remote_id)
        mentions = [(str(m[0]), str(m[1])) for m in card.data.get("mentions", [])]
        activity = cards.card_message(state.card(self.role_labels), mentions=mentions, intro=_intro(inc))
        await self.connector.update(
            str(card.data["conversation"]),
            card.remote_id,
            activity,
            service_url=str(card.data.get("service_url") or "") or None,
        )
        hours = self.settings.teams.archive_after_hours
        if room.data.get("kind") != "channel" or not (hours or reopened):
            return None

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(inc.id)
            if reopened:
                current_room = await tx.links.get(inc.id, LinkKind.TEAMS_CHANNEL)
                if current_room is not None:
                    await tx.links.put(
                        inc.id,
                        LinkKind.TEAMS_CHANNEL,
                        current_room.remote_id,
                        current_room.url,
                        {**current_room.data, "archived": False},
                    )
                await tx.timeline.add(
                    inc.id, "war_room", f"Teams war room '{room.data.get('name', '')}' unarchived"
                )
            # the channel is archived some hours after the incident is resolved, unless it is reopened first
            current = await tx.incidents.get(inc.id)
            if (
                hours
                and current is not None
                and current.status is Status.RESOLVED
                and current.resolved_at is not None
            ):
                due = current.resolved_at + timedelta(hours=hours) - tx.now
                await tx.timers.schedule(
                    archive_timer(inc.id),
                    kinds.TEAMS_ARCHIVE,
                    delay=max(0.0, due.total_seconds()),
                    incident_id=inc.id,
                )
            else:
                await tx.timers.cancel(archive_timer(inc.id))

        return commit

    # -- lines --------------------------------------------------------------------------------------
    async def say(self, job: Job) -> Commit | None:
        _, room = await self._room(job)
        if room.data.get("archived"):
            return None  # read-only now (the timeline has the line)
        text = str(job.payload.get("text", ""))
        # a line in warroom's markup (warroom.core.markup) when marked so; else plain text
        activity = cards.line_message(text, line=bool(job.payload.get("escaped")))
        if job.is_retry and await self._said(room, str(activity["text"])):
            return None
        await self.connector.send(room.remote_id, activity, service_url=_service_url(room))
        return None

    async def _said(self, room: Link, text: str) -> bool:
        """Whether a recent message of the bot's in the room reads as the message ``text`` (Teams Markdown) does
        (an earlier attempt's)."""
        wanted = _plain(text)
        return any(_plain(_html_text(m.html)) == wanted for m in await self._recent(room))

    async def announce(self, job: Job) -> Commit | None:
        """A line in the incidents channel (warroom markup, as a war-room line), ending with a link to the
        incident's war room when the job asks for one. A retry looks for the line among the channel's recent
        posts first."""
        t = self.settings.teams
        channel, team = t.announce_channel.strip(), t.announce_team_id.strip()
        text = str(job.payload.get("text", ""))
        if job.payload.get("room") and job.incident_id is not None:
            async with self.store.read() as tx:
                link, wait = await jobs.announced_room(tx, job.incident_id, "teams")
            if wait and job.attempts < jobs.ANNOUNCE_WAIT_ATTEMPTS:
                raise NotReady(SYSTEM, "the war room this line links to is being made")
            if link is not None:
                text += f" · {link}"
        activity = cards.line_message(text, line=bool(job.payload.get("escaped")))
        if job.is_retry:
            wanted = _plain(str(activity["text"]))
            recent = await self.graph.recent_messages(channel, team_id=team)
            if any(m.app_id == t.app_id and _plain(_html_text(m.html)) == wanted for m in recent):
                return None
        await self.connector.send(channel, activity)
        return None

    async def alert_digest(self, job: Job) -> Commit | None:
        state, room = await self._room(job)
        if room.data.get("archived"):
            return None
        incident_id = state.incident.id
        async with self.store.read() as tx:
            alerts = await tx.alerts.for_incident(incident_id)
        told = dict(room.data.get("announced") or {})
        changed = [a for a in alerts if told.get(str(a["id"])) != a["status"]]
        if not changed:
            return None
        firing = [a for a in alerts if a["status"] == "firing"]
        text = digest_line([(a["name"], a["status"]) for a in changed], len(firing))
        activity = cards.line_message(text)
        if not (job.is_retry and await self._said(room, str(activity["text"]))):
            await self.connector.send(room.remote_id, activity, service_url=_service_url(room))
        now_told = {str(a["id"]): str(a["status"]) for a in changed}

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(incident_id)
            current = await tx.links.get(incident_id, LinkKind.TEAMS_CHANNEL)
            if current is not None:
                announced = {**(current.data.get("announced") or {}), **now_told}
                await tx.links.put(
                    incident_id,
                    LinkKind.TEAMS_CHANNEL,
                    current.remote_id,
                    current.url,
                    {**current.data, "announced": announced},
                )

        return commit

    # -- archiving ----------------------------------------------------------------------------------
    async def archive(self, job: Job) -> Commit | None:
        state, room = await self._room(job)
        inc = state.incident
        if (
            inc.status is not Status.RESOLVED
            or room.data.get("kind") != "channel"
            or room.data.get("archived")
        ):
            return None  # reopened meanwhile, a group chat (nothing to archive), or done already
        await self.graph.archive_channel(str(room.data["team_id"]), room.remote_id)

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(inc.id)
            current = await tx.links.get(inc.id, LinkKind.TEAMS_CHANNEL)
            if current is not None:
                await tx.links.put(
                    inc.id,
                    LinkKind.TEAMS_CHANNEL,
                    current.remote_id,
                    current.url,
                    {**current.data, "archived": True},
                )
            await tx.timeline.add(
                inc.id, "war_room", f"Teams war room '{room.data.get('name', '')}' archived"
            )

        return commit




def _marker(inc: Incident) -> str:
    return f"war room of {inc.ref} (opened by warroom)"


def _description(inc: Incident) -> str:
    return f"Major incident {_marker(inc)}. {inc.service}: {inc.title}"[:1024]


def _intro(inc: Incident) -> str:
    return f"you are on the war room of {inc.ref}."


def _mentions(room: Link) -> list[tuple[str, str]]:
    """People to @mention in the card's message: everyone found, in a standard channel (others are members)."""
    if room.data.get("kind") != "channel" or room.data.get("membership") != "standard":
        return []
    return [(str(p[0]), str(p[1])) for p in room.data.get("people", [])]


def _service_url(room: Link) -> str | None:
    return str(room.data.get("service_url") or "") or None


def _html_text(content: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", content))


def _plain(text: str) -> str:
    return " ".join(cards.unescape(text).split())


async def teams_gaps(store: Store, incident_id: int, settings: Settings) -> list[str]:
    """What the incident's Teams war room still lacks (empty when complete or not in Teams) — for the demo,
    benchmarks and tests."""
    if not settings.teams.enabled:
        return []
    async with store.read() as tx:
        inc = await tx.incidents.get(incident_id)
        if inc is None:
            return ["incident does not exist"]
        links = await tx.links.all(incident_id)
    svc = settings.service(inc.service)
    if svc is None or svc.chat == "slack":
        return []
    gaps = []
    if LinkKind.TEAMS_CHANNEL not in links:
        gaps.append("Teams room")
    if LinkKind.TEAMS_CARD not in links:
        gaps.append("Teams card")
    return gaps
