"""Outbox job handlers of the war-room fan-out: Slack channel, invitations, topic, card, pins, bookmarks,
war-room lines and the bridge. Each handler does its outside call, then returns the function that records the
result in the transaction that completes the job (see warroom.store.outbox).

Every create is idempotent across crashes: on a retry (``job.is_retry``) the handler first looks for what an
earlier attempt may have created — the channel by name and creator, the card by its message metadata, the bridge
by its topic, the bookmark by its link — and adopts it instead of creating a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from warroom.adapters.errors import Conflict
from warroom.adapters.ports import BridgePort, ChatPort
from warroom.chat.grammar import GrammarContext
from warroom.chat.slack import blocks
from warroom.core.intake import digest_line
from warroom.core.model import Incident, Link, LinkKind, RoleHolder, channel_name
from warroom.response import jobs
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job, NotReady

log = logging.getLogger("warroom.fanout")

CHANNEL_ATTEMPTS = 20  # name, name-2, … name-20 before giving up on a taken name


@dataclass
class WarRoomState:
    incident: Incident
    links: dict[LinkKind, Link]
    roles: dict[str, RoleHolder] = field(default_factory=dict)
    stakeholders: int = 0

    def card(self, labels: Mapping[str, str]) -> tuple[str, list[dict[str, Any]]]:
        """The Block Kit card of this state; roles in the configured order (``labels``: key → label)."""
        ordered = [(labels.get(k, k), self.roles[k]) for k in [*labels, *self.roles] if k in self.roles]
        seen: dict[str, tuple[str, RoleHolder]] = {}
        for label, holder in ordered:
            seen.setdefault(holder.role, (label, holder))
        return blocks.card(self.incident, self.links, roles=list(seen.values()), stakeholders=self.stakeholders)


@dataclass
class FanOut:
    settings: Settings
    store: Store
    chat: ChatPort | None
    bridges: Mapping[str, BridgePort] = field(default_factory=dict)

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
                }
            )
        return out

    async def state(self, incident_id: int) -> WarRoomState:
        async with self.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
            if incident is None:
                raise LookupError(f"incident {incident_id} does not exist")
            return WarRoomState(incident, await tx.links.all(incident_id), await tx.roles.all(incident_id),
                                len(await tx.stakeholders.all(incident_id)))

    def _chat(self) -> ChatPort:
        assert self.chat is not None
        return self.chat

    async def _channel(self, job: Job) -> tuple[WarRoomState, Link]:
        state = await self.state(job.incident)
        channel = state.links.get(LinkKind.SLACK_CHANNEL)
        if channel is None:
            raise NotReady("warroom", "the war-room channel does not exist yet")
        return state, channel

    # -- channel ------------------------------------------------------------------------------------
    async def create_channel(self, job: Job) -> Commit | None:
        state = await self.state(job.incident)
        if LinkKind.SLACK_CHANNEL in state.links:
            return None
        inc = state.incident
        svc = self.settings.service(inc.service)
        pattern = svc.slack.name_pattern if svc else "inc-{number}-{slug}"
        base = channel_name(pattern, number=inc.number, title=inc.title, service=inc.service, priority=inc.priority)
        chat = self._chat()
        for n in range(1, CHANNEL_ATTEMPTS + 1):
            name = base if n == 1 else f"{base[: 80 - len(str(n)) - 1]}-{n}"
            if job.is_retry and (found := await chat.find_own_channel(name)) is not None:
                channel = found
                break
            try:
                channel = await chat.create_channel(name)
                break
            except Conflict:
                continue
        else:
            raise Conflict("slack", f"every channel name from {base} to {base}-{CHANNEL_ATTEMPTS} is taken")

        async def commit(tx: Tx) -> None:
            await tx.incidents.lock(inc.id)
            if await tx.links.get(inc.id, LinkKind.SLACK_CHANNEL) is not None:
                return  # another run of this job got there first
            await tx.links.put(inc.id, LinkKind.SLACK_CHANNEL, channel.id, chat.channel_url(channel.id), {"name": channel.name})
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

        return commit

    async def invite(self, job: Job) -> Commit | None:
        state, channel = await self._channel(job)
        svc = self.settings.service(state.incident.service)
        emails = svc.war_room_people if svc else []
        if state.incident.assignee and state.incident.assignee not in emails:
            emails.append(state.incident.assignee)
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
        state, channel = await self._channel(job)
        inc = state.incident
        topic = blocks.escape(f"{inc.ref} · {inc.priority or 'no priority'} · {inc.status.value} · {inc.title}")
        await self._chat().set_topic(channel.remote_id, topic[:250])
        return None

    # -- card ---------------------------------------------------------------------------------------
    async def post_card(self, job: Job) -> Commit | None:
        state, channel = await self._channel(job)
        if LinkKind.SLACK_CARD in state.links:
            return None
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
        state, _ = await self._channel(job)
        card = state.links.get(LinkKind.SLACK_CARD)
        if card is None:
            raise NotReady("warroom", "the incident card is not posted yet")
        await self._chat().pin(str(card.data["channel"]), card.remote_id)

        async def commit(tx: Tx) -> None:
            await tx.links.put(state.incident.id, LinkKind.SLACK_CARD, card.remote_id, None, {**card.data, "pinned": True})

        return commit

    async def refresh_card(self, job: Job) -> Commit | None:
        state, _ = await self._channel(job)
        card = state.links.get(LinkKind.SLACK_CARD)
        if card is None:
            return None
        text, rendered = state.card(self.role_labels)
        await self._chat().update_message(str(card.data["channel"]), card.remote_id, text, blocks=rendered)
        return None

    # -- bookmarks and lines ------------------------------------------------------------------------
    async def bookmark(self, job: Job) -> Commit | None:
        state, channel = await self._channel(job)
        title, url = _bookmark_target(job.payload, state.links)
        if url is None:
            return None
        chat = self._chat()
        if job.is_retry and any(b.link == url for b in await chat.list_bookmarks(channel.remote_id)):
            return None
        await chat.add_bookmark(channel.remote_id, title, url)
        return None

    async def say(self, job: Job) -> Commit | None:
        _, channel = await self._channel(job)
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
        _, channel = await self._channel(job)
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
