"""Outbox job handlers of the war-room fan-out: Slack channel, invitations, topic, card, pins, bookmarks,
war-room lines and the bridge. Each handler does its outside call, then returns the function that records the
result in the transaction that completes the job (see warroom.store.outbox).

Every create is idempotent across crashes: on a retry (``job.is_retry``) the handler first looks for what an
earlier attempt may have created — the channel by name and creator, the card by its message metadata, the bridge
by its topic, the bookmark by its link — and adopts it instead of creating a second one.

Also here: the lines of the incidents channel (``slack.announce_channel``), and the war room archived some hours
after the incident is resolved (its final summary posted first) and opened again when the incident is reopened.
While the room is archived, the handlers that write in it skip (resolved: the room is read-only) or wait (reopened:
the room is being opened again). Slack does not let an app's bot token unarchive a
channel (conversations.unarchive answers ``not_in_channel``: "Bot tokens cannot currently be used to unarchive
conversations", Slack's method reference); when it refuses, the reopened incident gets a new war-room channel,
which links the archived one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from warroom.adapters.errors import Conflict
from warroom.adapters.ports import BridgePort, ChannelRef, ChatPort
from warroom.chat.grammar import GrammarContext
from warroom.chat.slack import blocks
from warroom.core.intake import digest_line
from warroom.core.markup import escape
from warroom.core.model import Incident, Link, LinkKind, RoleHolder, Status, channel_name
from warroom.response import jobs
from warroom.settings import ServiceSettings, Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job, NotReady

log = logging.getLogger("warroom.fanout")

CHANNEL_ATTEMPTS = 20  # name, name-2, … name-20 before giving up on a taken name
#: A Slack channel id, as opposed to a name (names are lower-case).
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")


@dataclass
class WarRoomState:
    incident: Incident
    links: dict[LinkKind, Link]
    roles: dict[str, RoleHolder] = field(default_factory=dict)
    stakeholders: int = 0
    #: The incident's post-incident tasks still to be done.
    open_tasks: int = 0

    def card(self, labels: Mapping[str, str]) -> tuple[str, list[dict[str, Any]]]:
        """The Block Kit card of this state; roles in the configured order (``labels``: key → label)."""
        ordered = [(labels.get(k, k), self.roles[k]) for k in [*labels, *self.roles] if k in self.roles]
        seen: dict[str, tuple[str, RoleHolder]] = {}
        for label, holder in ordered:
            seen.setdefault(holder.role, (label, holder))
        return blocks.card(self.incident, self.links, roles=list(seen.values()), stakeholders=self.stakeholders,
                           open_tasks=self.open_tasks)


@dataclass
class FanOut:
    settings: Settings
    store: Store
    chat: ChatPort | None
    bridges: Mapping[str, BridgePort] = field(default_factory=dict)
    #: slack.announce_channel's id, once a name was looked up (per process).
    _announce_id: str | None = field(default=None, init=False, repr=False)

    @property
    def role_labels(self) -> dict[str, str]:
        return GrammarContext.from_settings(self.settings).role_labels

    def handlers(self) -> dict[str, Handler]:
        out: dict[str, Handler] = {jobs.CREATE_BRIDGE: self.create_bridge}
        if self.chat is not None:
            out.update(
                {
                    jobs.CREATE_CHANNEL: self.create_channel,
                    jobs.INVITE: self.invite,
                    jobs.TOPIC: self.topic,
                    jobs.POST_CARD: self.post_card,
                    jobs.PIN: self.pin,
                    jobs.REFRESH_CARD: self.refresh_card,
                    jobs.BOOKMARK: self.bookmark,
                    jobs.SAY: self.say,
                    jobs.ALERT_DIGEST: self.alert_digest,
                    jobs.ANNOUNCE: self.announce,
                    jobs.ARCHIVE: self.archive,
                    jobs.UNARCHIVE: self.unarchive,
                }
            )
        return out

    async def state(self, incident_id: int) -> WarRoomState:
        async with self.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
            if incident is None:
                raise LookupError(f"incident {incident_id} does not exist")
            return WarRoomState(incident, await tx.links.all(incident_id), await tx.roles.all(incident_id),
                                len(await tx.stakeholders.all(incident_id)),
                                await tx.records.open_task_count(incident_id))

    def _chat(self) -> ChatPort:
        assert self.chat is not None
        return self.chat

    async def _channel(self, job: Job) -> tuple[WarRoomState, Link]:
        state = await self.state(job.incident)
        channel = state.links.get(LinkKind.SLACK_CHANNEL)
        if channel is None:
            raise NotReady("warroom", "the war-room channel does not exist yet")
        return state, channel

    async def _writable(self, job: Job) -> tuple[WarRoomState, Link] | None:
        """The war room to write in; None when it is archived and the incident resolved (read-only now: nothing
        more is said there), NotReady while a reopened incident's room is being opened again."""
        state, channel = await self._channel(job)
        if not channel.data.get("archived"):
            return state, channel
        if state.incident.status is Status.RESOLVED:
            return None
        raise NotReady("warroom", "the war-room channel is archived and being opened again")

    # -- channel ------------------------------------------------------------------------------------
    async def create_channel(self, job: Job) -> Commit | None:
        state = await self.state(job.incident)
        if LinkKind.SLACK_CHANNEL in state.links:
            return None
        inc = state.incident
        svc = self.settings.service(inc.service)
        channel = await self._open_channel(job, inc, svc)

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(inc.id)
            if await tx.links.get(inc.id, LinkKind.SLACK_CHANNEL) is not None:
                return  # another run of this job got there first
            await self._room_opened(tx, inc, svc, channel)

        return commit

    async def _open_channel(self, job: Job, inc: Incident, svc: ServiceSettings | None) -> ChannelRef:
        """A new channel named by the service's pattern (``-2``, ``-3``… when the name is taken); on a retry, the
        one an earlier attempt made is adopted."""
        pattern = svc.slack.name_pattern if svc else "inc-{number}-{slug}"
        base = channel_name(pattern, number=inc.number, title=inc.title, service=inc.service, priority=inc.priority)
        chat = self._chat()
        for n in range(1, CHANNEL_ATTEMPTS + 1):
            name = base if n == 1 else f"{base[: 80 - len(str(n)) - 1]}-{n}"
            if job.is_retry and (found := await chat.find_own_channel(name)) is not None:
                return found
            try:
                return await chat.create_channel(name)
            except Conflict:
                continue
        raise Conflict("slack", f"every channel name from {base} to {base}-{CHANNEL_ATTEMPTS} is taken")

    async def _room_opened(
        self, tx: Tx, inc: Incident, svc: ServiceSettings | None, channel: ChannelRef, *, previous: Link | None = None
    ) -> None:
        """Record a new war-room channel and enqueue what fills it: invitations, topic, card, bookmarks."""
        data: dict[str, Any] = {"name": channel.name}
        if previous is not None:
            data["previous"] = [*previous.data.get("previous", []), previous.remote_id]
        await tx.links.put(inc.id, LinkKind.SLACK_CHANNEL, channel.id, self._chat().channel_url(channel.id), data)
        await tx.timeline.add(inc.id, "war_room", f"War room #{channel.name} created")
        await tx.outbox.enqueue(jobs.INVITE, incident_id=inc.id)
        await tx.outbox.enqueue(jobs.TOPIC, incident_id=inc.id)
        await tx.outbox.enqueue(jobs.POST_CARD, incident_id=inc.id, ordering_key=f"card:{inc.id}")
        links = await tx.links.all(inc.id)
        for kind in jobs.BOOKMARKED:
            if kind in links:
                await tx.outbox.enqueue(jobs.BOOKMARK, {"link": kind.value}, incident_id=inc.id)
        if svc is not None:
            for title, url in svc.slack.bookmarks.items():
                await tx.outbox.enqueue(jobs.BOOKMARK, {"title": title, "url": url}, incident_id=inc.id)

    async def invite(self, job: Job) -> Commit | None:
        found_room = await self._writable(job)
        if found_room is None:
            return None
        state, channel = found_room
        svc = self.settings.service(state.incident.service)
        emails = list(svc.war_room_people) if svc else []
        if state.incident.assignee and state.incident.assignee not in emails:
            emails.append(state.incident.assignee)
        async with self.store.read() as tx:  # people paged before the room existed (the escalation's first step)
            emails += [str(p["email"]) for p in await tx.pages.all(state.incident.id) if p["email"] not in emails]
        chat = self._chat()
        found = await chat.lookup_users(emails) if emails else {}
        if found:
            await chat.invite(channel.remote_id, sorted(set(found.values())))
        missing = [e for e in emails if e not in found]

        async def commit(tx: Tx) -> None:
            inc = state.incident.id
            await tx.links.put(
                inc, LinkKind.SLACK_CHANNEL, channel.remote_id, channel.url,
                {**channel.data, "invited": sorted(found), "not_found": missing},
            )
            text = f"Invited {len(found)} people to the war room"
            if missing:
                text += f"; not in Slack: {', '.join(missing)}"
            await tx.timeline.add(inc, "invited", text, data={"invited": sorted(found), "not_found": missing})

        return commit

    async def topic(self, job: Job) -> Commit | None:
        found_room = await self._writable(job)
        if found_room is None:
            return None
        state, channel = found_room
        inc = state.incident
        topic = blocks.escape(f"{inc.ref} · {inc.priority or 'no priority'} · {inc.status.value} · {inc.title}")
        await self._chat().set_topic(channel.remote_id, topic[:250])
        return None

    # -- card ---------------------------------------------------------------------------------------
    async def post_card(self, job: Job) -> Commit | None:
        found_room = await self._writable(job)
        if found_room is None:
            return None
        state, channel = found_room
        posted = state.links.get(LinkKind.SLACK_CARD)
        if posted is not None and posted.data.get("channel") == channel.remote_id:
            return None  # (a card in an earlier, archived war room does not count)
        inc = state.incident
        chat = self._chat()
        message = await chat.find_message(channel.remote_id, blocks.CARD_EVENT, inc.ref) if job.is_retry else None
        rendered = {k for k in jobs.BOOKMARKED if k in state.links}
        if message is None:
            text, card = state.card(self.role_labels)
            message = await chat.post_message(
                channel.remote_id, text, blocks=card, metadata={"event_type": blocks.CARD_EVENT, "event_payload": {"key": inc.ref}}
            )
        else:
            rendered = set()  # an adopted card may be older than the links: refresh it

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(inc.id)
            await tx.links.put(inc.id, LinkKind.SLACK_CARD, message.ts, None, {"channel": message.channel_id})
            await tx.outbox.enqueue(jobs.PIN, incident_id=inc.id)
            links = await tx.links.all(inc.id)
            current = await tx.incidents.get(inc.id)
            if {k for k in jobs.BOOKMARKED if k in links} != rendered or (current and current.version != inc.version):
                await jobs.refresh_card(tx, inc.id)

        return commit

    async def pin(self, job: Job) -> Commit | None:
        found_room = await self._writable(job)
        if found_room is None:
            return None
        state, channel = found_room
        card = state.links.get(LinkKind.SLACK_CARD)
        if card is None or card.data.get("channel") != channel.remote_id:
            raise NotReady("warroom", "the incident card is not posted yet")
        await self._chat().pin(str(card.data["channel"]), card.remote_id)

        async def commit(tx: Tx) -> None:
            await tx.links.put(state.incident.id, LinkKind.SLACK_CARD, card.remote_id, None, {**card.data, "pinned": True})

        return commit

    async def refresh_card(self, job: Job) -> Commit | None:
        found_room = await self._writable(job)
        if found_room is None:
            return None
        state, channel = found_room
        card = state.links.get(LinkKind.SLACK_CARD)
        if card is None or card.data.get("channel") != channel.remote_id:
            return None  # not posted yet (in this room): it is posted with the newest state
        text, rendered = state.card(self.role_labels)
        await self._chat().update_message(str(card.data["channel"]), card.remote_id, text, blocks=rendered)
        return None

    # -- bookmarks and lines ------------------------------------------------------------------------
    async def bookmark(self, job: Job) -> Commit | None:
        found_room = await self._writable(job)
        if found_room is None:
            return None
        state, channel = found_room
        title, url = _bookmark_target(job.payload, state.links)
        if url is None:
            return None
        chat = self._chat()
        if job.is_retry and any(b.link == url for b in await chat.list_bookmarks(channel.remote_id)):
            return None
        await chat.add_bookmark(channel.remote_id, title, url)
        return None

    async def say(self, job: Job) -> Commit | None:
        found_room = await self._writable(job)
        if found_room is None:
            return None
        _, channel = found_room
        text = str(job.payload.get("text", ""))
        if not job.payload.get("escaped"):
            text = blocks.escape(text)
        chat = self._chat()
        key = f"line-{job.id}"
        if job.is_retry and await chat.find_message(channel.remote_id, "warroom_line", key) is not None:
            return None
        await chat.post_message(channel.remote_id, text, metadata={"event_type": "warroom_line", "event_payload": {"key": key}})
        return None

    async def alert_digest(self, job: Job) -> Commit | None:
        found_room = await self._writable(job)
        if found_room is None:
            return None
        _, channel = found_room
        incident_id = job.incident
        async with self.store.read() as tx:
            changed = await tx.alerts.unannounced(incident_id)
            firing = [a for a in await tx.alerts.for_incident(incident_id) if a["status"] == "firing"]
        if not changed:
            return None
        told: list[tuple[int, str]] = [(int(a["id"]), str(a["status"])) for a in changed]
        chat = self._chat()
        key = f"digest-{job.id}"
        found = await chat.find_message(channel.remote_id, "warroom_line", key) if job.is_retry else None
        if found is not None:
            # an earlier attempt posted this line: mark exactly what it told, the rest goes in the next line
            told = [(int(i), str(st)) for i, st in found.payload.get("alerts", [])]
        else:
            text = blocks.escape(digest_line([(a["name"], a["status"]) for a in changed], len(firing)))
            await chat.post_message(channel.remote_id, text, metadata={
                "event_type": "warroom_line", "event_payload": {"key": key, "alerts": told}})

        async def commit(tx: Tx) -> None:
            await tx.alerts.mark_announced(told)
            if len(told) < len(changed):
                await jobs.alert_digest(tx, incident_id)

        return commit

    # -- bridge -------------------------------------------------------------------------------------
    async def create_bridge(self, job: Job) -> Commit | None:
        state = await self.state(job.incident)
        if LinkKind.BRIDGE in state.links:
            return None
        inc = state.incident
        provider = str(job.payload.get("provider", ""))
        bridge = self.bridges.get(provider)
        if bridge is None:
            from warroom.adapters.errors import Permanent

            raise Permanent("warroom", f"no {provider or 'bridge'} provider is configured for {inc.service}")
        topic = f"{inc.ref} {inc.title}"[:200]
        meeting = await bridge.find_meeting(topic) if job.is_retry else None
        if meeting is None:
            meeting = await bridge.create_meeting(topic, agenda=f"Major incident bridge for {inc.ref} ({inc.service})")

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(inc.id)
            data: dict[str, Any] = {"provider": meeting.provider, "topic": meeting.topic, **meeting.extra}
            await tx.links.put(inc.id, LinkKind.BRIDGE, meeting.id, meeting.join_url, data)
            await tx.timeline.add(inc.id, "bridge", f"{meeting.provider.capitalize()} bridge started: {meeting.join_url}")
            await jobs.link_added(tx, inc.id, LinkKind.BRIDGE)

        return commit

    # -- the incidents channel ----------------------------------------------------------------------
    async def announce(self, job: Job) -> Commit | None:
        """A line in slack.announce_channel (its text in warroom markup), ending with a link to the incident's war
        room when the job asks for one. Exactly once: a retry looks for the line by its metadata first."""
        text = str(job.payload.get("text", ""))
        if not job.payload.get("escaped"):
            text = blocks.escape(text)
        if job.payload.get("room") and job.incident_id is not None:
            async with self.store.read() as tx:
                link, wait = await jobs.announced_room(tx, job.incident_id, "slack")
            if wait and job.attempts < jobs.ANNOUNCE_WAIT_ATTEMPTS:
                raise NotReady("warroom", "the war room this line links to is being made")
            if link is not None:
                text += f" · {link}"
        key = f"announce-{job.id}"
        if job.is_retry and await self._announced(job, key):
            return None
        configured = self.settings.slack.announce_channel.strip()
        # chat.postMessage takes a channel's name as well as its id; its answer tells the id
        posted = await self._chat().post_message(
            self._announce_id or configured, text, metadata={"event_type": "warroom_line", "event_payload": {"key": key}}
        )
        self._announce_id = posted.channel_id
        return None

    async def _announced(self, job: Job, key: str) -> bool:
        """Whether an earlier attempt of this announcement posted its line: the incidents channel's messages since
        the job was enqueued are read (not its whole history, which grows with every incident)."""
        configured = self.settings.slack.announce_channel.strip()
        channel = self._announce_id or (configured if _CHANNEL_ID.match(configured) else None)
        if channel is None:  # a name, and no post since this process started told its id
            channel = self._announce_id = await self._chat().channel_id(configured.lstrip("#"))
        # five minutes' margin for the difference between this server's clock and Slack's
        oldest = job.enqueued_at.timestamp() - 300 if job.enqueued_at is not None else None
        return await self._chat().find_message(channel, "warroom_line", key, oldest=oldest) is not None

    # -- archiving ----------------------------------------------------------------------------------
    async def archive(self, job: Job) -> Commit | None:
        """Some hours after the incident was resolved (a durable timer): the final summary, then the channel
        archived. Nothing when the incident was reopened meanwhile, the room is archived already, or there is none
        (its channel could not be made: that was told when it failed)."""
        state = await self.state(job.incident)
        inc, channel = state.incident, state.links.get(LinkKind.SLACK_CHANNEL)
        if channel is None or inc.status is not Status.RESOLVED or channel.data.get("archived"):
            return None
        chat = self._chat()
        key = f"summary-{job.id}"
        if not (job.is_retry and await chat.find_message(channel.remote_id, "warroom_line", key) is not None):
            await chat.post_message(channel.remote_id, jobs.final_summary(inc, state.links),
                                    metadata={"event_type": "warroom_line", "event_payload": {"key": key}})
        await chat.archive(channel.remote_id)

        async def commit(tx: Tx) -> None:
            current = await tx.incidents.get(inc.id, lock=True)
            room = await tx.links.get(inc.id, LinkKind.SLACK_CHANNEL)
            if room is None or room.remote_id != channel.remote_id:
                return
            await tx.links.put(inc.id, LinkKind.SLACK_CHANNEL, room.remote_id, room.url, {**room.data, "archived": True})
            await tx.timeline.add(inc.id, "war_room", f"War room #{room.data.get('name', room.remote_id)} archived")
            if current is not None and current.status is not Status.RESOLVED:
                await jobs.unarchive(tx, inc.id)  # reopened while it was being archived

        return commit

    async def unarchive(self, job: Job) -> Commit | None:
        """A reopened incident's archived war room, opened again — or, when Slack refuses (a bot token cannot
        unarchive), a new war-room channel that links the archived one."""
        state, channel = await self._channel(job)
        if not channel.data.get("archived"):
            return None
        inc = state.incident
        if not await self._chat().unarchive(channel.remote_id):
            return await self._reopen_elsewhere(job, inc, channel)

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(inc.id)
            room = await tx.links.get(inc.id, LinkKind.SLACK_CHANNEL)
            if room is None or room.remote_id != channel.remote_id:
                return
            await tx.links.put(inc.id, LinkKind.SLACK_CHANNEL, room.remote_id, room.url, {**room.data, "archived": False})
            await tx.timeline.add(inc.id, "war_room", f"War room #{room.data.get('name', room.remote_id)} unarchived")
            # what waited for the room goes ahead now; the card and topic show the incident as it is
            await jobs.refresh_card(tx, inc.id)
            await jobs.topic(tx, inc.id)

        return commit

    async def _reopen_elsewhere(self, job: Job, inc: Incident, archived: Link) -> Commit:
        svc = self.settings.service(inc.service)
        channel = await self._open_channel(job, inc, svc)

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(inc.id)
            room = await tx.links.get(inc.id, LinkKind.SLACK_CHANNEL)
            if room is None or room.remote_id != archived.remote_id:
                return  # another run of this job got there first
            await self._room_opened(tx, inc, svc, channel, previous=room)
            old = f"#{escape(str(room.data.get('name') or room.remote_id))}"
            line = (f"♻️ {inc.ref} was reopened after its war room {f'<{room.url}|{old}>' if room.url else old} was "
                    "archived; Slack does not let apps unarchive channels, so the war room goes on here. The "
                    "earlier conversation stays readable there.")
            # in this channel only (a Teams war room of the same incident was not archived by this)
            await tx.outbox.enqueue(jobs.SAY, {"text": line, "escaped": True}, incident_id=inc.id,
                                    ordering_key=f"say:{inc.id}")

        return commit

def _bookmark_target(payload: dict[str, Any], links: dict[LinkKind, Link]) -> tuple[str, str | None]:
    if "url" in payload:
        return str(payload.get("title", "Link")), str(payload["url"])
    kind = LinkKind(payload["link"])
    link = links.get(kind)
    return jobs.BOOKMARKED.get(kind, kind.value), (link.url if link else None)


async def war_room_gaps(store: Store, incident_id: int, settings: Settings) -> list[str]:
    """What the incident's war room still lacks (empty when complete) — for the demo, benchmarks and tests."""
    async with store.read() as tx:
        inc = await tx.incidents.get(incident_id)
        if inc is None:
            return ["incident does not exist"]
        links = await tx.links.all(incident_id)
        pending = [j for j in await tx.outbox.jobs(incident_id) if j["status"] in ("pending", "running")]
    gaps = []
    svc = settings.service(inc.service)
    if settings.slack.enabled and (svc is None or svc.chat != "teams"):
        channel = links.get(LinkKind.SLACK_CHANNEL)
        card = links.get(LinkKind.SLACK_CARD)
        if channel is None:
            gaps.append("channel")
        elif "invited" not in channel.data:
            gaps.append("invitations")
        if card is None:
            gaps.append("card")
        elif not card.data.get("pinned"):
            gaps.append("pin")
    if svc is not None and jobs.wants_request(inc, svc, settings) and LinkKind.XURRENT_REQUEST not in links:
        gaps.append("ITSM request")
    if svc is not None and svc.bridge != "none" and LinkKind.BRIDGE not in links:
        gaps.append("bridge")
    if pending:
        gaps.append(f"{len(pending)} jobs pending ({', '.join(sorted({j['kind'] for j in pending}))})")
    return gaps
